"""Stochastic differential equations (family ``sde``): Euler–Maruyama and Milstein on explicit
Brownian increments, with Ornstein–Uhlenbeck and geometric Brownian motion as test systems.
Torch twins live in :mod:`parallax.kernels.sde.twins` (imports torch)."""

from parallax.kernels.sde._integrators import brownian_increments as brownian_increments
from parallax.kernels.sde._integrators import euler_maruyama as euler_maruyama
from parallax.kernels.sde._integrators import milstein as milstein
from parallax.kernels.sde._integrators import solve_from_key as solve_from_key
from parallax.kernels.sde._systems import gbm_euler_maruyama as gbm_euler_maruyama
from parallax.kernels.sde._systems import gbm_exact as gbm_exact
from parallax.kernels.sde._systems import gbm_milstein as gbm_milstein
from parallax.kernels.sde._systems import ou_em_stationary_variance as ou_em_stationary_variance
from parallax.kernels.sde._systems import ou_euler_maruyama as ou_euler_maruyama
from parallax.kernels.sde._systems import ou_mean as ou_mean
from parallax.kernels.sde._systems import ou_variance as ou_variance

__all__ = [
    "brownian_increments",
    "euler_maruyama",
    "gbm_euler_maruyama",
    "gbm_exact",
    "gbm_milstein",
    "milstein",
    "ou_em_stationary_variance",
    "ou_euler_maruyama",
    "ou_mean",
    "ou_variance",
    "solve_from_key",
]
