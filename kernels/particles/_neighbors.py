r"""Fixed-capacity cell list and Verlet neighbor list; overflow is detected and reported.

Under ``jit`` every array shape is fixed, so a neighbor list has a fixed *capacity*: at most
``capacity`` neighbors per particle and ``cell_capacity`` particles per cell. When a rebuild finds
more, the list cannot hold them; instead of dropping pairs silently the build sets
``did_overflow`` (sticky: it stays set through later rebuilds) and records the largest counts it
saw, and the caller — outside ``jit`` — reallocates with :func:`reallocate_neighbor_list` and
reruns (see :func:`parallax.kernels.particles.lj_nve_neighbor_rollout`).

Algorithm (Verlet 1967; cell lists: Allen & Tildesley, *Computer Simulation of Liquids*, §5.3):

1. Cells: the box is cut into ``cells_per_side`` cells per axis of side ``>= cutoff + skin``
   (at least 3 per axis, so the 3^d neighbouring cells are distinct). Particles are sorted by
   cell index and scattered into a ``(num_cells, cell_capacity)`` table (padding = ``n``).
2. Candidates: each particle gathers the 3^d cells around its own — ``O(n)`` work.
3. Neighbors: candidates with minimum-image distance ``< cutoff + skin`` are compacted (a prefix
   sum over the mask) into ``idx`` of shape ``(n, capacity)``, padded with ``n``.

With ``method="dense"`` step 1-2 are replaced by all ``n`` particles as candidates (``O(n^2)``,
for boxes too small for a cell list). The list stays valid until some particle moves more than
``skin / 2`` from its position at the last build (:func:`maybe_update_neighbor_list` checks).
"""

from __future__ import annotations

import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from parallax.kernels._checks import (
    check_array,
    check_finite,
    check_state_dtype,
    check_value,
    is_concrete,
)
from parallax.kernels.particles._space import box_vector, check_box

__all__ = [
    "NeighborList",
    "allocate_neighbor_list",
    "build_neighbor_list",
    "maybe_update",
    "maybe_update_neighbor_list",
    "neighbor_list_needs_update",
    "reallocate_neighbor_list",
    "update_neighbor_list",
]


class NeighborList(eqx.Module):
    """A Verlet list as a pytree.

    Attributes:
      idx: ``(n, capacity)`` neighbor indices of each particle, padded with ``n``.
      reference_positions: ``(n, dim)`` positions at the last build.
      did_overflow: ``()`` bool — some build found more neighbors than ``capacity`` or more
        particles in a cell than ``cell_capacity``; forces computed from this list are WRONG.
      max_neighbors_seen / max_cell_seen: largest counts found by any build (for reallocation).
      num_builds: how many builds produced this list (diagnostic).
      cutoff, skin, cells_per_side, cell_capacity: static geometry (``cells_per_side`` is
        ``None`` for the dense method).
    """

    idx: Int[Array, "n capacity"]
    reference_positions: Float[Array, "n dim"]
    did_overflow: Bool[Array, ""]
    max_neighbors_seen: Int[Array, ""]
    max_cell_seen: Int[Array, ""]
    num_builds: Int[Array, ""]
    cutoff: float = eqx.field(static=True)
    skin: float = eqx.field(static=True)
    cells_per_side: tuple[int, ...] | None = eqx.field(static=True)
    cell_capacity: int = eqx.field(static=True)

    @property
    def capacity(self) -> int:
        return int(self.idx.shape[-1])


def _strides(cps: tuple[int, ...]) -> np.ndarray:
    return np.array([math.prod(cps[d + 1 :]) for d in range(len(cps))], dtype=np.int32)


