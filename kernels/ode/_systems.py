r"""Test systems: vector fields ``f(t, y, params) -> dy/dt`` as pure functions.

Every vector field acts on the last axis of ``y`` and broadcasts over leading batch axes, so a
batch of initial conditions is one array. Parameters are arrays (so ``vmap`` over them and
changing them do not recompile):

* :func:`lorenz63` — Lorenz (1963), ``params = (sigma, rho, beta)``:
  :math:`\dot x = \sigma (y - x),\ \dot y = x(\rho - z) - y,\ \dot z = x y - \beta z`.
* :func:`lorenz96` — Lorenz (1996), ``params = F`` (forcing), periodic in ``i``:
  :math:`\dot x_i = (x_{i+1} - x_{i-2})\, x_{i-1} - x_i + F`.
* :func:`damped_pendulum` — ``y = (theta, omega)``, ``params = (gamma, omega0^2)``:
  :math:`\dot\theta = \omega,\ \dot\omega = -\gamma\omega - \omega_0^2 \sin\theta`.
* :func:`kepler` — the two-body problem in relative coordinates, ``y = (q_x, q_y, v_x, v_y)``,
  ``params = mu`` (``G (m_1 + m_2)``): :math:`\dot q = v,\ \dot v = -\mu q / |q|^3`.
  :func:`kepler_accel` is the force alone (for the symplectic integrators);
  :func:`kepler_energy` and :func:`kepler_angular_momentum` are its conserved quantities.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

from parallax.kernels._checks import check_array

__all__ = [
    "damped_pendulum",
    "damped_pendulum_energy",
    "kepler",
    "kepler_accel",
    "kepler_angular_momentum",
    "kepler_energy",
    "lorenz63",
    "lorenz96",
]


def _param(name: str, params: Array | float, size: int | None) -> Array:
    params = jnp.asarray(params)
    if size is None:
        check_array(name, params, ndim=0)
    else:
        check_array(name, params, shape=(size,))
    return params


def lorenz63(
    t: Float[Array, ""] | float, y: Float[Array, "*batch 3"], params: Float[Array, " 3"]
) -> Float[Array, "*batch 3"]:
    """Lorenz-63 vector field; ``params = (sigma, rho, beta)`` (classically ``(10, 28, 8/3)``).

    E. N. Lorenz, "Deterministic nonperiodic flow", J. Atmos. Sci. 20 (1963) 130-141.
    """
    del t
    check_array("y", y, trailing=(3,))
    sigma, rho, beta = _param("params", params, 3).astype(y.dtype)
    x, yy, z = y[..., 0], y[..., 1], y[..., 2]
    return jnp.stack([sigma * (yy - x), x * (rho - z) - yy, x * yy - beta * z], axis=-1)


def lorenz96(
    t: Float[Array, ""] | float, y: Float[Array, "*batch n"], params: Float[Array, ""] | float
) -> Float[Array, "*batch n"]:
    """Lorenz-96 vector field with forcing ``params = F`` (chaotic for ``F = 8``, ``n >= 4``).

    E. N. Lorenz, "Predictability: a problem partly solved", ECMWF Seminar (1996).
    """
    del t
    check_array("y", y, min_ndim=1)
    if y.shape[-1] < 4:
        raise ValueError(f"y: expected at least 4 sites on the last axis, got {y.shape}")
    forcing = _param("params", params, None).astype(y.dtype)
    n = y.shape[-1]
    # y with periodic ghosts, (y_{n-2}, y_{n-1}, y_0, ..., y_{n-1}, y_0), written once. Without
    # the barrier XLA:CPU fuses the wrap-around (a concatenate) into every shifted read, and in an
    # RK4 step each shifted read of a stage recomputes the earlier stages
    # (`parallax bench ode.rk4_lorenz96` shows the difference).
    ext = lax.optimization_barrier(jnp.concatenate([y[..., n - 2 :], y, y[..., :1]], axis=-1))

    def site(offset: int) -> Array:  # y_{i + offset}
        return lax.slice_in_dim(ext, 2 + offset, 2 + offset + n, axis=-1)

    return (site(1) - site(-2)) * site(-1) - y + forcing


def damped_pendulum(
    t: Float[Array, ""] | float, y: Float[Array, "*batch 2"], params: Float[Array, " 2"]
) -> Float[Array, "*batch 2"]:
    """Damped pendulum, ``y = (theta, omega)``, ``params = (gamma, omega0^2)``."""
    del t
    check_array("y", y, trailing=(2,))
    gamma, w2 = _param("params", params, 2).astype(y.dtype)
    theta, omega = y[..., 0], y[..., 1]
    return jnp.stack([omega, -gamma * omega - w2 * jnp.sin(theta)], axis=-1)


def damped_pendulum_energy(y: Float[Array, "*batch 2"], params: Float[Array, " 2"]) -> Array:
    """``E = omega^2 / 2 + omega0^2 (1 - cos theta)``; ``dE/dt = -gamma omega^2 <= 0``."""
    w2 = _param("params", params, 2).astype(y.dtype)[1]
    return 0.5 * y[..., 1] ** 2 + w2 * (1 - jnp.cos(y[..., 0]))


def kepler_accel(
    q: Float[Array, "*batch 2"], params: Float[Array, ""] | float
) -> Float[Array, "*batch 2"]:
    """Kepler acceleration ``-mu q / |q|^3`` (``params = mu``)."""
    check_array("q", q, trailing=(2,))
    mu = _param("params", params, None).astype(q.dtype)
    r2 = jnp.sum(q * q, axis=-1, keepdims=True)
    return -mu * q / (r2 * jnp.sqrt(r2))


def kepler(
    t: Float[Array, ""] | float, y: Float[Array, "*batch 4"], params: Float[Array, ""] | float
) -> Float[Array, "*batch 4"]:
    """Kepler two-body vector field, ``y = (q_x, q_y, v_x, v_y)``, ``params = mu``."""
    del t
    check_array("y", y, trailing=(4,))
    return jnp.concatenate([y[..., 2:], kepler_accel(y[..., :2], params)], axis=-1)


def kepler_energy(
    q: Float[Array, "*batch 2"], v: Float[Array, "*batch 2"], params: Float[Array, ""] | float
) -> Float[Array, "*batch"]:
    """Specific orbital energy ``|v|^2 / 2 - mu / |q|`` (conserved)."""
    mu = _param("params", params, None).astype(q.dtype)
    return 0.5 * jnp.sum(v * v, axis=-1) - mu / jnp.sqrt(jnp.sum(q * q, axis=-1))


def kepler_angular_momentum(
    q: Float[Array, "*batch 2"], v: Float[Array, "*batch 2"]
) -> Float[Array, "*batch"]:
    """Specific angular momentum ``q_x v_y - q_y v_x`` (conserved)."""
    return q[..., 0] * v[..., 1] - q[..., 1] * v[..., 0]
