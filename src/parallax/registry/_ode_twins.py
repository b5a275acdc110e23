"""Flat-argument forms of the registered ODE problems on the torch twins (imports torch when
resolved): :mod:`parallax.registry._ode_flat`, system for system and solver for solver."""

from __future__ import annotations

from typing import Any

from parallax.kernels.ode import twins as _t

__all__ = ["dopri5_lorenz63", "rk4_lorenz96", "verlet_kepler"]


def dopri5_lorenz63(y0, params, ts, rtol, atol, dt0, *, max_steps: int, loop: Any) -> Any:
    return _t.dopri5(_t.lorenz63, y0, ts, params, rtol, atol, dt0, max_steps=max_steps, loop=loop)[
        0
    ]


def rk4_lorenz96(y0, dt, forcing, *, num_steps: int, save_every: int = 1) -> Any:
    return _t.rk4_rollout(_t.lorenz96, y0, dt, forcing, num_steps=num_steps, save_every=save_every)


def verlet_kepler(q0, v0, dt, mu, *, num_steps: int, save_every: int = 1) -> Any:
    return _t.velocity_verlet_rollout(
        _t.kepler_accel, q0, v0, dt, mu, num_steps=num_steps, save_every=save_every
    )