def _candidates(
    positions: Array, box: Array, cps: tuple[int, ...], cell_capacity: int
) -> tuple[Array, Array]:
    """``(n, 3^d * cell_capacity)`` candidate indices from the cell list, and the max cell count."""
    n, dim = positions.shape
    ncell = math.prod(cps)
    cps_arr = jnp.asarray(cps, dtype=jnp.int32).reshape(1, dim)
    cell_size = (box / jnp.asarray(cps, dtype=box.dtype)).reshape(1, dim)
    wrapped = jnp.mod(positions, box.reshape(1, dim))
    c = jnp.clip(jnp.floor(wrapped / cell_size).astype(jnp.int32), 0, cps_arr - 1)
    strides = jnp.asarray(_strides(cps)).reshape(1, dim)
    flat = jnp.sum(c * strides, axis=-1)
    counts = jnp.zeros((ncell,), jnp.int32).at[flat].add(jnp.ones((n,), jnp.int32))
    order = jnp.argsort(flat, stable=True).astype(jnp.int32)
    sorted_cell = flat[order]
    starts = jnp.cumsum(counts) - counts
    slot = jnp.arange(n, dtype=jnp.int32) - starts[sorted_cell]
    table = jnp.full((ncell, cell_capacity), n, jnp.int32)
    table = table.at[sorted_cell, slot].set(order, mode="drop")
    offsets = np.array(list(itertools.product((-1, 0, 1), repeat=dim)), dtype=np.int32)
    k = offsets.shape[0]
    around = jnp.mod(c[:, None, :] + jnp.asarray(offsets)[None], cps_arr.reshape(1, 1, dim))
    around_flat = jnp.sum(around * strides.reshape(1, 1, dim), axis=-1)  # (n, 3^d)
    cand = table[around_flat].reshape(n, k * cell_capacity)
    return cand, jnp.max(counts)


def build_neighbor_list(
    positions: Float[Array, "n dim"],
    box: Float[Array, ""] | Float[Array, " dim"] | float,
    *,
    cutoff: float,
    skin: float,
    capacity: int,
    cells_per_side: tuple[int, ...] | None = None,
    cell_capacity: int = 0,
) -> NeighborList:
    """Build a list with the given static capacities (traceable; see the module docstring).

    ``cells_per_side=None`` uses the dense ``O(n^2)`` candidate set. Prefer
    :func:`allocate_neighbor_list`, which sizes the capacities from concrete positions. The box
    must be finite with sides ``> 0`` (checked).
    """
    check_array("positions", positions, ndim=2)
    check_state_dtype("positions", positions)
    b = check_box(box, positions.shape[1], positions.dtype)
    return _build(
        positions,
        b,
        cutoff=cutoff,
        skin=skin,
        capacity=capacity,
        cells_per_side=cells_per_side,
        cell_capacity=cell_capacity,
    )


def _build(
    positions: Array,
    b: Array,
    *,
    cutoff: float,
    skin: float,
    capacity: int,
    cells_per_side: tuple[int, ...] | None,
    cell_capacity: int,
) -> NeighborList:
    """:func:`build_neighbor_list` with ``b`` the checked ``(dim,)`` box."""
    n, dim = positions.shape
    reach = cutoff + skin
    if cells_per_side is not None:
        cells_per_side = tuple(int(c) for c in cells_per_side)
        if len(cells_per_side) != dim or min(cells_per_side) < 3:
            raise ValueError(f"cells_per_side: expected {dim} entries >= 3, got {cells_per_side}")
        if cell_capacity < 1:
            raise ValueError(f"cell_capacity: expected >= 1, got {cell_capacity}")
        cell_side = b / jnp.asarray(cells_per_side, dtype=b.dtype)
        b = check_value(
            b,
            cell_side < reach,
            "box",
            f"cells of the cell list are smaller than cutoff + skin = {reach} "
            f"(cells_per_side={cells_per_side}); reallocate the neighbor list for this box",
        )
        cand, max_cell = _candidates(positions, b, cells_per_side, cell_capacity)
        cell_over = max_cell > cell_capacity
    else:
        cand = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32)[None, :], (n, n))
        max_cell = jnp.zeros((), jnp.int32)
        cell_over = jnp.zeros((), bool)
    # one coordinate at a time: (n, k) gathers and arithmetic vectorise on XLA:CPU, an
    # (n, k, dim) array with a trailing axis of 3 does not
    d2 = jnp.zeros(cand.shape, positions.dtype)
    for d in range(dim):
        col = jnp.concatenate([positions[:, d], jnp.zeros((1,), positions.dtype)])
        dr = positions[:, d][:, None] - col[cand]
        dr = dr - b[d] * jnp.round(dr / b[d])
        d2 = d2 + dr * dr
    self_idx = jnp.arange(n, dtype=jnp.int32)[:, None]
    mask = (cand < n) & (cand != self_idx) & (d2 < reach * reach)
    count = jnp.sum(mask, axis=1, dtype=jnp.int32)
    max_nb = jnp.max(count)
    pos = jnp.where(mask, jnp.cumsum(mask, axis=1, dtype=jnp.int32) - 1, capacity)
    rows = jnp.broadcast_to(self_idx, pos.shape)
    idx = jnp.full((n, capacity), n, jnp.int32).at[rows, pos].set(cand, mode="drop")
    return NeighborList(
        idx=idx,
        # the list is piecewise constant in the positions: no gradient flows through it
        reference_positions=jax.lax.stop_gradient(positions),
        did_overflow=cell_over | (max_nb > capacity),
        max_neighbors_seen=max_nb,
        max_cell_seen=max_cell,
        num_builds=jnp.ones((), jnp.int32),
        cutoff=float(cutoff),
        skin=float(skin),
        cells_per_side=cells_per_side,
        cell_capacity=int(cell_capacity),
    )


