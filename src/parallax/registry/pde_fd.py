"""Registered finite-difference PDE kernels (family ``pde``).

Laplacians (2D, 3D; order 2 and 4; periodic and Dirichlet), first-order upwind advection (1D,
2D) and the 2D leapfrog wave equation. Physics checks measure convergence orders on smooth
functions, exact translation, exact standing waves and the leapfrog-conserved energy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from parallax.kernels import pde
from parallax.registry._cases import normal, scalar
from parallax.registry._registry import register
from parallax.registry._spec import Case, KernelSpec, PhysicsCheck

ORDER_TOL = 0.3  # the issue's ±0.3 on measured convergence orders


def _jit(fn: Callable, **static: Any) -> Callable:
    """Physics checks call kernels jitted: op-by-op eager dispatch of a stencil rollout costs
    seconds per call in compile-per-primitive overhead."""
    return jax.jit(functools.partial(fn, **static))


def _order(errs: list[float], ratio: float = 2.0) -> float:
    """Observed order from the two finest levels of a refinement by ``ratio``."""
    return float(np.log(errs[-2] / errs[-1]) / np.log(ratio))


def _assert_order(name: str, got: float, want: float) -> None:
    assert abs(got - want) <= ORDER_TOL, f"{name}: observed order {got:.3f}, expected {want}±0.3"


# --- Laplacian --------------------------------------------------------------------------------


def _lap_case(shape: tuple[int, ...], ndim: int, order: int, bc: str, dx: Any) -> Callable:
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


def _smooth(ndim: int, bc: str, n: int) -> tuple[np.ndarray, np.ndarray, float]:
    """A smooth field, its exact Laplacian and the spacing.

    Periodic on [0, 2π)^d: ``exp(sin x0) prod_{a>0} cos(x_a + 0.3)``. Dirichlet on [0, 1]^d
    (n odd): ``prod_a sin(π x_a) + 1`` (constant boundary data 1); its truncation error peaks
    at the centre node, present on every grid, so max errors compare like with like. (Its even
    derivatives vanish on the boundary, so the one-sided closure contributes at O(h^5) here;
    the closure's own order is checked exactly on polynomials in tests/kernels/pde.)
    """
    if bc == "periodic":
        x = np.arange(n) * (2 * np.pi / n)
        grids = np.meshgrid(*([x] * ndim), indexing="ij")
        s = np.sin(grids[0])
        rest = np.ones_like(s)
        for a in range(1, ndim):
            rest = rest * np.cos(grids[a] + 0.3)
        u = np.exp(s) * rest
        lap = np.exp(s) * (np.cos(grids[0]) ** 2 - s) * rest - (ndim - 1) * u
        return u, lap, float(x[1] - x[0])
    x = np.linspace(0.0, 1.0, n)
    grids = np.meshgrid(*([x] * ndim), indexing="ij")
    u = np.ones_like(grids[0])
    for g in grids:
        u = u * np.sin(np.pi * g)
    return u + 1.0, -(np.pi**2) * ndim * u, float(x[1] - x[0])


def _lap_orders(ndim: int, dirichlet_n: int) -> Callable[[str], dict[str, float]]:
    """Max error at spacing h and h/2: periodic n = 16, 32 (order 4 is pre-asymptotic below
    16 points per period); Dirichlet n = dirichlet_n, 2 dirichlet_n - 1 (interior nodes; the
    boundary nodes must be exactly zero)."""

    def run(dtype: str) -> dict[str, float]:
        out = {}
        with jax.enable_x64(True):
            for bc in ("periodic", "dirichlet"):
                sizes = (16, 32) if bc == "periodic" else (dirichlet_n, 2 * dirichlet_n - 1)
                for order in (2, 4):
                    errs = []
                    for n in sizes:
                        u, exact, h = _smooth(ndim, bc, n)
                        lap = _jit(pde.laplacian, ndim=ndim, order=order, bc=bc)
                        got = np.asarray(lap(jnp.asarray(u), jnp.asarray(h)))
                        err = np.abs(got - exact)
                        if bc == "dirichlet":
                            err = err[(slice(1, -1),) * ndim]
                            edge = got.copy()
                            edge[(slice(1, -1),) * ndim] = 0
                            assert not edge.any(), "Dirichlet Laplacian nonzero on the boundary"
                        errs.append(float(np.max(err)))
                    p = _order(errs)
                    _assert_order(f"laplacian_{ndim}d {bc} order {order}", p, order)
                    out[f"order_{bc}_{order}"] = p
        return out

    return run


# Laplacian of N(0,1) data: values ~ |w|_1 / h^2 ~ 1e2, summed from terms of that size, so
# float32 rounding differences between the two op orders are ~1e2 * 6e-8 * few: atol 1e-4.
_LAP_TOL = {"float32": (1e-5, 1e-4), "float64": (1e-12, 1e-11)}

register(
    KernelSpec(
        name="pde.fd_laplacian_2d",
        family="pde",
        fn=pde.laplacian_2d,
        twin="parallax.kernels.pde.twins:laplacian_2d",
        cases={
            # the most involved path (one-sided closure, per-axis spacing); the other
            # order/bc combinations are compared with the twin in tests/kernels/pde.
            "test": _lap_case((12, 10), 2, 4, "dirichlet", (0.2, 0.3)),
            "bench": _lap_case((2048, 2048), 2, 2, "periodic", 1.0 / 2048),
        },
        fwd_tol=_LAP_TOL,
        grad_tol=_LAP_TOL,
        grad_wrt=("u", "dx"),
        physics=(PhysicsCheck("convergence_orders", _lap_orders(2, 33)),),
        description="2D finite-difference Laplacian, order 2/4, periodic (fused shifts) or "
        "Dirichlet (held boundary, 4th-order one-sided closure)",
    )
)

register(
    KernelSpec(
        name="pde.fd_laplacian_3d",
        family="pde",
        fn=pde.laplacian_3d,
        twin="parallax.kernels.pde.twins:laplacian_3d",
        cases={
            "test": _lap_case((6, 8, 7), 3, 4, "periodic", 0.3),
            "bench": _lap_case((256, 256, 256), 3, 2, "periodic", 1.0 / 256),
            # 512 MiB per float32 array: far beyond a GPU's L2, so the stencil streams from HBM
            "bench_gpu": _lap_case((512, 512, 512), 3, 2, "periodic", 1.0 / 512),
        },
        fwd_tol=_LAP_TOL,
        grad_tol=_LAP_TOL,
        grad_wrt=("u", "dx"),
        physics=(PhysicsCheck("convergence_orders", _lap_orders(3, 17)),),
        description="3D finite-difference Laplacian, order 2/4, periodic or Dirichlet",
    )
)

# --- upwind advection -------------------------------------------------------------------------


def _adv_case(
    shape: tuple[int, ...], c: Any, dt: float, dx: float, steps: int, save: int, bc: str
) -> Callable:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        size = float(np.prod(shape))
        ndim = np.asarray(c).size
        return Case(
            inputs={
                "u0": normal(rng, shape, dtype),
                "c": np.asarray(c, dtype=dtype),
                "dt": scalar(dt, dtype),
                "dx": scalar(dx, dtype),
            },
            static={"num_steps": steps, "save_every": save, "bc": bc},
            steps=steps,
            flops=size * steps * (7 * ndim + 2),
            bytes=2.0 * np.dtype(dtype).itemsize * size * steps,
        )

    return make


def _adv_profile(grids: Any, c: np.ndarray, bc: str, t: float) -> np.ndarray:
    """The exact solution at time ``t``: the initial profile translated by ``c t``."""
    if bc == "periodic":
        z = sum(np.sin(2 * np.pi * (g - t * ci)) for g, ci in zip(grids, c, strict=True))
        return np.exp(0.5 * z)
    # 1D bump centred at 0.3 moving to 0.65: ~1e-20 at both boundaries
    return np.exp(-(((grids[0] - 0.3 - t * c[0]) / 0.08) ** 2))


def _adv_translation(ndim: int) -> Callable[[str], dict[str, float]]:
    """Periodic: a smooth profile vs its exact translation after time 1 (order 1 at fixed
    Courant number). Dirichlet (1D): a bump entering nothing and leaving the domain's interior
    untouched by the held boundaries, vs exact translation, also order 1."""

    def run(dtype: str) -> dict[str, float]:
        out = {}
        c = np.array([0.7, -0.4][:ndim])
        cfl, t_end = 0.5, 0.5
        with jax.enable_x64(True):
            for bc in ("periodic", "dirichlet"):
                errs = []
                for n in (200, 400):
                    if bc == "periodic":
                        x = np.arange(n) / n
                    else:
                        x = np.linspace(0.0, 1.0, n)
                    h = float(x[1] - x[0])
                    dt = cfl * h / float(np.sum(np.abs(c)))
                    steps = round(t_end / dt)
                    dt = t_end / steps
                    grids = np.meshgrid(*([x] * ndim), indexing="ij")
                    u0 = _adv_profile(grids, c, bc, 0.0)
                    cc = jnp.asarray(c[0]) if ndim == 1 else jnp.asarray(c)
                    fn = pde.advection_1d_rollout if ndim == 1 else pde.advection_2d_rollout
                    fn = _jit(fn, num_steps=steps, save_every=steps, bc=bc)
                    final, _ = fn(jnp.asarray(u0), cc, jnp.asarray(dt), jnp.asarray(h))
                    final = np.asarray(final)
                    errs.append(float(np.max(np.abs(final - _adv_profile(grids, c, bc, t_end)))))
                    if bc == "dirichlet":
                        edge = (final - u0)[[0, -1]]
                        assert not edge.any(), "Dirichlet boundary nodes moved"
                p = _order(errs)
                _assert_order(f"advection_{ndim}d {bc}", p, 1.0)
                out[f"order_{bc}"] = p
                out[f"max_err_{bc}_n400"] = errs[-1]
                if ndim == 2:
                    break  # 2D Dirichlet: boundary holding is covered in tests/kernels/pde
        return out

    return run


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
        family="pde",
        fn=pde.advection_1d_rollout,
        twin="parallax.kernels.pde.twins:advection_1d_rollout",
        cases={
            "test": _adv_case((3, 32), -0.8, 0.02, 1 / 32, 20, 10, "periodic"),
            "bench": _adv_case((64, 4096), 0.8, 0.5 / 4096, 1 / 4096, 1000, 1000, "periodic"),
        },
        fwd_tol=_ADV_TOL,
        grad_tol=_ADV_GRAD_TOL,
        grad_wrt=("u0", "c", "dt", "dx"),
        physics=(PhysicsCheck("translation_order", _adv_translation(1)),),
        description="1D first-order upwind advection u_t + c u_x = 0 (forward Euler), "
        "periodic or held Dirichlet boundaries; lax.scan rollout",
    )
)

register(
    KernelSpec(
        name="pde.fd_advection_2d",
        family="pde",
        fn=pde.advection_2d_rollout,
        twin="parallax.kernels.pde.twins:advection_2d_rollout",
        cases={
            "test": _adv_case((2, 12, 16), (0.5, -0.3), 0.02, 1 / 16, 20, 10, "periodic"),
            "bench": _adv_case((512, 512), (0.5, -0.3), 0.5 / 512, 1 / 512, 500, 500, "periodic"),
        },
        fwd_tol=_ADV_TOL,
        grad_tol=_ADV_GRAD_TOL,
        grad_wrt=("u0", "c", "dt", "dx"),
        physics=(PhysicsCheck("translation_order", _adv_translation(2)),),
        description="2D first-order upwind advection with constant velocity (c_x, c_y); "
        "lax.scan rollout",
    )
)

# --- wave equation ----------------------------------------------------------------------------


def _wave_case(
    shape: tuple[int, ...], dt: float, dx: Any, steps: int, save: int, order: int, bc: str
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
        return Case(
            inputs={
                "u_prev": u_prev,
                "u": u,
                "c": scalar(1.0, dtype),
                "dt": scalar(dt, dtype),
                "dx": np.asarray(dx, dtype=dtype),
            },
            static={"num_steps": steps, "save_every": save, "order": order, "bc": bc},
            steps=steps,
            flops=size * steps * (2 * (2 * (order + 1) + 2) + 4),
            bytes=3.0 * np.dtype(dtype).itemsize * size * steps,
        )

    return make


def _wave_energy(dtype: str) -> dict[str, float]:
    """Leapfrog conserves E^{n-1/2} exactly (symmetric Laplacian): periodic order 2 and 4 and
    homogeneous Dirichlet order 2, random data, 400 steps at Courant 0.9 of the limit."""
    out = {}
    with jax.enable_x64(dtype == "float64"):
        rng = np.random.default_rng(3)
        configs = (("periodic", 2), ("periodic", 4), ("dirichlet", 2))
        for bc, order in configs if dtype == "float64" else configs[:1]:
            n, h = 24, 0.1
            u0 = rng.standard_normal((2, n, n))
            v0 = rng.standard_normal((2, n, n))
            if bc == "dirichlet":
                for a in (u0, v0):
                    a[:, [0, -1], :] = 0
                    a[:, :, [0, -1]] = 0
            rho = {2: 4.0, 4: 16.0 / 3.0}[order]
            dt = 0.9 * 2 / np.sqrt(rho * 2 / h**2)
            args = (jnp.asarray(1.0, dtype), jnp.asarray(dt, dtype), jnp.asarray(h, dtype))
            kw = {"order": order, "bc": bc}

            @jax.jit
            def energies(u, v, c, dt, h, kw=kw):  # one compile per configuration
                up = pde.wave_2d_start(u, v, c, dt, h, **kw)
                roll = pde.wave_2d_rollout
                (a, b), _ = roll(up, u, c, dt, h, num_steps=400, save_every=400, **kw)
                energy = functools.partial(pde.wave_2d_energy, **kw)
                return energy(up, u, c, dt, h), energy(a, b, c, dt, h)

            e0, e1 = (
                np.asarray(e, dtype=np.float64)
                for e in energies(jnp.asarray(u0, dtype), jnp.asarray(v0, dtype), *args)
            )
            drift = float(np.max(np.abs(e1 - e0) / e0))
            # float64: rounding only (~1e-13 measured); float32: 400 steps of ~1e-7 rounding
            tol = 1e-11 if dtype == "float64" else 1e-4
            assert drift < tol, f"wave energy drift {drift:.2e} >= {tol:.0e} ({bc}, order {order})"
            out[f"energy_drift_{bc}_{order}"] = drift
    return out


def _wave_standing(dtype: str) -> dict[str, float]:
    """u = sin x sin 2y cos(√5 t) on [0, π]² with u = 0 held on the boundary; dt = h/2, t = 1:
    second order (leapfrog's time error dominates even with the 4th-order Laplacian)."""
    out = {}
    with jax.enable_x64(True):
        for order in (2, 4):
            errs = []
            for n in (17, 33):
                x = np.linspace(0.0, np.pi, n)
                h = float(x[1] - x[0])
                gx, gy = np.meshgrid(x, x, indexing="ij")
                u0 = np.sin(gx) * np.sin(2 * gy)
                steps = round(1.0 / (0.5 * h))
                dt = 1.0 / steps
                args = (jnp.asarray(1.0), jnp.asarray(dt), jnp.asarray(h))
                kw = {"order": order, "bc": "dirichlet"}

                @jax.jit
                def solve(u, c, dt, h, kw=kw, steps=steps):  # start + rollout, one compile
                    up = pde.wave_2d_start(u, jnp.zeros_like(u), c, dt, h, **kw)
                    roll = pde.wave_2d_rollout
                    return roll(up, u, c, dt, h, num_steps=steps, save_every=steps, **kw)

                (_, b), _ = solve(jnp.asarray(u0), *args)
                errs.append(float(np.max(np.abs(np.asarray(b) - u0 * np.cos(np.sqrt(5.0))))))
            p = _order(errs)
            _assert_order(f"wave standing order {order}", p, 2.0)
            out[f"order_laplacian{order}"] = p
            out[f"max_err_laplacian{order}_n33"] = errs[-1]
    return out


# Leapfrog is neutrally stable: rounding differences neither grow nor decay much over 20
# steps; values ~ a few, so float32 atol 1e-4 (~20 steps * |L| h^2 * eps * |u| with |L| h^2 ~ 8).
_WAVE_TOL = {"float32": (1e-4, 1e-4), "float64": (1e-11, 1e-11)}
_WAVE_GRAD_TOL = {"float32": (1e-3, 1e-3), "float64": (1e-10, 1e-10)}

register(
    KernelSpec(
        name="pde.fd_wave_2d",
        family="pde",
        fn=pde.wave_2d_rollout,
        twin="parallax.kernels.pde.twins:wave_2d_rollout",
        cases={
            "test": _wave_case((14, 12), 0.1, (0.25, 0.3), 20, 10, 4, "dirichlet"),
            "bench": _wave_case((512, 512), 0.5 / 512, 1 / 512, 500, 500, 2, "periodic"),
        },
        fwd_tol=_WAVE_TOL,
        grad_tol=_WAVE_GRAD_TOL,
        grad_wrt=("u_prev", "u", "c", "dt", "dx"),
        physics=(
            PhysicsCheck("energy_conservation", _wave_energy, ("float32", "float64")),
            PhysicsCheck("standing_wave_order", _wave_standing),
        ),
        description="2D wave equation u_tt = c^2 ∇²u, leapfrog with the order-2/4 FD "
        "Laplacian, periodic or held Dirichlet boundaries; lax.scan rollout",
    )
)
