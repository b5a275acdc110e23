"""Domain decomposition for grids: halo exchange with ``shard_map`` + ``lax.ppermute``.

A grid ``u`` of shape ``(..., n_0, n_1, ...)`` is split into blocks along the dimensions named
by a :class:`PartitionSpec`. A stencil of radius ``r <= w`` needs, on each block, ``w`` cells of
each neighbour along every sharded dimension (the halo). :func:`halo_exchange` (inside
``shard_map``) pads the local block with those cells: per sharded dimension two
``collective-permute`` s of ``w x face`` cells each (one to each neighbour), so a step moves
``2 w face`` elements per device and dimension, never the whole grid. Dimensions are exchanged
one after the other on the already padded block, which fills the corner halos too.

Boundaries: ``"periodic"`` wraps around the ring; ``"constant"`` fills the halo on the outer
blocks with ``fill`` (Dirichlet-style zero padding for ``fill=0``); ``"edge"`` repeats the edge
value (zero-gradient Neumann padding).

:func:`sharded_stencil` turns any *local* stencil ``f(u) -> u'`` that keeps shape (e.g. built
from ``jnp.roll`` for periodic grids, or padding itself) into a sharded one: each block is
padded with halos, ``f`` runs on the padded block, and the ``w`` cells polluted by ``f``'s own
wrap-around or padding are cropped. For a stencil of radius ``r <= w`` the result equals the
unsharded ``f(u)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from parallax.sharding._mesh import has_explicit_axes

__all__ = ["check_decomposition", "conform", "halo_exchange", "sharded_stencil", "spec_axes"]


def conform(x: Any, mesh: Mesh, spec: Any) -> Any:
    """On a mesh with Explicit axes, ``jax.reshard`` ``x`` to ``spec`` (what ``shard_map``'s
    ``in_specs`` demand there); on Auto meshes ``shard_map`` reshards by itself."""
    if not has_explicit_axes(mesh):
        return x
    return jax.tree.map(
        lambda a, s: jax.reshard(a, NamedSharding(mesh, s)),
        x,
        spec,
        is_leaf=lambda z: isinstance(z, PartitionSpec),
    )


_BOUNDARIES = ("periodic", "constant", "edge")


def spec_axes(spec: PartitionSpec, ndim: int) -> dict[int, str | tuple[str, ...]]:
    """``{dimension: mesh axis (or axes)}`` for every sharded dimension of ``spec``."""
    out: dict[int, str | tuple[str, ...]] = {}
    entries = tuple(spec) + (None,) * (ndim - len(spec))
    for d, e in enumerate(entries[:ndim]):
        if e is None:
            continue
        if isinstance(e, tuple) and len(e) == 1:
            e = e[0]
        out[d] = e
    return out


def _per_dim(value: Any, dims: Sequence[int], what: str) -> dict[int, Any]:
    if isinstance(value, Mapping):
        missing = set(dims) - set(value)
        if missing:
            raise ValueError(f"{what}: no entry for sharded dimensions {sorted(missing)}")
        return {d: value[d] for d in dims}
    return {d: value for d in dims}


def check_decomposition(
    shape: Sequence[int],
    mesh: Mesh,
    spec: PartitionSpec,
    *,
    width: int | Mapping[int, int] = 0,
    name: str = "u",
) -> None:
    """Raise ``ValueError`` when a grid does not divide over its mesh axes or a halo is wider
    than the local block; the message names the dimension, the mesh axis and the sizes."""
    axes = spec_axes(spec, len(shape))
    if isinstance(width, Mapping):
        widths = {d: int(width.get(d, 0)) for d in axes}
    else:
        widths = {d: int(width) for d in axes}
    for d, a in axes.items():
        names = (a,) if isinstance(a, str) else tuple(a)
        for n in names:
            if n not in mesh.shape:
                raise ValueError(f"{name}: mesh axis {n!r} (dimension {d}) is not in {mesh.shape}")
        size = 1
        for n in names:
            size *= mesh.shape[n]
        if shape[d] % size:
            raise ValueError(
                f"{name}: grid dimension {d} has {shape[d]} points, not divisible by mesh axis "
                f"{a!r} of size {size}"
            )
        local = shape[d] // size
        if widths[d] > local:
            raise ValueError(
                f"{name}: halo width {widths[d]} along dimension {d} is wider than the local "
                f"block of {local} points ({shape[d]} points over mesh axis {a!r} of size {size})"
            )
        if widths[d] < 0:
            raise ValueError(f"{name}: halo width must be >= 0, got {widths[d]}")


def _take(x: jax.Array, dim: int, start: int, stop: int) -> jax.Array:
    return lax.slice_in_dim(x, start, stop, axis=dim)


def _in_mesh_order(
    pairs: list[tuple[int, int]], axes: str | tuple[str, ...]
) -> list[tuple[int, int]]:
    """Renumber block pairs for ``lax.ppermute`` over several mesh axes.

    A dimension sharded over ``("y", "x")`` numbers its blocks ``y`` major (the order
    ``lax.axis_index(("y", "x"))`` uses), but ``lax.ppermute`` numbers the devices of a tuple of
    axes in the mesh's axis order. Without this the halos of a dimension sharded over axes
    listed out of mesh order came from the wrong neighbours.
    """
    if isinstance(axes, str) or len(axes) == 1:
        return pairs
    mesh_order = [n for n in jax.sharding.get_abstract_mesh().axis_names if n in axes]
    if list(axes) == mesh_order:
        return pairs
    sizes = {n: lax.axis_size(n) for n in axes}

    def renumber(block: int) -> int:
        coord = {}
        for n in reversed(axes):  # tuple order, last axis minor
            block, coord[n] = divmod(block, sizes[n])
        index = 0
        for n in mesh_order:
            index = index * sizes[n] + coord[n]
        return index

    return [(renumber(i), renumber(j)) for i, j in pairs]


def halo_exchange(
    x: jax.Array,
    width: int | Mapping[int, int],
    axes: Mapping[int, str | tuple[str, ...]],
    *,
    boundary: str | Mapping[int, str] = "periodic",
    fill: float = 0.0,
    corners: bool = True,
) -> jax.Array:
    """Pad the local block ``x`` with ``width`` halo cells along each dimension in ``axes``.

    Call inside ``jax.shard_map``. ``axes`` maps an array dimension to the mesh axis it is
    sharded over (:func:`spec_axes` builds it from a ``PartitionSpec``). Returns the block
    grown by ``2 * width`` along each of those dimensions. ``corners=False`` skips the corner
    (edge/vertex) halos, which star-shaped stencils (the 5-point Laplacian) never read: the
    corners are zero and each dimension moves exactly ``2 w face`` cells.
    """
    block = x
    done: list[int] = []
    dims = list(axes)
    widths = _per_dim(width, dims, "width")
    bounds = _per_dim(boundary, dims, "boundary")
    for d, b in bounds.items():
        if b not in _BOUNDARIES:
            raise ValueError(
                f"boundary for dimension {d}: expected one of {_BOUNDARIES}, got {b!r}"
            )
    for d in dims:
        w, a, b = widths[d], axes[d], bounds[d]
        if w == 0:
            continue
        src = x if corners else block
        n_loc = src.shape[d]
        if w > n_loc:
            raise ValueError(
                f"halo width {w} along dimension {d} is wider than the local block of {n_loc} "
                f"points (mesh axis {a!r})"
            )
        p = lax.axis_size(a)
        right_edge = _take(src, d, n_loc - w, n_loc)  # to the right neighbour's left halo
        left_edge = _take(src, d, 0, w)  # to the left neighbour's right halo
        if p == 1:
            lo, hi = right_edge, left_edge
        else:
            wrap = b == "periodic"
            to_right = [(i, i + 1) for i in range(p - 1)] + ([(p - 1, 0)] if wrap else [])
            to_left = [(i + 1, i) for i in range(p - 1)] + ([(0, p - 1)] if wrap else [])
            to_right, to_left = _in_mesh_order(to_right, a), _in_mesh_order(to_left, a)
            lo = lax.ppermute(right_edge, a, to_right)
            hi = lax.ppermute(left_edge, a, to_left)
        if b != "periodic":
            idx = lax.axis_index(a)
            if b == "constant":
                lo_out = jnp.full_like(lo, fill)
                hi_out = jnp.full_like(hi, fill)
            else:  # edge
                reps = [1] * src.ndim
                reps[d] = w
                lo_out = jnp.tile(_take(src, d, 0, 1), reps)
                hi_out = jnp.tile(_take(src, d, n_loc - 1, n_loc), reps)
            lo = jnp.where(idx == 0, lo_out, lo)
            hi = jnp.where(idx == p - 1, hi_out, hi)
        if not corners and done:
            pads = [(0, 0)] * x.ndim
            for e in done:
                pads[e] = (widths[e], widths[e])
            lo, hi = jnp.pad(lo, pads), jnp.pad(hi, pads)
        x = jnp.concatenate([lo, x, hi], axis=d)
        done.append(d)
    return x


def sharded_stencil(
    f: Callable[..., jax.Array],
    mesh: Mesh,
    spec: PartitionSpec,
    *,
    width: int | Mapping[int, int],
    boundary: str | Mapping[int, str] = "periodic",
    fill: float = 0.0,
    corners: bool = True,
    halo_dims: Sequence[int] | None = None,
    mode: str = "same",
) -> Callable[..., jax.Array]:
    """Run the shape-preserving local stencil ``f(u, *args)`` on ``u`` sharded as ``spec``.

    Returns ``g(u, *args)`` (a global function; ``args`` are replicated) with ``g(u) == f(u)``
    whenever ``f`` has radius ``<= width`` along each sharded dimension, ``f``'s own boundary
    treatment matches ``boundary``, and ``u`` divides over the mesh (checked, with an error
    naming the axis and sizes). ``halo_dims`` restricts the exchange to some sharded
    dimensions (e.g. skip a batch dimension sharded over ``data``); ``corners=False`` is for
    star-shaped stencils (see :func:`halo_exchange`).

    ``mode="valid"``: ``f`` takes the halo-padded block and itself returns the interior (e.g.
    :func:`parallax.kernels.pde.laplacian_padded`), so nothing is cropped. Every dimension that
    ``f`` shrinks must then be a sharded (exchanged) one.
    """
    if mode not in ("same", "valid"):
        raise ValueError(f"mode: expected 'same' or 'valid', got {mode!r}")

    def g(u: jax.Array, *args: Any) -> jax.Array:
        axes = spec_axes(spec, u.ndim)
        if halo_dims is not None:
            axes = {d: a for d, a in axes.items() if d in halo_dims}
        widths = _per_dim(width, list(axes), "width")
        check_decomposition(u.shape, mesh, spec, width=widths if axes else 0)

        def local(b: jax.Array, *a: Any) -> jax.Array:
            padded = halo_exchange(b, widths, axes, boundary=boundary, fill=fill, corners=corners)
            out = f(padded, *a)
            if mode == "valid":
                if out.shape != b.shape:
                    raise ValueError(
                        f"mode='valid': the stencil must return the unpadded block {b.shape}, "
                        f"got {out.shape} from {padded.shape}"
                    )
                return out
            if out.shape != padded.shape:
                raise ValueError(
                    f"stencil must keep the block shape: got {out.shape} from {padded.shape}"
                )
            for d, w in widths.items():
                out = _take(out, d, w, out.shape[d] - w)
            return out

        in_specs = (spec, *(PartitionSpec() for _ in args))
        placed = conform((u, *args), mesh, in_specs)
        return jax.shard_map(local, mesh=mesh, in_specs=in_specs, out_specs=spec)(*placed)

    return g
