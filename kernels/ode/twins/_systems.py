"""Torch twins of :mod:`parallax.kernels.ode._systems` (same math, same shapes)."""

from __future__ import annotations

import torch


def lorenz63(t: torch.Tensor | float, y: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    sigma, rho, beta = params.to(y.dtype).unbind()
    x, yy, z = y[..., 0], y[..., 1], y[..., 2]
    return torch.stack([sigma * (yy - x), x * (rho - z) - yy, x * yy - beta * z], dim=-1)


def lorenz96(t: torch.Tensor | float, y: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    ahead = torch.roll(y, -1, dims=-1)
    back1 = torch.roll(y, 1, dims=-1)
    back2 = torch.roll(y, 2, dims=-1)
    return (ahead - back2) * back1 - y + params.to(y.dtype)


def damped_pendulum(t: torch.Tensor | float, y: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    gamma, w2 = params.to(y.dtype).unbind()
    theta, omega = y[..., 0], y[..., 1]
    return torch.stack([omega, -gamma * omega - w2 * torch.sin(theta)], dim=-1)


def kepler_accel(q: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    r2 = (q * q).sum(dim=-1, keepdim=True)
    return -params.to(q.dtype) * q / (r2 * torch.sqrt(r2))


def kepler(t: torch.Tensor | float, y: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    return torch.cat([y[..., 2:], kepler_accel(y[..., :2], params)], dim=-1)
