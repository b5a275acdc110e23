"""Registered ``ode`` kernels: RK4 (Lorenz-96), Dormand–Prince 5(4) (Lorenz-63) and velocity
Verlet (Kepler); each binds a system to a solver (:mod:`parallax.registry._ode_flat`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from parallax.kernels.initial_conditions import kepler_orbits
from parallax.registry import _ode_flat as _flat
from parallax.registry._cases import normal, rollout_case, scalar
from parallax.registry._registry import register
from parallax.registry._spec import Case, KernelSpec

_TWINS = "parallax.registry._ode_twins"
LORENZ63 = (10.0, 28.0, 8.0 / 3.0)

# --- reference solutions and orders --------------------------------------------------------------


# --- cases ---------------------------------------------------------------------------------------


# The cost of an adaptive solve is its attempted step count (accepted + rejected) times the cost
# of a step. Per attempted step on Lorenz-63 (3 components): 6 new vector-field evaluations
# (FSAL) x 8 flops, the stage combinations (21 multiply-adds) and the 5th-order update (6) and
# error (6) sums, ~2 x 33 = 66 flops per component, and the scaled RMS error norm (~10 per
# component): 48 + 3 x 76 = 276 flops; every saved time adds a CONTD5 evaluation (~20 flops per
# component). Bytes: one read and one write of the 3-vector per attempted step plus the saved
# states (the solve is latency-bound: each step is a chain of dependent scalar operations). The
# attempted counts of the bench case (t = 0..100 at rtol = atol = 1e-6 in float32, 1e-9 in
# float64) are checked against the solver in tests/bench/test_bench_cases.py.
DOPRI5_BENCH_ATTEMPTED = {"float32": 4919, "float64": 18152}
_DOPRI5_STEP_FLOPS, _DOPRI5_SAVE_FLOPS = 276.0, 60.0


def _dopri5_case(
    *, t_end: float, n_save: int, max_steps: int, loop: str, tol64: float, bench: bool = False
) -> Callable[..., Case]:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        tol = 1e-6 if np.dtype(dtype) == np.float32 else tol64
        steps = DOPRI5_BENCH_ATTEMPTED.get(np.dtype(dtype).name) if bench else None
        cost = {}
        if steps is not None:
            item = np.dtype(dtype).itemsize
            cost = {
                "steps": steps,
                "flops": _DOPRI5_STEP_FLOPS * steps + _DOPRI5_SAVE_FLOPS * n_save,
                "bytes": 2.0 * 3 * item * steps + 3 * item * n_save,
            }
        return Case(
            inputs={
                "y0": (np.ones(3) + 0.5 * rng.standard_normal(3)).astype(dtype),
                "params": np.asarray(LORENZ63, dtype=dtype),
                "ts": np.linspace(0.0, t_end, n_save).astype(dtype),
                "rtol": scalar(tol, dtype),
                "atol": scalar(tol, dtype),
                "dt0": scalar(1e-2, dtype),
            },
            static={"max_steps": max_steps, "loop": loop},
            **cost,
        )

    return make


def _lorenz96_case(*, batch: int, n: int, steps: int, save_every: int) -> Callable[..., Case]:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        return rollout_case(
            inputs={
                "y0": (8.0 + normal(rng, (batch, n), np.dtype(np.float64))).astype(dtype),
                "dt": scalar(0.01, dtype),
                "forcing": scalar(8.0, dtype),
            },
            steps=steps,
            save_every=save_every,
            # 4 stages x (5 flops per site) + 12 flops to combine, per site and step; one read
            # and one write of the state per step, plus the saved frames
            flops=32.0 * batch * n * steps,
            bytes=(2.0 * steps + steps // save_every) * batch * n * np.dtype(dtype).itemsize,
        )

    return make


def _kepler_case(*, batch: int, steps: int, save_every: int) -> Callable[..., Case]:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        q0, v0 = kepler_orbits(rng, batch)
        return rollout_case(
            inputs={
                "q0": q0.astype(dtype),
                "v0": v0.astype(dtype),
                "dt": scalar(0.01, dtype),
                "mu": scalar(1.0, dtype),
            },
            steps=steps,
            save_every=save_every,
            flops=25.0 * batch * steps,  # force (~13) + two kicks and a drift (12)
            # per step one read and one write of q, v and the carried acceleration (2 each),
            # plus the saved q and v frames
            bytes=(12.0 * steps + 4 * (steps // save_every)) * batch * np.dtype(dtype).itemsize,
        )

    return make


# --- specs ---------------------------------------------------------------------------------------

register(
    KernelSpec(
        name="ode.dopri5_lorenz63",
        fn=_flat.dopri5_lorenz63,
        twin=f"{_TWINS}:dopri5_lorenz63",
        cases={
            # reverse-mode grads need the lax.scan variant (max_steps masked iterations); the
            # bench times the default lax.while_loop variant, which stops when done. Both give
            # identical values (tests/kernels/ode/test_dopri5.py).
            "test": _dopri5_case(t_end=0.3, n_save=4, max_steps=64, loop="scan", tol64=1e-7),
            "bench": _dopri5_case(
                t_end=100.0, n_save=1001, max_steps=100_000, loop="while", tol64=1e-9, bench=True
            ),
        },
        # Same arithmetic on both sides, so the accept/reject decisions agree and the residual
        # is round-off (XLA fuses and may contract to FMA) carried through ~20-30 steps of a
        # chaotic flow and the controller (measured: float32 fwd 5e-7 / grad 3e-5 relative,
        # float64 3e-16 / 2e-14); float32 runs at rtol = atol = 1e-6.
        fwd_tol={"float32": (2e-5, 2e-5), "float64": (1e-12, 1e-12)},
        grad_tol={"float32": (5e-4, 5e-4), "float64": (1e-10, 1e-10)},
        grad_wrt=("y0", "params"),
        description="Lorenz-63 by adaptive Dormand-Prince 5(4), PI control, dense output at ts",
        bounds={
            "bench": "a lax.while_loop of ~4,900 attempted steps on a 3-vector: the optimized "
            "HLO runs ~30 thunks per step (stage fusions, copies, the controller's conditional) "
            "on 3-element arrays, for 276 flops and 26 model bytes per step: XLA:CPU's "
            "per-thunk dispatch latency, not bandwidth or flops, bounds it."
        },
    )
)

register(
    KernelSpec(
        name="ode.rk4_lorenz96",
        fn=_flat.rk4_lorenz96,
        twin=f"{_TWINS}:rk4_lorenz96",
        cases={
            "test": _lorenz96_case(batch=2, n=8, steps=20, save_every=5),
            "bench": _lorenz96_case(batch=1024, n=40, steps=1000, save_every=100),
        },
        # 20 chaotic steps: round-off differences grow slowly (Lyapunov time ~ 0.6 >> 0.2)
        fwd_tol={"float32": (1e-5, 1e-5), "float64": (1e-12, 1e-12)},
        grad_tol={"float32": (1e-4, 1e-4), "float64": (1e-11, 1e-11)},
        grad_wrt=("y0", "dt", "forcing"),
        description="Lorenz-96 by fixed-step classical RK4 (rollout on lax.scan)",
        bounds={
            "bench": "every RK4 stage rebuilds the periodic halo of the 40-site ring as a "
            "slice-concatenate fusion into a (1024, 43) array: 4 of the 6 thunks per step and "
            "~77% of the op time in a trace. The working set (state 160 KB, stages under 1 MB) "
            "stays in L2, so DRAM bandwidth does not bind; the optimized HLO moves ~10x the "
            "model's bytes (3.5 MB per step against one read and one write of the state)."
        },
    )
)

register(
    KernelSpec(
        name="ode.verlet_kepler",
        fn=_flat.verlet_kepler,
        twin=f"{_TWINS}:verlet_kepler",
        cases={
            "test": _kepler_case(batch=3, steps=50, save_every=10),
            "bench": _kepler_case(batch=4096, steps=1000, save_every=100),
        },
        fwd_tol={"float32": (1e-5, 1e-5), "float64": (1e-12, 1e-12)},
        grad_tol={"float32": (1e-4, 1e-4), "float64": (1e-11, 1e-11)},
        grad_wrt=("q0", "v0", "dt", "mu"),
        description="Kepler two-body by symplectic velocity Verlet (kick-drift-kick leapfrog)",
        bounds={
            "bench": "one op: |q|^2, a sum over the length-2 coordinate axis of (4096, 2), which "
            "XLA:CPU hands to YNNPACK (ynn_fusion), takes ~90% of the op time in a trace; the "
            "kick and drift fusions run on L2-resident data (q, v, a: 96 KB). A reduction over "
            "a 2-wide minor axis, not bandwidth, bounds it."
        },
    )
)
