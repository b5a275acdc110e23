r"""Velocity Verlet (kick–drift–kick leapfrog) for separable Hamiltonians.

For :math:`H(q, p) = |p|^2 / 2m + V(q)`, with velocity :math:`v = p/m` and acceleration
:math:`a(q) = -\nabla V(q) / m`:

.. math::
    v_{n+1/2} = v_n + \tfrac{h}{2} a(q_n),\quad q_{n+1} = q_n + h\, v_{n+1/2},\quad
    v_{n+1} = v_{n+1/2} + \tfrac{h}{2} a(q_{n+1}).

Second order, time-reversible and symplectic, so the energy error stays bounded (no drift) over
exponentially long times and angular momentum is conserved exactly for central forces up to
round-off (Hairer, Lubich & Wanner, *Geometric Numerical Integration*, 2nd ed., §I.3 and
§IX.8; Verlet, Phys. Rev. 159 (1967) 98). One force evaluation per step: the rollout carries
``a(q_n)`` from the previous step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jaxtyping import Array, Float

from parallax.kernels._checks import (
    as_real,
    check_array,
    check_finite,
    check_positive,
    check_returns,
    check_same_dtype,
    check_state_dtype,
)
from parallax.kernels._rollout import rollout

__all__ = ["Acceleration", "velocity_verlet_rollout", "velocity_verlet_step"]

Acceleration = Callable[[Array, Any], Array]
"""``a(q, params) -> d^2 q / dt^2`` with the shape and dtype of ``q``."""


def _check(q: Array, v: Array, dt: Any, qname: str, vname: str) -> tuple[Array, Array, Array]:
    check_array(qname, q)
    check_state_dtype(qname, q)
    check_array(vname, v, shape=tuple(q.shape))
    check_same_dtype(**{qname: q, vname: v})
    dt = as_real("dt", dt, q.dtype)
    return check_finite(qname, q), check_finite(vname, v), check_positive("dt", dt)


def _accel(accel: Acceleration, q: Array, params: Any, qname: str) -> Array:
    a = accel(q, params)
    check_returns("accel", a, q, qname)
    return a


def _kdk(
    accel: Acceleration, q: Array, v: Array, a: Array, dt: Array, params: Any, qname: str
) -> tuple[Array, Array, Array]:
    half = 0.5 * dt
    v = v + half * a
    q = q + dt * v
    a = _accel(accel, q, params, qname)
    return q, v + half * a, a


def velocity_verlet_step(
    accel: Acceleration,
    q: Float[Array, "*state"],
    v: Float[Array, "*state"],
    dt: Float[Array, ""] | float,
    params: Any,
) -> tuple[Float[Array, "*state"], Float[Array, "*state"]]:
    """One velocity-Verlet step; returns ``(q, v)`` (two force evaluations; the rollout
    needs one per step)."""
    q, v, dt = _check(q, v, dt, "q", "v")
    q, v, _ = _kdk(accel, q, v, _accel(accel, q, params, "q"), dt, params, "q")
    return q, v


def velocity_verlet_rollout(
    accel: Acceleration,
    q0: Float[Array, "*state"],
    v0: Float[Array, "*state"],
    dt: Float[Array, ""] | float,
    params: Any,
    *,
    num_steps: int,
    save_every: int = 1,
) -> tuple[
    tuple[Float[Array, "*state"], Float[Array, "*state"]],
    tuple[Float[Array, " frames *state"], Float[Array, " frames *state"]],
]:
    """``num_steps`` velocity-Verlet steps on ``lax.scan``.

    Returns ``((q, v), (q_traj, v_traj))``: the final state and the state after every
    ``save_every`` steps (``num_steps // save_every`` frames).
    """
    q0, v0, dt = _check(q0, v0, dt, "q0", "v0")

    def step(s: tuple[Array, Array, Array]) -> tuple[Array, Array, Array]:
        return _kdk(accel, *s, dt, params, "q0")

    a0 = _accel(accel, q0, params, "q0")
    (q, v, _), (tq, tv, _) = rollout(step, (q0, v0, a0), num_steps, save_every=save_every)
    return (q, v), (tq, tv)
