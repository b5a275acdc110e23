"""The two flavours of every model: a ``flax.nnx.Module`` and an ``equinox.Module``.

Both hold the SAME parameter pytree (under the attribute ``params``) and call the same pure
``apply`` over :mod:`parallax.kernels.nn`, so parameter names, torch rules and logical axes are
shared, and a model converts between flavours without copying (:meth:`to_eqx` /
:meth:`to_nnx`). flax parameters are ``nnx.Param`` variables whose ``out_sharding`` metadata
holds the logical axis names; equinox ones are looked up in the same table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from flax import nnx

from parallax.bridge import Rules
from parallax.models._axes import AxisTable, logical_axes, wrap_nnx_params

__all__ = ["EqxModel", "ModelDef", "NnxModel"]


@dataclass(frozen=True)
class ModelDef:
    """Everything one model kind is: pure init/apply, axis table, torch rules and twin.

    ``init(config, key, dtype)`` and ``apply(config, params, x, **kw)`` are jitted here (config
    and dtype static): eager calls then compile once instead of dispatching op by op, and
    inside an outer ``jit`` / ``grad`` / ``vmap`` the inner jit is simply inlined.
    """

    init: Callable[..., Any]
    apply: Callable[..., Any]
    axes: AxisTable
    torch_rules: Callable[[Any], Rules]
    twin: str  # "module:Class" of the torch twin, imported lazily (torch is optional)

    def __post_init__(self) -> None:
        object.__setattr__(self, "init", jax.jit(self.init, static_argnums=(0, 2)))
        object.__setattr__(self, "apply", jax.jit(self.apply, static_argnums=(0,)))


def _make_twin(mdef: ModelDef, config: Any, params: Any, dtype: Any) -> Any:
    import importlib

    import torch

    mod, cls = mdef.twin.split(":")
    if dtype is None:
        real = [x.dtype for x in jax.tree.leaves(params) if not jnp.iscomplexobj(x)]
        dtype = real[0] if real else jnp.float32
    tdtype = {"float32": torch.float32, "float64": torch.float64}[jnp.dtype(dtype).name]
    return getattr(importlib.import_module(mod), cls)(config, dtype=tdtype)


class _Flavour:
    """What both flavours do alike, through the model's :class:`ModelDef`, its config and
    :meth:`pure_params`."""

    model_def: ClassVar[ModelDef]
    config: Any

    def pure_params(self) -> Any:
        raise NotImplementedError

    def __call__(self, x: Any, **kwargs: Any) -> Any:
        return self.model_def.apply(self.config, self.pure_params(), x, **kwargs)

    def torch_rules(self) -> Rules:
        return self.model_def.torch_rules(self.config).prefixed("params.")

    def axis_table(self) -> AxisTable:
        return self.model_def.axes

    def logical_axes(self) -> Any:
        return logical_axes(self)

    def make_torch_twin(self, dtype: Any = None) -> Any:
        """A new torch twin module (random weights) in ``dtype`` (default: the params')."""
        return _make_twin(self.model_def, self.config, self.pure_params(), dtype)


class NnxModel(_Flavour, nnx.Module):
    """Base of the flax flavour: ``Model(config, rngs=nnx.Rngs(0), dtype=jnp.float32)``."""

    def __init__(self, config: Any, *, rngs: nnx.Rngs, dtype: Any = jnp.float32) -> None:
        self.config = config
        params = self.model_def.init(config, rngs.params(), dtype)
        self.params = nnx.data(wrap_nnx_params(params, self.model_def.axes))

    def pure_params(self) -> Any:
        """The parameters as a plain pytree of arrays (what the kernels consume)."""
        return jax.tree.map(
            lambda v: v[...], self.params, is_leaf=lambda v: isinstance(v, nnx.Variable)
        )

    def to_eqx(self) -> EqxModel:
        return self.eqx_class()(self.pure_params(), self.config)

    @classmethod
    def eqx_class(cls) -> type[EqxModel]:
        return next(c for c in EqxModel.__subclasses__() if c.model_def is cls.model_def)


class EqxModel(_Flavour, eqx.Module):
    """Base of the equinox flavour: ``Model.init(config, key, dtype)`` or ``Model(params,
    config)``. ``config`` is a static field; only ``params`` are leaves."""

    params: Any
    config: Any = eqx.field(static=True)

    @classmethod
    def init(cls, config: Any, key: jax.Array, dtype: Any = jnp.float32) -> Any:
        return cls(cls.model_def.init(config, key, dtype), config)

    def pure_params(self) -> Any:
        return self.params

    def to_nnx(self) -> NnxModel:
        cls = next(c for c in NnxModel.__subclasses__() if c.model_def is self.model_def)
        m = nnx.eval_shape(lambda: cls(self.config, rngs=nnx.Rngs(0)))
        m.params = nnx.data(wrap_nnx_params(self.params, self.model_def.axes))
        return m
