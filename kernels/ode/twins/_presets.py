"""Torch twins of :mod:`parallax.kernels.ode._presets` (the registered signatures)."""

from __future__ import annotations

import torch

from parallax.kernels.ode.twins._dopri5 import dopri5
from parallax.kernels.ode.twins._rk4 import rk4_rollout, velocity_verlet_rollout
from parallax.kernels.ode.twins._systems import kepler_accel, lorenz63, lorenz96


def lorenz63_dopri5(
    y0: torch.Tensor,
    params: torch.Tensor,
    ts: torch.Tensor,
    rtol: torch.Tensor,
    atol: torch.Tensor,
    dt0: torch.Tensor,
    *,
    max_steps: int = 4096,
    loop: str = "while",
) -> torch.Tensor:
    return dopri5(lorenz63, y0, ts, params, rtol, atol, dt0, max_steps=max_steps, loop=loop)[0]


def lorenz96_rk4_rollout(
    y0: torch.Tensor, dt: torch.Tensor, forcing: torch.Tensor, *, num_steps: int,
    save_every: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    return rk4_rollout(lorenz96, y0, dt, forcing, num_steps=num_steps, save_every=save_every)


def kepler_verlet_rollout(
    q0: torch.Tensor, v0: torch.Tensor, dt: torch.Tensor, mu: torch.Tensor, *, num_steps: int,
    save_every: int = 1,
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:  # fmt: skip
    return velocity_verlet_rollout(
        kepler_accel, q0, v0, dt, mu, num_steps=num_steps, save_every=save_every
    )
