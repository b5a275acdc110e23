"""Periodic spectral and finite-difference PDE kernels (family ``pde``).

Each stepper is a pure function ``state -> state`` (or a constructor returning one); rollouts run
on ``lax.scan``. Torch twins live in :mod:`parallax.kernels.pde.twins` (imports torch).
"""

from parallax.kernels.pde._grid import complex_dtype as complex_dtype
from parallax.kernels.pde._grid import grid_points as grid_points
from parallax.kernels.pde._grid import rfft_wavenumbers as rfft_wavenumbers
from parallax.kernels.pde._heat import heat_1d_rollout as heat_1d_rollout
from parallax.kernels.pde._heat import heat_1d_step as heat_1d_step

__all__ = ["complex_dtype", "grid_points", "heat_1d_rollout", "heat_1d_step", "rfft_wavenumbers"]
