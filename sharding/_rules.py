"""Logical axis rules: name array dimensions once, shard them under any preset.

A parameter's dimensions carry logical names (``("embed", "mlp")`` for an MLP's first kernel);
a rule set maps each logical name to a mesh axis, a tuple of mesh axes, or ``None``
(replicated). Changing the parallelism strategy is changing the rule set, not the model:

=============  =========  ===========  ==========  ===========
logical name   ``dp``     ``fsdp``     ``tp``      ``fsdp_tp``
=============  =========  ===========  ==========  ===========
batch          data       data         data        data
embed          --         data         --          data
mlp            --         --           model       model
heads          --         --           model       model
kv             --         --           model       model
vocab          --         --           model       model
=============  =========  ===========  ==========  ===========

Simulation names (``x``, ``y``, ``z``, ``particles``, ``ensemble``) default to ``None`` in the model
presets; :func:`rules` lets you override any entry. A mesh axis is used at most once per array:
when two dimensions of one array map to the same mesh axis (a square ``embed x embed`` weight
under FSDP) the later dimension is replicated. A logical name with no rule is an error.

References: GSPMD (Xu et al. 2021) for the annotation model; ZeRO/FSDP (Rajbhandari et al. 2020)
and Megatron-LM tensor parallelism (Shoeybi et al. 2019) for the presets.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = [
    "LOGICAL_NAMES",
    "PRESETS",
    "Rules",
    "abstract_like",
    "logical_shardings",
    "logical_to_spec",
    "opt_state_shardings",
    "rules",
    "shard",
    "tree_specs",
]

LOGICAL_NAMES = (
    "batch",
    "embed",
    "mlp",
    "heads",
    "kv",
    "vocab",
    "x",
    "y",
    "z",
    "particles",
    "ensemble",
)

MeshAxes = str | tuple[str, ...] | None
Rules = Mapping[str, MeshAxes]

_SIM = {"x": None, "y": None, "z": None, "particles": None, "ensemble": None}
_BASE = {"batch": "data", "embed": None, "mlp": None, "heads": None, "kv": None, "vocab": None}

PRESETS: dict[str, dict[str, MeshAxes]] = {
    "dp": {**_BASE, **_SIM},
    "fsdp": {**_BASE, "embed": "data", **_SIM},
    "tp": {**_BASE, "mlp": "model", "heads": "model", "kv": "model", "vocab": "model", **_SIM},
    "fsdp_tp": {
        **_BASE,
        "embed": "data",
        "mlp": "model",
        "heads": "model",
        "kv": "model",
        "vocab": "model",
        **_SIM,
    },
}
_ALIASES = {
    "data": "dp",
    "data_parallel": "dp",
    "data-parallel": "dp",
    "tensor": "tp",
    "tensor_parallel": "tp",
    "tensor-parallel": "tp",
    "fsdp+tp": "fsdp_tp",
    "fsdp-tp": "fsdp_tp",
}


def rules(preset: str | Rules = "dp", **overrides: MeshAxes) -> dict[str, MeshAxes]:
    """A rule set: a preset (``dp``, ``fsdp``, ``tp``, ``fsdp_tp``) or a mapping, plus overrides.

    ``rules("fsdp", x="data", particles="data")`` shards simulation grids too.
    """
    if isinstance(preset, str):
        key = _ALIASES.get(preset.lower(), preset.lower())
        if key not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
        base = dict(PRESETS[key])
    else:
        base = dict(preset)
    base.update(overrides)
    return base


def _mesh_axes(entry: MeshAxes) -> tuple[str, ...]:
    if entry is None:
        return ()
    return (entry,) if isinstance(entry, str) else tuple(entry)


def logical_to_spec(
    names: Sequence[str | None] | None,
    rule_set: Rules,
    mesh: Mesh | None = None,
    *,
    shape: Sequence[int] | None = None,
    where: str = "array",
) -> PartitionSpec:
    """Map a tuple of logical names (one per dimension) to a :class:`PartitionSpec`.

    ``None`` names a replicated dimension. With ``mesh`` the mesh axes are checked to exist;
    with ``shape`` each sharded dimension is checked to divide by its mesh axes' total size.
    Errors name ``where`` (the parameter path), the dimension, the logical name and the sizes.
    """
    if names is None:
        return PartitionSpec()
    used: set[str] = set()
    entries: list[MeshAxes] = []
    for dim, name in enumerate(names):
        if name is None:
            entries.append(None)
            continue
        if name not in rule_set:
            raise ValueError(
                f"{where}: logical axis {name!r} (dimension {dim}) has no rule; rules exist for "
                f"{sorted(rule_set)}. Add one, e.g. rules(preset, {name}=None) to replicate it"
            )
        axes = tuple(a for a in _mesh_axes(rule_set[name]) if a not in used)
        if mesh is not None:
            for a in axes:
                if a not in mesh.shape:
                    raise ValueError(
                        f"{where}: logical axis {name!r} maps to mesh axis {a!r}, which is not in "
                        f"the mesh {dict(mesh.shape)}"
                    )
            if shape is not None and axes:
                size = int(np.prod([mesh.shape[a] for a in axes]))
                if shape[dim] % size:
                    raise ValueError(
                        f"{where}: dimension {dim} ({name!r}) has size {shape[dim]}, not "
                        f"divisible by mesh axes {axes} of total size {size}"
                    )
        used.update(axes)
        entries.append(None if not axes else axes[0] if len(axes) == 1 else axes)
    return PartitionSpec(*entries)


def _is_names(x: Any) -> bool:
    return x is None or (
        isinstance(x, tuple | list) and all(isinstance(n, str) or n is None for n in x)
    )


def _norm_path(path: tuple[Any, ...]) -> tuple[str, ...]:
    """Path entries as strings, without the ``.value`` hop of Flax NNX ``Variable`` s (so an
    ``nnx.State`` matches its pure-dict names tree)."""
    out = []
    for k in path:
        if isinstance(k, jax.tree_util.GetAttrKey) and k.name in ("value", "raw_value"):
            continue
        key = getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))
        out.append(str(key))
    return tuple(out)


def _path_str(path: tuple[Any, ...]) -> str:
    return jax.tree_util.keystr(path) or "<root>"


def abstract_like(tree: Any, shardings: Any) -> Any:
    """``ShapeDtypeStruct`` s of ``tree`` (arrays or structs) carrying ``shardings``: a layout
    without data, e.g. the target that :func:`parallax.run.restore_sharded` restores onto."""
    return jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings
    )


def logical_shardings(
    tree: Any,
    logical: Any,
    mesh: Mesh,
    rule_set: Rules,
) -> Any:
    """A pytree of :class:`NamedSharding` for ``tree`` (arrays or ``ShapeDtypeStruct``).

    ``logical`` mirrors ``tree`` with a tuple of logical names (or ``None``) at every array
    leaf; it may also be a callable ``(path, leaf) -> names``. Works for plain dicts, Flax NNX
    ``State`` objects and Equinox modules alike (anything ``jax.tree`` flattens).
    """
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    names_list: list[Any]
    if inspect.isfunction(logical) or inspect.ismethod(logical):
        names_list = [logical(p, x) for p, x in leaves]
    else:
        named, names_def = jax.tree_util.tree_flatten_with_path(logical, is_leaf=_is_names)
        if len(named) != len(leaves):
            raise ValueError(
                f"logical names tree has {len(named)} leaves but the array tree has "
                f"{len(leaves)}; they must have the same structure ({names_def} vs {treedef})"
            )
        for (pa, _), (pn, _) in zip(leaves, named, strict=True):
            if _norm_path(pa) != _norm_path(pn):
                raise ValueError(
                    f"logical names tree does not mirror the array tree: array leaf "
                    f"{_path_str(pa)} meets names leaf {_path_str(pn)}"
                )
        names_list = [n for _, n in named]
    out = []
    for (path, x), names in zip(leaves, names_list, strict=True):
        where = _path_str(path)
        shape = tuple(getattr(x, "shape", ()))
        if names is not None and len(names) != len(shape):
            raise ValueError(
                f"{where}: {len(names)} logical names {tuple(names)} for an array of shape {shape}"
            )
        spec = logical_to_spec(names, rule_set, mesh, shape=shape, where=where)
        out.append(NamedSharding(mesh, spec))
    return jax.tree_util.tree_unflatten(treedef, out)


def shard(tree: Any, logical: Any, mesh: Mesh, rule_set: Rules) -> Any:
    """Place every array of ``tree`` on ``mesh`` as its logical names and ``rule_set`` say."""
    sh = logical_shardings(tree, logical, mesh, rule_set)
    return jax.device_put(tree, sh)


def opt_state_shardings(opt_state: Any, params: Any, param_shardings: Any, mesh: Mesh) -> Any:
    """Shardings for an optimizer state: every sub-tree shaped like ``params`` is sharded like it.

    Optax keeps moments (``mu``, ``nu``, momentum traces) as trees with the parameters'
    structure; those get ``param_shardings``; everything else (step counts, scalars) is
    replicated. ``opt_state`` may hold arrays or ``ShapeDtypeStruct`` s (``jax.eval_shape``).
    """
    pdef = jax.tree.structure(params)
    pshapes = [tuple(x.shape) for x in jax.tree.leaves(params)]
    replicated = NamedSharding(mesh, PartitionSpec())

    def like_params(node: Any) -> bool:
        try:
            if jax.tree.structure(node) != pdef:
                return False
        except Exception:
            return False
        return [tuple(x.shape) for x in jax.tree.leaves(node)] == pshapes

    def assign(node: Any) -> Any:
        if like_params(node):
            return param_shardings
        return replicated

    mapped = jax.tree.map(assign, opt_state, is_leaf=like_params)
    return mapped


def tree_specs(shardings: Any) -> Any:
    """The :class:`PartitionSpec` tree of a sharding tree (for printing / shard_map specs)."""
    return jax.tree.map(lambda s: s.spec, shardings)
