r"""Classical fixed-step fourth-order Runge–Kutta.

.. math::
    k_1 = f(t, y),\quad k_2 = f(t + h/2, y + h k_1/2),\quad k_3 = f(t + h/2, y + h k_2/2),\quad
    k_4 = f(t + h, y + h k_3),\qquad y_{n+1} = y_n + \tfrac{h}{6}(k_1 + 2k_2 + 2k_3 + k_4).

Global error :math:`O(h^4)` (Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.1). The rollout is a
``lax.scan`` (:func:`parallax.kernels.rollout`), so reverse-mode ``jax.grad`` through it is
exact (discretise-then-differentiate) with respect to ``y0``, ``dt`` and ``params``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, Float

from parallax.kernels._checks import (
    as_real,
    check_array,
    check_finite,
    check_positive,
    check_returns,
    check_state_dtype,
)
from parallax.kernels._rollout import rollout

__all__ = ["VectorField", "rk4_rollout", "rk4_step"]

VectorField = Callable[[Array, Array, Any], Array]
"""``f(t, y, params) -> dy/dt`` with the shape and dtype of ``y``."""


def _check_time(y: Array, dt: Any, t0: Any, name: str, tname: str) -> tuple[Array, Array, Array]:
    check_array(name, y)
    check_state_dtype(name, y)
    dt = as_real("dt", dt, y.dtype)
    t0 = as_real(tname, t0, y.dtype)
    return check_finite(name, y), check_positive("dt", dt), t0


def _rk4(f: VectorField, t: Array, y: Array, dt: Array, params: Any, name: str) -> Array:
    half = 0.5 * dt
    k1 = f(t, y, params)
    check_returns("f", k1, y, name)
    k2 = f(t + half, y + half * k1, params)
    k3 = f(t + half, y + half * k2, params)
    k4 = f(t + dt, y + dt * k3, params)
    return y + (dt / 6) * (k1 + 2 * (k2 + k3) + k4)


def rk4_step(
    f: VectorField,
    t: Float[Array, ""] | float,
    y: Float[Array, "*state"],
    dt: Float[Array, ""] | float,
    params: Any,
) -> Float[Array, "*state"]:
    """One classical RK4 step of size ``dt > 0`` from ``(t, y)``."""
    y, dt, t = _check_time(y, dt, t, "y", "t")
    return _rk4(f, t, y, dt, params, "y")


def rk4_rollout(
    f: VectorField,
    y0: Float[Array, "*state"],
    dt: Float[Array, ""] | float,
    params: Any,
    *,
    num_steps: int,
    save_every: int = 1,
    t0: Float[Array, ""] | float = 0.0,
) -> tuple[Float[Array, "*state"], Float[Array, " frames *state"]]:
    """``num_steps`` RK4 steps of size ``dt`` from ``(t0, y0)`` on ``lax.scan``.

    Returns ``(y(t0 + num_steps dt), trajectory)`` with the state after every ``save_every``
    steps stacked on a new leading axis (``num_steps // save_every`` frames). The time of step
    ``i`` is ``t0 + i dt`` (an integer counter, no accumulated round-off).
    """
    y0, dt, t0 = _check_time(y0, dt, t0, "y0", "t0")

    def step(state: tuple[Array, Array]) -> tuple[Array, Array]:
        i, y = state
        return i + 1, _rk4(f, t0 + i.astype(y.dtype) * dt, y, dt, params, "y0")

    (_, final), (_, traj) = rollout(
        step, (jnp.zeros((), jnp.int32), y0), num_steps, save_every=save_every
    )
    return final, traj
