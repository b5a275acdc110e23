"""``export_to_torch`` / ``import_from_torch``: JAX models <-> torch ``state_dict``, by rules.

Both directions copy: a torch parameter never aliases a JAX buffer (torch optimizers update in
place, JAX arrays are immutable). Transposes and concatenations are exact, so a float32 round trip
``import_from_torch(m, export_to_torch(m))`` reproduces every bit. bfloat16 moves through a
16-bit integer view (NumPy cannot hold torch's bfloat16).

Validation is all-or-nothing: every missing, unexpected or mis-shaped key, every tensor whose
kind does not convert (integer or bool into a floating parameter, real into complex without a
rule, and back), every tensor with NaN/Inf values on import (unless ``allow_nonfinite``), and
every JAX leaf no rule covers, is collected into ONE :class:`StateDictMismatchError`, raised
before anything is written. Floating precisions convert (float64 -> float32 is a cast). Import
builds a new model; the target is never modified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from parallax.bridge._rules import Rule, Rules
from parallax.bridge._tree import named_params

if TYPE_CHECKING:
    import torch

__all__ = [
    "StateDictMismatchError",
    "export_to_torch",
    "import_from_torch",
    "named_to_torch",
    "numpy_to_tensor",
    "tensor_to_numpy",
    "to_state_dict",
]


@dataclass
class StateDictMismatchError(ValueError):
    """Every problem between a JAX model and a torch state_dict, found before loading."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    misshaped: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    wrong_dtype: list[str] = field(default_factory=list)
    nonfinite: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.missing
            or self.unexpected
            or self.misshaped
            or self.unmapped
            or self.wrong_dtype
            or self.nonfinite
        )

    def __str__(self) -> str:
        lines = ["state_dict does not match the model (nothing was loaded):"]
        for title, items in (
            ("missing torch keys", self.missing),
            ("unexpected torch keys", self.unexpected),
            ("mis-shaped keys", self.misshaped),
            ("JAX parameters no rule maps", self.unmapped),
            ("dtypes that do not convert", self.wrong_dtype),
            ("non-finite values", self.nonfinite),
        ):
            if items:
                lines.append(f"  {title} ({len(items)}):")
                lines.extend(f"    {s}" for s in items)
        return "\n".join(lines)


# -- tensors <-> numpy (always copies) -------------------------------------------------------
def tensor_to_numpy(t: torch.Tensor) -> np.ndarray:
    import ml_dtypes
    import torch

    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        return t.contiguous().view(torch.int16).numpy().view(ml_dtypes.bfloat16).copy()
    return t.numpy().copy()


def numpy_to_tensor(x: Any) -> torch.Tensor:
    import ml_dtypes
    import torch

    a = np.array(x, copy=True, order="C")  # not ascontiguousarray: it turns 0-d into (1,)
    if a.dtype == ml_dtypes.bfloat16:
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


def _kind(dtype: Any) -> str:
    """``"bool"``, ``"integer"``, ``"floating"`` or ``"complex"`` (bfloat16 is floating)."""
    for name, parent in (
        ("bool", jnp.bool_),
        ("integer", jnp.integer),
        ("complex", jnp.complexfloating),
        ("floating", jnp.floating),
    ):
        if jnp.issubdtype(dtype, parent):
            return name
    return str(dtype)


def _torch_kind(t: torch.Tensor) -> str:
    if t.dtype.is_complex:
        return "complex"
    if t.dtype.is_floating_point:
        return "floating"
    return "bool" if str(t.dtype) == "torch.bool" else "integer"


# the tensor kinds a parameter of each kind accepts: the same kind at any precision, and real
# pairs for a complex parameter (a complex-as-real rule); never integer or bool into floating
_KINDS_INTO = {
    "bool": ("bool",),
    "integer": ("integer",),
    "floating": ("floating",),
    "complex": ("complex", "floating"),
}


def _rules_for(model: Any, rules: Rules | None) -> Rules:
    if rules is not None:
        return rules
    make = getattr(model, "torch_rules", None)
    if make is None:
        raise TypeError(
            f"{type(model).__name__} has no default torch rules: pass rules=Rules.of(...)"
        )
    return make()


def _group(
    leaves: Mapping[str, Any], rules: Rules, err: StateDictMismatchError
) -> dict[str, list[tuple[Rule, str]]]:
    groups: dict[str, list[tuple[Rule, str]]] = {}
    for name in leaves:
        found = rules.find(name)
        if found is None:
            err.unmapped.append(name)
            continue
        rule, tkey = found
        groups.setdefault(tkey, []).append((rule, name))
    for tkey, items in groups.items():
        parts = [r.part for r, _ in items]
        if len(items) > 1 and (None in parts or sorted(parts) != list(range(len(items)))):  # type: ignore[type-var]
            names = ", ".join(n for _, n in items)
            raise ValueError(f"rules map several JAX leaves ({names}) to {tkey!r} without parts")
        items.sort(key=lambda it: it[0].part or 0)
    return groups


def to_state_dict(model: Any, rules: Rules | None = None) -> dict[str, np.ndarray]:
    """The model's parameters as torch-named, torch-laid-out NumPy arrays (copies)."""
    rules = _rules_for(model, rules)
    leaves, _ = named_params(model)
    return named_to_torch(leaves, rules)


def named_to_torch(leaves: Mapping[str, Any], rules: Rules) -> dict[str, np.ndarray]:
    """Arrays keyed by JAX parameter name (parameters, or anything laid out like them, such as
    their gradients) as torch-named, torch-laid-out NumPy arrays; fused parts concatenated."""
    err = StateDictMismatchError()
    groups = _group(leaves, rules, err)
    if err:
        raise err
    out: dict[str, np.ndarray] = {}
    for tkey, items in groups.items():
        arrays = [r.to_torch(np.asarray(leaves[n])) for r, n in items]
        out[tkey] = arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=items[0][0].axis)
    return out


