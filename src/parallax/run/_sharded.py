"""Checkpoints that move between meshes: save sharded state, restore onto another layout.

Orbax writes each array's shards from the devices that hold them (every process writes its own
part on multi-host) and records the global shape, not the mesh. Restoring needs a *target
tree* that carries the new shardings (``jax.ShapeDtypeStruct(shape, dtype, sharding=...)``,
e.g. from :func:`parallax.sharding.abstract_like`); orbax then reads, on each device, only the
slice the new sharding asks for. So a checkpoint taken on 8 devices under one rule set restores
on 4 devices under another (what resuming on a different TPU slice needs).

These are the single-directory form of :class:`~parallax.run.Checkpointer` and share its
conversions (typed PRNG keys stored as key data, host-local arrays as replicated global ones)
and its abstract target. The orbax wrapper lives here, in the core: :mod:`parallax.kernels` and
:mod:`parallax.sharding` never import orbax.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp

from parallax.run._checkpoint import _absolute, _abstract, _from_savable, _to_savable

__all__ = ["restore_sharded", "save_sharded"]


def save_sharded(path: str | os.PathLike[str], tree: Any, *, overwrite: bool = False) -> None:
    """Write the pytree of (sharded) arrays ``tree`` to the directory ``path`` and wait."""
    ckpt = ocp.StandardCheckpointer()
    try:
        ckpt.save(_absolute(path), _to_savable(tree), force=overwrite)
        ckpt.wait_until_finished()
    finally:
        ckpt.close()


def restore_sharded(path: str | os.PathLike[str], target: Any) -> Any:
    """Read ``path`` onto ``target``'s shapes, dtypes and shardings (a tree of
    ``ShapeDtypeStruct`` s with ``sharding``, e.g. from :func:`parallax.sharding.abstract_like`,
    or of arrays)."""
    abstract = _abstract(target)
    if any(getattr(leaf, "sharding", None) is None for leaf in jax.tree.leaves(abstract)):
        raise ValueError(
            "target: every leaf needs a sharding (the layout to restore onto); build it with "
            "parallax.sharding.abstract_like(tree, shardings)"
        )
    ckpt = ocp.StandardCheckpointer()
    try:
        restored = ckpt.restore(_absolute(path), abstract)
    finally:
        ckpt.close()
    return _from_savable(restored, target)
