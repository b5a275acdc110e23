"""Registered ``particles`` kernels: Lennard-Jones energy/forces, LJ NVE on a cell list, LJ
Langevin (BAOAB) and gravitational N-body, with their physics checks."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from parallax.kernels import particles
from parallax.kernels.initial_conditions import (
    box_for_density,
    cubic_lattice,
    lj_cluster,
    thermal_velocities,
)
from parallax.registry._cases import normal, scalar, uniform
from parallax.registry._registry import register
from parallax.registry._spec import Case, KernelSpec, PhysicsCheck

# --- lj_energy: U and F = -∇U over all pairs ---------------------------------------------------


def _lj_energy_case(n_side: int, density: float, r_cut: float) -> Callable[..., Case]:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        box = box_for_density(n_side**3, density)
        n = n_side**3
        return Case(
            inputs={
                "positions": cubic_lattice(n_side, box, rng=rng).astype(dtype),
                "box": scalar(box, dtype),
                "sigma": scalar(1.0, dtype),
                "epsilon": scalar(1.0, dtype),
            },
            static={"r_cut": r_cut},
            flops=40.0 * n * n,  # ~20 flops per ordered pair forward, ~2x for the gradient
            bytes=2.0 * 3 * n * np.dtype(dtype).itemsize,
        )

    return make


register(
    KernelSpec(
        name="particles.lj_energy",
        family="particles",
        fn=particles.lj_energy_and_forces,
        twin="parallax.kernels.particles.twins:lj_energy_and_forces",
        cases={
            "test": _lj_energy_case(n_side=4, density=0.5, r_cut=2.5),
            "bench": _lj_energy_case(n_side=10, density=0.8, r_cut=2.5),
        },
        # float32: U sums ~2000 pair terms of size up to ~1 with cancellation (U ~ -100), so
        # summation-order differences reach ~1e-5 relative; forces are O(1-10) per particle.
        fwd_tol={"float32": (2e-5, 2e-5), "float64": (1e-11, 1e-11)},
        grad_tol={"float32": (1e-4, 1e-4), "float64": (1e-10, 1e-10)},
        grad_wrt=("positions", "box", "sigma", "epsilon"),
        description="Lennard-Jones (cut and shifted) energy and forces -grad U, all pairs, "
        "periodic minimum image",
    )
)


# --- lj_nve: velocity Verlet on a fixed-capacity cell list -------------------------------------


def nve_case(
    n_side: int,
    density: float,
    steps: int,
    save_every: int,
    *,
    r_cut: float,
    skin: float,
    capacity: int,
    cell_capacity: int,
    kT: float = 1.0,
) -> Callable[..., Case]:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        box = box_for_density(n_side**3, density)
        x = cubic_lattice(n_side, box, rng=rng)
        v = thermal_velocities(rng, x.shape, kT)
        cps = int(np.floor(box / (r_cut + skin)))
        n, item = x.shape[0], np.dtype(dtype).itemsize
        return Case(
            inputs={
                "positions": x.astype(dtype),
                "velocities": v.astype(dtype),
                "box": scalar(box, dtype),
                "dt": scalar(0.005, dtype),
                "sigma": scalar(1.0, dtype),
                "epsilon": scalar(1.0, dtype),
            },
            static={
                "num_steps": steps,
                "save_every": save_every,
                "r_cut": r_cut,
                "skin": skin,
                "capacity": capacity,
                "cells_per_side": (cps, cps, cps),
                "cell_capacity": cell_capacity,
            },
            steps=steps,
            # per step: forces over the padded neighbor list (n x capacity entries are
            # computed, ~40 flops each for the energy and its gradient) plus the Verlet update;
            # bytes: the neighbor positions gathered (3 floats) and indices (int32) per entry,
            # one read and one write of x, v and a. List rebuilds (data-dependent, every few
            # tens of steps) are not counted.
            flops=steps * (40.0 * n * capacity + 30.0 * n),
            bytes=steps * (n * capacity * (3 * item + 4) + 2 * 9 * n * item),
        )

    return make


def cluster_nve_case(steps: int, save_every: int) -> Callable[..., Case]:
    """The smooth 8-particle :func:`lj_cluster` on a neighbor list (r_c = 3, skin 0.3, box 10): no
    pair ever crosses the cutoff, so finite differences of the rollout are valid (they are not
    across a force jump). Dense candidates (``cells_per_side=None``): the generic contract tests
    compile this kernel ~14 times and the cell list adds ~40% compile time; the cell-list path
    is covered by tests/kernels/particles (a liquid with rebuilds, 200-step torch parity, the
    10^4-step drift check, overflow and gradients through 100 steps)."""

    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        x, v = lj_cluster(rng, box=10.0, kT=0.5)
        return Case(
            inputs={
                "positions": x.astype(dtype),
                "velocities": v.astype(dtype),
                "box": scalar(10.0, dtype),
                "dt": scalar(0.005, dtype),
                "sigma": scalar(1.0, dtype),
                "epsilon": scalar(1.0, dtype),
            },
            static={
                "num_steps": steps,
                "save_every": save_every,
                "r_cut": 3.0,
                "skin": 0.3,
                "capacity": 8,
                "cell_capacity": 0,
                "cells_per_side": None,
            },
            steps=steps,
        )

    return make


def _nve_energy_drift(dtype: str) -> dict[str, float]:
    """NVE LJ on the cell list, 10^4 steps (t = 50): the total energy error stays bounded.

    64 particles at density 0.285, r_c = 1.7 (skin 0.3: a 3^3 cell list in a box of 6.08),
    dt = 0.005, kT ≈ 1. Verlet's shadow Hamiltonian keeps the error O(dt²) and bounded; the
    force jump at the cut (u'(r_c) ≈ 0.2) adds a random-walk error per crossing. Measured
    max |E(t) - E(0)| / <K> ≈ 1e-3 in float64; the bound 2e-2 allows for that noise while a
    systematic drift (wrong force, missed neighbor, wrong rebuild) exceeds it within ~10^3 steps.
    """
    with jax.enable_x64(dtype == "float64"):
        case = nve_case(4, 0.285, 10_000, 50, r_cut=1.7, skin=0.3, capacity=48, cell_capacity=16)(
            np.random.default_rng(3), np.dtype(dtype)
        )
        inputs = {k: jnp.asarray(v) for k, v in case.inputs.items()}
        static = dict(case.static)
        nl = particles.allocate_neighbor_list(
            inputs["positions"], inputs["box"], cutoff=static["r_cut"], skin=static["skin"],
            capacity_factor=2.0,  # a dilute fluid: local counts fluctuate a lot
        )  # fmt: skip
        run = jax.jit(
            lambda inp, nl: particles.lj_nve_neighbor_rollout(
                **inp, neighbors=nl, num_steps=10_000, r_cut=1.7, save_every=50
            )
        )
        # the overflow protocol: run; if the list overflowed, reallocate (larger) and rerun
        reallocations = 0
        traj, out = run(inputs, nl)
        while bool(out.did_overflow) and reallocations < 4:
            nl = particles.reallocate_neighbor_list(out, inputs["positions"], inputs["box"])
            traj, out = run(inputs, nl)
            reallocations += 1
        nl = out
        e = np.asarray(traj.kinetic + traj.potential, dtype=np.float64)
        kin = float(np.mean(np.asarray(traj.kinetic)))
        assert not bool(nl.did_overflow), "neighbor list overflowed in the drift check"
        e0 = float(
            particles.kinetic_energy(inputs["velocities"])
            + particles.lj_energy(inputs["positions"], inputs["box"], 1.0, 1.0, r_cut=1.7)
        )
    err = float(np.max(np.abs(e - e0))) / kin
    drift = float(abs(np.mean(e[-20:]) - np.mean(e[:20]))) / kin
    tol = 2e-2
    assert err < tol, f"NVE energy error {err:.3e} of <K> exceeds {tol} over 10^4 steps"
    return {
        "max_rel_energy_error": err,
        "rel_drift": drift,
        "rebuilds": float(nl.num_builds),
        "reallocations": float(reallocations),
    }


def _verlet_order(dtype: str) -> dict[str, float]:
    """Velocity Verlet is 2nd order: positions at t = 1 against a dt/16 reference.

    The smooth 8-particle :func:`lj_cluster` (r_c = 3, no cutoff crossings: with a force jump
    the global error would drop towards first order). Errors at dt = 0.02, 0.01, 0.005; the
    observed order log2(e(dt)/e(dt/2)) must be 2 ± 0.3. One compiled loop with a dynamic trip
    count (``fori_loop``) serves every dt.
    """
    with jax.enable_x64(True):
        box = 10.0
        x0, v0 = (jnp.asarray(a) for a in lj_cluster(np.random.default_rng(5), box=box, kT=0.5))
        b, one = jnp.asarray(box), jnp.asarray(1.0)

        def force_fn(x, aux):
            u, f = particles.lj_energy_and_forces(x, b, one, one, r_cut=3.0)
            return u, f, aux

        @jax.jit
        def final(dt, steps):
            s = particles.init_state(force_fn, x0, v0)
            s = jax.lax.fori_loop(
                0, steps, lambda _, s: particles.velocity_verlet_step(force_fn, s, dt), s
            )
            return s.position

        t_end, dts = 1.0, (0.02, 0.01, 0.005)
        ref = final(jnp.asarray(dts[-1] / 16), round(16 * t_end / dts[-1]))
        errs = [
            float(jnp.max(jnp.abs(final(jnp.asarray(dt), round(t_end / dt)) - ref))) for dt in dts
        ]
    orders = [float(np.log2(errs[i] / errs[i + 1])) for i in range(2)]
    for p in orders:
        assert abs(p - 2.0) < 0.3, f"velocity Verlet order {orders} (errors {errs}) not 2 ± 0.3"
    return {"order_1": orders[0], "order_2": orders[1], "err_dt_0.02": errs[0]}


register(
    KernelSpec(
        name="particles.lj_nve",
        family="particles",
        fn=particles.lj_nve_rollout,
        twin="parallax.kernels.particles.twins:lj_nve_rollout",
        cases={
            "test": cluster_nve_case(40, 10),
            # the "LJ 4096 particles": density 0.8, r_c = 2.5, skin 0.3, 6^3 cells
            "bench": nve_case(
                16, 0.8, 100, 100, r_cut=2.5, skin=0.3, capacity=128, cell_capacity=48
            ),
            # 40^3 = 64000 particles at the same density and cut (15^3 cells): sized for a GPU
            "bench_gpu": nve_case(
                40, 0.8, 100, 100, r_cut=2.5, skin=0.3, capacity=128, cell_capacity=48
            ),
        },
        # 20 chaotic steps: rounding differences (summation order in the neighbor sums) grow by
        # ~e^(λt) with λ ~ 3-5 per unit time, t = 0.1 — a factor < 2; float32 positions ~ 6.
        fwd_tol={"float32": (1e-4, 1e-4), "float64": (1e-10, 1e-10)},
        grad_tol={"float32": (1e-3, 1e-3), "float64": (1e-9, 1e-9)},
        grad_wrt=("positions", "velocities", "dt", "epsilon"),
        physics=(
            PhysicsCheck("energy_drift_1e4_steps", _nve_energy_drift),
            PhysicsCheck("verlet_order", _verlet_order),
        ),
        description="Lennard-Jones NVE, velocity Verlet, O(N) cell/neighbor list with overflow "
        "check (raises), lax.scan rollout",
    )
)


# --- lj_langevin: BAOAB ------------------------------------------------------------------------


def _langevin_case(n_side: int, density: float, steps: int, save_every: int, r_cut: float):
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        box = box_for_density(n_side**3, density)
        x = cubic_lattice(n_side, box, rng=rng)
        n = x.shape[0]
        return Case(
            inputs={
                "positions": x.astype(dtype),
                "velocities": normal(rng, x.shape, dtype),
                "box": scalar(box, dtype),
                "dt": scalar(0.005, dtype),
                "sigma": scalar(1.0, dtype),
                "epsilon": scalar(1.0, dtype),
                "gamma": scalar(1.0, dtype),
                "kT": scalar(1.5, dtype),
                "noise": normal(rng, (steps, *x.shape), dtype),
            },
            static={"num_steps": steps, "save_every": save_every, "r_cut": r_cut},
            steps=steps,
            # per step the all-pairs energy gradient (as lj_energy: 40 flops per ordered pair)
            # and BAOAB's two kicks, two drifts and the O-step (~30 flops per particle); bytes:
            # one read and one write of x, v and the carried forces, and the step's noise
            flops=steps * (40.0 * n * n + 30.0 * n),
            bytes=steps * (2 * 9 + 3) * n * np.dtype(dtype).itemsize,
        )

    return make


def _langevin_temperature(dtype: str) -> dict[str, float]:
    """BAOAB thermalises LJ to the target: <K> = (d n / 2) kT.

    64 particles (3D, density 0.5, r_c = 2.5) start at kT_0 = 0.2 and are driven to kT = 1.5
    (γ = 2, dt = 0.005). 8 independent replicas (fixed keys), 4000 steps each; <K> is averaged
    over steps 1000-4000 (≥ 6/γ after the start: initial transient gone). The standard error of
    the mean is taken from the spread of the 8 replica means (independent by construction);
    we require |T - kT| < 4 standard errors AND < 3% of kT. BAOAB's configurational sampling is
    O(dt²)-accurate and its kinetic temperature error is O(dt²) too, ~1e-4 here — far below the
    statistical error (~0.5%).
    """
    with jax.enable_x64(dtype == "float64"):
        rng = np.random.default_rng(11)
        box = box_for_density(4**3, 0.5)
        reps, steps, burn = 8, 4000, 1000
        xs = np.stack([cubic_lattice(4, box, rng=rng) for _ in range(reps)]).astype(dtype)
        vs = (np.sqrt(0.2) * rng.standard_normal(xs.shape)).astype(dtype)
        keys = jax.random.split(jax.random.key(2024), reps)
        kT = 1.5

        @jax.jit
        def run(x, v, key):
            return particles.lj_langevin_rollout(
                x, v, jnp.asarray(box, dtype), jnp.asarray(0.005, dtype), jnp.asarray(1.0, dtype),
                jnp.asarray(1.0, dtype), jnp.asarray(2.0, dtype), jnp.asarray(kT, dtype),
                key=key, num_steps=steps, save_every=10,
            )  # fmt: skip

        traj = jax.vmap(run)(jnp.asarray(xs), jnp.asarray(vs), keys)
        kin = np.asarray(traj.kinetic, dtype=np.float64)[:, burn // 10 :]
    dof = xs.shape[1] * xs.shape[2]
    temps = 2.0 * kin.mean(axis=1) / dof
    t_mean = float(temps.mean())
    stderr = float(temps.std(ddof=1) / np.sqrt(reps))
    dev = abs(t_mean - kT)
    assert dev < 4 * stderr + 1e-12 and dev < 0.03 * kT, (
        f"Langevin temperature {t_mean:.4f} ± {stderr:.4f} vs target {kT}"
    )
    return {"temperature": t_mean, "stderr": stderr, "target": kT}


register(
    KernelSpec(
        name="particles.lj_langevin",
        family="particles",
        fn=particles.lj_langevin_rollout,
        twin="parallax.kernels.particles.twins:lj_langevin_rollout",
        cases={
            "test": _langevin_case(3, 0.4, 10, 5, r_cut=2.0),
            "bench": _langevin_case(10, 0.8, 100, 100, r_cut=2.5),
        },
        fwd_tol={"float32": (1e-4, 1e-4), "float64": (1e-10, 1e-10)},
        grad_tol={"float32": (1e-3, 1e-3), "float64": (1e-9, 1e-9)},
        grad_wrt=("positions", "velocities", "gamma", "kT"),
        physics=(PhysicsCheck("temperature_reaches_target", _langevin_temperature),),
        description="Lennard-Jones Langevin dynamics, BAOAB (Leimkuhler-Matthews), explicit noise "
        "or PRNG key, all pairs",
    )
)


# --- nbody -------------------------------------------------------------------------------------


def _nbody_case(n: int, steps: int, save_every: int) -> Callable[..., Case]:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        return Case(
            inputs={
                "positions": normal(rng, (n, 3), dtype),
                "velocities": (0.3 * rng.standard_normal((n, 3))).astype(dtype),
                "masses": uniform(rng, (n,), dtype, 0.5, 1.5),
                "dt": scalar(1e-3, dtype),
                "softening": scalar(0.1, dtype),
            },
            static={"num_steps": steps, "save_every": save_every},
            steps=steps,
            # 20 flops per ordered pair (difference, softened r^-3, multiply-add); bytes: one
            # read and one write of x, v and the carried accelerations per step, and the masses
            flops=20.0 * n * n * steps,
            bytes=steps * (2 * 9 + 1) * n * np.dtype(dtype).itemsize,
        )

    return make


def _nbody_conservation(dtype: str) -> dict[str, float]:
    """Direct-sum N-body: momentum exact to rounding, energy error O(dt²) (velocity Verlet).

    64 bodies (Gaussian cloud, masses in [0.5, 1.5], ε = 0.1, G = 1) to t = 2 at dt = 2e-3 and
    1e-3. Pairwise forces are antisymmetric, so Σ m v changes only by rounding: |ΔP| < 1e-12
    Σ m|v| in float64. The max energy error over the run must shrink by > 3x when dt halves
    (4x for order 2; the cold cloud collapses and close encounters at ε = 0.1 make the measured
    ratio 4.5-6.5) and stay < 2e-4 |E| at dt = 1e-3 (measured 5e-5).
    """
    with jax.enable_x64(True):
        base = _nbody_case(64, 1000, 50)(np.random.default_rng(9), np.dtype("float64"))
        i = {k: jnp.asarray(v) for k, v in base.inputs.items()}
        e0 = float(
            particles.nbody_energy(i["positions"], i["velocities"], i["masses"], i["softening"])
        )
        p0 = np.asarray(jnp.sum(i["masses"][:, None] * i["velocities"], axis=0), np.float64)
        scale = float(jnp.sum(i["masses"][:, None] * jnp.abs(i["velocities"])))
        errs, dps = [], []
        for dt, steps in ((2e-3, 1000), (1e-3, 2000)):
            out = particles.nbody_rollout(
                i["positions"], i["velocities"], i["masses"], jnp.asarray(dt), i["softening"],
                num_steps=steps, save_every=steps // 20,
            )  # fmt: skip
            dps.append(float(np.max(np.abs(np.asarray(out.momentum) - p0))) / scale)
            errs.append(float(np.max(np.abs(np.asarray(out.energy) - e0))) / abs(e0))
    dp, ratio = max(dps), errs[0] / errs[1]
    assert dp < 1e-12, f"momentum changed by {dp:.3e} (relative) > 1e-12"
    assert ratio > 3.0, f"energy error ratio {ratio:.2f} for dt -> dt/2 (errors {errs}); want ~4"
    assert errs[1] < 2e-4, f"energy error {errs[1]:.3e} (relative) > 2e-4 at dt = 1e-3"
    return {"rel_momentum_change": dp, "rel_energy_error": errs[1], "error_ratio": ratio}


register(
    KernelSpec(
        name="particles.nbody",
        family="particles",
        fn=particles.nbody_rollout,
        twin="parallax.kernels.particles.twins:nbody_rollout",
        cases={"test": _nbody_case(16, 10, 5), "bench": _nbody_case(1024, 100, 100)},
        fwd_tol={"float32": (1e-5, 1e-5), "float64": (1e-12, 1e-12)},
        grad_tol={"float32": (1e-4, 1e-4), "float64": (1e-10, 1e-10)},
        grad_wrt=("positions", "velocities", "masses", "softening"),
        physics=(PhysicsCheck("momentum_energy", _nbody_conservation),),
        description="gravitational N-body, direct sum with Plummer softening, velocity Verlet",
    )
)
