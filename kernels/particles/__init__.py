"""Particle kernels (family ``particles``): periodic boxes, Lennard-Jones, neighbor lists,
molecular dynamics (velocity Verlet NVE, Langevin BAOAB) and gravitational N-body.

Every kernel is a pure function (jit / vmap / grad). Neighbor lists have a fixed capacity under
``jit``; overflow is reported in :attr:`NeighborList.did_overflow`, never silently ignored.
Torch twins live in :mod:`parallax.kernels.particles.twins` (imports torch).
"""

from parallax.kernels.particles._integrators import MDState as MDState
from parallax.kernels.particles._integrators import baoab_step as baoab_step
from parallax.kernels.particles._integrators import init_state as init_state
from parallax.kernels.particles._integrators import kinetic_energy as kinetic_energy
from parallax.kernels.particles._integrators import velocity_verlet_step as velocity_verlet_step
from parallax.kernels.particles._lj import lj_energy as lj_energy
from parallax.kernels.particles._lj import lj_energy_and_forces as lj_energy_and_forces
from parallax.kernels.particles._lj import lj_energy_neighbor as lj_energy_neighbor
from parallax.kernels.particles._lj import lj_pair_energy as lj_pair_energy
from parallax.kernels.particles._md import MDTrajectory as MDTrajectory
from parallax.kernels.particles._md import lj_langevin_rollout as lj_langevin_rollout
from parallax.kernels.particles._md import lj_nve_neighbor_rollout as lj_nve_neighbor_rollout
from parallax.kernels.particles._md import lj_nve_rollout as lj_nve_rollout
from parallax.kernels.particles._nbody import NBodyTrajectory as NBodyTrajectory
from parallax.kernels.particles._nbody import nbody_accelerations as nbody_accelerations
from parallax.kernels.particles._nbody import nbody_energy as nbody_energy
from parallax.kernels.particles._nbody import nbody_rollout as nbody_rollout
from parallax.kernels.particles._neighbors import NeighborList as NeighborList
from parallax.kernels.particles._neighbors import allocate_neighbor_list as allocate_neighbor_list
from parallax.kernels.particles._neighbors import build_neighbor_list as build_neighbor_list
from parallax.kernels.particles._neighbors import (
    maybe_update_neighbor_list as maybe_update_neighbor_list,
)
from parallax.kernels.particles._neighbors import (
    neighbor_list_needs_update as neighbor_list_needs_update,
)
from parallax.kernels.particles._neighbors import (
    reallocate_neighbor_list as reallocate_neighbor_list,
)
from parallax.kernels.particles._neighbors import update_neighbor_list as update_neighbor_list
from parallax.kernels.particles._space import box_vector as box_vector
from parallax.kernels.particles._space import displacement as displacement
from parallax.kernels.particles._space import pair_displacements as pair_displacements
from parallax.kernels.particles._space import wrap as wrap

__all__ = [
    "MDState",
    "MDTrajectory",
    "NBodyTrajectory",
    "NeighborList",
    "allocate_neighbor_list",
    "baoab_step",
    "box_vector",
    "build_neighbor_list",
    "displacement",
    "init_state",
    "kinetic_energy",
    "lj_energy",
    "lj_energy_and_forces",
    "lj_energy_neighbor",
    "lj_langevin_rollout",
    "lj_nve_neighbor_rollout",
    "lj_nve_rollout",
    "lj_pair_energy",
    "maybe_update_neighbor_list",
    "nbody_accelerations",
    "nbody_energy",
    "nbody_rollout",
    "neighbor_list_needs_update",
    "pair_displacements",
    "reallocate_neighbor_list",
    "update_neighbor_list",
    "velocity_verlet_step",
    "wrap",
]
