"""Checkpoints that move between meshes: save sharded state, restore onto another layout.

Orbax writes each array's shards from the devices that hold them (every process writes its own
part on multi-host) and records the global shape, not the mesh. Restoring needs a *target
tree* that carries the new shardings (``jax.ShapeDtypeStruct(shape, dtype, sharding=...)``);
orbax then reads, on each device, only the slice the new sharding asks for. So a checkpoint taken
on 8 devices under one rule set restores on 4 devices under another (what resuming on a
different TPU slice needs). Without a target the arrays would come back on the saving layout.
"""

from __future__ import annotations

import os
from typing import Any

import jax

__all__ = ["abstract_like", "restore_sharded", "save_sharded"]


def abstract_like(tree: Any, shardings: Any) -> Any:
    """``ShapeDtypeStruct`` s of ``tree`` (arrays or structs) carrying ``shardings``."""
    return jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings
    )


def save_sharded(path: str | os.PathLike[str], tree: Any, *, overwrite: bool = False) -> None:
    """Write the pytree of (sharded) arrays ``tree`` to the directory ``path`` and wait."""
    import orbax.checkpoint as ocp

    path = os.path.abspath(os.fspath(path))
    ckpt = ocp.StandardCheckpointer()
    try:
        ckpt.save(path, tree, force=overwrite)
        ckpt.wait_until_finished()
    finally:
        ckpt.close()


def restore_sharded(path: str | os.PathLike[str], target: Any) -> Any:
    """Read ``path`` onto ``target``'s shapes, dtypes and shardings (a tree of
    ``ShapeDtypeStruct`` s with ``sharding``, e.g. from :func:`abstract_like`, or of arrays)."""
    import orbax.checkpoint as ocp

    path = os.path.abspath(os.fspath(path))
    abstract = jax.tree.map(
        lambda x: (
            x
            if isinstance(x, jax.ShapeDtypeStruct)
            else jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
        ),
        target,
    )
    for leaf in jax.tree.leaves(abstract):
        if leaf.sharding is None:
            raise ValueError(
                "restore_sharded: every target leaf needs a sharding (the layout to restore onto)"
            )
    ckpt = ocp.StandardCheckpointer()
    try:
        return ckpt.restore(path, abstract)
    finally:
        ckpt.close()
