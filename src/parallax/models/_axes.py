"""Logical axis names for every model parameter, for :mod:`parallax.sharding`.

Each model declares ONE table of ``(name pattern, logical names)``; the flax flavour copies it
into each ``nnx.Param``'s ``out_sharding`` metadata at construction, the equinox flavour and
plain parameter dicts are looked up in it by name. :func:`logical_axes` returns, for any of the
three, a pytree mirroring the parameters with a tuple of names (``None`` = replicated dim) at
every array leaf — the ``logical`` argument of ``parallax.sharding.logical_shardings``.

Names used: ``embed`` (model width / FNO channels), ``mlp`` (hidden width), ``heads`` (query
heads x head_dim), ``kv`` (key/value heads x head_dim), ``vocab``; spectral mode axes are ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax

from parallax.bridge import is_nnx_module, named_params, path_name, pattern_matches

__all__ = ["AxisTable", "axes_for", "logical_axes"]

AxisTable = Sequence[tuple[str, tuple[str | None, ...]]]
"""Ordered ``(pattern, names)`` pairs; patterns as in :mod:`parallax.bridge` rules."""


def axes_for(name: str, table: AxisTable) -> tuple[str | None, ...] | None:
    for pattern, names in table:
        if pattern_matches(pattern, name):
            return tuple(names)
    return None


def _from_table(model: Any, table: AxisTable, prefix: str = "") -> Any:
    leaves, _ = named_params(model)
    missing = []
    flat, treedef = jax.tree_util.tree_flatten_with_path(model)
    out = []
    for path, leaf in flat:
        name = path_name(path)
        if name not in leaves:
            out.append(None)
            continue
        names = axes_for(name[len(prefix) :] if name.startswith(prefix) else name, table)
        if names is None or len(names) != leaf.ndim:
            missing.append(f"{name} {tuple(leaf.shape)}")
        out.append(names)
    if missing:
        raise ValueError(f"no logical axis names (or the wrong number) for: {', '.join(missing)}")
    return jax.tree_util.tree_unflatten(treedef, out)


def logical_axes(model: Any, table: AxisTable | None = None) -> Any:
    """A pytree of tuples of logical axis names, one per parameter array.

    * ``flax.nnx.Module``: a nested dict shaped like ``nnx.state(model, nnx.Param)`` (its pure-dict
      form), read from each ``Param``'s ``out_sharding`` metadata;
    * a parallax equinox model (anything with an ``axis_table()`` method): the model's own pytree
      structure with names at the array leaves (``None`` at non-array leaves);
    * a plain parameter dict: same structure, looked up in ``table`` (default: the tables of all
      parallax models, whose pure parameter dicts therefore work as they are).
    """
    if is_nnx_module(model):
        from flax import nnx

        _, params, _ = nnx.split(model, nnx.Param, ...)
        out: dict[Any, Any] = {}
        missing = []
        for path, var in nnx.to_flat_state(params):
            names = var.get_metadata().get("out_sharding")
            if names is None or len(names) != var[...].ndim:
                missing.append(".".join(str(p) for p in path))
            node = out
            for p in path[:-1]:
                node = node.setdefault(p, {})
            node[path[-1]] = None if names is None else tuple(names)
        if missing:
            raise ValueError(f"nnx.Param without out_sharding names: {', '.join(missing)}")
        return out
    if table is None and hasattr(model, "axis_table"):
        return _from_table(model, model.axis_table(), prefix="params.")
    if table is None:
        from parallax.models._fno import FNO_AXES
        from parallax.models._transformer import TRANSFORMER_AXES

        table = [*TRANSFORMER_AXES, *FNO_AXES]
    return _from_table(model, table)


def wrap_nnx_params(params: Mapping[str, Any], table: AxisTable) -> Any:
    """A pure parameter pytree as ``nnx.Param`` leaves carrying ``out_sharding`` names."""
    from flax import nnx

    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    wrapped, missing = [], []
    for path, leaf in flat:
        name = path_name(path)
        names = axes_for(name, table)
        if names is None or len(names) != leaf.ndim:
            missing.append(name)
        wrapped.append(nnx.Param(leaf, out_sharding=names, eager_sharding=False))
    if missing:
        raise ValueError(f"no logical axis names (or the wrong number) for: {', '.join(missing)}")
    return jax.tree_util.tree_unflatten(treedef, wrapped)
