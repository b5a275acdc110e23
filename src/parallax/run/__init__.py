"""Run machinery for experiment scripts: typed configs, run directories, metrics, plots,
orbax checkpoints with resume, preemption, a NaN/Inf guard, progress and multi-host set-up.

An experiment (``experiments/NAME.py``) is a dataclass ``Config(RunConfig)`` and a
``main(cfg, run) -> results``; ``run.cli(main, Config)`` parses the command line
(``--help``, ``--mesh data=4,model=2``, ``--workdir DIR``) and runs it. See :mod:`._runner`
and :mod:`._cli`.
"""

from parallax.run._checkpoint import Checkpointer as Checkpointer
from parallax.run._checkpoint import CheckpointError as CheckpointError
from parallax.run._checkpoint import find_checkpoint_dir as find_checkpoint_dir
from parallax.run._checkpoint import tree_digest as tree_digest
from parallax.run._cli import EXIT_CODES as EXIT_CODES
from parallax.run._cli import cli as cli
from parallax.run._cli import execute as execute
from parallax.run._cli import load_experiment as load_experiment
from parallax.run._cli import run_file as run_file
from parallax.run._config import ConfigError as ConfigError
from parallax.run._config import Every as Every
from parallax.run._config import Range as Range
from parallax.run._config import RunConfig as RunConfig
from parallax.run._config import Steps as Steps
from parallax.run._config import config_diff as config_diff
from parallax.run._config import config_from_dict as config_from_dict
from parallax.run._config import config_to_dict as config_to_dict
from parallax.run._config import parse_config as parse_config
from parallax.run._config import validate_config as validate_config
from parallax.run._devices import MeshError as MeshError
from parallax.run._devices import is_main_process as is_main_process
from parallax.run._devices import make_run_mesh as make_run_mesh
from parallax.run._devices import parse_mesh_spec as parse_mesh_spec
from parallax.run._guard import NonFiniteError as NonFiniteError
from parallax.run._guard import nonfinite_leaves as nonfinite_leaves
from parallax.run._metrics import MetricsWriter as MetricsWriter
from parallax.run._metrics import read_metrics as read_metrics
from parallax.run._plots import UnlabelledFigureWarning as UnlabelledFigureWarning
from parallax.run._plots import figure_problems as figure_problems
from parallax.run._plots import new_figure as new_figure
from parallax.run._plots import plot_metrics as plot_metrics
from parallax.run._plots import save_figure as save_figure
from parallax.run._preempt import Preempted as Preempted
from parallax.run._preempt import PreemptionGuard as PreemptionGuard
from parallax.run._progress import Progress as Progress
from parallax.run._rundir import IncompatibleRunError as IncompatibleRunError
from parallax.run._rundir import RunDir as RunDir
from parallax.run._rundir import environment_info as environment_info
from parallax.run._runner import Run as Run
from parallax.run._sharded import restore_sharded as restore_sharded
from parallax.run._sharded import save_sharded as save_sharded

__all__ = [
    "EXIT_CODES",
    "CheckpointError",
    "Checkpointer",
    "ConfigError",
    "Every",
    "IncompatibleRunError",
    "MeshError",
    "MetricsWriter",
    "NonFiniteError",
    "Preempted",
    "PreemptionGuard",
    "Progress",
    "Range",
    "Run",
    "RunConfig",
    "RunDir",
    "Steps",
    "UnlabelledFigureWarning",
    "cli",
    "config_diff",
    "config_from_dict",
    "config_to_dict",
    "environment_info",
    "execute",
    "figure_problems",
    "find_checkpoint_dir",
    "is_main_process",
    "load_experiment",
    "make_run_mesh",
    "new_figure",
    "nonfinite_leaves",
    "parse_config",
    "parse_mesh_spec",
    "plot_metrics",
    "read_metrics",
    "restore_sharded",
    "run_file",
    "save_figure",
    "save_sharded",
    "tree_digest",
    "validate_config",
]
