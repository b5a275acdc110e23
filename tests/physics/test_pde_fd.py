"""Physics of the registered finite-difference PDE kernels: convergence orders of the
Laplacians on smooth functions, exact translation by upwind advection, the leapfrog-conserved
wave energy and exact standing waves. One test per (kernel, check, dtype), parametrized over the
registry's ``pde.fd_*`` kernels (tests/physics/conftest.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from parallax.kernels import pde
from parallax.registry import specs

ORDER_TOL = 0.3  # measured convergence orders within ±0.3 of the scheme's formal order


def _jit(fn: Callable, **static: Any) -> Callable:
    """Physics checks call kernels jitted: op-by-op eager dispatch of a stencil rollout costs
    seconds per call in compile-per-primitive overhead."""
    return jax.jit(functools.partial(fn, **static))


def _order(errs: list[float], ratio: float = 2.0) -> float:
    """Observed order from the two finest levels of a refinement by ``ratio``."""
    return float(np.log(errs[-2] / errs[-1]) / np.log(ratio))


def _assert_order(name: str, got: float, want: float) -> None:
    assert abs(got - want) <= ORDER_TOL, f"{name}: observed order {got:.3f}, expected {want}±0.3"


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


KERNELS = [s.name for s in specs(family="pde") if s.name.startswith("pde.fd_")]
CHECKS = {
    "pde.fd_laplacian_2d": (("convergence_orders", _lap_orders(2, 33), ("float64",)),),
    "pde.fd_laplacian_3d": (("convergence_orders", _lap_orders(3, 17), ("float64",)),),
    "pde.fd_advection_1d": (("translation_order", _adv_translation(1), ("float64",)),),
    "pde.fd_advection_2d": (("translation_order", _adv_translation(2), ("float64",)),),
    "pde.fd_wave_2d": (
        ("energy_conservation", _wave_energy, ("float32", "float64")),
        ("standing_wave_order", _wave_standing, ("float64",)),
    ),
}


def test_physics(physics):
    physics.check()