def update_neighbor_list(
    neighbors: NeighborList,
    positions: Float[Array, "n dim"],
    box: Float[Array, ""] | Float[Array, " dim"] | float,
) -> NeighborList:
    """Rebuild at the same capacities (traceable). ``did_overflow`` and the max counts are
    sticky: they keep the worst value seen by any build."""
    check_array("positions", positions, ndim=2)
    return _update(neighbors, positions, check_box(box, positions.shape[1], positions.dtype))


def _update(neighbors: NeighborList, positions: Array, b: Array) -> NeighborList:
    new = _build(
        positions,
        b,
        cutoff=neighbors.cutoff,
        skin=neighbors.skin,
        capacity=neighbors.capacity,
        cells_per_side=neighbors.cells_per_side,
        cell_capacity=neighbors.cell_capacity,
    )
    return eqx.tree_at(
        lambda t: (t.did_overflow, t.max_neighbors_seen, t.max_cell_seen, t.num_builds),
        new,
        (
            new.did_overflow | neighbors.did_overflow,
            jnp.maximum(new.max_neighbors_seen, neighbors.max_neighbors_seen),
            jnp.maximum(new.max_cell_seen, neighbors.max_cell_seen),
            neighbors.num_builds + 1,
        ),
    )


def neighbor_list_needs_update(
    neighbors: NeighborList,
    positions: Float[Array, "n dim"],
    box: Float[Array, ""] | Float[Array, " dim"] | float,
) -> Bool[Array, ""]:
    """True when some particle moved more than ``skin / 2`` since the last build."""
    check_array("positions", positions, ndim=2)
    return _needs_update(neighbors, positions, check_box(box, positions.shape[1], positions.dtype))


def _needs_update(neighbors: NeighborList, positions: Array, b: Array) -> Array:
    d = positions - neighbors.reference_positions
    d = d - b.reshape(1, -1) * jnp.round(d / b.reshape(1, -1))
    half = 0.5 * neighbors.skin
    return jnp.max(jnp.sum(d * d, axis=-1)) > half * half


def maybe_update_neighbor_list(
    neighbors: NeighborList,
    positions: Float[Array, "n dim"],
    box: Float[Array, ""] | Float[Array, " dim"] | float,
) -> NeighborList:
    """Rebuild (``lax.cond``) only when :func:`neighbor_list_needs_update`."""
    check_array("positions", positions, ndim=2)
    return maybe_update(neighbors, positions, check_box(box, positions.shape[1], positions.dtype))


def maybe_update(neighbors: NeighborList, positions: Array, b: Array) -> NeighborList:
    """:func:`maybe_update_neighbor_list` with ``b`` the checked ``(dim,)`` box (what a
    rollout runs every step, after checking once)."""
    return jax.lax.cond(
        _needs_update(neighbors, positions, b),
        lambda: _update(neighbors, positions, b),
        lambda: neighbors,
    )


