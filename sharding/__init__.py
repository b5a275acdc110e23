"""parallax.sharding: one small vocabulary for many devices, for models and simulations alike.

* Meshes: :func:`make_mesh` from ``{"data": -1, "model": 2}`` or ``"data=4,model=2"``
  (multi-slice aware), with explicit axis types.
* Logical axis rules: :func:`rules` presets (``dp``, ``fsdp``, ``tp``, ``fsdp_tp``),
  :func:`logical_shardings` / :func:`shard` for any parameter pytree, :func:`opt_state_shardings`.
* Training: :func:`shard_train_state`, :func:`make_train_step`.
* Simulations: :func:`halo_exchange` / :func:`sharded_stencil` (domain decomposition),
  :func:`sharded_laplacian`, :func:`sharded_fd_heat`, :func:`sharded_wave_2d` (FD, Dirichlet too),
  :func:`distributed_fft` (slab / pencil; ``real=True``: real-to-complex, half the bytes), the
  :mod:`parallax.kernels.pde` spectral equations on it (:func:`sharded_stepper` for any
  equation's terms; :func:`sharded_kuramoto_sivashinsky`, :func:`sharded_navier_stokes_2d`,
  :func:`sharded_heat`), :func:`ring_accelerations` (N-body particle decomposition),
  :func:`ensemble_map` (an ensemble axis).
* Communication: :func:`comms_report` (collectives of a compiled step from its HLO).
* Multi-host: :func:`initialize_distributed`. Checkpoints across meshes: :func:`abstract_like`
  describes the new layout, :func:`parallax.run.restore_sharded` reads onto it (orbax stays
  in the core).

This package knows nothing of runs, configs or the CLI.
"""

from parallax.sharding._comms import Collective as Collective
from parallax.sharding._comms import CommsReport as CommsReport
from parallax.sharding._comms import comms_report as comms_report
from parallax.sharding._comms import parse_collectives as parse_collectives
from parallax.sharding._distributed import ClusterSpec as ClusterSpec
from parallax.sharding._distributed import DistributedInitError as DistributedInitError
from parallax.sharding._distributed import deadline as deadline
from parallax.sharding._distributed import detect_cluster as detect_cluster
from parallax.sharding._distributed import initialize_distributed as initialize_distributed
from parallax.sharding._ensemble import ensemble_map as ensemble_map
from parallax.sharding._fd import min_block as min_block
from parallax.sharding._fd import sharded_fd_heat as sharded_fd_heat
from parallax.sharding._fd import sharded_laplacian as sharded_laplacian
from parallax.sharding._fd import sharded_wave_2d as sharded_wave_2d
from parallax.sharding._fft import DistributedFFT as DistributedFFT
from parallax.sharding._fft import LocalFFT as LocalFFT
from parallax.sharding._fft import check_nyquist_free as check_nyquist_free
from parallax.sharding._fft import distributed_fft as distributed_fft
from parallax.sharding._fft import nyquist_mode as nyquist_mode
from parallax.sharding._halo import check_decomposition as check_decomposition
from parallax.sharding._halo import halo_exchange as halo_exchange
from parallax.sharding._halo import sharded_stencil as sharded_stencil
from parallax.sharding._halo import spec_axes as spec_axes
from parallax.sharding._mesh import make_mesh as make_mesh
from parallax.sharding._mesh import parse_mesh_spec as parse_mesh_spec
from parallax.sharding._mesh import resolve_mesh_shape as resolve_mesh_shape
from parallax.sharding._mesh import split_ici_dcn as split_ici_dcn
from parallax.sharding._particles import block_accelerations as block_accelerations
from parallax.sharding._particles import ring_accelerations as ring_accelerations
from parallax.sharding._particles import sharded_nbody_rollout as sharded_nbody_rollout
from parallax.sharding._rules import LOGICAL_NAMES as LOGICAL_NAMES
from parallax.sharding._rules import PRESETS as PRESETS
from parallax.sharding._rules import abstract_like as abstract_like
from parallax.sharding._rules import logical_shardings as logical_shardings
from parallax.sharding._rules import logical_to_spec as logical_to_spec
from parallax.sharding._rules import opt_state_shardings as opt_state_shardings
from parallax.sharding._rules import rules as rules
from parallax.sharding._rules import shard as shard
from parallax.sharding._rules import tree_specs as tree_specs
from parallax.sharding._spectral import ShardedSpectralStepper as ShardedSpectralStepper
from parallax.sharding._spectral import sharded_heat as sharded_heat
from parallax.sharding._spectral import (
    sharded_kuramoto_sivashinsky as sharded_kuramoto_sivashinsky,
)
from parallax.sharding._spectral import sharded_navier_stokes_2d as sharded_navier_stokes_2d
from parallax.sharding._spectral import sharded_stepper as sharded_stepper
from parallax.sharding._supervise import PEER_LOST_EXIT as PEER_LOST_EXIT
from parallax.sharding._supervise import exit_peer_lost as exit_peer_lost
from parallax.sharding._supervise import lost_peer as lost_peer
from parallax.sharding._supervise import write_will as write_will
from parallax.sharding._train import TrainState as TrainState
from parallax.sharding._train import make_train_step as make_train_step
from parallax.sharding._train import shard_train_state as shard_train_state

__all__ = [
    "LOGICAL_NAMES",
    "PEER_LOST_EXIT",
    "PRESETS",
    "ClusterSpec",
    "Collective",
    "CommsReport",
    "DistributedFFT",
    "DistributedInitError",
    "LocalFFT",
    "ShardedSpectralStepper",
    "TrainState",
    "abstract_like",
    "block_accelerations",
    "check_decomposition",
    "check_nyquist_free",
    "comms_report",
    "deadline",
    "detect_cluster",
    "distributed_fft",
    "ensemble_map",
    "exit_peer_lost",
    "halo_exchange",
    "initialize_distributed",
    "logical_shardings",
    "logical_to_spec",
    "lost_peer",
    "make_mesh",
    "make_train_step",
    "min_block",
    "nyquist_mode",
    "opt_state_shardings",
    "parse_collectives",
    "parse_mesh_spec",
    "resolve_mesh_shape",
    "ring_accelerations",
    "rules",
    "shard",
    "shard_train_state",
    "sharded_fd_heat",
    "sharded_heat",
    "sharded_kuramoto_sivashinsky",
    "sharded_laplacian",
    "sharded_navier_stokes_2d",
    "sharded_nbody_rollout",
    "sharded_stencil",
    "sharded_stepper",
    "sharded_wave_2d",
    "spec_axes",
    "split_ici_dcn",
    "tree_specs",
    "write_will",
]
