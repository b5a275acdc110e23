"""The concrete models, each in both flavours (see :mod:`parallax.models._flavours`)."""

from __future__ import annotations

from typing import ClassVar

from parallax.models._flavours import EqxModel, ModelDef, NnxModel
from parallax.models._fno import FNO_AXES, fno_apply, fno_init, fno_torch_rules
from parallax.models._transformer import (
    TRANSFORMER_AXES,
    transformer_apply,
    transformer_init,
    transformer_torch_rules,
)

__all__ = ["FNO", "FNO_DEF", "TRANSFORMER_DEF", "EqxFNO", "EqxTransformer", "Transformer"]

FNO_DEF = ModelDef(
    init=fno_init,
    apply=fno_apply,
    axes=FNO_AXES,
    torch_rules=fno_torch_rules,
    twin="parallax.models._torch_fno:TorchFNO",
)

TRANSFORMER_DEF = ModelDef(
    init=transformer_init,
    apply=transformer_apply,
    axes=TRANSFORMER_AXES,
    torch_rules=transformer_torch_rules,
    twin="parallax.models._torch_transformer:TorchTransformer",
)


class FNO(NnxModel):
    """Fourier neural operator (1D or 2D by ``len(config.modes)``), flax.nnx flavour.

    ``FNO(FNOConfig(in_channels=1, out_channels=1, modes=(8,)), rngs=nnx.Rngs(0))(x)`` with
    channels-last ``x`` ``(batch, n, c_in)``. See :mod:`parallax.models._fno` for the math.
    """

    model_def: ClassVar[ModelDef] = FNO_DEF


class EqxFNO(EqxModel):
    """Fourier neural operator, equinox flavour: ``EqxFNO.init(config, key)``."""

    model_def: ClassVar[ModelDef] = FNO_DEF


class Transformer(NnxModel):
    """Pre-norm transformer, flax.nnx flavour: ``Transformer(TransformerConfig(...), rngs=...)``.
    Call as ``model(x, padding_mask=None)``. See :mod:`parallax.models._transformer`."""

    model_def: ClassVar[ModelDef] = TRANSFORMER_DEF


class EqxTransformer(EqxModel):
    """Pre-norm transformer, equinox flavour: ``EqxTransformer.init(config, key)``."""

    model_def: ClassVar[ModelDef] = TRANSFORMER_DEF
