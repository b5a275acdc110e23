"""Bridge between JAX models and torch: state_dict rules, DLPack, optimizers, serialized export.

* :func:`export_to_torch` / :func:`import_from_torch` — parameters of an nnx / equinox model
  or a plain pytree <-> a torch module or state_dict, converted by a declarative :class:`Rules`
  table (:func:`linear`, :func:`conv`, :func:`fused`, :func:`norm`, :func:`spectral`, ...);
  one :class:`StateDictMismatchError` lists every missing / unexpected / mis-shaped key.
* :func:`jax_to_torch` / :func:`torch_to_jax` — zero-copy DLPack sharing (bfloat16 included).
* :func:`matched_optimizer` — optax and torch.optim with the same hyperparameters (and the
  defaults that differ, documented in :mod:`parallax.bridge._optim`).
* :func:`save_exported` / :func:`load_exported` — ``jax.export`` StableHLO artifacts on disk.
* :func:`named_params`, :func:`path_name`, :func:`is_nnx_module`, :func:`pattern_matches` —
  the parameter naming the rules use (also serves :mod:`parallax.models`' logical-axis tables).
"""

from parallax.bridge._dlpack import SUPPORTED_DTYPES as SUPPORTED_DTYPES
from parallax.bridge._dlpack import jax_to_torch as jax_to_torch
from parallax.bridge._dlpack import torch_to_jax as torch_to_jax
from parallax.bridge._optim import conj_complex_grads as conj_complex_grads
from parallax.bridge._optim import matched_optimizer as matched_optimizer
from parallax.bridge._optim import standard_promotion as standard_promotion
from parallax.bridge._rules import Rule as Rule
from parallax.bridge._rules import Rules as Rules
from parallax.bridge._rules import conv as conv
from parallax.bridge._rules import fused as fused
from parallax.bridge._rules import linear as linear
from parallax.bridge._rules import norm as norm
from parallax.bridge._rules import pattern_matches as pattern_matches
from parallax.bridge._rules import pointwise_conv as pointwise_conv
from parallax.bridge._rules import same as same
from parallax.bridge._rules import spectral as spectral
from parallax.bridge._serialize import FORMAT_VERSION as FORMAT_VERSION
from parallax.bridge._serialize import load_exported as load_exported
from parallax.bridge._serialize import save_exported as save_exported
from parallax.bridge._state_dict import StateDictMismatchError as StateDictMismatchError
from parallax.bridge._state_dict import export_to_torch as export_to_torch
from parallax.bridge._state_dict import import_from_torch as import_from_torch
from parallax.bridge._state_dict import named_to_torch as named_to_torch
from parallax.bridge._state_dict import numpy_to_tensor as numpy_to_tensor
from parallax.bridge._state_dict import tensor_to_numpy as tensor_to_numpy
from parallax.bridge._state_dict import to_state_dict as to_state_dict
from parallax.bridge._tree import is_nnx_module as is_nnx_module
from parallax.bridge._tree import named_params as named_params
from parallax.bridge._tree import path_name as path_name

__all__ = [
    "FORMAT_VERSION",
    "SUPPORTED_DTYPES",
    "Rule",
    "Rules",
    "StateDictMismatchError",
    "conj_complex_grads",
    "conv",
    "export_to_torch",
    "fused",
    "import_from_torch",
    "is_nnx_module",
    "jax_to_torch",
    "linear",
    "load_exported",
    "matched_optimizer",
    "named_params",
    "named_to_torch",
    "norm",
    "numpy_to_tensor",
    "path_name",
    "pattern_matches",
    "pointwise_conv",
    "same",
    "save_exported",
    "spectral",
    "standard_promotion",
    "tensor_to_numpy",
    "to_state_dict",
    "torch_to_jax",
]
