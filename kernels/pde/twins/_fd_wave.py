"""Torch twin of :mod:`parallax.kernels.pde._fd_wave`."""

from __future__ import annotations

import torch

from parallax.kernels._twins import python_loop
from parallax.kernels.pde.twins._fd_stencil import laplacian_dirichlet, laplacian_periodic

__all__ = ["wave_2d_energy", "wave_2d_rollout", "wave_2d_start", "wave_2d_step"]


def _lap(u, dx, order, bc):
    if bc == "periodic":
        return laplacian_periodic(u, dx, ndim=2, order=order)
    return laplacian_dirichlet(u, dx, ndim=2, order=order)


def _interior(shape, device) -> torch.Tensor:
    mask = torch.zeros(shape[-2:], dtype=torch.bool, device=device)
    mask[1:-1, 1:-1] = True
    return mask


def _leapfrog(u_prev, u, c, dt, dx, order, bc):
    k = (c * dt) ** 2
    u_next = 2 * u - u_prev + k * _lap(u, dx, order, bc)
    if bc == "dirichlet":
        u_next = torch.where(_interior(u.shape, u.device), u_next, u)
    return u, u_next


def wave_2d_step(u_prev, u, c, dt, dx, *, order: int = 2, bc: str = "periodic"):
    return _leapfrog(u_prev, u, c, dt, torch.as_tensor(dx, dtype=u.dtype), order, bc)


@python_loop
def wave_2d_rollout(
    u_prev,
    u,
    c,
    dt,
    dx,
    *,
    num_steps: int,
    save_every: int = 1,
    order: int = 2,
    bc: str = "periodic",
):
    dx = torch.as_tensor(dx, dtype=u.dtype)
    frames = []
    for i in range(num_steps):
        u_prev, u = _leapfrog(u_prev, u, c, dt, dx, order, bc)
        if (i + 1) % save_every == 0:
            frames.append(u)
    traj = torch.stack(frames) if frames else u.new_zeros((0, *u.shape))
    return (u_prev, u), traj


def wave_2d_start(u0, v0, c, dt, dx, *, order: int = 2, bc: str = "periodic"):
    dx = torch.as_tensor(dx, dtype=u0.dtype)
    u_prev = u0 - dt * v0 + 0.5 * (c * dt) ** 2 * _lap(u0, dx, order, bc)
    if bc == "dirichlet":
        u_prev = torch.where(_interior(u0.shape, u0.device), u_prev, u0)
    return u_prev


def wave_2d_energy(u_prev, u, c, dt, dx, *, order: int = 2, bc: str = "periodic"):
    dx = torch.as_tensor(dx, dtype=u.dtype)
    vol = dx * dx if dx.ndim == 0 else dx[0] * dx[1]
    vel = (u - u_prev) / dt
    dens = 0.5 * vel * vel - 0.5 * c * c * u * _lap(u_prev, dx, order, bc)
    return vol * dens.sum(dim=(-2, -1))
