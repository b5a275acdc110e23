"""Physics of the registered ``particles`` kernels: bounded NVE energy error over 10^4 steps,
velocity Verlet's order, Langevin thermalisation and N-body momentum/energy conservation. One
test per (kernel, check, dtype), parametrized over the registry's ``particles`` family
(tests/physics/conftest.py)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from parallax.kernels import particles
from parallax.kernels.initial_conditions import box_for_density, cubic_lattice, lj_cluster
from parallax.registry import get, specs
from parallax.registry.particles import nbody_case, nve_case


def _nve_energy_drift(dtype: str) -> dict[str, float]:
    """NVE LJ on the cell list, 10^4 steps (t = 50): the total energy error stays bounded.

    64 particles at density 0.285, r_c = 1.7 (skin 0.3: a 3^3 cell list in a box of 6.08),
    dt = 0.005, kT ≈ 1. Verlet's shadow Hamiltonian keeps the error O(dt²) and bounded; the
    force jump at the cut (u'(r_c) ≈ 0.2) adds a random-walk error per crossing. Measured
    max |E(t) - E(0)| / <K> ≈ 1e-3 in float64; the bound 2e-2 allows for that noise while a
    systematic drift (wrong force, missed neighbor, wrong rebuild) exceeds it within ~10^3 steps.
    """
    with jax.enable_x64(dtype == "float64"):
        case = nve_case(
            n_side=4,
            density=0.285,
            steps=10_000,
            save_every=50,
            r_cut=1.7,
            skin=0.3,
            capacity=48,
            cell_capacity=16,
        )(np.random.default_rng(3), np.dtype(dtype))
        inputs = {k: jnp.asarray(v) for k, v in case.inputs.items()}
        static = dict(case.static)
        nl = particles.allocate_neighbor_list(
            inputs["positions"],
            inputs["box"],
            cutoff=static["r_cut"],
            skin=static["skin"],
            capacity_factor=2.0,  # a dilute fluid: local counts fluctuate a lot
        )
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
                x,
                v,
                jnp.asarray(box, dtype),
                jnp.asarray(0.005, dtype),
                jnp.asarray(1.0, dtype),
                jnp.asarray(1.0, dtype),
                jnp.asarray(2.0, dtype),
                jnp.asarray(kT, dtype),
                key=key,
                num_steps=steps,
                save_every=10,
            )

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


def _nbody_conservation(dtype: str) -> dict[str, float]:
    """Direct-sum N-body: momentum exact to rounding, energy error O(dt²) (velocity Verlet).

    64 bodies (Gaussian cloud, masses in [0.5, 1.5], ε = 0.1, G = 1) to t = 2 at dt = 2e-3 and
    1e-3. Pairwise forces are antisymmetric, so Σ m v changes only by rounding: |ΔP| < 1e-12
    Σ m|v| in float64. The max energy error over the run must shrink by > 3x when dt halves
    (4x for order 2; the cold cloud collapses and close encounters at ε = 0.1 make the measured
    ratio 4.5-6.5) and stay < 2e-4 |E| at dt = 1e-3 (measured 5e-5).
    """
    with jax.enable_x64(True):
        base = nbody_case(n=64, steps=1000, save_every=50)(
            np.random.default_rng(9), np.dtype("float64")
        )
        i = {k: jnp.asarray(v) for k, v in base.inputs.items()}
        e0 = float(
            particles.nbody_energy(i["positions"], i["velocities"], i["masses"], i["softening"])
        )
        p0 = np.asarray(jnp.sum(i["masses"][:, None] * i["velocities"], axis=0), np.float64)
        scale = float(jnp.sum(i["masses"][:, None] * jnp.abs(i["velocities"])))
        errs, dps = [], []
        for dt, steps in ((2e-3, 1000), (1e-3, 2000)):
            out = particles.nbody_rollout(
                i["positions"],
                i["velocities"],
                i["masses"],
                jnp.asarray(dt),
                i["softening"],
                num_steps=steps,
                save_every=steps // 20,
            )
            dps.append(float(np.max(np.abs(np.asarray(out.momentum) - p0))) / scale)
            errs.append(float(np.max(np.abs(np.asarray(out.energy) - e0))) / abs(e0))
    dp, ratio = max(dps), errs[0] / errs[1]
    assert dp < 1e-12, f"momentum changed by {dp:.3e} (relative) > 1e-12"
    assert ratio > 3.0, f"energy error ratio {ratio:.2f} for dt -> dt/2 (errors {errs}); want ~4"
    assert errs[1] < 2e-4, f"energy error {errs[1]:.3e} (relative) > 2e-4 at dt = 1e-3"
    return {"rel_momentum_change": dp, "rel_energy_error": errs[1], "error_ratio": ratio}


def _lj_pair(dtype: str) -> dict[str, float]:
    """Two particles at distance r: U = 4ε((σ/r)¹² - (σ/r)⁶) - U(r_c) (cut and shifted), the
    force on each is ∓U'(r) along the axis (zero at the minimum r = 2^(1/6)σ), and on a random
    lattice the forces sum to zero (Newton's third law)."""
    fn = get("particles.lj_energy").fn
    sigma, eps, r_cut = 1.1, 0.7, 2.5

    def u(r: float) -> float:
        return 4 * eps * ((sigma / r) ** 12 - (sigma / r) ** 6)

    def du(r: float) -> float:
        return 4 * eps * (-12 * sigma**12 / r**13 + 6 * sigma**6 / r**7)

    tol = 1e-12 if dtype == "float64" else 2e-5
    out: dict[str, float] = {}
    with jax.enable_x64(dtype == "float64"):
        box, s, e = (jnp.asarray(v, dtype) for v in (10.0, sigma, eps))
        for r in (1.0, 2 ** (1 / 6) * sigma, 1.7, 2.4):
            x = jnp.asarray([[1.0, 2.0, 3.0], [1.0 + r, 2.0, 3.0]], dtype)
            energy, forces = fn(x, box, s, e, r_cut=r_cut)
            scale = max(1.0, abs(du(r)))
            assert abs(float(energy) - (u(r) - u(r_cut))) < tol * max(1.0, abs(u(r))), (r, energy)
            want = np.array([[du(r), 0, 0], [-du(r), 0, 0]])
            err = float(np.max(np.abs(np.asarray(forces, np.float64) - want))) / scale
            assert err < 10 * tol, f"LJ pair force at r = {r}: relative error {err:.2e}"
            out[f"force_err_r{r:.3f}"] = err
        case = get("particles.lj_energy").make_case("test", dtype)
        inputs = {k: jnp.asarray(v) for k, v in case.inputs.items()}
        _, forces = fn(**inputs, **case.static)
        net = float(jnp.max(jnp.abs(jnp.sum(forces, axis=0))))
        assert net < 100 * tol * float(jnp.max(jnp.abs(forces))), f"net force {net:.2e}"
    out["net_force"] = net
    return out


KERNELS = [s.name for s in specs(family="particles")]
CHECKS = {
    "particles.lj_energy": (("pair_energy_force_newton3", _lj_pair, ("float32", "float64")),),
    "particles.lj_nve": (
        ("energy_drift_1e4_steps", _nve_energy_drift, ("float64",)),
        ("verlet_order", _verlet_order, ("float64",)),
    ),
    "particles.lj_langevin": (("temperature_reaches_target", _langevin_temperature, ("float64",)),),
    "particles.nbody": (("momentum_energy", _nbody_conservation, ("float64",)),),
}


def test_physics(physics):
    physics.check()
