"""PyTorch twins of the PDE kernels: the same math, for parity checks (imports torch)."""

from parallax.kernels.pde.twins._heat import heat_1d_rollout as heat_1d_rollout
from parallax.kernels.pde.twins._heat import heat_1d_step as heat_1d_step

__all__ = ["heat_1d_rollout", "heat_1d_step"]
