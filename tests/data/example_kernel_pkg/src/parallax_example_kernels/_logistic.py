"""Logistic growth ``u' = r u (1 - u / K)`` by explicit Euler on ``lax.scan``."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def logistic_rollout(u0, rate, capacity, dt, *, num_steps: int):
    """``u_{n+1} = u_n + dt r u_n (1 - u_n / K)``; returns ``(final, trajectory)``."""

    def step(u, _):
        u = u + dt * rate * u * (1 - u / capacity)
        return u, u

    final, traj = jax.lax.scan(step, jnp.asarray(u0), None, length=num_steps)
    return final, traj
