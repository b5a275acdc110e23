"""parallax.kernels: pure JAX kernels, one subpackage per family.

``pde`` (spectral and finite-difference PDE steppers), ``ode``, ``sde``, ``particles`` and
``nn`` (model kernels); :mod:`parallax.kernels.fft` holds the FFTs the spectral kernels share.
Every kernel is a pure function that works under ``jit``, ``vmap`` and ``grad``. This package
knows nothing of runs, configs, models or the CLI, and importing it pulls in neither flax,
orbax, matplotlib nor torch.
:mod:`parallax.kernels.initial_conditions` builds the states that cases, tests and experiments
start from.

**Twins are independent ports.** Each family's ``twins`` subpackage holds the same math in torch
and NumPy only: a twin module imports torch, NumPy, the standard library, other twin modules,
:mod:`parallax.kernels._twins` (torch helpers the twins share) and NumPy-only tables, never a
JAX-side module. Parity compares two derivations, so an error in shared code would go unseen.
A constant table both sides need (a Butcher tableau, stencil weights, status codes) lives in a
module named ``_*_np.py`` that imports only NumPy and the standard library
(:mod:`~parallax.kernels.ode._dopri5_np`, :mod:`~parallax.kernels.pde._fd_weights_np`,
:mod:`~parallax.kernels._dtypes_np`).
``tests/kernels/test_twin_imports.py`` checks both rules.

On CPU some kernels lower to small C++ handlers built on first use (MKL's FFT, GEMM-based
attention, dense layers, MLPs and convolutions, row norms); :func:`cpu_handlers` says which
ones programs call and why any other does not. :func:`configure_host_allocator` sets the C
library's allocator so that XLA:CPU's output buffers are reused across calls instead of being
mapped (and zeroed by the system) afresh; parallax's command line calls it at start-up.
"""

from parallax.kernels import fft as fft
from parallax.kernels import initial_conditions as initial_conditions
from parallax.kernels import nn as nn
from parallax.kernels import ode as ode
from parallax.kernels import particles as particles
from parallax.kernels import pde as pde
from parallax.kernels import sde as sde
from parallax.kernels._checkpoint import checkpointed_scan as checkpointed_scan
from parallax.kernels._checks import value_checks as value_checks
from parallax.kernels._dtypes import complex_dtype as complex_dtype
from parallax.kernels._dtypes_np import numpy_complex_dtype as numpy_complex_dtype
from parallax.kernels._host_allocator import HostAllocator as HostAllocator
from parallax.kernels._host_allocator import configure_host_allocator as configure_host_allocator
from parallax.kernels._host_allocator import host_allocator as host_allocator
from parallax.kernels._native import handlers as cpu_handlers
from parallax.kernels._rollout import rollout as rollout

__all__ = [
    "HostAllocator",
    "checkpointed_scan",
    "complex_dtype",
    "configure_host_allocator",
    "cpu_handlers",
    "fft",
    "host_allocator",
    "initial_conditions",
    "nn",
    "numpy_complex_dtype",
    "ode",
    "particles",
    "pde",
    "rollout",
    "sde",
    "value_checks",
]
