"""Torch twins of :mod:`parallax.kernels.ode._rk4` and :mod:`parallax.kernels.ode._symplectic`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from parallax.kernels._twins import python_loop

Field = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]


def rk4_step(
    f: Field, t: torch.Tensor, y: torch.Tensor, dt: torch.Tensor, params: Any
) -> torch.Tensor:
    half = 0.5 * dt
    k1 = f(t, y, params)
    k2 = f(t + half, y + half * k1, params)
    k3 = f(t + half, y + half * k2, params)
    k4 = f(t + dt, y + dt * k3, params)
    return y + (dt / 6) * (k1 + 2 * (k2 + k3) + k4)


def _stack(frames: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    return torch.stack(frames) if frames else like.new_zeros((0, *like.shape))


@python_loop
def rk4_rollout(
    f: Field,
    y0: torch.Tensor,
    dt: torch.Tensor,
    params: Any,
    *,
    num_steps: int,
    save_every: int = 1,
    t0: torch.Tensor | float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    y, frames = y0, []
    for i in range(num_steps):
        y = rk4_step(f, t0 + i * dt, y, dt, params)
        if (i + 1) % save_every == 0:
            frames.append(y)
    return y, _stack(frames, y0)


def _kdk(accel, q, v, a, dt, params):
    half = 0.5 * dt
    v = v + half * a
    q = q + dt * v
    a = accel(q, params)
    return q, v + half * a, a


@python_loop
def velocity_verlet_rollout(
    accel: Callable[[torch.Tensor, Any], torch.Tensor],
    q0: torch.Tensor,
    v0: torch.Tensor,
    dt: torch.Tensor,
    params: Any,
    *,
    num_steps: int,
    save_every: int = 1,
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    q, v, a = q0, v0, accel(q0, params)
    fq, fv = [], []
    for i in range(num_steps):
        q, v, a = _kdk(accel, q, v, a, dt, params)
        if (i + 1) % save_every == 0:
            fq.append(q)
            fv.append(v)
    return (q, v), (_stack(fq, q0), _stack(fv, v0))
