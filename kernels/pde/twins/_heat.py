"""Torch twin of :mod:`parallax.kernels.pde._heat`: the 1D forms of the spectral heat twin
(:func:`parallax.kernels.pde.twins.heat_rollout`), as on the JAX side."""

from __future__ import annotations

import math

import torch

from parallax.kernels.pde.twins._spectral import heat_rollout


def heat_1d_step(
    u: torch.Tensor, dt: torch.Tensor, nu: torch.Tensor, *, length: float = 2 * math.pi
) -> torch.Tensor:
    final, _ = heat_rollout(u, dt, nu, ndim=1, num_steps=1, length=length)
    return final


def heat_1d_rollout(
    u0: torch.Tensor,
    dt: torch.Tensor,
    nu: torch.Tensor,
    *,
    num_steps: int,
    save_every: int = 1,
    length: float = 2 * math.pi,
) -> tuple[torch.Tensor, torch.Tensor]:
    return heat_rollout(
        u0, dt, nu, ndim=1, num_steps=num_steps, save_every=save_every, length=length
    )
