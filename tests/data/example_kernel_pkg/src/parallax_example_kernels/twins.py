"""The torch twin of :func:`parallax_example_kernels.logistic_rollout` (same signature)."""

from __future__ import annotations

import torch


def logistic_rollout(u0, rate, capacity, dt, *, num_steps: int):
    u, frames = u0, []
    for _ in range(num_steps):
        u = u + dt * rate * u * (1 - u / capacity)
        frames.append(u)
    return u, torch.stack(frames)
