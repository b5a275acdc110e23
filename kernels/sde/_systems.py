r"""Test systems with known solutions: Ornstein–Uhlenbeck and geometric Brownian motion.

* Ornstein–Uhlenbeck: :math:`dX = \theta(\mu - X)\,dt + \sigma\,dW`. Gaussian, mean
  :math:`\mu + (x_0 - \mu)e^{-\theta t}`, variance :math:`\frac{\sigma^2}{2\theta}(1 -
  e^{-2\theta t})`, stationary variance :math:`\sigma^2 / 2\theta`. Euler–Maruyama's own
  recursion :math:`X_{n+1} = (1 - \theta\Delta t)X_n + \theta\mu\Delta t + \sigma\Delta W` has
  stationary variance :math:`\sigma^2 / (\theta(2 - \theta\Delta t))`.
* Geometric Brownian motion: :math:`dX = \mu X\,dt + \sigma X\,dW`, exact solution on the same
  Brownian path :math:`X_t = x_0 \exp((\mu - \sigma^2/2)t + \sigma W_t)`.

Each system's rollout takes scalar (0-d array) parameters, a batch of initial states ``x0`` of
shape ``(*paths,)`` and increments ``dW`` of shape ``(num_steps, *paths)`` (one Brownian path per
element). Volatilities are ``sigma >= 0`` and mean-reversion rates ``theta > 0`` (checked: a
negative ``sigma`` would drive the path by ``-dW``, not by the increments passed).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, Float

from parallax.kernels._checks import (
    as_real,
    check_array,
    check_finite,
    check_nonnegative,
    check_positive,
    check_state_dtype,
    check_value,
)
from parallax.kernels.sde._integrators import euler_maruyama, milstein

__all__ = [
    "gbm_euler_maruyama",
    "gbm_exact",
    "gbm_milstein",
    "ou_em_stationary_variance",
    "ou_euler_maruyama",
    "ou_mean",
    "ou_variance",
]

Scalar = Float[Array, ""] | float


_SIGN = {"theta": check_positive, "sigma": check_nonnegative, "t": check_nonnegative}


def _params(dtype: Any, **params: Array | float) -> list[Array]:
    """Finite scalar parameters of ``dtype``; ``theta > 0``, ``sigma >= 0``, ``t >= 0``."""
    out = []
    for name, p in params.items():
        p = check_finite(name, as_real(name, p, dtype))
        out.append(_SIGN[name](name, p) if name in _SIGN else p)
    return out


def _state(x0: Array) -> Any:
    check_array("x0", x0)
    check_state_dtype("x0", x0)
    return x0.dtype


def _ou_drift(x: Array, t: Array, args: tuple[Array, Array, Array]) -> Array:
    theta, mu, _ = args
    return theta * (mu - x)


def _ou_diffusion(x: Array, t: Array, args: tuple[Array, Array, Array]) -> Array:
    return jnp.broadcast_to(args[2], x.shape)


def ou_euler_maruyama(
    x0: Float[Array, "*paths"],
    theta: Scalar,
    mu: Scalar,
    sigma: Scalar,
    dt: Scalar,
    dW: Float[Array, " num_steps *paths"],
    *,
    save_every: int = 1,
) -> tuple[Float[Array, "*paths"], Float[Array, " saves *paths"]]:
    """Ornstein–Uhlenbeck by Euler–Maruyama (identical to Milstein: the noise is additive).
    ``theta > 0``, ``sigma >= 0``; returns ``(final, trajectory)``."""
    args = tuple(_params(_state(x0), theta=theta, mu=mu, sigma=sigma))
    return euler_maruyama(_ou_drift, _ou_diffusion, x0, dt, dW, args, save_every=save_every)


def _gbm_drift(x: Array, t: Array, args: tuple[Array, Array]) -> Array:
    return args[0] * x


def _gbm_diffusion(x: Array, t: Array, args: tuple[Array, Array]) -> Array:
    return args[1] * x


def gbm_euler_maruyama(
    x0: Float[Array, "*paths"],
    mu: Scalar,
    sigma: Scalar,
    dt: Scalar,
    dW: Float[Array, " num_steps *paths"],
    *,
    save_every: int = 1,
) -> tuple[Float[Array, "*paths"], Float[Array, " saves *paths"]]:
    """Geometric Brownian motion by Euler–Maruyama (strong order 1/2), ``sigma >= 0``."""
    args = tuple(_params(_state(x0), mu=mu, sigma=sigma))
    return euler_maruyama(_gbm_drift, _gbm_diffusion, x0, dt, dW, args, save_every=save_every)


def gbm_milstein(
    x0: Float[Array, "*paths"],
    mu: Scalar,
    sigma: Scalar,
    dt: Scalar,
    dW: Float[Array, " num_steps *paths"],
    *,
    save_every: int = 1,
) -> tuple[Float[Array, "*paths"], Float[Array, " saves *paths"]]:
    """Geometric Brownian motion by Milstein (strong order 1): the correction is
    ``½ σ² X (ΔW² − dt)``, here obtained generically from ``jvp(g, x, g)``."""
    args = tuple(_params(_state(x0), mu=mu, sigma=sigma))
    return milstein(_gbm_drift, _gbm_diffusion, x0, dt, dW, args, save_every=save_every)


def gbm_exact(
    x0: Float[Array, "*paths"], mu: Scalar, sigma: Scalar, t: Scalar, w: Float[Array, "*paths"]
) -> Float[Array, "*paths"]:
    """``x0 exp((mu - sigma^2/2) t + sigma W_t)`` for the Brownian value ``w = W_t`` (one per
    path: ``w`` has ``x0``'s shape and dtype), ``sigma >= 0``, ``t >= 0``."""
    dtype = _state(x0)
    check_array("w", w, shape=tuple(x0.shape))
    if w.dtype != dtype:
        raise TypeError(f"w: expected dtype {dtype} (as x0), got {w.dtype}")
    mu, sigma, t = _params(dtype, mu=mu, sigma=sigma, t=t)
    x0, w = check_finite("x0", x0), check_finite("w", w)
    return x0 * jnp.exp((mu - 0.5 * sigma * sigma) * t + sigma * w)


def _dtype(*xs: Any) -> Any:
    """The float dtype of the arguments (Python numbers: jax's default float)."""
    dtype = jnp.result_type(*xs, jnp.asarray(0.0).dtype)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.asarray(0.0).dtype


def ou_mean(x0: Array | float, theta: Scalar, mu: Scalar, t: Scalar) -> Array:
    """``E[X_t] = mu + (x0 - mu) exp(-theta t)`` (``theta > 0``, ``t >= 0``; ``x0`` any shape)."""
    x0 = jnp.asarray(x0, dtype=_dtype(x0))
    theta, mu, t = _params(x0.dtype, theta=theta, mu=mu, t=t)
    return mu + (x0 - mu) * jnp.exp(-theta * t)


def ou_variance(theta: Scalar, sigma: Scalar, t: Scalar | None = None) -> Array:
    """``Var[X_t] = sigma^2 / (2 theta) (1 - exp(-2 theta t))`` (stationary when ``t`` is None;
    ``theta > 0``, ``sigma >= 0``, ``t >= 0``)."""
    theta, sigma = _params(_dtype(theta, sigma), theta=theta, sigma=sigma)
    stat = sigma**2 / (2 * theta)
    if t is None:
        return stat
    (t,) = _params(theta.dtype, t=t)
    return stat * (1 - jnp.exp(-2 * theta * t))


def ou_em_stationary_variance(theta: Scalar, sigma: Scalar, dt: Scalar) -> Array:
    """Stationary variance of the Euler–Maruyama recursion: ``sigma^2 / (theta (2 - theta dt))``.
    It exists for ``0 < theta dt < 2`` (``|1 - theta dt| < 1``); outside, the recursion's
    variance grows without bound, and that is an error here."""
    theta, sigma, dt = _params(_dtype(theta, sigma, dt), theta=theta, sigma=sigma, dt=dt)
    dt = check_positive("dt", dt)
    dt = check_value(
        dt,
        theta * dt >= 2,
        "dt",
        "expected theta * dt < 2 (else the recursion has no stationary "
        "variance: it grows without bound)",
    )
    return sigma**2 / (theta * (2 - theta * dt))
