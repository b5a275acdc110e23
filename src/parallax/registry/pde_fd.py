"""Registered finite-difference PDE kernels (family ``pde``).

Laplacians (2D, 3D; order 2 and 4; periodic and Dirichlet), first-order upwind advection (1D,
2D) and the 2D leapfrog wave equation (their physics checks: tests/physics/test_pde_fd.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from parallax.kernels import pde
from parallax.registry._cases import normal, rollout_case, scalar
from parallax.registry._registry import register
from parallax.registry._spec import Case, KernelSpec

# --- Laplacian --------------------------------------------------------------------------------


def _lap_case(*, shape: tuple[int, ...], ndim: int, order: int, bc: str, dx: Any) -> Callable:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        size = float(np.prod(shape))
        item = np.dtype(dtype).itemsize
        return Case(
            inputs={"u": normal(rng, shape, dtype), "dx": np.asarray(dx, dtype=dtype)},
            static={"order": order, "bc": bc},
            steps=1,
            flops=size * ndim * (2 * (order + 1) + 2),
            bytes=2.0 * item * size,
        )

    return make


# Laplacian of N(0,1) data: values ~ |w|_1 / h^2 ~ 1e2, summed from terms of that size, so
# float32 rounding differences between the two op orders are ~1e2 * 6e-8 * few: atol 1e-4.
_LAP_TOL = {"float32": (1e-5, 1e-4), "float64": (1e-12, 1e-11)}

register(
    KernelSpec(
        name="pde.fd_laplacian_2d",
        fn=pde.laplacian_2d,
        cases={
            # the most involved path (one-sided closure, per-axis spacing); the other
            # order/bc combinations are compared with the twin in tests/kernels/pde.
            "test": _lap_case(shape=(12, 10), ndim=2, order=4, bc="dirichlet", dx=(0.2, 0.3)),
            "bench": _lap_case(shape=(2048, 2048), ndim=2, order=2, bc="periodic", dx=1.0 / 2048),
        },
        fwd_tol=_LAP_TOL,
        grad_tol=_LAP_TOL,
        grad_wrt=("u", "dx"),
        description="2D finite-difference Laplacian, order 2/4, periodic (fused shifts) or "
        "Dirichlet (held boundary, 4th-order one-sided closure)",
        bounds={
            "bench": "one fused stencil loop (99.6% of the op time in a trace) whose operand "
            "and result bytes are the model's (33.6 MB). With the host allocator configured "
            "(configure_host_allocator) the 16 MiB result reuses freed memory: 0 minor page "
            "faults per call (getrusage) against 4,096 under glibc's defaults, and run alone "
            "the loop streams ~15 GB/s, about 70% of the triad. Next to the other "
            "implementations its samples spread widely and the row sits near half the "
            "ceiling: 40-70% across idle runs."
        },
    )
)

register(
    KernelSpec(
        name="pde.fd_laplacian_3d",
        fn=pde.laplacian_3d,
        cases={
            "test": _lap_case(shape=(6, 8, 7), ndim=3, order=4, bc="periodic", dx=0.3),
            "bench": _lap_case(shape=(256, 256, 256), ndim=3, order=2, bc="periodic", dx=1.0 / 256),
            # 512 MiB per float32 array: far beyond a GPU's L2, so the stencil streams from HBM
            "bench_gpu": _lap_case(
                shape=(512, 512, 512), ndim=3, order=2, bc="periodic", dx=1.0 / 512
            ),
        },
        fwd_tol=_LAP_TOL,
        grad_tol=_LAP_TOL,
        grad_wrt=("u", "dx"),
        description="3D finite-difference Laplacian, order 2/4, periodic or Dirichlet",
        bounds={
            "bench": "one fused stencil loop over both cores whose operand and result bytes "
            "are the model's (read u, write the result: 128 MiB), but the 64 MiB result is a "
            "fresh buffer every call (above 32 MiB, glibc's largest mmap threshold, even with "
            "configure_host_allocator): 16,385 minor page faults per call (getrusage), and the "
            "kernel's zeroing of those pages takes more CPU time than the stencil (system over "
            "user time). JAX's copy ceiling (-x into a fresh 85 MiB result) faults the same way "
            "and sits well below the triad."
        },
    )
)

# --- upwind advection -------------------------------------------------------------------------


def _adv_case(
    *, shape: tuple[int, ...], c: Any, dt: float, dx: float, steps: int, save: int, bc: str
) -> Callable:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        size = float(np.prod(shape))
        ndim = np.asarray(c).size
        return rollout_case(
            inputs={
                "u0": normal(rng, shape, dtype),
                "c": np.asarray(c, dtype=dtype),
                "dt": scalar(dt, dtype),
                "dx": scalar(dx, dtype),
            },
            steps=steps,
            save_every=save,
            bc=bc,
            flops=size * steps * (7 * ndim + 2),
            bytes=2.0 * np.dtype(dtype).itemsize * size * steps,
        )

    return make


_ADV_TOL = {
    # Upwind is a convex combination of neighbours (Courant <= 1): errors do not grow over
    # steps, so float32 values ~1 carry ~steps * eps rounding differences.
    "float32": (1e-5, 1e-5),
    "float64": (1e-12, 1e-12),
}
_ADV_GRAD_TOL = {"float32": (1e-4, 1e-4), "float64": (1e-10, 1e-10)}

register(
    KernelSpec(
        name="pde.fd_advection_1d",
        fn=pde.advection_1d_rollout,
        cases={
            "test": _adv_case(
                shape=(3, 32), c=-0.8, dt=0.02, dx=1 / 32, steps=20, save=10, bc="periodic"
            ),
            "bench": _adv_case(
                shape=(64, 4096),
                c=0.8,
                dt=0.5 / 4096,
                dx=1 / 4096,
                steps=1000,
                save=1000,
                bc="periodic",
            ),
        },
        fwd_tol=_ADV_TOL,
        grad_tol=_ADV_GRAD_TOL,
        grad_wrt=("u0", "c", "dt", "dx"),
        description="1D first-order upwind advection u_t + c u_x = 0 (forward Euler), "
        "periodic or held Dirichlet boundaries; lax.scan rollout",
        bounds={
            "bench": "the 64x4096 state (1 MiB) stays in L2: per step the upwind stencil "
            "fusion (~55% of the op time in a trace) and a copy of the state for the scan carry "
            "(~44%) each move 2.1 MB, so the optimized HLO moves 2x the model's bytes (4.2 vs "
            "2.1 MB per step)."
        },
    )
)

register(
    KernelSpec(
        name="pde.fd_advection_2d",
        fn=pde.advection_2d_rollout,
        cases={
            "test": _adv_case(
                shape=(2, 12, 16),
                c=(0.5, -0.3),
                dt=0.02,
                dx=1 / 16,
                steps=20,
                save=10,
                bc="periodic",
            ),
            "bench": _adv_case(
                shape=(512, 512),
                c=(0.5, -0.3),
                dt=0.5 / 512,
                dx=1 / 512,
                steps=500,
                save=500,
                bc="periodic",
            ),
        },
        fwd_tol=_ADV_TOL,
        grad_tol=_ADV_GRAD_TOL,
        grad_wrt=("u0", "c", "dt", "dx"),
        description="2D first-order upwind advection with constant velocity (c_x, c_y); "
        "lax.scan rollout",
        bounds={
            "bench": "the 512^2 state (1 MiB) stays in L2, so DRAM bandwidth does not bind: the "
            "stencil fusion (each periodic neighbour as two zero-filled pad shifts, 8 pads in "
            "the fused loop) takes ~80% of the op time in a trace and a copy of the state for "
            "the scan carry ~20%; the optimized HLO moves 2x the model's bytes (4.2 vs 2.1 MB "
            "per step)."
        },
    )
)

# --- wave equation ----------------------------------------------------------------------------


def _wave_case(
    *, shape: tuple[int, ...], dt: float, dx: Any, steps: int, save: int, order: int, bc: str
) -> Callable:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        size = float(np.prod(shape))
        u = normal(rng, shape, dtype)
        if bc == "dirichlet":  # a held state: both time levels agree on the boundary
            u_prev = (u + 0.1 * normal(rng, shape, dtype)).astype(dtype)
            u_prev[..., [0, -1], :] = u[..., [0, -1], :]
            u_prev[..., :, [0, -1]] = u[..., :, [0, -1]]
        else:
            u_prev = (u + 0.1 * normal(rng, shape, dtype)).astype(dtype)
        return rollout_case(
            inputs={
                "u_prev": u_prev,
                "u": u,
                "c": scalar(1.0, dtype),
                "dt": scalar(dt, dtype),
                "dx": np.asarray(dx, dtype=dtype),
            },
            steps=steps,
            save_every=save,
            order=order,
            bc=bc,
            flops=size * steps * (2 * (2 * (order + 1) + 2) + 4),
            bytes=3.0 * np.dtype(dtype).itemsize * size * steps,
        )

    return make


# Leapfrog is neutrally stable: rounding differences neither grow nor decay much over 20
# steps; values ~ a few, so float32 atol 1e-4 (~20 steps * |L| h^2 * eps * |u| with |L| h^2 ~ 8).
_WAVE_TOL = {"float32": (1e-4, 1e-4), "float64": (1e-11, 1e-11)}
_WAVE_GRAD_TOL = {"float32": (1e-3, 1e-3), "float64": (1e-10, 1e-10)}

register(
    KernelSpec(
        name="pde.fd_wave_2d",
        fn=pde.wave_2d_rollout,
        cases={
            "test": _wave_case(
                shape=(14, 12), dt=0.1, dx=(0.25, 0.3), steps=20, save=10, order=4, bc="dirichlet"
            ),
            "bench": _wave_case(
                shape=(512, 512),
                dt=0.5 / 512,
                dx=1 / 512,
                steps=500,
                save=500,
                order=2,
                bc="periodic",
            ),
        },
        fwd_tol=_WAVE_TOL,
        grad_tol=_WAVE_GRAD_TOL,
        grad_wrt=("u_prev", "u", "c", "dt", "dx"),
        description="2D wave equation u_tt = c^2 ∇²u, leapfrog with the order-2/4 FD "
        "Laplacian, periodic or held Dirichlet boundaries; lax.scan rollout",
        bounds={
            "bench": "the two 512^2 time levels (2 MiB) stay in L2/L3; besides the stencil "
            "fusion (~60% of the op time in a trace), the leapfrog carry shuffles the time "
            "levels with three 1 MiB copies per step (~40%), so the optimized HLO moves 3x the "
            "model's bytes (9.5 vs 3.1 MB per step)."
        },
    )
)
