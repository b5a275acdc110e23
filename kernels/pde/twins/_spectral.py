"""Torch twins of the spectral PDE rollouts (:mod:`parallax.kernels.pde._spectral_rollouts`).

The same math step for step: Kassam–Trefethen contour coefficients, Cox–Matthews ETDRK4 (and
ETD1), 2/3 dealiasing before and after each product, ``torch.fft.rfftn`` over the grid axes.
The grid constants (wavenumbers, masks) come from the twins' own grid (``twins/_grid.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from parallax.kernels._twins import complex_dtype, python_loop
from parallax.kernels.pde.twins._grid import TwinGrid as Grid
from parallax.kernels.pde.twins._grid import twin_grid

__all__ = [
    "advection_diffusion_rollout",
    "allen_cahn_rollout",
    "burgers_1d_rollout",
    "burgers_2d_rollout",
    "heat_rollout",
    "kdv_rollout",
    "ks_1d_rollout",
    "ks_2d_rollout",
    "navier_stokes_2d_rollout",
]

Step = Callable[[torch.Tensor], torch.Tensor]


def _c(x: np.ndarray, cdt: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=cdt, device=device)


def _fit(x: torch.Tensor, ndim: int) -> torch.Tensor:
    return x.reshape((1,) * (ndim - x.ndim) + tuple(x.shape))


def _coefficients(lin: torch.Tensor, dt: torch.Tensor, order: int, m: int = 32) -> list:
    real = not torch.is_complex(lin)
    cdt = complex_dtype(dt.dtype)
    hl = lin.to(cdt) * dt.to(cdt)
    theta = 2 * np.pi * (np.arange(m) + 0.5) / m
    roots = torch.as_tensor(np.exp(1j * theta), dtype=cdt, device=lin.device)
    sums = [torch.zeros_like(hl) for _ in range(4 if order == 4 else 1)]
    for j in range(m):
        z = hl + roots[j]
        if order == 4:
            iz = 1 / z
            ez2 = torch.exp(z / 2)
            phi1 = (ez2 * ez2 - 1) * iz
            phi2 = (phi1 - 1) * iz
            phi3 = (phi2 - 0.5) * iz
            vals = ((ez2 - 1) * iz, phi1 - 3 * phi2 + 4 * phi3, phi2 - 2 * phi3, 4 * phi3 - phi2)
        else:
            vals = ((torch.exp(z) - 1) / z,)
        sums = [s + v for s, v in zip(sums, vals, strict=True)]
    out = []
    for s in sums:
        s = s / m
        if real:
            s = torch.real(s).to(cdt)
        out.append(s * dt.to(cdt))
    head = [torch.exp(hl), torch.exp(hl / 2)] if order == 4 else [torch.exp(hl)]
    return head + out


def _stepper(lin: torch.Tensor, nonlinear: Step | None, dt: torch.Tensor, method: str) -> Step:
    if nonlinear is None and method in ("etdrk4", "etd1"):
        # a linear equation: either method's step is the exact factor e^{hL}; the φ-weights are
        # never used, so skip their contour sums (JAX drops them as dead code)
        e = torch.exp(lin.to(complex_dtype(dt.dtype)) * dt.to(complex_dtype(dt.dtype)))
        return lambda v: _fit(e, v.ndim) * v
    if method == "etdrk4":
        e, e2, q, f1, f2, f3 = _coefficients(lin, dt, 4)

        def step4(v: torch.Tensor) -> torch.Tensor:
            r = v.ndim
            if nonlinear is None:
                return _fit(e, r) * v
            E, E2, Q = _fit(e, r), _fit(e2, r), _fit(q, r)
            nv = nonlinear(v)
            a = E2 * v + Q * nv
            na = nonlinear(a)
            b = E2 * v + Q * na
            nb = nonlinear(b)
            c = E2 * a + Q * (2 * nb - nv)
            nc = nonlinear(c)
            return E * v + _fit(f1, r) * nv + _fit(f2, r) * (2 * (na + nb)) + _fit(f3, r) * nc

        return step4
    if method == "etd1":
        e, phi = _coefficients(lin, dt, 1)

        def step1(v: torch.Tensor) -> torch.Tensor:
            r = v.ndim
            if nonlinear is None:
                return _fit(e, r) * v
            return _fit(e, r) * v + _fit(phi, r) * nonlinear(v)

        return step1
    raise ValueError(f"method: expected 'etdrk4' or 'etd1', got {method!r}")


def _rfftn(u: torch.Tensor, grid: Grid) -> torch.Tensor:
    return torch.fft.rfftn(u, dim=grid.axes)


def _irfftn(uh: torch.Tensor, grid: Grid) -> torch.Tensor:
    return torch.fft.irfftn(uh, s=grid.shape, dim=grid.axes)


def _mask(grid: Grid, device: torch.device) -> Step:
    keep = torch.as_tensor(grid.dealias_np(), device=device)
    return lambda uh: torch.where(_fit(keep, uh.ndim), uh, torch.zeros((), dtype=uh.dtype))


@python_loop
def _rollout(
    step: Step, u0: torch.Tensor, grid: Grid, num_steps: int, save_every: int
) -> tuple[torch.Tensor, torch.Tensor]:
    uh = _rfftn(u0, grid)
    frames = []
    for i in range(num_steps):
        uh = step(uh)
        if (i + 1) % save_every == 0:
            frames.append(uh)
    if not frames:
        return _irfftn(uh, grid), _irfftn(uh.new_zeros((0, *uh.shape)), grid)
    traj = _irfftn(torch.stack(frames), grid)
    return traj[-1], traj  # the last frame is the final state, as in the JAX stepper


def _grid(u0: torch.Tensor, ndim: int, length: Any) -> Grid:
    return twin_grid(tuple(u0.shape[u0.ndim - ndim :]), length)


def _lap(grid: Grid, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(grid.laplacian_np(), dtype=dtype, device=device)


def _derivatives(grid: Grid, cdt: torch.dtype, device: torch.device) -> list[torch.Tensor]:
    """``i k_j`` per grid axis, as complex tensors."""
    return [_c(d, cdt, device) for d in grid.derivative_np()]


def _conv_1d(grid: Grid, cdt: torch.dtype, scale: float, device: torch.device) -> Step:
    """``N̂ = scale · ik · F[u²]`` with 2/3 dealiasing."""
    mask = _mask(grid, device)
    (dx,) = _derivatives(grid, cdt, device)

    def nonlinear(uh: torch.Tensor) -> torch.Tensor:
        u = _irfftn(mask(uh), grid)
        return mask(_fit(scale * dx, uh.ndim) * _rfftn(u * u, grid))

    return nonlinear


def heat_rollout(u0, dt, nu, *, ndim=1, num_steps, save_every=1, length=2 * math.pi):
    grid = _grid(u0, ndim, length)
    lin = nu * _lap(grid, u0.dtype, u0.device)
    return _rollout(_stepper(lin, None, dt, "etdrk4"), u0, grid, num_steps, save_every)


def advection_diffusion_rollout(
    u0, dt, velocity, nu, *, ndim=1, num_steps, save_every=1, length=2 * math.pi
):
    grid = _grid(u0, ndim, length)
    cdt = complex_dtype(u0.dtype)
    lin = (nu * _lap(grid, u0.dtype, u0.device)).to(cdt)
    for j, d in enumerate(_derivatives(grid, cdt, u0.device)):
        lin = lin - velocity[j].to(cdt) * d
    return _rollout(_stepper(lin, None, dt, "etdrk4"), u0, grid, num_steps, save_every)


def _conservative_1d_rollout(u0, grid: Grid, lin, dt, num_steps, save_every, method):
    """``u_t = L u - ½(u²)_x`` in 1D (Burgers, KS): the conservative nonlinearity."""
    step = _stepper(lin, _conv_1d(grid, complex_dtype(u0.dtype), -0.5, u0.device), dt, method)
    return _rollout(step, u0, grid, num_steps, save_every)


def burgers_1d_rollout(u0, dt, nu, *, num_steps, save_every=1, length=2 * math.pi, method="etdrk4"):
    grid = _grid(u0, 1, length)
    lin = nu * _lap(grid, u0.dtype, u0.device)
    return _conservative_1d_rollout(u0, grid, lin, dt, num_steps, save_every, method)


def burgers_2d_rollout(u0, dt, nu, *, num_steps, save_every=1, length=2 * math.pi):
    grid = _grid(u0, 2, length)
    mask = _mask(grid, u0.device)
    ders = _derivatives(grid, complex_dtype(u0.dtype), u0.device)

    def nonlinear(uh: torch.Tensor) -> torch.Tensor:
        uh = mask(uh)
        r = uh.ndim
        u = _irfftn(uh, grid)
        adv = torch.zeros_like(u)
        for j in range(2):
            adv = adv + u.select(-3, j).unsqueeze(-3) * _irfftn(_fit(ders[j], r) * uh, grid)
        return mask(-_rfftn(adv, grid))

    lin = nu * _lap(grid, u0.dtype, u0.device)
    return _rollout(_stepper(lin, nonlinear, dt, "etdrk4"), u0, grid, num_steps, save_every)


def kdv_rollout(u0, dt, *, num_steps, save_every=1, length=2 * math.pi):
    grid = _grid(u0, 1, length)
    cdt = complex_dtype(u0.dtype)
    (dx,) = _derivatives(grid, cdt, u0.device)
    step = _stepper(-(dx * dx * dx), _conv_1d(grid, cdt, -3.0, u0.device), dt, "etdrk4")
    return _rollout(step, u0, grid, num_steps, save_every)


def _ks_lin(grid: Grid, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    lap = grid.laplacian_np()
    return torch.as_tensor(-lap - lap * lap, dtype=dtype, device=device)


def ks_1d_rollout(u0, dt, *, num_steps, save_every=1, length=32 * math.pi, method="etdrk4"):
    grid = _grid(u0, 1, length)
    lin = _ks_lin(grid, u0.dtype, u0.device)
    return _conservative_1d_rollout(u0, grid, lin, dt, num_steps, save_every, method)


def ks_2d_rollout(u0, dt, *, num_steps, save_every=1, length=10 * math.pi):
    grid = _grid(u0, 2, length)
    mask = _mask(grid, u0.device)
    ders = _derivatives(grid, complex_dtype(u0.dtype), u0.device)

    def nonlinear(uh: torch.Tensor) -> torch.Tensor:
        uh = mask(uh)
        g2 = torch.zeros((), dtype=u0.dtype)
        for dj in ders:
            g = _irfftn(_fit(dj, uh.ndim) * uh, grid)
            g2 = g2 + g * g
        return mask(-0.5 * _rfftn(g2, grid))

    step = _stepper(_ks_lin(grid, u0.dtype, u0.device), nonlinear, dt, "etdrk4")
    return _rollout(step, u0, grid, num_steps, save_every)


def allen_cahn_rollout(u0, dt, eps, *, ndim=1, num_steps, save_every=1, length=2 * math.pi):
    grid = _grid(u0, ndim, length)
    mask = _mask(grid, u0.device)

    def nonlinear(uh: torch.Tensor) -> torch.Tensor:
        u = _irfftn(mask(uh), grid)
        return mask(-_rfftn(u * u * u, grid))

    lin = 1.0 + eps * eps * _lap(grid, u0.dtype, u0.device)
    return _rollout(_stepper(lin, nonlinear, dt, "etdrk4"), u0, grid, num_steps, save_every)


def navier_stokes_2d_rollout(
    w0,
    dt,
    nu,
    drag,
    forcing,
    *,
    forcing_wavenumber=4,
    num_steps,
    save_every=1,
    length=2 * math.pi,
):
    grid = _grid(w0, 2, length)
    cdt, dev = complex_dtype(w0.dtype), w0.device
    mask = _mask(grid, dev)
    dy, dx = grid.derivative_np()
    lap = grid.laplacian_np()
    inv = np.where(lap == 0, 0.0, -1.0 / np.where(lap == 0, 1.0, lap))
    to_u, to_v = _c(dy * inv, cdt, dev), _c(-dx * inv, cdt, dev)
    d_xy, d_xx_yy = _c(dx * dy, cdt, dev), _c(dx * dx - dy * dy, cdt, dev)  # Basdevant's form
    kappa = 2 * np.pi * forcing_wavenumber / grid.length[0]
    y = np.arange(grid.shape[0])[:, None] * grid.spacing[0] + np.zeros(grid.shape)
    force_hat = mask(forcing.to(cdt) * _c(np.fft.rfft2(-kappa * np.cos(kappa * y)), cdt, dev))

    def nonlinear(wh: torch.Tensor) -> torch.Tensor:
        r = wh.ndim
        wh = mask(wh)
        u = _irfftn(_fit(to_u, r) * wh, grid)
        v = _irfftn(_fit(to_v, r) * wh, grid)
        adv = _fit(d_xy, r) * _rfftn(v * v - u * u, grid) + _fit(d_xx_yy, r) * _rfftn(u * v, grid)
        return mask(_fit(force_hat, r) - adv)

    lin = nu * _lap(grid, w0.dtype, dev) - drag
    return _rollout(_stepper(lin, nonlinear, dt, "etdrk4"), w0, grid, num_steps, save_every)
