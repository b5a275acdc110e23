"""Finite-difference Laplacians and explicit FD rollouts with the grid sharded.

:func:`sharded_laplacian` is :func:`parallax.kernels.pde.laplacian` for a grid split into blocks
over mesh axes: each block exchanges ``order // 2`` halo cells per sharded axis inside one
``shard_map`` and applies the single-device stencil rows (Dirichlet rows by global index).
:func:`sharded_fd_heat` and :func:`sharded_wave_2d` are the explicit rollouts on it. The halo and
boundary rules, the bytes moved per step and where value checks run are in the Sharding guide
(``docs/guides/sharding.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, PartitionSpec

from parallax.kernels import rollout as _rollout
from parallax.kernels._checks import (
    check_array,
    check_finite,
    check_positive,
    check_value,
    is_concrete,
)
from parallax.kernels.pde._fd_stencil import (
    D2_WEIGHTS,
    _inv_h2,
    _one_sided,
    centred_sum,
    check_courant,
    check_grid,
    check_spacing,
    periodic_shift,
)
from parallax.sharding._halo import check_decomposition, conform, halo_exchange, spec_axes

__all__ = ["min_block", "sharded_fd_heat", "sharded_laplacian", "sharded_wave_2d"]

_RHO = {2: 4.0, 4: 16.0 / 3.0}  # spectral radius of h^2 * (-d2) in 1D (periodic)


def min_block(order: int, bc: str) -> int:
    """The fewest nodes a block may hold along a sharded grid axis: the halo width ``r`` (the
    exchange reads ``r`` cells of the neighbour), and 4 for order-4 Dirichlet (the one-sided
    row at global node 1 reads nodes ``0..5``, two of them from the halo)."""
    return 4 if (order == 4 and bc == "dirichlet") else order // 2


def _mesh_size(mesh: Mesh, a: str | tuple[str, ...]) -> int:
    names = (a,) if isinstance(a, str) else tuple(a)
    return int(np.prod([mesh.shape[n] for n in names]))


def _check_blocks(
    shape: Sequence[int], mesh: Mesh, spec: PartitionSpec, ndim: int, order: int, bc: str
) -> dict[int, str | tuple[str, ...]]:
    """The sharded grid dimensions ``{dim: mesh axis}``, after checking divisibility and that
    each block is wide enough for the stencil (errors name the dimension, axis and sizes)."""
    lead = len(shape) - ndim
    r = order // 2
    axes = spec_axes(spec, len(shape))
    if len(tuple(spec)) > len(shape):
        raise ValueError(
            f"u: PartitionSpec {spec} has {len(tuple(spec))} entries for an array of rank "
            f"{len(shape)} (shape {tuple(shape)})"
        )
    grid = {d: a for d, a in axes.items() if d >= lead}
    check_decomposition(shape, mesh, spec, width={d: r for d in grid})
    need = min_block(order, bc)
    for d, a in grid.items():
        p = _mesh_size(mesh, a)
        local = shape[d] // p
        if local < need:
            raise ValueError(
                f"u: the order-{order} {bc} stencil needs blocks of at least {need} points along "
                f"grid dimension {d}, got {local} ({shape[d]} points over mesh axis {a!r} of "
                f"size {p})"
            )
    return grid


def _spacing(dx: Any, dtype: Any, ndim: int) -> jax.Array:
    """``dx`` as an array (scalar or one per axis); its values are checked now when concrete,
    else inside ``shard_map`` by :func:`_check_replicated`."""
    dxa = jnp.asarray(dx, dtype=dtype)
    if dxa.ndim != 0:
        check_array("dx", dxa, shape=(ndim,))
    if is_concrete(dxa):
        check_spacing(dxa, dtype, ndim)
    return dxa


def _check_replicated(*xs: jax.Array, positive: Sequence[str]) -> list[jax.Array]:
    """Finite and > 0 checks of replicated values, run inside ``shard_map``.

    Outside ``shard_map`` an ``equinox.error_if`` on a value the partitioner places on one
    device makes the other devices wait for it in an all-reduce that never comes (the process
    aborts after XLA's 40 s rendezvous timeout); inside, every device holds the same value, so
    all of them raise together, and the check moves no bytes.
    """
    return [check_positive(n, check_finite(n, x)) for n, x in zip(positive, xs, strict=True)]


def _check_finite_sharded(
    names: Sequence[str],
    arrays: Sequence[jax.Array],
    axes: Sequence[str | tuple[str, ...]],
    carrier: jax.Array,
) -> jax.Array:
    """No NaN/Inf anywhere in the sharded ``arrays``, from inside ``shard_map``: the local
    verdicts are summed over ``axes`` (one small all-reduce), so every device raises together
    or none does. The checks ride on the replicated ``carrier``, which is returned (thread it
    through)."""
    bad = jnp.stack([jnp.any(~jnp.isfinite(a)) for a in arrays]).astype(jnp.int32)
    mesh_names: list[str] = []
    for a in axes:
        mesh_names.extend((a,) if isinstance(a, str) else a)
    if mesh_names:
        bad = lax.psum(bad, tuple(mesh_names))
    for i, name in enumerate(names):
        carrier = check_value(carrier, bad[i] > 0, name, "contains NaN or Inf")
    return carrier


def _heat_checks(
    dt: jax.Array, nu: jax.Array, dx: jax.Array, ndim: int, order: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``dt, nu, dx`` finite and > 0 and the forward-Euler limit ``nu dt w sum 1/h^2 <= 2``."""
    dt, nu, dx = _check_replicated(dt, nu, dx, positive=("dt", "nu", "dx"))
    inv = 1.0 / (dx * dx)
    s = ndim * inv if dx.ndim == 0 else jnp.sum(inv)
    nu = check_courant(nu, nu * dt * _RHO[order] * s / 2, 1.0, "nu", "nu dt w sum 1/h^2 / 2")
    return dt, nu, dx


def _local_laplacian(
    b: jax.Array,
    dx: jax.Array,
    *,
    ndim: int,
    order: int,
    bc: str,
    axes: dict[int, str | tuple[str, ...]],
    blocks: dict[int, int],
) -> jax.Array:
    """The Laplacian of this device's block ``b`` (call inside ``shard_map``): halo exchange
    along the sharded grid dims ``axes`` (``blocks`` = number of blocks along each), centred
    stencil, then the Dirichlet rows by global index."""
    w = D2_WEIGHTS[order]
    r = order // 2
    lead = b.ndim - ndim
    zero = jnp.zeros((), b.dtype)
    boundary = "periodic" if bc == "periodic" else "constant"
    up = halo_exchange(b, r, axes, boundary=boundary, fill=0.0, corners=False) if axes else b
    inv = _inv_h2(dx, ndim)

    def crop_except(ax: int) -> jax.Array:
        x = up
        for d in axes:
            if d != ax:
                x = lax.slice_in_dim(x, r, x.shape[d] - r, axis=d)
        return x

    def iota(ax: int, m: int) -> jax.Array:
        shape = [1] * b.ndim
        shape[ax] = m
        return lax.broadcasted_iota(jnp.int32, tuple(shape), ax)

    interior = None  # global interior mask (Dirichlet), full rank
    total = None
    for i in range(ndim):
        ax = lead + i
        x = crop_except(ax)
        m = b.shape[ax]
        if ax in axes:
            term = centred_sum(x, w, ax, r, m) * inv[i]
            if bc == "dirichlet":
                p = blocks[ax]
                k = lax.axis_index(axes[ax])
                gi = k * m + iota(ax, m)  # global node index along this axis
                ok = (gi > 0) & (gi < m * p - 1)
                interior = ok if interior is None else interior & ok
                if order == 4:
                    lo, _ = _one_sided(lax.slice_in_dim(x, r, x.shape[ax], axis=ax), ax, inv[i])
                    _, hi = _one_sided(lax.slice_in_dim(x, 0, r + m, axis=ax), ax, inv[i])
                    term = jnp.where(gi == 1, lo, term)
                    term = jnp.where(gi == m * p - 2, hi, term)
        elif bc == "periodic":
            term = w[r] * x
            for o in range(1, r + 1):
                term = term + w[r + o] * (periodic_shift(x, -o, ax) + periodic_shift(x, o, ax))
            term = term * inv[i]
        else:  # unsharded Dirichlet axis: the single-device rows of laplacian_dirichlet
            term = centred_sum(x, w, ax, r, m - 2 * r) * inv[i]
            if order == 4:
                lo, hi = _one_sided(x, ax, inv[i])
                term = jnp.concatenate([lo, term, hi], axis=ax)
            pads = [(0, 0, 0)] * b.ndim
            pads[ax] = (1, 1, 0)
            term = lax.pad(term, zero, pads)
            ok = (iota(ax, m) > 0) & (iota(ax, m) < m - 1)
            interior = ok if interior is None else interior & ok
        total = term if total is None else total + term
    assert total is not None
    if interior is not None:
        total = jnp.where(interior, total, zero)
    return total


def _global_interior(
    shape: Sequence[int],
    ndim: int,
    axes: dict[int, str | tuple[str, ...]],
    blocks: dict[int, int],
) -> jax.Array:
    """True on this block's nodes that are interior to the global grid along all of the last
    ``ndim`` axes (call inside ``shard_map``); full rank, size 1 on the other axes."""
    lead = len(shape) - ndim
    out = None
    for ax in range(lead, len(shape)):
        m = shape[ax]
        dims = [1] * len(shape)
        dims[ax] = m
        gi = lax.broadcasted_iota(jnp.int32, tuple(dims), ax)
        n = m
        if ax in axes:
            gi = gi + lax.axis_index(axes[ax]) * m
            n = m * blocks[ax]
        ok = (gi > 0) & (gi < n - 1)
        out = ok if out is None else out & ok
    assert out is not None
    return out


def _check_static(ndim: int, order: int, bc: str) -> None:
    if order not in D2_WEIGHTS:
        raise ValueError(f"order: expected 2 or 4, got {order!r}")
    if bc not in ("periodic", "dirichlet"):
        raise ValueError(f"bc: expected 'periodic' or 'dirichlet', got {bc!r}")
    if not isinstance(ndim, int) or ndim < 1:
        raise ValueError(f"ndim: expected a positive int, got {ndim!r}")


def sharded_laplacian(
    mesh: Mesh, spec: PartitionSpec, *, ndim: int, order: int = 2, bc: str = "periodic"
) -> Callable[[jax.Array, Any], jax.Array]:
    """``lap(u, dx)``: :func:`parallax.kernels.pde.laplacian` ``(u, dx, ndim=ndim, order=order,
    bc=bc)`` computed with ``u`` sharded as ``spec`` on ``mesh``.

    ``spec`` covers ``u``'s dimensions (leading batch dims, then the ``ndim`` grid dims); grid
    dims sharded over a mesh axis get halos, batch dims are split without communication. ``dx``
    is a scalar or one spacing per grid axis (replicated). The result is sharded as ``spec``.
    Raises ``ValueError`` when a grid dim does not divide over its mesh axis or a block is
    narrower than the stencil needs (:func:`min_block`), naming the dimension, axis and sizes.
    """
    _check_static(ndim, order, bc)

    def lap(u: jax.Array, dx: Any) -> jax.Array:
        check_grid("u", u, ndim, order, bc)
        dxa = _spacing(dx, u.dtype, ndim)
        axes = _check_blocks(u.shape, mesh, spec, ndim, order, bc)
        blocks = {d: _mesh_size(mesh, a) for d, a in axes.items()}

        def local(b: jax.Array, h: jax.Array) -> jax.Array:
            h = _check_replicated(h, positive=("dx",))[0]
            return _local_laplacian(b, h, ndim=ndim, order=order, bc=bc, axes=axes, blocks=blocks)

        in_specs = (spec, PartitionSpec())
        placed = conform((u, dxa), mesh, in_specs)
        return jax.shard_map(local, mesh=mesh, in_specs=in_specs, out_specs=spec)(*placed)

    return lap


def sharded_fd_heat(
    mesh: Mesh,
    spec: PartitionSpec,
    *,
    ndim: int,
    num_steps: int,
    save_every: int | None = None,
    order: int = 2,
    bc: str = "dirichlet",
    checkpoint: str | None = None,
    checkpoints: int | None = None,
) -> Callable[..., tuple[jax.Array, jax.Array]]:
    r"""``run(u0, dt, nu, dx) -> (u_final, trajectory)``: ``num_steps`` explicit heat steps
    :math:`u \leftarrow u + \nu\,\Delta t\,\nabla^2_h u` (forward Euler in time, the order-2/4
    Laplacian of :func:`sharded_laplacian` in space) with ``u`` sharded as ``spec``.

    One ``shard_map`` holds the whole ``lax.scan`` (two nested scans when ``save_every`` is
    given, as :func:`parallax.kernels.rollout`); the halos are exchanged every step and nothing
    else is communicated. ``trajectory`` holds ``u`` after every ``save_every`` steps (default:
    only the final state), shape ``(num_steps // save_every, *u.shape)``, sharded as
    ``P(None, *spec)``. ``checkpoint`` / ``checkpoints`` bound the memory of gradients through
    the rollout (:func:`parallax.kernels.rollout`). ``dt``, ``nu`` (scalars) and ``dx`` are
    arrays, so changing them does not recompile; ``dt, nu > 0``, finite ``u0`` and the explicit
    stability limit ``nu dt w sum_a 1/h_a^2 <= 2`` (``w = 4`` at order 2, ``16/3`` at order 4)
    are checked.
    ``bc="dirichlet"`` holds the boundary nodes at their initial values.
    """
    _check_static(ndim, order, bc)
    every = num_steps if save_every is None else save_every
    remat = {"checkpoint": checkpoint, "checkpoints": checkpoints}
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps: expected a positive int, got {num_steps!r}")
    traj_spec = PartitionSpec(None, *tuple(spec))

    def run(u0: jax.Array, dt: Any, nu: Any, dx: Any) -> tuple[jax.Array, jax.Array]:
        check_grid("u0", u0, ndim, order, bc)
        dt = jnp.asarray(dt, u0.dtype)
        nu = jnp.asarray(nu, u0.dtype)
        check_array("dt", dt, ndim=0)
        check_array("nu", nu, ndim=0)
        dxa = _spacing(dx, u0.dtype, ndim)
        if is_concrete(dt) and is_concrete(nu) and is_concrete(dxa):
            _heat_checks(dt, nu, dxa, ndim, order)  # clear ValueErrors at trace time
        axes = _check_blocks(u0.shape, mesh, spec, ndim, order, bc)
        blocks = {d: _mesh_size(mesh, a) for d, a in axes.items()}
        data_axes = list(spec_axes(spec, u0.ndim).values())

        def local(
            b: jax.Array, k: jax.Array, n: jax.Array, h: jax.Array
        ) -> tuple[jax.Array, jax.Array]:
            k, n, h = _heat_checks(k, n, h, ndim, order)
            kn = _check_finite_sharded(["u0"], [b], data_axes, k * n)

            def step(v: jax.Array) -> jax.Array:
                lap = _local_laplacian(
                    v, h, ndim=ndim, order=order, bc=bc, axes=axes, blocks=blocks
                )
                return v + kn * lap

            return _rollout(step, b, num_steps, save_every=every, **remat)

        in_specs = (spec, PartitionSpec(), PartitionSpec(), PartitionSpec())
        placed = conform((u0, dt, nu, dxa), mesh, in_specs)
        return jax.shard_map(local, mesh=mesh, in_specs=in_specs, out_specs=(spec, traj_spec))(
            *placed
        )

    return run


_WAVE_LIMIT = "c dt sqrt(w sum 1/h^2) / 2"


def _wave_checks(
    c: jax.Array, dt: jax.Array, dx: jax.Array, order: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``c, dt, dx`` finite and > 0 and the leapfrog limit of
    :func:`parallax.kernels.pde.wave_2d_step`."""
    c, dt, dx = _check_replicated(c, dt, dx, positive=("c", "dt", "dx"))
    inv = 1.0 / (dx * dx)
    s = 2 * inv if dx.ndim == 0 else jnp.sum(inv)
    c = check_courant(c, c * dt * jnp.sqrt(_RHO[order] * s) / 2, 1.0, "c", _WAVE_LIMIT)
    return c, dt, dx


def sharded_wave_2d(
    mesh: Mesh,
    spec: PartitionSpec,
    *,
    num_steps: int,
    save_every: int | None = None,
    order: int = 2,
    bc: str = "dirichlet",
    checkpoint: str | None = None,
    checkpoints: int | None = None,
) -> Callable[..., tuple[tuple[jax.Array, jax.Array], jax.Array]]:
    r"""``run(u_prev, u, c, dt, dx) -> ((u^{N-1}, u^N), trajectory)``:
    :func:`parallax.kernels.pde.wave_2d_rollout` (leapfrog
    :math:`u^{n+1} = 2u^n - u^{n-1} + (c\Delta t)^2 \nabla^2_h u^n`, boundary nodes held for
    ``bc="dirichlet"``) with the ``(*batch, nx, ny)`` fields sharded as ``spec``.

    One ``shard_map`` around the ``lax.scan``; halos of ``u^n`` are exchanged every step (the
    only communication besides one scalar all-reduce per call for the NaN check). The
    trajectory holds ``u`` after every ``save_every`` steps (default: the final one), sharded as
    ``P(None, *spec)``; ``checkpoint`` / ``checkpoints`` as :func:`parallax.kernels.rollout`.
    Same checks as the single-device kernel (shapes, dtypes, ``c, dt > 0``,
    the Courant limit) plus the block sizes of :func:`sharded_laplacian`.
    """
    _check_static(2, order, bc)
    every = num_steps if save_every is None else save_every
    remat = {"checkpoint": checkpoint, "checkpoints": checkpoints}
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps: expected a positive int, got {num_steps!r}")
    traj_spec = PartitionSpec(None, *tuple(spec))

    def run(
        u_prev: jax.Array, u: jax.Array, c: Any, dt: Any, dx: Any
    ) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
        check_grid("u", u, 2, order, bc)
        check_array("u_prev", u_prev, shape=tuple(u.shape))
        if u_prev.dtype != u.dtype:
            raise TypeError(f"u_prev: expected dtype {u.dtype} (as u), got {u_prev.dtype}")
        c = jnp.asarray(c, u.dtype)
        dt = jnp.asarray(dt, u.dtype)
        check_array("c", c, ndim=0)
        check_array("dt", dt, ndim=0)
        dxa = _spacing(dx, u.dtype, 2)
        if is_concrete(c) and is_concrete(dt) and is_concrete(dxa):
            _wave_checks(c, dt, dxa, order)  # clear ValueErrors at trace time
        axes = _check_blocks(u.shape, mesh, spec, 2, order, bc)
        blocks = {d: _mesh_size(mesh, a) for d, a in axes.items()}
        data_axes = list(spec_axes(spec, u.ndim).values())

        def local(
            bp: jax.Array, b: jax.Array, cc: jax.Array, k: jax.Array, h: jax.Array
        ) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
            cc, k, h = _wave_checks(cc, k, h, order)
            k2 = _check_finite_sharded(["u_prev", "u"], [bp, b], data_axes, (cc * k) ** 2)
            inside = _global_interior(b.shape, 2, axes, blocks) if bc == "dirichlet" else None

            def step(state: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
                vp, v = state
                lap = _local_laplacian(v, h, ndim=2, order=order, bc=bc, axes=axes, blocks=blocks)
                vn = 2 * v - vp + k2 * lap
                if inside is not None:
                    vn = jnp.where(inside, vn, v)
                return v, vn

            final, traj = _rollout(step, (bp, b), num_steps, save_every=every, **remat)
            return final, traj[1]

        in_specs = (spec, spec, PartitionSpec(), PartitionSpec(), PartitionSpec())
        placed = conform((u_prev, u, c, dt, dxa), mesh, in_specs)
        return jax.shard_map(
            local, mesh=mesh, in_specs=in_specs, out_specs=((spec, spec), traj_spec)
        )(*placed)

    return run
