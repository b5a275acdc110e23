"""parallax.kernels: pure JAX kernels, one subpackage per family.

``pde`` (spectral and finite-difference PDE steppers), ``ode``, ``sde``, ``particles`` and
``nn`` (model kernels). Every kernel is a pure function that works under ``jit``, ``vmap`` and
``grad``; its PyTorch twin lives in the family's ``twins`` subpackage, which is the only place
torch is imported. :mod:`parallax.kernels.initial_conditions` builds the states that cases,
tests and experiments start from. This package knows nothing of runs, configs or the CLI.
"""

from parallax.kernels import initial_conditions as initial_conditions
from parallax.kernels import nn as nn
from parallax.kernels import ode as ode
from parallax.kernels import particles as particles
from parallax.kernels import pde as pde
from parallax.kernels import sde as sde
from parallax.kernels._checkpoint import checkpointed_scan as checkpointed_scan
from parallax.kernels._checks import value_checks as value_checks
from parallax.kernels._rollout import rollout as rollout

__all__ = [
    "checkpointed_scan",
    "initial_conditions",
    "nn",
    "ode",
    "particles",
    "pde",
    "rollout",
    "sde",
    "value_checks",
]
