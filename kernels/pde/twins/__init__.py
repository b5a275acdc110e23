"""PyTorch twins of the PDE kernels: the same math, for parity checks (imports torch)."""

from parallax.kernels.pde.twins._fd_advection import advection_1d_rollout as advection_1d_rollout
from parallax.kernels.pde.twins._fd_advection import advection_1d_step as advection_1d_step
from parallax.kernels.pde.twins._fd_advection import advection_2d_rollout as advection_2d_rollout
from parallax.kernels.pde.twins._fd_advection import advection_2d_step as advection_2d_step
from parallax.kernels.pde.twins._fd_stencil import laplacian as laplacian
from parallax.kernels.pde.twins._fd_stencil import laplacian_2d as laplacian_2d
from parallax.kernels.pde.twins._fd_stencil import laplacian_3d as laplacian_3d
from parallax.kernels.pde.twins._fd_wave import wave_2d_energy as wave_2d_energy
from parallax.kernels.pde.twins._fd_wave import wave_2d_rollout as wave_2d_rollout
from parallax.kernels.pde.twins._fd_wave import wave_2d_start as wave_2d_start
from parallax.kernels.pde.twins._fd_wave import wave_2d_step as wave_2d_step
from parallax.kernels.pde.twins._spectral import (
    advection_diffusion_rollout as advection_diffusion_rollout,
)
from parallax.kernels.pde.twins._spectral import allen_cahn_rollout as allen_cahn_rollout
from parallax.kernels.pde.twins._spectral import burgers_1d_rollout as burgers_1d_rollout
from parallax.kernels.pde.twins._spectral import burgers_2d_rollout as burgers_2d_rollout
from parallax.kernels.pde.twins._spectral import heat_rollout as heat_rollout
from parallax.kernels.pde.twins._spectral import kdv_rollout as kdv_rollout
from parallax.kernels.pde.twins._spectral import ks_1d_rollout as ks_1d_rollout
from parallax.kernels.pde.twins._spectral import ks_2d_rollout as ks_2d_rollout
from parallax.kernels.pde.twins._spectral import (
    navier_stokes_2d_rollout as navier_stokes_2d_rollout,
)

__all__ = [
    "advection_1d_rollout",
    "advection_1d_step",
    "advection_2d_rollout",
    "advection_2d_step",
    "advection_diffusion_rollout",
    "allen_cahn_rollout",
    "burgers_1d_rollout",
    "burgers_2d_rollout",
    "heat_rollout",
    "kdv_rollout",
    "ks_1d_rollout",
    "ks_2d_rollout",
    "laplacian",
    "laplacian_2d",
    "laplacian_3d",
    "navier_stokes_2d_rollout",
    "wave_2d_energy",
    "wave_2d_rollout",
    "wave_2d_start",
    "wave_2d_step",
]
