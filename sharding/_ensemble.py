"""An ensemble axis: ``vmap`` over members, the members spread over a mesh axis.

``ensemble_map(fn, mesh, "data")(u0s, nus)`` runs ``fn`` on every member (leading axis of each
array argument) with the members split over the mesh axis: ``shard_map`` of ``vmap(fn)``, so each
device runs its members as one vectorised batch and no data moves between devices (the report
of :func:`parallax.sharding.comms_report` is empty). Gradients flow through it: the transpose of
a ``shard_map`` is a ``shard_map``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
from jax.sharding import Mesh, PartitionSpec

from parallax.sharding._halo import check_decomposition, conform

__all__ = ["ensemble_map"]


def ensemble_map(
    fn: Callable[..., Any],
    mesh: Mesh,
    axis: str | tuple[str, ...] = "data",
    *,
    in_axes: int | Sequence[int | None] | None = 0,
) -> Callable[..., Any]:
    """``vmap(fn, in_axes)`` with the ensemble (axis 0 of mapped arguments) over ``axis``.

    ``in_axes``: ``0`` (every argument is an ensemble), or one entry per argument, ``0`` for
    ensemble arguments and ``None`` for shared ones (replicated, e.g. a time step). Outputs are
    ensembles. The ensemble size must divide by the mesh axis size (checked, naming both).
    """

    def run(*args: Any) -> Any:
        axes = [in_axes] * len(args) if isinstance(in_axes, int) or in_axes is None else in_axes
        if len(axes) != len(args):
            raise ValueError(f"in_axes has {len(axes)} entries for {len(args)} arguments")
        for i, (a, ax) in enumerate(zip(args, axes, strict=True)):
            if ax is None:
                continue
            if ax != 0:
                raise ValueError(f"argument {i}: the ensemble axis must be axis 0, got {ax}")
            for leaf in jax.tree.leaves(a):
                check_decomposition(
                    leaf.shape, mesh, PartitionSpec(axis), name=f"ensemble argument {i}"
                )
        specs = tuple(PartitionSpec() if ax is None else PartitionSpec(axis) for ax in axes)
        vf = jax.vmap(fn, in_axes=tuple(axes))
        args = conform(tuple(args), mesh, specs)
        return jax.shard_map(vf, mesh=mesh, in_specs=specs, out_specs=PartitionSpec(axis))(*args)

    return run