def export_to_torch(
    model: Any, torch_module: torch.nn.Module | None = None, *, rules: Rules | None = None
) -> Any:
    """Copy a JAX model's parameters into a torch module (returned), or into a new state_dict.

    With ``torch_module=None``: a parallax model (which knows its torch twin) returns a new twin
    module in the parameters' dtype; anything else returns an ``OrderedDict`` of tensors.
    The torch module is checked against the rules first (missing, unexpected, mis-shaped keys in
    one error) and written only when everything matches.
    """
    import collections

    import torch

    rules = _rules_for(model, rules)
    if torch_module is None and hasattr(model, "make_torch_twin"):
        torch_module = model.make_torch_twin()
    if torch_module is None:
        sd = to_state_dict(model, rules)
        return collections.OrderedDict((k, numpy_to_tensor(v)) for k, v in sd.items())

    current = torch_module.state_dict()
    shapes = {k: tuple(v.shape) for k, v in current.items()}
    sd = to_state_dict(model, rules)
    err = StateDictMismatchError()
    err.missing = [k for k in current if k not in sd and not rules.ignored(k)]
    err.unexpected = [k for k in sd if k not in current]
    for k, v in sd.items():
        if k in current:
            want = current[k]
            if tuple(v.shape) != shapes[k]:
                err.misshaped.append(f"{k}: model gives {tuple(v.shape)}, torch has {shapes[k]}")
            elif _kind(v.dtype) != _torch_kind(want):
                err.wrong_dtype.append(f"{k}: model gives {v.dtype}, torch has {want.dtype}")
    if err:
        raise err
    with torch.no_grad():
        for k, v in sd.items():
            current[k].copy_(numpy_to_tensor(v))
    return torch_module


def import_from_torch(
    target: Any,
    source: torch.nn.Module | Mapping[str, Any],
    *,
    rules: Rules | None = None,
    prefix: str = "",
    allow_nonfinite: bool = False,
) -> Any:
    """A copy of ``target`` (nnx / equinox module or parameter pytree) with its parameters taken
    from a torch module or state_dict, converted by ``rules``; values are cast to the target's
    dtypes (within a kind: float64 -> float32, never int or bool -> float) and placed on the
    target leaves' shardings. ``prefix`` selects a submodule's keys (``"encoder.layers.0."``);
    keys outside it are ignored. Tensors holding NaN or Inf are refused unless
    ``allow_nonfinite``."""
    rules = _rules_for(target, rules)
    raw: dict[str, Any] = dict(source.state_dict() if hasattr(source, "state_dict") else source)  # type: ignore[union-attr,arg-type]
    sd: dict[str, Any] = {k[len(prefix) :]: v for k, v in raw.items() if k.startswith(prefix)}
    leaves, rebuild = named_params(target)
    err = StateDictMismatchError()
    groups = _group(leaves, rules, err)
    new: dict[str, Any] = {}
    for tkey, items in groups.items():
        if tkey not in sd:
            err.missing.append(tkey)
            continue
        t = sd[tkey]
        arr = tensor_to_numpy(t) if hasattr(t, "detach") else np.asarray(t)
        shapes = [r.torch_layout_shape(tuple(leaves[n].shape)) for r, n in items]
        rule0 = items[0][0]
        if len(items) == 1:
            ok = tuple(arr.shape) == shapes[0]
            pieces = [arr]
        else:
            ax = rule0.axis
            rest = {s[:ax] + s[ax + 1 :] for s in shapes}
            ok = (
                len(rest) == 1
                and arr.ndim == len(shapes[0])
                and arr.shape[:ax] + arr.shape[ax + 1 :] == next(iter(rest))
                and sum(s[ax] for s in shapes) == arr.shape[ax]
            )
            pieces = np.split(arr, np.cumsum([s[ax] for s in shapes])[:-1], axis=ax) if ok else []
        if not ok:
            want = " + ".join(str(s) for s in shapes)
            names = ", ".join(n for _, n in items)
            err.misshaped.append(f"{tkey}: torch {tuple(arr.shape)}, expected {want} for {names}")
            continue
        kinds = {_kind(leaves[n].dtype) for _, n in items}
        if any(_kind(arr.dtype) not in _KINDS_INTO.get(k, (k,)) for k in kinds):
            dtypes = ", ".join(sorted({str(leaves[n].dtype) for _, n in items}))
            err.wrong_dtype.append(f"{tkey}: torch {arr.dtype}, model has {dtypes}")
            continue
        if not allow_nonfinite and _kind(arr.dtype) in ("floating", "complex"):
            count = int(np.count_nonzero(~np.isfinite(arr)))
            if count:
                err.nonfinite.append(f"{tkey}: {count} of {arr.size} values are NaN or Inf")
                continue
        for (rule, name), piece in zip(items, pieces, strict=True):
            ref = leaves[name]
            value = rule.from_torch(piece, tuple(ref.shape))
            if _kind(value.dtype) != _kind(ref.dtype):
                err.wrong_dtype.append(f"{tkey}: torch {arr.dtype}, model has {ref.dtype}")
                continue
            new[name] = value
    used = set(groups)
    err.unexpected = [k for k in sd if k not in used and not rules.ignored(k)]
    if err:
        raise err
    placed = {}
    for name, value in new.items():
        ref = leaves[name]
        x = jnp.asarray(value, dtype=ref.dtype)
        sharding = getattr(ref, "sharding", None)
        placed[name] = x if sharding is None else jax.device_put(x, sharding)
    return rebuild(placed)
