r"""Direct-sum gravitational N-body with Plummer softening, integrated by velocity Verlet.

.. math::
    a_i = G \sum_{j \ne i} m_j \frac{r_j - r_i}{(|r_j - r_i|^2 + \epsilon^2)^{3/2}}, \qquad
    U = -G \sum_{i<j} \frac{m_i m_j}{\sqrt{|r_i - r_j|^2 + \epsilon^2}},

so :math:`m_i a_i = -\partial U / \partial r_i` exactly (Plummer softening: Aarseth,
*Gravitational N-Body Simulations*, 2003, §2; Dehnen, MNRAS 324, 273 (2001)). The pair sum is
``O(n^2)`` and antisymmetric, so total momentum is conserved to rounding; velocity Verlet keeps
the energy error bounded. Open space (no box); ``masses``, ``dt``, ``softening`` and ``G`` are
arrays.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from parallax.kernels._checks import (
    as_real,
    check_array,
    check_finite,
    check_nonnegative,
    check_positive,
    check_state_dtype,
)
from parallax.kernels._rollout import rollout

__all__ = ["NBodyTrajectory", "nbody_accelerations", "nbody_energy", "nbody_rollout"]


class NBodyTrajectory(NamedTuple):
    """Final ``position``/``velocity`` ``(n, dim)``; total ``energy`` ``(t,)`` and ``momentum``
    ``(t, dim)`` after every ``save_every`` steps."""

    position: Float[Array, "n dim"]
    velocity: Float[Array, "n dim"]
    energy: Float[Array, " t"]
    momentum: Float[Array, "t dim"]


def _inv_r3(positions: Array, softening: Array) -> tuple[list[Array], Array]:
    """``(r_j - r_i)`` as one ``(n, n)`` plane per coordinate, and ``1 / sqrt(r² + ε²)`` (zero
    on the diagonal). Planes rather than an ``(n, n, dim)`` array: XLA:CPU vectorises poorly over
    a minor axis of 3."""
    planes = [
        positions[:, d][None, :] - positions[:, d][:, None] for d in range(positions.shape[1])
    ]
    r2 = softening * softening + sum(p * p for p in planes)
    n = positions.shape[0]
    inv_r = jnp.where(jnp.eye(n, dtype=bool), jnp.zeros_like(r2), jax.lax.rsqrt(r2))
    return planes, inv_r


def _accelerations(positions: Array, masses: Array, softening: Array, G: Array) -> Array:
    planes, inv_r = _inv_r3(positions, softening)
    w = masses.reshape(1, -1) * inv_r * inv_r * inv_r
    return G * jnp.stack([jnp.sum(w * p, axis=1) for p in planes], axis=-1)


def _energy(
    positions: Array, velocities: Array, masses: Array, softening: Array, G: Array
) -> Array:
    _, inv_r = _inv_r3(positions, softening)
    mm = masses.reshape(-1, 1) * masses.reshape(1, -1)
    potential = -0.5 * G * jnp.sum(mm * inv_r)
    kinetic = 0.5 * jnp.sum(masses.reshape(-1, 1) * velocities * velocities)
    return kinetic + potential


def _check_bodies(
    positions: Array, masses: Any, softening: Any, G: Any, *, strict: bool
) -> tuple[Array, Array, Array, Array]:
    """``positions`` ``(n, dim)`` finite, ``masses`` ``(n,)`` > 0, scalar ``softening`` and
    ``G`` (``softening > 0`` when ``strict``, else ``>= 0``; ``G > 0``), cast to the
    positions' dtype. Value checks: use the returned arrays."""
    check_array("positions", positions, ndim=2)
    check_state_dtype("positions", positions)
    n, dtype = positions.shape[0], positions.dtype
    masses = as_real("masses", masses, dtype, shape=(n,))
    softening, g = as_real("softening", softening, dtype), as_real("G", G, dtype)
    sign = check_positive if strict else check_nonnegative
    return (
        check_finite("positions", positions),
        check_positive("masses", check_finite("masses", masses)),
        sign("softening", check_finite("softening", softening)),
        check_positive("G", check_finite("G", g)),
    )


def nbody_accelerations(
    positions: Float[Array, "n dim"],
    masses: Float[Array, " n"],
    softening: Float[Array, ""] | float,
    G: Float[Array, ""] | float = 1.0,
) -> Float[Array, "n dim"]:
    """``a_i = G Σ_j m_j (r_j - r_i) / (|r_ij|² + ε²)^{3/2}`` (direct sum, ``O(n^2)``);
    ``masses > 0``, ``softening >= 0`` (0: Newtonian, infinite for coincident bodies)."""
    return _accelerations(*_check_bodies(positions, masses, softening, G, strict=False))


def nbody_energy(
    positions: Float[Array, "n dim"],
    velocities: Float[Array, "n dim"],
    masses: Float[Array, " n"],
    softening: Float[Array, ""] | float,
    G: Float[Array, ""] | float = 1.0,
) -> Float[Array, ""]:
    """Total energy ``Σ m v²/2 - G Σ_{i<j} m_i m_j / sqrt(r² + ε²)``."""
    x, m, eps, g = _check_bodies(positions, masses, softening, G, strict=False)
    check_array("velocities", velocities, shape=tuple(x.shape))
    return _energy(x, check_finite("velocities", velocities.astype(x.dtype)), m, eps, g)


def nbody_rollout(
    positions: Float[Array, "n dim"],
    velocities: Float[Array, "n dim"],
    masses: Float[Array, " n"],
    dt: Float[Array, ""] | float,
    softening: Float[Array, ""] | float,
    *,
    num_steps: int,
    G: float = 1.0,
    save_every: int = 1,
) -> NBodyTrajectory:
    """``num_steps`` velocity-Verlet (kick-drift-kick) steps on ``lax.scan`` (``masses > 0``,
    ``softening > 0``, ``dt > 0``)."""
    positions, masses, softening, g = _check_bodies(positions, masses, softening, G, strict=True)
    check_array("velocities", velocities, shape=tuple(positions.shape))
    if velocities.dtype != positions.dtype:
        raise TypeError(
            f"velocities: expected dtype {positions.dtype} (as positions), got {velocities.dtype}"
        )
    velocities = check_finite("velocities", velocities)
    dt = check_positive("dt", as_real("dt", dt, positions.dtype))

    def step(s: tuple[Array, Array, Array]) -> tuple[Array, Array, Array]:
        x, v, a = s
        v = v + (0.5 * dt) * a
        x = x + dt * v
        a = _accelerations(x, masses, softening, g)
        return x, v + (0.5 * dt) * a, a

    a0 = _accelerations(positions, masses, softening, g)
    (x, v, _), (xs, vs, _) = rollout(
        step, (positions, velocities, a0), num_steps, save_every=save_every
    )
    energy = jax.vmap(lambda xx, vv: _energy(xx, vv, masses, softening, g))(xs, vs)
    momentum = jnp.sum(masses.reshape(1, -1, 1) * vs, axis=1)
    return NBodyTrajectory(x, v, energy, momentum)
