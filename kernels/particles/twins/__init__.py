"""PyTorch twins of the ``particles`` kernels (imports torch)."""

from parallax.kernels.particles.twins._lj import build_neighbor_list as build_neighbor_list
from parallax.kernels.particles.twins._lj import lj_energy as lj_energy
from parallax.kernels.particles.twins._lj import lj_energy_and_forces as lj_energy_and_forces
from parallax.kernels.particles.twins._lj import (
    lj_energy_and_forces_neighbor as lj_energy_and_forces_neighbor,
)
from parallax.kernels.particles.twins._md import lj_langevin_rollout as lj_langevin_rollout
from parallax.kernels.particles.twins._md import lj_nve_rollout as lj_nve_rollout
from parallax.kernels.particles.twins._md import nbody_accelerations as nbody_accelerations
from parallax.kernels.particles.twins._md import nbody_energy as nbody_energy
from parallax.kernels.particles.twins._md import nbody_rollout as nbody_rollout

__all__ = [
    "build_neighbor_list",
    "lj_energy",
    "lj_energy_and_forces",
    "lj_energy_and_forces_neighbor",
    "lj_langevin_rollout",
    "lj_nve_rollout",
    "nbody_accelerations",
    "nbody_energy",
    "nbody_rollout",
]
