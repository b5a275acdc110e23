"""PyTorch twins of the ``sde`` kernels (imports torch)."""

from parallax.kernels.sde.twins._sde import euler_maruyama as euler_maruyama
from parallax.kernels.sde.twins._sde import gbm_euler_maruyama as gbm_euler_maruyama
from parallax.kernels.sde.twins._sde import gbm_milstein as gbm_milstein
from parallax.kernels.sde.twins._sde import milstein as milstein
from parallax.kernels.sde.twins._sde import ou_euler_maruyama as ou_euler_maruyama

__all__ = [
    "euler_maruyama",
    "gbm_euler_maruyama",
    "gbm_milstein",
    "milstein",
    "ou_euler_maruyama",
]
