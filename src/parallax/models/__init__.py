"""Models over :mod:`parallax.kernels.nn`, each as a flax.nnx AND an equinox module.

* :class:`FNO` / :class:`EqxFNO` — Fourier neural operator, 1D or 2D (:class:`FNOConfig`);
* :class:`Transformer` / :class:`EqxTransformer` — small pre-norm transformer
  (:class:`TransformerConfig`), token or feature inputs, GQA, RoPE, padding masks.

Both flavours hold the same parameter pytree under ``.params`` and run the same pure
``*_apply``; :func:`logical_axes` names every parameter's axes for :mod:`parallax.sharding`;
``model.torch_rules()`` / ``model.make_torch_twin()`` feed :mod:`parallax.bridge`. The torch
twins ``parallax.models.TorchFNO`` / ``TorchTransformer`` are imported (with torch) only when
first accessed.
"""

from typing import Any

from parallax.models._axes import logical_axes as logical_axes
from parallax.models._flavours import EqxModel as EqxModel
from parallax.models._flavours import ModelDef as ModelDef
from parallax.models._flavours import NnxModel as NnxModel
from parallax.models._fno import FNO_AXES as FNO_AXES
from parallax.models._fno import FNOConfig as FNOConfig
from parallax.models._fno import fno_apply as fno_apply
from parallax.models._fno import fno_init as fno_init
from parallax.models._fno import fno_torch_rules as fno_torch_rules
from parallax.models._models import FNO as FNO
from parallax.models._models import EqxFNO as EqxFNO
from parallax.models._models import EqxTransformer as EqxTransformer
from parallax.models._models import Transformer as Transformer
from parallax.models._transformer import TRANSFORMER_AXES as TRANSFORMER_AXES
from parallax.models._transformer import TransformerConfig as TransformerConfig
from parallax.models._transformer import encoder_layer_torch_rules as encoder_layer_torch_rules
from parallax.models._transformer import transformer_apply as transformer_apply
from parallax.models._transformer import transformer_init as transformer_init
from parallax.models._transformer import transformer_torch_rules as transformer_torch_rules

__all__ = [
    "FNO",
    "FNO_AXES",
    "TRANSFORMER_AXES",
    "EqxFNO",
    "EqxModel",
    "EqxTransformer",
    "FNOConfig",
    "ModelDef",
    "NnxModel",
    "Transformer",
    "TransformerConfig",
    "encoder_layer_torch_rules",
    "fno_apply",
    "fno_init",
    "fno_torch_rules",
    "logical_axes",
    "transformer_apply",
    "transformer_init",
    "transformer_torch_rules",
]


_TWINS = {
    "TorchFNO": "parallax.models._torch_fno",
    "TorchTransformer": "parallax.models._torch_transformer",
}


def __getattr__(name: str) -> Any:
    """Lazy torch twins: ``parallax.models.TorchFNO`` imports torch only when asked for."""
    if name in _TWINS:
        import importlib

        return getattr(importlib.import_module(_TWINS[name]), name)
    raise AttributeError(f"module 'parallax.models' has no attribute {name!r}")
