r"""Molecular-dynamics integrators: velocity Verlet (NVE) and Langevin BAOAB (NVT).

Both take a ``force_fn(x, aux) -> (U, F, aux)`` that returns the potential energy, the force
``F = -∇U`` and an updated auxiliary pytree (a neighbor list, or ``None``), and carry the force
in the state so each step costs one force evaluation.

Velocity Verlet (Swope et al., J. Chem. Phys. 76, 637 (1982)), second order, symplectic::

    v <- v + dt/2 F(x)/m;   x <- x + dt v;   v <- v + dt/2 F(x)/m

BAOAB (Leimkuhler & Matthews, Appl. Math. Res. Express 2013, 34-56), with
``c1 = exp(-γ dt)`` and ``ξ ~ N(0, 1)``::

    B: v <- v + dt/2 F/m     A: x <- x + dt/2 v     O: v <- c1 v + sqrt((1 - c1²) kT/m) ξ
    A: x <- x + dt/2 v       B: v <- v + dt/2 F/m

Randomness is explicit: ``ξ`` comes from the caller (an array) so two implementations can be
compared on the same noise, or from a PRNG key folded with the step counter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from parallax.kernels._checks import as_real, check_array

__all__ = ["MDState", "baoab_step", "kinetic_energy", "velocity_verlet_step"]

ForceFn = Callable[[Array, Any], tuple[Array, Array, Any]]


class MDState(NamedTuple):
    """Integrator state: positions (unwrapped), velocities, cached force and potential energy,
    the force function's auxiliary pytree (e.g. a neighbor list) and the step counter."""

    position: Float[Array, "n dim"]
    velocity: Float[Array, "n dim"]
    force: Float[Array, "n dim"]
    potential: Float[Array, ""]
    aux: Any
    step: Int[Array, ""]


def _per_particle(mass: Any, x: Array) -> Array:
    """``mass`` (a scalar or one per particle) shaped to broadcast against ``x`` ``(n, dim)``."""
    m = as_real("mass", mass, x.dtype, shape=None)
    if m.ndim == 0:
        return m
    if m.shape != x.shape[:1]:
        raise ValueError(f"mass: expected a scalar or shape ({x.shape[0]},), got {m.shape}")
    return m.reshape(-1, 1)


def kinetic_energy(velocity: Float[Array, "n dim"], mass: Array | float = 1.0) -> Float[Array, ""]:
    """``K = Σ_i m_i |v_i|² / 2`` (``mass`` scalar or ``(n,)``)."""
    check_array("velocity", velocity, ndim=2)
    return 0.5 * jnp.sum(_per_particle(mass, velocity) * velocity**2)


def velocity_verlet_step(
    force_fn: ForceFn, state: MDState, dt: Float[Array, ""] | float, mass: Array | float = 1.0
) -> MDState:
    """One velocity-Verlet step (kick, drift, force, kick). A building block: shapes are
    checked, values are not (the rollouts check theirs once)."""
    check_array("state.position", state.position, ndim=2)
    m = _per_particle(mass, state.position)
    dt = as_real("dt", dt, state.position.dtype)
    v = state.velocity + (0.5 * dt) * state.force / m
    x = state.position + dt * v
    u, f, aux = force_fn(x, state.aux)
    v = v + (0.5 * dt) * f / m
    return MDState(x, v, f, u, aux, state.step + 1)


def baoab_step(
    force_fn: ForceFn,
    state: MDState,
    dt: Float[Array, ""] | float,
    gamma: Float[Array, ""] | float,
    kT: Float[Array, ""] | float,
    noise: Float[Array, "n dim"],
    mass: Array | float = 1.0,
) -> MDState:
    """One BAOAB Langevin step with standard-normal ``noise`` of the state's shape (shapes
    checked, values not: a building block)."""
    check_array("state.position", state.position, ndim=2)
    check_array("noise", noise, shape=tuple(state.position.shape))
    m = _per_particle(mass, state.position)
    dtype = state.position.dtype
    dt, gamma, kT = (as_real(n, v, dtype) for n, v in (("dt", dt), ("gamma", gamma), ("kT", kT)))
    v = state.velocity + (0.5 * dt) * state.force / m
    x = state.position + (0.5 * dt) * v
    c1 = jnp.exp(-gamma * dt)
    v = c1 * v + jnp.sqrt((1.0 - c1 * c1) * kT / m) * noise
    x = x + (0.5 * dt) * v
    u, f, aux = force_fn(x, state.aux)
    v = v + (0.5 * dt) * f / m
    return MDState(x, v, f, u, aux, state.step + 1)


def init_state(force_fn: ForceFn, position: Array, velocity: Array, aux: Any = None) -> MDState:
    """State at ``position, velocity`` with the force evaluated once."""
    u, f, aux = force_fn(position, aux)
    return MDState(position, velocity, f, u, aux, jnp.zeros((), jnp.int32))


def step_noise(key: Array, step: Array, shape: tuple[int, ...], dtype) -> Array:
    """Standard-normal noise for step ``step`` from one key (``fold_in``: no key threading)."""
    return jax.random.normal(jax.random.fold_in(key, step), shape, dtype)
