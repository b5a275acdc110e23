"""Torch twin of :mod:`parallax.kernels.pde._heat`."""

from __future__ import annotations

import math

import torch

# Under ``torch.compile`` the time loop stays in Python (recursive=False) and the per-step function
# is compiled once, instead of unrolling ``num_steps`` steps into one graph (minutes of compile
# time for hundreds of steps); in eager mode the decorator does nothing.
_python_loop = torch.compiler.disable(recursive=False)


def _decay(n: int, length: float, dt: torch.Tensor, nu: torch.Tensor) -> torch.Tensor:
    k = 2 * math.pi * torch.fft.rfftfreq(n, d=1.0 / n, dtype=dt.dtype, device=dt.device) / length
    return torch.exp(-nu * dt * k**2)


def heat_1d_step(
    u: torch.Tensor, dt: torch.Tensor, nu: torch.Tensor, *, length: float = 2 * math.pi
) -> torch.Tensor:
    n = u.shape[-1]
    return torch.fft.irfft(_decay(n, length, dt, nu) * torch.fft.rfft(u), n=n)


def _decay_step(decay: torch.Tensor, uh: torch.Tensor) -> torch.Tensor:
    return decay * uh


@_python_loop
def heat_1d_rollout(
    u0: torch.Tensor,
    dt: torch.Tensor,
    nu: torch.Tensor,
    *,
    num_steps: int,
    save_every: int = 1,
    length: float = 2 * math.pi,
) -> tuple[torch.Tensor, torch.Tensor]:
    n = u0.shape[-1]
    decay = _decay(n, length, dt, nu)
    uh = torch.fft.rfft(u0)
    frames = []
    for i in range(num_steps):
        uh = _decay_step(decay, uh)
        if (i + 1) % save_every == 0:
            frames.append(uh)
    traj = torch.stack(frames) if frames else uh.new_zeros((0, *uh.shape))
    return torch.fft.irfft(uh, n=n), torch.fft.irfft(traj, n=n)
