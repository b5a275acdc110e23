"""Serialized export: a model's apply function as a versioned StableHLO artifact on disk.

``save_exported(fn, example_args, path)`` traces ``jax.jit(fn)`` with :func:`jax.export.export`
and writes two files into the directory ``path``:

* ``function.jax_exported`` — ``Exported.serialize()``: the StableHLO module (portable bytecode)
  with its calling convention, shardings and platforms;
* ``metadata.json`` — ``{"format": "parallax.jax_export", "format_version": 1, jax and
  calling-convention versions, platforms, input/output shapes and dtypes, user metadata}``.

``load_exported(path)`` checks the format version and returns ``(call, metadata)``; ``call``
runs the deserialized program (no Python model code needed). Model parameters closed over by
``fn`` are baked in as constants, so the artifact is self-contained. With
``polymorphic_batch=True`` the leading axis of every input is symbolic (``b``): one artifact
serves any batch size.

Needs the ``flatbuffers`` package (``pip install parallax[export]``): jax.export's serializer
imports it.

Compatibility: JAX guarantees that serialized artifacts keep loading for at least 6 months of
newer JAX releases (``jax.export`` backward-compatibility policy); the calling-convention version
is recorded so a reader can tell.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax

__all__ = ["FORMAT_VERSION", "load_exported", "save_exported"]

FORMAT = "parallax.jax_export"
FORMAT_VERSION = 1


def _describe(avals: Sequence[Any]) -> tuple[list[list[Any]], list[str]]:
    shapes = [[d if isinstance(d, int) else str(d) for d in a.shape] for a in avals]
    return shapes, [str(a.dtype) for a in avals]


def save_exported(
    fn: Callable[..., Any],
    example_args: Sequence[Any],
    path: str | Path,
    *,
    metadata: dict[str, Any] | None = None,
    platforms: Sequence[str] | None = None,
    polymorphic_batch: bool = False,
) -> Path:
    """Export ``fn(*example_args)`` to the directory ``path`` (created); returns it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    leaves, treedef = jax.tree.flatten(list(example_args))
    if polymorphic_batch:
        (b,) = jax.export.symbolic_shape("b")
        specs = [jax.ShapeDtypeStruct((b, *x.shape[1:]), x.dtype) for x in leaves]
    else:
        specs = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves]
    args = jax.tree.unflatten(treedef, specs)
    # a closure, so any callable works (an equinox module is not hashable as a jit target)
    exp = jax.export.export(jax.jit(lambda *a: fn(*a)), platforms=platforms)(*args)
    (path / "function.jax_exported").write_bytes(exp.serialize())
    in_shapes, in_dtypes = _describe(exp.in_avals)
    out_shapes, out_dtypes = _describe(exp.out_avals)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "jax_version": jax.__version__,
        "calling_convention_version": exp.calling_convention_version,
        "platforms": list(exp.platforms),
        "in_shapes": in_shapes,
        "in_dtypes": in_dtypes,
        "out_shapes": out_shapes,
        "out_dtypes": out_dtypes,
        "user": metadata or {},
    }
    (path / "metadata.json").write_text(json.dumps(meta, indent=2))
    return path


def load_exported(path: str | Path) -> tuple[Callable[..., Any], dict[str, Any]]:
    """``(call, metadata)`` for an artifact written by :func:`save_exported`."""
    path = Path(path)
    meta = json.loads((path / "metadata.json").read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} artifact (format={meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: format_version {meta.get('format_version')} is not supported by this "
            f"parallax (reads version {FORMAT_VERSION})"
        )
    exp = jax.export.deserialize(bytearray((path / "function.jax_exported").read_bytes()))
    return exp.call, meta
