"""Named parameter leaves of a JAX model, whatever its flavour.

Every bridge operation sees a model as a flat mapping ``{"blocks.0.attn.wq.kernel": array}``
plus a function that rebuilds a model of the same type from such a mapping. Three flavours:

* a ``flax.nnx.Module``: the leaves are its ``nnx.Param`` variables (names from the pure-dict
  form of ``nnx.state(model, nnx.Param)``); rebuilding gives a NEW module, the input is never
  mutated;
* an ``equinox.Module`` (or any other pytree): the inexact-array leaves, named by their
  attribute / index / key path;
* a plain (nested) dict or list of arrays: the same, by key path.

Names join path entries with ``"."``, so a list of blocks gives ``blocks.0...``, ``blocks.1...``
in both flavours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["is_nnx_module", "key_name", "named_params", "path_name"]


def is_nnx_module(model: Any) -> bool:
    try:
        from flax import nnx
    except ImportError:  # pragma: no cover - flax is a core dependency
        return False
    return isinstance(model, nnx.Module)


def key_name(key: Any) -> str:
    """One path entry as a string: dict key, sequence index or attribute name."""
    for attr in ("key", "idx", "name"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def path_name(path: tuple[Any, ...]) -> str:
    return ".".join(key_name(k) for k in path)


def _is_param_leaf(x: Any) -> bool:
    return isinstance(x, jax.Array | jnp.ndarray) and jnp.issubdtype(x.dtype, jnp.inexact)


def named_params(
    model: Any,
) -> tuple[dict[str, jax.Array], Callable[[Mapping[str, Any]], Any]]:
    """``(names -> arrays, rebuild)``; ``rebuild(new)`` returns a model of the same type with
    the named leaves replaced (every name must be given)."""
    if is_nnx_module(model):
        from flax import nnx

        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        pure = nnx.to_pure_dict(params)
        flat, treedef = jax.tree_util.tree_flatten_with_path(pure)
        names = [path_name(p) for p, _ in flat]
        leaves = dict(zip(names, (v for _, v in flat), strict=True))

        def rebuild_nnx(new: Mapping[str, Any]) -> Any:
            new_pure = jax.tree_util.tree_unflatten(treedef, [new[n] for n in names])
            new_params = jax.tree.map(lambda x: x, params)  # a copy: never mutate the input
            nnx.replace_by_pure_dict(new_params, new_pure)
            return nnx.merge(graphdef, new_params, rest)

        return leaves, rebuild_nnx

    flat, treedef = jax.tree_util.tree_flatten_with_path(model)
    opt: list[str | None] = [path_name(p) if _is_param_leaf(v) else None for p, v in flat]
    leaves: dict[str, Any] = {n: v for n, (_, v) in zip(opt, flat, strict=True) if n is not None}

    def rebuild_tree(new: Mapping[str, Any]) -> Any:
        out = [v if n is None else new[n] for n, (_, v) in zip(opt, flat, strict=True)]
        return jax.tree_util.tree_unflatten(treedef, out)

    return leaves, rebuild_tree
