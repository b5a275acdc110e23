"""Parity: JAX code against a PyTorch reference, forward and backward, in numbers.

For any code:

* :func:`compare` / :func:`assert_parity` — a JAX function against a torch function on the same
  inputs: outputs, VJPs (and JVPs) at float32 and float64, with per-dtype tolerances;
  :class:`ParityReport` prints as a table with the worst element of every failing leaf.
* :func:`reference_outputs` / :class:`Reference` — record the torch side once (golden arrays) and
  compare against the recording later, without torch.
* :func:`compare_modules` — a flax.nnx / equinox model against a torch module: weights copied by
  :mod:`parallax.bridge` rules, outputs and gradients w.r.t. inputs and every parameter, and the
  activations of every layer: ``report.first_divergence`` names the first layer that differs.
* :func:`compare_training` — optax against torch.optim, step by step, from identical weights.
* :func:`compare_rollout` — two trajectories against the round-off envelope ``ε e^{λt}``: the
  parity horizon of a chaotic system.
* :func:`export_onnx` / :func:`compare_onnx` — a model to ONNX through its torch twin, checked
  against ONNX Runtime (the ``onnx`` extra).

For parallax's registered kernels (the same engine underneath): :func:`run_parity`,
:func:`record_golden` / :func:`check_golden`. Tolerance defaults: :func:`default_tolerances`.
"""

from parallax.parity._compare import LeafReport as LeafReport
from parallax.parity._compare import compare_leaf as compare_leaf
from parallax.parity._engine import Outputs as Outputs
from parallax.parity._functions import Reference as Reference
from parallax.parity._functions import assert_parity as assert_parity
from parallax.parity._functions import compare as compare
from parallax.parity._functions import reference_outputs as reference_outputs
from parallax.parity._golden import GOLDEN_DTYPES as GOLDEN_DTYPES
from parallax.parity._golden import check_golden as check_golden
from parallax.parity._golden import golden_path as golden_path
from parallax.parity._golden import record_golden as record_golden
from parallax.parity._harness import ParityResult as ParityResult
from parallax.parity._harness import jax_outputs as jax_outputs
from parallax.parity._harness import run_parity as run_parity
from parallax.parity._harness import torch_available as torch_available
from parallax.parity._harness import torch_outputs as torch_outputs
from parallax.parity._layers import LayerReport as LayerReport
from parallax.parity._modules import ModuleParityReport as ModuleParityReport
from parallax.parity._modules import compare_modules as compare_modules
from parallax.parity._onnx import OnnxExportError as OnnxExportError
from parallax.parity._onnx import compare_onnx as compare_onnx
from parallax.parity._onnx import export_onnx as export_onnx
from parallax.parity._onnx import onnx_function as onnx_function
from parallax.parity._onnx import onnx_ready as onnx_ready
from parallax.parity._precision import dtype_context as dtype_context
from parallax.parity._precision import pinned_precision as pinned_precision
from parallax.parity._report import ParityError as ParityError
from parallax.parity._report import ParityReport as ParityReport
from parallax.parity._rollout import RolloutParityReport as RolloutParityReport
from parallax.parity._rollout import compare_rollout as compare_rollout
from parallax.parity._tolerance import Tolerances as Tolerances
from parallax.parity._tolerance import default_tolerances as default_tolerances
from parallax.parity._training import TrainingParityReport as TrainingParityReport
from parallax.parity._training import compare_training as compare_training

__all__ = [
    "GOLDEN_DTYPES",
    "LayerReport",
    "LeafReport",
    "ModuleParityReport",
    "OnnxExportError",
    "Outputs",
    "ParityError",
    "ParityReport",
    "ParityResult",
    "Reference",
    "RolloutParityReport",
    "Tolerances",
    "TrainingParityReport",
    "assert_parity",
    "check_golden",
    "compare",
    "compare_leaf",
    "compare_modules",
    "compare_onnx",
    "compare_rollout",
    "compare_training",
    "default_tolerances",
    "dtype_context",
    "export_onnx",
    "golden_path",
    "jax_outputs",
    "onnx_function",
    "onnx_ready",
    "pinned_precision",
    "record_golden",
    "reference_outputs",
    "run_parity",
    "torch_available",
    "torch_outputs",
]
