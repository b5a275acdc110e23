"""PyTorch twins of the ``ode`` kernels (imports torch)."""

from parallax.kernels.ode.twins._dopri5 import dopri5 as dopri5
from parallax.kernels.ode.twins._rk4 import rk4_rollout as rk4_rollout
from parallax.kernels.ode.twins._rk4 import rk4_step as rk4_step
from parallax.kernels.ode.twins._rk4 import velocity_verlet_rollout as velocity_verlet_rollout
from parallax.kernels.ode.twins._systems import damped_pendulum as damped_pendulum
from parallax.kernels.ode.twins._systems import kepler as kepler
from parallax.kernels.ode.twins._systems import kepler_accel as kepler_accel
from parallax.kernels.ode.twins._systems import lorenz63 as lorenz63
from parallax.kernels.ode.twins._systems import lorenz96 as lorenz96

__all__ = [
    "damped_pendulum",
    "dopri5",
    "kepler",
    "kepler_accel",
    "lorenz63",
    "lorenz96",
    "rk4_rollout",
    "rk4_step",
    "velocity_verlet_rollout",
]
