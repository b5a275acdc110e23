"""Registered ``particles`` kernels: Lennard-Jones energy/forces, LJ NVE on a cell list, LJ
Langevin (BAOAB) and gravitational N-body."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from parallax.kernels import particles
from parallax.kernels.initial_conditions import (
    box_for_density,
    cubic_lattice,
    lj_cluster,
    thermal_velocities,
)
from parallax.registry._cases import normal, rollout_case, scalar, uniform
from parallax.registry._registry import register
from parallax.registry._spec import Case, KernelSpec

# --- lj_energy: U and F = -∇U over all pairs ---------------------------------------------------


def _lj_energy_case(*, n_side: int, density: float, r_cut: float) -> Callable[..., Case]:
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
        fn=particles.lj_energy_and_forces,
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
        bounds={
            "bench": "the optimized HLO materialises 1000 x 1000 pair arrays (separations, r^2, "
            "cutoff masks, the r^-6 terms and their gradient, 4-24 MB each) between a dozen "
            "fusions: ~164 MB of operand and result traffic per call against the model's 24 KB "
            "(positions only), from L2/L3. Streaming the pair temporaries, not flops, bounds "
            "it; the elementwise work (divides, selects, minimum-image rounding) has no FMA "
            "structure for SGEMM's rate either."
        },
    )
)


# --- lj_nve: velocity Verlet on a fixed-capacity cell list -------------------------------------


def nve_case(
    *,
    n_side: int,
    density: float,
    steps: int,
    save_every: int,
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
        return rollout_case(
            inputs={
                "positions": x.astype(dtype),
                "velocities": v.astype(dtype),
                "box": scalar(box, dtype),
                "dt": scalar(0.005, dtype),
                "sigma": scalar(1.0, dtype),
                "epsilon": scalar(1.0, dtype),
            },
            steps=steps,
            save_every=save_every,
            r_cut=r_cut,
            skin=skin,
            capacity=capacity,
            cells_per_side=(cps, cps, cps),
            cell_capacity=cell_capacity,
            # per step: forces over the padded neighbor list (n x capacity entries are
            # computed, ~40 flops each for the energy and its gradient) plus the Verlet update;
            # bytes: the neighbor positions gathered (3 floats) and indices (int32) per entry,
            # one read and one write of x, v and a. List rebuilds (data-dependent, every few
            # tens of steps) are not counted.
            flops=steps * (40.0 * n * capacity + 30.0 * n),
            bytes=steps * (n * capacity * (3 * item + 4) + 2 * 9 * n * item),
        )

    return make


def cluster_nve_case(*, steps: int, save_every: int) -> Callable[..., Case]:
    """The smooth 8-particle :func:`lj_cluster` on a neighbor list (r_c = 3, skin 0.3, box 10): no
    pair ever crosses the cutoff, so finite differences of the rollout are valid (they are not
    across a force jump). Dense candidates (``cells_per_side=None``): the generic contract tests
    compile this kernel ~14 times and the cell list adds ~40% compile time; the cell-list path
    is covered by tests/kernels/particles (a liquid with rebuilds, 200-step torch parity, the
    10^4-step drift check, overflow and gradients through 100 steps)."""

    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        x, v = lj_cluster(rng, box=10.0, kT=0.5)
        return rollout_case(
            inputs={
                "positions": x.astype(dtype),
                "velocities": v.astype(dtype),
                "box": scalar(10.0, dtype),
                "dt": scalar(0.005, dtype),
                "sigma": scalar(1.0, dtype),
                "epsilon": scalar(1.0, dtype),
            },
            steps=steps,
            save_every=save_every,
            r_cut=3.0,
            skin=0.3,
            capacity=8,
            cell_capacity=0,
            cells_per_side=None,
        )

    return make


# the bench liquid: 100 steps of LJ at density 0.8, cut 2.5, skin 0.3
_liquid = functools.partial(
    nve_case,
    density=0.8,
    steps=100,
    save_every=100,
    r_cut=2.5,
    skin=0.3,
    capacity=128,
    cell_capacity=48,
)

register(
    KernelSpec(
        name="particles.lj_nve",
        fn=particles.lj_nve_rollout,
        cases={
            "test": cluster_nve_case(steps=40, save_every=10),
            # the standard LJ liquid benchmark (4096 particles): density 0.8, r_c = 2.5, skin 0.3
            "bench": _liquid(n_side=16),
            # 40^3 = 64000 particles at the same density and cut (15^3 cells): sized for a GPU
            "bench_gpu": _liquid(n_side=40),
        },
        # 20 chaotic steps: rounding differences (summation order in the neighbor sums) grow by
        # ~e^(λt) with λ ~ 3-5 per unit time, t = 0.1 — a factor < 2; float32 positions ~ 6.
        fwd_tol={"float32": (1e-4, 1e-4), "float64": (1e-10, 1e-10)},
        grad_tol={"float32": (1e-3, 1e-3), "float64": (1e-9, 1e-9)},
        grad_wrt=("positions", "velocities", "dt", "epsilon"),
        description="Lennard-Jones NVE, velocity Verlet, O(N) cell/neighbor list with overflow "
        "check (raises), lax.scan rollout",
        bounds={
            "bench": "neighbour-list rebuilds, which the model does not count, dominate: 18 "
            "rebuilds in the 100 steps (cell binning by scatter, then 27 cells x 48 slots = 1296 "
            "candidates per particle filtered into the 128-entry list, 20-70 MB arrays) take "
            "~57% of the op time in a trace; the per-step forces over the padded 4096 x 128 "
            "list (gathered neighbour positions, three scatters) most of the rest. Gathers, "
            "scatters and compaction, not streaming bandwidth, bound it."
        },
    )
)


# --- lj_langevin: BAOAB ------------------------------------------------------------------------


def _langevin_case(*, n_side: int, density: float, steps: int, save_every: int, r_cut: float):
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        box = box_for_density(n_side**3, density)
        x = cubic_lattice(n_side, box, rng=rng)
        n = x.shape[0]
        return rollout_case(
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
            steps=steps,
            save_every=save_every,
            r_cut=r_cut,
            # per step the all-pairs energy gradient (as lj_energy: 40 flops per ordered pair)
            # and BAOAB's two kicks, two drifts and the O-step (~30 flops per particle); bytes:
            # one read and one write of x, v and the carried forces, and the step's noise
            flops=steps * (40.0 * n * n + 30.0 * n),
            bytes=steps * (2 * 9 + 3) * n * np.dtype(dtype).itemsize,
        )

    return make


register(
    KernelSpec(
        name="particles.lj_langevin",
        fn=particles.lj_langevin_rollout,
        cases={
            "test": _langevin_case(n_side=3, density=0.4, steps=10, save_every=5, r_cut=2.0),
            "bench": _langevin_case(n_side=10, density=0.8, steps=100, save_every=100, r_cut=2.5),
        },
        fwd_tol={"float32": (1e-4, 1e-4), "float64": (1e-10, 1e-10)},
        grad_tol={"float32": (1e-3, 1e-3), "float64": (1e-9, 1e-9)},
        grad_wrt=("positions", "velocities", "gamma", "kT"),
        description="Lennard-Jones Langevin dynamics, BAOAB (Leimkuhler-Matthews), explicit noise "
        "or PRNG key, all pairs",
        bounds={
            "bench": "every step evaluates the all-pairs force as particles.lj_energy does: 16 "
            "fusions over 1000 x 1000 pair arrays, ~173 MB of operand and result traffic per "
            "step against the model's 84 KB (particle state and noise), from L2/L3. Streaming "
            "the pair temporaries, not flops, bounds it."
        },
    )
)


# --- nbody -------------------------------------------------------------------------------------


def nbody_case(*, n: int, steps: int, save_every: int) -> Callable[..., Case]:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        return rollout_case(
            inputs={
                "positions": normal(rng, (n, 3), dtype),
                "velocities": (0.3 * rng.standard_normal((n, 3))).astype(dtype),
                "masses": uniform(rng, (n,), dtype, 0.5, 1.5),
                "dt": scalar(1e-3, dtype),
                "softening": scalar(0.1, dtype),
            },
            steps=steps,
            save_every=save_every,
            # 20 flops per ordered pair (difference, softened r^-3, multiply-add); bytes: one
            # read and one write of x, v and the carried accelerations per step, and the masses
            flops=20.0 * n * n * steps,
            bytes=steps * (2 * 9 + 1) * n * np.dtype(dtype).itemsize,
        )

    return make


register(
    KernelSpec(
        name="particles.nbody",
        fn=particles.nbody_rollout,
        cases={
            "test": nbody_case(n=16, steps=10, save_every=5),
            "bench": nbody_case(n=1024, steps=100, save_every=100),
        },
        fwd_tol={"float32": (1e-5, 1e-5), "float64": (1e-12, 1e-12)},
        grad_tol={"float32": (1e-4, 1e-4), "float64": (1e-10, 1e-10)},
        grad_wrt=("positions", "velocities", "masses", "softening"),
        description="gravitational N-body, direct sum with Plummer softening, velocity Verlet",
        bounds={
            "bench": "per step 7 fusions over 1024 x 1024 pair arrays (three separation "
            "components, the softened r^-3 factor, three reductions to accelerations): ~44 MB "
            "of operand and result traffic per step against the model's 78 KB (particle "
            "state), from L2/L3. Streaming the pair temporaries, not flops, bounds it."
        },
    )
)
