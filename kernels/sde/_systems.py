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
element).
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from parallax.kernels._checks import check_array, check_finite, check_positive
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


def _params(x0: Array, **params: Array | float) -> list[Array]:
    out = []
    for name, p in params.items():
        p = jnp.asarray(p, dtype=x0.dtype)
        check_array(name, p, ndim=0)
        out.append(check_finite(name, p))
    return out


def _ou_drift(x: Array, t: Array, args: tuple[Array, Array, Array]) -> Array:
    theta, mu, _ = args
    return theta * (mu - x)


def _ou_diffusion(x: Array, t: Array, args: tuple[Array, Array, Array]) -> Array:
    return jnp.broadcast_to(args[2], x.shape)


def ou_euler_maruyama(
    x0: Float[Array, "*paths"], theta: Scalar, mu: Scalar, sigma: Scalar, dt: Scalar,
    dW: Float[Array, " num_steps *paths"], *, save_every: int = 1,
) -> tuple[Float[Array, "*paths"], Float[Array, " saves *paths"]]:  # fmt: skip
    """Ornstein–Uhlenbeck by Euler–Maruyama (identical to Milstein: the noise is additive).
    ``theta > 0``, ``sigma >= 0``; returns ``(final, trajectory)``."""
    check_array("x0", x0)
    theta, mu, sigma = _params(x0, theta=theta, mu=mu, sigma=sigma)
    theta = check_positive("theta", theta)
    args = (theta, mu, sigma)
    return euler_maruyama(_ou_drift, _ou_diffusion, x0, dt, dW, args, save_every=save_every)


def _gbm_drift(x: Array, t: Array, args: tuple[Array, Array]) -> Array:
    return args[0] * x


def _gbm_diffusion(x: Array, t: Array, args: tuple[Array, Array]) -> Array:
    return args[1] * x


def gbm_euler_maruyama(
    x0: Float[Array, "*paths"], mu: Scalar, sigma: Scalar, dt: Scalar,
    dW: Float[Array, " num_steps *paths"], *, save_every: int = 1,
) -> tuple[Float[Array, "*paths"], Float[Array, " saves *paths"]]:  # fmt: skip
    """Geometric Brownian motion by Euler–Maruyama (strong order 1/2)."""
    check_array("x0", x0)
    args = tuple(_params(x0, mu=mu, sigma=sigma))
    return euler_maruyama(_gbm_drift, _gbm_diffusion, x0, dt, dW, args, save_every=save_every)


def gbm_milstein(
    x0: Float[Array, "*paths"], mu: Scalar, sigma: Scalar, dt: Scalar,
    dW: Float[Array, " num_steps *paths"], *, save_every: int = 1,
) -> tuple[Float[Array, "*paths"], Float[Array, " saves *paths"]]:  # fmt: skip
    """Geometric Brownian motion by Milstein (strong order 1): the correction is
    ``½ σ² X (ΔW² − dt)``, here obtained generically from ``jvp(g, x, g)``."""
    check_array("x0", x0)
    args = tuple(_params(x0, mu=mu, sigma=sigma))
    return milstein(_gbm_drift, _gbm_diffusion, x0, dt, dW, args, save_every=save_every)


def gbm_exact(
    x0: Float[Array, "*paths"], mu: Scalar, sigma: Scalar, t: Scalar, w: Float[Array, "*paths"]
) -> Float[Array, "*paths"]:
    """``x0 exp((mu - sigma^2/2) t + sigma W_t)`` for the Brownian value ``w = W_t``."""
    return x0 * jnp.exp((mu - 0.5 * sigma * sigma) * t + sigma * w)


def ou_mean(x0: Array | float, theta: Scalar, mu: Scalar, t: Scalar) -> Array:
    """``E[X_t] = mu + (x0 - mu) exp(-theta t)``."""
    return mu + (x0 - mu) * jnp.exp(-theta * jnp.asarray(t))


def ou_variance(theta: Scalar, sigma: Scalar, t: Scalar | None = None) -> Array:
    """``Var[X_t] = sigma^2 / (2 theta) (1 - exp(-2 theta t))`` (stationary when ``t`` is None)."""
    stat = jnp.asarray(sigma) ** 2 / (2 * jnp.asarray(theta))
    return stat if t is None else stat * (1 - jnp.exp(-2 * jnp.asarray(theta) * t))


def ou_em_stationary_variance(theta: Scalar, sigma: Scalar, dt: Scalar) -> Array:
    """Stationary variance of the Euler–Maruyama recursion: ``sigma^2 / (theta (2 - theta dt))``."""
    theta = jnp.asarray(theta)
    return jnp.asarray(sigma) ** 2 / (theta * (2 - theta * dt))
