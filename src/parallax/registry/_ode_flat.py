"""Flat-argument forms of the registered ODE problems (a system bound to a solver), for the
registry's cases; :mod:`parallax.registry._ode_twins` is the same on the torch twins.

Users call the solvers with a system directly, e.g.
``ode.dopri5(ode.lorenz63, y0, ts, params, rtol, atol, dt0).ys``.
"""

from __future__ import annotations

from typing import Any

from parallax.kernels import ode

__all__ = ["dopri5_lorenz63", "rk4_lorenz96", "verlet_kepler"]


def dopri5_lorenz63(y0, params, ts, rtol, atol, dt0, *, max_steps: int, loop: Any) -> Any:
    """Lorenz-63 by :func:`parallax.kernels.ode.dopri5`: the states at ``ts``."""
    sol = ode.dopri5(ode.lorenz63, y0, ts, params, rtol, atol, dt0, max_steps=max_steps, loop=loop)
    return sol.ys


def rk4_lorenz96(y0, dt, forcing, *, num_steps: int, save_every: int = 1) -> Any:
    """Lorenz-96 by :func:`parallax.kernels.ode.rk4_rollout`: ``(final, trajectory)``."""
    return ode.rk4_rollout(
        ode.lorenz96, y0, dt, forcing, num_steps=num_steps, save_every=save_every
    )


def verlet_kepler(q0, v0, dt, mu, *, num_steps: int, save_every: int = 1) -> Any:
    """Kepler two-body by :func:`parallax.kernels.ode.velocity_verlet_rollout`."""
    return ode.velocity_verlet_rollout(
        ode.kepler_accel, q0, v0, dt, mu, num_steps=num_steps, save_every=save_every
    )
