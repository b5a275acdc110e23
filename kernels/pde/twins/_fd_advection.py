"""Torch twin of :mod:`parallax.kernels.pde._fd_advection`."""

from __future__ import annotations

import torch

from parallax.kernels._twins import python_loop
from parallax.kernels.pde.twins._fd_stencil import pad_boundary

__all__ = [
    "advection_1d_rollout",
    "advection_1d_step",
    "advection_2d_rollout",
    "advection_2d_step",
    "upwind_rate",
]


def _per_axis(x: torch.Tensor, ndim: int) -> list[torch.Tensor]:
    return [x if x.ndim == 0 else x[a] for a in range(ndim)]


def _upwind_padded(up: torch.Tensor, c, dx, *, ndim: int) -> torch.Tensor:
    lead = up.ndim - ndim
    interior = [slice(None)] * lead + [slice(1, up.shape[lead + a] - 1) for a in range(ndim)]
    centre = up[tuple(interior)]
    cs, hs = _per_axis(c, ndim), _per_axis(dx, ndim)
    total = None
    for a in range(ndim):
        ax = lead + a
        m = up.shape[ax] - 2
        lo, hi = list(interior), list(interior)
        lo[ax], hi[ax] = slice(0, m), slice(2, m + 2)
        back = centre - up[tuple(lo)]
        fwd = up[tuple(hi)] - centre
        term = (torch.clamp(cs[a], min=0) * back + torch.clamp(cs[a], max=0) * fwd) / hs[a]
        total = term if total is None else total + term
    assert total is not None
    return -total


def upwind_rate(u, c, dx, *, ndim: int, bc: str = "periodic") -> torch.Tensor:
    if bc == "dirichlet":
        return pad_boundary(_upwind_padded(u, c, dx, ndim=ndim), ndim)
    lead = u.ndim - ndim
    cs, hs = _per_axis(c, ndim), _per_axis(dx, ndim)
    total = None
    for a in range(ndim):
        ax = lead + a
        back = u - torch.roll(u, 1, ax)
        fwd = torch.roll(u, -1, ax) - u
        term = (torch.clamp(cs[a], min=0) * back + torch.clamp(cs[a], max=0) * fwd) / hs[a]
        total = term if total is None else total + term
    assert total is not None
    return -total


def _euler_step(u, c, dt, dx, ndim: int, bc: str) -> torch.Tensor:
    return u + dt * upwind_rate(u, c, dx, ndim=ndim, bc=bc)


@python_loop
def _rollout(u0, c, dt, dx, ndim, num_steps, save_every, bc):
    dx = torch.as_tensor(dx, dtype=u0.dtype)
    u, frames = u0, []
    for i in range(num_steps):
        u = _euler_step(u, c, dt, dx, ndim, bc)
        if (i + 1) % save_every == 0:
            frames.append(u)
    traj = torch.stack(frames) if frames else u0.new_zeros((0, *u0.shape))
    return u, traj


def advection_1d_step(u, c, dt, dx, *, bc: str = "periodic"):
    return u + dt * upwind_rate(u, c, torch.as_tensor(dx, dtype=u.dtype), ndim=1, bc=bc)


def advection_2d_step(u, c, dt, dx, *, bc: str = "periodic"):
    return u + dt * upwind_rate(u, c, torch.as_tensor(dx, dtype=u.dtype), ndim=2, bc=bc)


def advection_1d_rollout(
    u0, c, dt, dx, *, num_steps: int, save_every: int = 1, bc: str = "periodic"
):
    return _rollout(u0, c, dt, dx, 1, num_steps, save_every, bc)


def advection_2d_rollout(
    u0, c, dt, dx, *, num_steps: int, save_every: int = 1, bc: str = "periodic"
):
    return _rollout(u0, c, dt, dx, 2, num_steps, save_every, bc)