def allocate_neighbor_list(
    positions: Float[Array, "n dim"],
    box: Float[Array, ""] | Float[Array, " dim"] | float,
    *,
    cutoff: float,
    skin: float = 0.3,
    method: str = "cell",
    capacity_factor: float = 1.25,
    min_capacity: int = 0,
    min_cell_capacity: int = 0,
) -> NeighborList:
    """Size and build a list from CONCRETE positions (call outside ``jit``).

    Capacities are ``ceil(capacity_factor * count)`` of the largest counts found now (at least
    ``min_capacity`` / ``min_cell_capacity``), leaving headroom for density fluctuations.
    ``method="cell"`` needs every box side ``>= 3 (cutoff + skin)``; ``"dense"`` has no limit
    but costs ``O(n^2)`` per build.
    """
    if not (is_concrete(positions) and is_concrete(box)):
        raise TypeError(
            "allocate_neighbor_list sizes arrays from values: call it outside jit "
            "(inside, use update_neighbor_list on an allocated list)"
        )
    positions = jnp.asarray(positions)
    check_array("positions", positions, ndim=2)
    check_finite("positions", positions)
    if not (cutoff > 0 and skin >= 0):
        raise ValueError(f"cutoff/skin: expected cutoff > 0 and skin >= 0, got {cutoff}, {skin}")
    if capacity_factor < 1:
        raise ValueError(f"capacity_factor: expected >= 1, got {capacity_factor}")
    n, dim = positions.shape
    b = np.asarray(box_vector(box, dim, positions.dtype), dtype=np.float64)
    if np.any(b <= 0) or not np.all(np.isfinite(b)):
        raise ValueError(f"box: expected positive finite side lengths, got {b}")
    reach = cutoff + skin
    if method == "cell":
        cps = tuple(int(v) for v in np.floor(b / reach))
        if min(cps) < 3:
            raise ValueError(
                f"box: a cell list needs every box side >= 3 * (cutoff + skin) = {3 * reach:.4g}, "
                f"got box {b.tolist()}; use method='dense' for a box this small"
            )
        wrapped = np.mod(np.asarray(positions, np.float64), b)
        cell = np.clip(
            np.floor(wrapped / (b / np.array(cps))).astype(np.int64), 0, np.array(cps) - 1
        )
        flat = cell @ _strides(cps).astype(np.int64)
        max_cell = int(np.bincount(flat, minlength=math.prod(cps)).max())
        cell_capacity = max(math.ceil(capacity_factor * max_cell), min_cell_capacity, 1)
        probe_cap = (3**dim) * cell_capacity
    elif method == "dense":
        if reach > 0.5 * float(b.min()):
            raise ValueError(
                f"box: cutoff + skin = {reach} exceeds half the smallest box side {b.min() / 2}; "
                "the minimum image would miss pairs"
            )
        cps, cell_capacity, probe_cap = None, 0, max(n - 1, 1)
    else:
        raise ValueError(f"method: expected 'cell' or 'dense', got {method!r}")
    box_arr = jnp.asarray(b, dtype=positions.dtype)

    def build(cap: int) -> NeighborList:
        return _build_jit(
            positions,
            box_arr,
            cutoff=cutoff,
            skin=skin,
            capacity=cap,
            cells_per_side=cps,
            cell_capacity=cell_capacity,
        )

    needed = int(build(probe_cap).max_neighbors_seen)
    return build(max(math.ceil(capacity_factor * needed), min_capacity, 1))


# allocation builds once per (shape, capacity) under jit: one compile instead of ~60 eager ops
_build_jit = jax.jit(
    build_neighbor_list,
    static_argnames=("cutoff", "skin", "capacity", "cells_per_side", "cell_capacity"),
)


def reallocate_neighbor_list(
    neighbors: NeighborList,
    positions: Float[Array, "n dim"],
    box: Float[Array, ""] | Float[Array, " dim"] | float,
    *,
    capacity_factor: float = 1.25,
) -> NeighborList:
    """A fresh list for ``positions`` with capacities at least those of ``neighbors`` and large
    enough for every count it recorded (call outside ``jit``, e.g. after ``did_overflow``)."""
    return allocate_neighbor_list(
        positions,
        box,
        cutoff=neighbors.cutoff,
        skin=neighbors.skin,
        method="dense" if neighbors.cells_per_side is None else "cell",
        capacity_factor=capacity_factor,
        min_capacity=max(
            neighbors.capacity, math.ceil(capacity_factor * int(neighbors.max_neighbors_seen))
        ),
        min_cell_capacity=max(
            neighbors.cell_capacity, math.ceil(capacity_factor * int(neighbors.max_cell_seen))
        ),
    )
