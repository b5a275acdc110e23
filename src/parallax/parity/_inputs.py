"""The inputs of a comparison: one set of values, converted for each framework.

``inputs`` is a dict (keyword arguments), a tuple (positional arguments) or a single array (one
positional argument). Leaves that are arrays — NumPy, JAX or torch — are copied to NumPy once,
cast to the dtype under test (floating leaves to it, complex leaves to the complex dtype of the
same precision, integer and boolean leaves unchanged) and handed to each side as that side's
array type, so both receive bit-identical values. Any other leaf (Python numbers, strings,
``None``, objects) is passed unchanged to both sides and held fixed; bind such arguments with
``functools.partial`` if you prefer.

``grad_wrt`` names top-level inputs (dict keys, or tuple positions). Its default ``...`` means
every floating-point (real or complex) array leaf of every input; ``None`` or ``()`` means no
gradient.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from parallax.kernels import numpy_complex_dtype
from parallax.parity._tolerance import DTYPES

__all__ = [
    "Inputs",
    "Leaf",
    "check_dtypes",
    "is_array",
    "numpy_dtype",
    "prepare_inputs",
    "to_numpy",
    "to_torch",
]


def _torch() -> Any:
    return sys.modules.get("torch")


def is_array(x: Any) -> bool:
    """NumPy array or scalar, JAX array, or torch tensor (torch never imported for the test)."""
    if isinstance(x, np.ndarray | np.generic | jax.Array):
        return True
    torch = _torch()
    return torch is not None and isinstance(x, torch.Tensor)


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy of an array of any of the three kinds (bfloat16 kept as ``ml_dtypes``)."""
    torch = _torch()
    if torch is not None and isinstance(x, torch.Tensor):
        from parallax.bridge import tensor_to_numpy

        return tensor_to_numpy(x)
    return np.array(x, copy=True)


def to_torch(x: np.ndarray, device: str = "cpu") -> Any:
    from parallax.bridge import numpy_to_tensor

    return numpy_to_tensor(x).to(device)


def numpy_dtype(dtype: str) -> np.dtype:
    if dtype == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(dtype)


def is_inexact(x: np.ndarray) -> bool:
    return bool(jnp.issubdtype(x.dtype, jnp.inexact))


def check_dtypes(dtypes: Any, name: str = "dtypes") -> tuple[str, ...]:
    if isinstance(dtypes, str):
        dtypes = (dtypes,)
    out = tuple(str(d) for d in dtypes)
    bad = [d for d in out if d not in DTYPES]
    if bad or not out:
        raise ValueError(f"{name}: expected a non-empty tuple of {DTYPES}, got {dtypes!r}")
    return out


@dataclass(frozen=True)
class Leaf:
    """One leaf of the inputs: ``top`` is its input's name (dict key or tuple position),
    ``label`` its printable path (``"u0"``, ``"params['w']"``, ``"0"``)."""

    top: str | int
    label: str
    value: Any
    array: bool


@dataclass(frozen=True)
class Inputs:
    """Inputs flattened once: ``kind`` is ``"kwargs"`` or ``"args"``."""

    kind: str
    treedef: Any
    leaves: tuple[Leaf, ...]

    @property
    def names(self) -> list[str | int]:
        return list(dict.fromkeys(leaf.top for leaf in self.leaves))

    def cast(self, dtype: str) -> Inputs:
        """Floating leaves to ``dtype``, complex ones to the complex dtype of that precision."""
        real, cplx = numpy_dtype(dtype), numpy_complex_dtype(dtype)
        leaves = []
        for leaf in self.leaves:
            v = leaf.value
            if leaf.array and is_inexact(v):
                v = v.astype(cplx if np.iscomplexobj(v) else real)
            leaves.append(replace(leaf, value=v))
        return replace(self, leaves=tuple(leaves))

    def rebuild(self, values: Sequence[Any]) -> Any:
        return jax.tree_util.tree_unflatten(self.treedef, list(values))

    def call(self, fn: Callable[..., Any], values: Sequence[Any]) -> Any:
        tree = self.rebuild(values)
        return fn(**tree) if self.kind == "kwargs" else fn(*tree)

    def static_key(self) -> tuple[Any, ...] | None:
        """The non-array leaves, hashable (for compilation caches), or None."""
        key = tuple(None if leaf.array else leaf.value for leaf in self.leaves)
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def grad_mask(self, grad_wrt: Any, name: str = "grad_wrt") -> tuple[bool, ...]:
        """Which leaves are differentiated (see the module doc for ``grad_wrt``)."""
        float_leaf = [leaf.array and is_inexact(leaf.value) for leaf in self.leaves]
        if grad_wrt is None or (isinstance(grad_wrt, tuple | list) and not grad_wrt):
            return tuple(False for _ in self.leaves)
        if grad_wrt is Ellipsis:
            return tuple(float_leaf)
        wanted = (grad_wrt,) if isinstance(grad_wrt, str | int) else tuple(grad_wrt)
        names = self.names
        for w in wanted:
            if w not in names:
                raise ValueError(
                    f"{name}: {w!r} is not an input; the inputs are {names}"
                    + (" (positional: name them by index)" if self.kind == "args" else "")
                )
            own = [
                (leaf, f) for leaf, f in zip(self.leaves, float_leaf, strict=True) if leaf.top == w
            ]
            if not any(f for _, f in own):
                kinds = sorted(
                    {
                        str(leaf.value.dtype) if leaf.array else type(leaf.value).__name__
                        for leaf, _ in own
                    }
                ) or ["empty"]
                raise TypeError(
                    f"{name}: input {w!r} holds {', '.join(kinds)}, not a floating-point array; "
                    "gradients exist only for floating (real or complex) inputs"
                )
        return tuple(
            f and leaf.top in wanted for leaf, f in zip(self.leaves, float_leaf, strict=True)
        )


def _top_and_label(path: tuple[Any, ...], kind: str) -> tuple[str | int, str]:
    head = path[0]
    top: str | int = head.key if kind == "kwargs" else head.idx
    return top, f"{top}{jax.tree_util.keystr(path[1:])}"


def prepare_inputs(inputs: Any, name: str = "inputs") -> Inputs:
    """Flatten and copy ``inputs`` (dict -> keyword, tuple -> positional, array -> one
    positional argument)."""
    if is_array(inputs):
        inputs = (inputs,)
    if isinstance(inputs, Mapping):
        bad = [k for k in inputs if not isinstance(k, str)]
        if bad:
            raise TypeError(f"{name}: keyword argument names must be strings, got {bad!r}")
        kind, tree = "kwargs", dict(inputs)
    elif isinstance(inputs, tuple):
        kind, tree = "args", inputs
    else:
        raise TypeError(
            f"{name}: expected a dict (keyword arguments), a tuple (positional arguments) or a "
            f"single array, got {type(inputs).__name__}; wrap one list argument as (my_list,)"
        )
    flat, treedef = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_array)
    leaves = []
    for path, value in flat:
        top, label = _top_and_label(path, kind)
        arr = is_array(value)
        leaves.append(Leaf(top, label, to_numpy(value) if arr else value, arr))
    return Inputs(kind, treedef, tuple(leaves))
