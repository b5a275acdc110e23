"""ODE integrators and test systems (family ``ode``).

* :func:`rk4_step` / :func:`rk4_rollout` — classical fixed-step RK4 on ``lax.scan``.
* :func:`dopri5` — adaptive Dormand–Prince 5(4), PI step-size control, dense output at requested
  times, ``max_steps`` bound and a returned ``status``; ``loop="while"`` (forward-mode AD) or
  ``loop="scan"`` (reverse-mode AD). :func:`dopri5_step` is one fixed step (with its error).
* :func:`velocity_verlet_step` / :func:`velocity_verlet_rollout` — symplectic kick–drift–kick
  leapfrog for separable Hamiltonians.
* Systems ``f(t, y, params)``: :func:`lorenz63`, :func:`lorenz96`, :func:`damped_pendulum`,
  :func:`kepler` (plus :func:`kepler_accel` and the conserved quantities).

A system is solved by passing it to a solver:
``ode.dopri5(ode.lorenz63, y0, ts, params, rtol, atol, dt0).ys``.

Torch twins live in :mod:`parallax.kernels.ode.twins` (imports torch).
"""

from parallax.kernels.ode._dopri5 import MAX_STEPS_REACHED as MAX_STEPS_REACHED
from parallax.kernels.ode._dopri5 import NONFINITE as NONFINITE
from parallax.kernels.ode._dopri5 import STATUS_MESSAGES as STATUS_MESSAGES
from parallax.kernels.ode._dopri5 import STEP_SIZE_UNDERFLOW as STEP_SIZE_UNDERFLOW
from parallax.kernels.ode._dopri5 import SUCCESS as SUCCESS
from parallax.kernels.ode._dopri5 import ODESolution as ODESolution
from parallax.kernels.ode._dopri5 import dopri5 as dopri5
from parallax.kernels.ode._dopri5 import dopri5_step as dopri5_step
from parallax.kernels.ode._dopri5 import status_message as status_message
from parallax.kernels.ode._rk4 import VectorField as VectorField
from parallax.kernels.ode._rk4 import rk4_rollout as rk4_rollout
from parallax.kernels.ode._rk4 import rk4_step as rk4_step
from parallax.kernels.ode._symplectic import Acceleration as Acceleration
from parallax.kernels.ode._symplectic import velocity_verlet_rollout as velocity_verlet_rollout
from parallax.kernels.ode._symplectic import velocity_verlet_step as velocity_verlet_step
from parallax.kernels.ode._systems import damped_pendulum as damped_pendulum
from parallax.kernels.ode._systems import damped_pendulum_energy as damped_pendulum_energy
from parallax.kernels.ode._systems import kepler as kepler
from parallax.kernels.ode._systems import kepler_accel as kepler_accel
from parallax.kernels.ode._systems import kepler_angular_momentum as kepler_angular_momentum
from parallax.kernels.ode._systems import kepler_energy as kepler_energy
from parallax.kernels.ode._systems import lorenz63 as lorenz63
from parallax.kernels.ode._systems import lorenz96 as lorenz96

__all__ = [
    "MAX_STEPS_REACHED",
    "NONFINITE",
    "STATUS_MESSAGES",
    "STEP_SIZE_UNDERFLOW",
    "SUCCESS",
    "Acceleration",
    "ODESolution",
    "VectorField",
    "damped_pendulum",
    "damped_pendulum_energy",
    "dopri5",
    "dopri5_step",
    "kepler",
    "kepler_accel",
    "kepler_angular_momentum",
    "kepler_energy",
    "lorenz63",
    "lorenz96",
    "rk4_rollout",
    "rk4_step",
    "status_message",
    "velocity_verlet_rollout",
    "velocity_verlet_step",
]
