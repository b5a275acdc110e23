"""Periodic spectral and finite-difference PDE kernels (family ``pde``).

Each stepper is a pure function ``state -> state`` (or a constructor returning one); rollouts run
on ``lax.scan``. The spectral equations are written once as ``*_terms`` (linear operator and
nonlinear function over :class:`SpectralOps`), shared with the sharded steppers. Torch twins live
in :mod:`parallax.kernels.pde.twins` (imports torch)."""

from parallax.kernels.pde._equations import advection_diffusion as advection_diffusion
from parallax.kernels.pde._equations import allen_cahn as allen_cahn
from parallax.kernels.pde._equations import burgers as burgers
from parallax.kernels.pde._equations import heat as heat
from parallax.kernels.pde._equations import korteweg_de_vries as korteweg_de_vries
from parallax.kernels.pde._equations import kuramoto_sivashinsky as kuramoto_sivashinsky
from parallax.kernels.pde._equations import navier_stokes_2d as navier_stokes_2d
from parallax.kernels.pde._etdrk import ETD1Coefficients as ETD1Coefficients
from parallax.kernels.pde._etdrk import ETDRK4Coefficients as ETDRK4Coefficients
from parallax.kernels.pde._etdrk import etd1 as etd1
from parallax.kernels.pde._etdrk import etd1_coefficients as etd1_coefficients
from parallax.kernels.pde._etdrk import etdrk4 as etdrk4
from parallax.kernels.pde._etdrk import etdrk4_coefficients as etdrk4_coefficients
from parallax.kernels.pde._fd_advection import advection_1d_rollout as advection_1d_rollout
from parallax.kernels.pde._fd_advection import advection_1d_step as advection_1d_step
from parallax.kernels.pde._fd_advection import advection_2d_rollout as advection_2d_rollout
from parallax.kernels.pde._fd_advection import advection_2d_step as advection_2d_step
from parallax.kernels.pde._fd_advection import upwind_rate as upwind_rate
from parallax.kernels.pde._fd_advection import upwind_rate_padded as upwind_rate_padded
from parallax.kernels.pde._fd_stencil import D2_WEIGHTS as D2_WEIGHTS
from parallax.kernels.pde._fd_stencil import laplacian as laplacian
from parallax.kernels.pde._fd_stencil import laplacian_2d as laplacian_2d
from parallax.kernels.pde._fd_stencil import laplacian_3d as laplacian_3d
from parallax.kernels.pde._fd_stencil import laplacian_dirichlet as laplacian_dirichlet
from parallax.kernels.pde._fd_stencil import laplacian_padded as laplacian_padded
from parallax.kernels.pde._fd_stencil import laplacian_periodic as laplacian_periodic
from parallax.kernels.pde._fd_stencil import periodic_shift as periodic_shift
from parallax.kernels.pde._fd_wave import wave_2d_energy as wave_2d_energy
from parallax.kernels.pde._fd_wave import wave_2d_rollout as wave_2d_rollout
from parallax.kernels.pde._fd_wave import wave_2d_start as wave_2d_start
from parallax.kernels.pde._fd_wave import wave_2d_step as wave_2d_step
from parallax.kernels.pde._ops import GridOps as GridOps
from parallax.kernels.pde._ops import SpectralOps as SpectralOps
from parallax.kernels.pde._spectral import Grid as Grid
from parallax.kernels.pde._spectral import make_grid as make_grid
from parallax.kernels.pde._spectral_rollouts import (
    advection_diffusion_rollout as advection_diffusion_rollout,
)
from parallax.kernels.pde._spectral_rollouts import allen_cahn_rollout as allen_cahn_rollout
from parallax.kernels.pde._spectral_rollouts import burgers_1d_rollout as burgers_1d_rollout
from parallax.kernels.pde._spectral_rollouts import burgers_2d_rollout as burgers_2d_rollout
from parallax.kernels.pde._spectral_rollouts import heat_rollout as heat_rollout
from parallax.kernels.pde._spectral_rollouts import kdv_rollout as kdv_rollout
from parallax.kernels.pde._spectral_rollouts import ks_1d_rollout as ks_1d_rollout
from parallax.kernels.pde._spectral_rollouts import ks_2d_rollout as ks_2d_rollout
from parallax.kernels.pde._spectral_rollouts import (
    navier_stokes_2d_rollout as navier_stokes_2d_rollout,
)
from parallax.kernels.pde._stepper import SpectralStepper as SpectralStepper
from parallax.kernels.pde._terms import Terms as Terms
from parallax.kernels.pde._terms import advection as advection
from parallax.kernels.pde._terms import advection_diffusion_terms as advection_diffusion_terms
from parallax.kernels.pde._terms import allen_cahn_terms as allen_cahn_terms
from parallax.kernels.pde._terms import burgers_terms as burgers_terms
from parallax.kernels.pde._terms import conservative_convection as conservative_convection
from parallax.kernels.pde._terms import cubic as cubic
from parallax.kernels.pde._terms import gradient_norm as gradient_norm
from parallax.kernels.pde._terms import heat_terms as heat_terms
from parallax.kernels.pde._terms import kdv_terms as kdv_terms
from parallax.kernels.pde._terms import kolmogorov_forcing as kolmogorov_forcing
from parallax.kernels.pde._terms import kuramoto_sivashinsky_terms as kuramoto_sivashinsky_terms
from parallax.kernels.pde._terms import navier_stokes_2d_terms as navier_stokes_2d_terms
from parallax.kernels.pde._terms import vorticity_flux as vorticity_flux

__all__ = [
    "D2_WEIGHTS",
    "ETD1Coefficients",
    "ETDRK4Coefficients",
    "Grid",
    "GridOps",
    "SpectralOps",
    "SpectralStepper",
    "Terms",
    "advection",
    "advection_1d_rollout",
    "advection_1d_step",
    "advection_2d_rollout",
    "advection_2d_step",
    "advection_diffusion",
    "advection_diffusion_rollout",
    "advection_diffusion_terms",
    "allen_cahn",
    "allen_cahn_rollout",
    "allen_cahn_terms",
    "burgers",
    "burgers_1d_rollout",
    "burgers_2d_rollout",
    "burgers_terms",
    "conservative_convection",
    "cubic",
    "etd1",
    "etd1_coefficients",
    "etdrk4",
    "etdrk4_coefficients",
    "gradient_norm",
    "heat",
    "heat_rollout",
    "heat_terms",
    "kdv_rollout",
    "kdv_terms",
    "kolmogorov_forcing",
    "korteweg_de_vries",
    "ks_1d_rollout",
    "ks_2d_rollout",
    "kuramoto_sivashinsky",
    "kuramoto_sivashinsky_terms",
    "laplacian",
    "laplacian_2d",
    "laplacian_3d",
    "laplacian_dirichlet",
    "laplacian_padded",
    "laplacian_periodic",
    "make_grid",
    "navier_stokes_2d",
    "navier_stokes_2d_rollout",
    "navier_stokes_2d_terms",
    "periodic_shift",
    "upwind_rate",
    "upwind_rate_padded",
    "vorticity_flux",
    "wave_2d_energy",
    "wave_2d_rollout",
    "wave_2d_start",
    "wave_2d_step",
]
