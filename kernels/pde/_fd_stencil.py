r"""Finite-difference Laplacians on uniform grids (2nd and 4th order), periodic and Dirichlet.

.. math:: (\nabla^2_h u)_i = \sum_{a} \frac{1}{h_a^2} \sum_{o=-r}^{r} c_o\, u_{i + o e_a}

with the centered second-difference weights ``c = (1, -2, 1)`` (order 2, ``r = 1``) and
``c = (-1/12, 4/3, -5/2, 4/3, -1/12)`` (order 4, ``r = 2``) [Fornberg 1988, *Math. Comp.* 51].

Three layers, so a sharded caller can reuse the stencil on a halo-padded local block:

* :func:`laplacian_padded` applies the stencil to an array that already carries ``r`` halo
  cells on each side of each of the last ``ndim`` axes and returns the interior. It only
  slices, so it is the same code on a single device and on a local shard after a halo exchange.
* :func:`laplacian_periodic` builds the neighbours with :func:`periodic_shift`, a roll written
  as two ``lax.pad`` ops. XLA:CPU lowers ``jnp.roll`` to slice + concatenate and does not fuse
  a concatenate along the minor axis, so a roll-based Laplacian materialises four extra copies
  where the pad form fuses into one loop. On a sharded
  array both forms compile to halo-sized collective-permutes only (no all-gather).
* :func:`laplacian_dirichlet`: ``u`` includes the boundary nodes, whose values are the
  Dirichlet data and are *held*: the result is zero there. At order 4 the first interior node
  on each side uses the 4th-order one-sided stencil
  ``(10u_0 - 15u_1 - 4u_2 + 14u_3 - 6u_4 + u_5) / 12h^2``.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float

from parallax.kernels._checks import (
    as_real,
    check_array,
    check_finite,
    check_positive,
    check_state_dtype,
    check_value,
)
from parallax.kernels.pde._fd_weights_np import D2_WEIGHTS, ONE_SIDED_D2

__all__ = [
    "D2_WEIGHTS",
    "boundary_mask",
    "laplacian",
    "laplacian_2d",
    "laplacian_3d",
    "laplacian_dirichlet",
    "laplacian_padded",
    "laplacian_periodic",
    "periodic_shift",
]

BC = Literal["periodic", "dirichlet"]
T = TypeVar("T")


def periodic_shift(x: Array, shift: int, axis: int) -> Array:
    """``jnp.roll(x, shift, axis)`` as the sum of two zero-filled ``lax.pad`` shifts.

    Same values as ``jnp.roll`` (one term is exactly zero at every element); it fuses into the
    consumer's loop on XLA:CPU, where the roll's minor-axis concatenate does not.
    """
    n = x.shape[axis]
    s = shift % n
    if s == 0:
        return x
    zero = jnp.zeros((), x.dtype)
    body = [(0, 0, 0)] * x.ndim
    wrap = [(0, 0, 0)] * x.ndim
    body[axis] = (s, -s, 0)  # x[i - s] for i >= s, zero elsewhere
    wrap[axis] = (s - n, n - s, 0)  # x[i - s + n] for i < s, zero elsewhere
    return lax.pad(x, zero, body) + lax.pad(x, zero, wrap)


def _inv_h2(dx: Array, ndim: int) -> list[Array]:
    """``1 / h_a^2`` for each of the ``ndim`` axes (``dx`` scalar or shape ``(ndim,)``)."""
    inv = 1.0 / (dx * dx)
    return [inv if dx.ndim == 0 else inv[a] for a in range(ndim)]


def _check_order(order: int) -> tuple[float, ...]:
    if order not in D2_WEIGHTS:
        raise ValueError(f"order: expected 2 or 4, got {order!r}")
    return D2_WEIGHTS[order]


def centred_sum(x: Array, weights: tuple[float, ...], axis: int, start: int, size: int) -> Array:
    """``Σ_o w_o x[start + o]`` for ``o = -r..r`` along ``axis``, ``size`` points from index
    ``start`` (slices only; ``start >= r`` and ``start + size + r <= x.shape[axis]``)."""
    r = len(weights) // 2
    term = None
    for o, c in zip(range(-r, r + 1), weights, strict=True):
        t = c * lax.slice_in_dim(x, start + o, start + o + size, axis=axis)
        term = t if term is None else term + t
    assert term is not None
    return term


def laplacian_padded(
    up: Float[Array, "*batch ..."], dx: Float[Array, "*d"], *, ndim: int, order: int = 2
) -> Float[Array, "*batch ..."]:
    """The stencil on a halo-padded array: ``up`` has ``r = order // 2`` halo cells on both
    sides of each of its last ``ndim`` axes; returns the interior (each of those axes shorter
    by ``2r``). Slicing only: this is what a sharded caller runs on its exchanged block."""
    w = _check_order(order)
    r = order // 2
    lead = up.ndim - ndim
    inv = _inv_h2(dx, ndim)
    total = None
    for a in range(ndim):
        ax = lead + a
        # the interior of the other padded axes, all of this one
        x = up
        for b in range(ndim):
            if b != a:
                x = lax.slice_in_dim(x, r, up.shape[lead + b] - r, axis=lead + b)
        term = centred_sum(x, w, ax, r, up.shape[ax] - 2 * r) * inv[a]
        total = term if total is None else total + term
    assert total is not None
    return total


def laplacian_periodic(
    u: Float[Array, "*batch ..."], dx: Float[Array, "*d"], *, ndim: int, order: int = 2
) -> Float[Array, "*batch ..."]:
    """The stencil with periodic wrap on the last ``ndim`` axes (shifts, no padding)."""
    w = _check_order(order)
    r = order // 2
    lead = u.ndim - ndim
    inv = _inv_h2(dx, ndim)
    total = None
    for a in range(ndim):
        ax = lead + a
        term = w[r] * u
        for o in range(1, r + 1):
            # u_{i+o} + u_{i-o}: roll by -o brings i+o to i.
            term = term + w[r + o] * (periodic_shift(u, -o, ax) + periodic_shift(u, o, ax))
        term = term * inv[a]
        total = term if total is None else total + term
    assert total is not None
    return total


def _one_sided(u: Array, axis: int, h2inv: Array) -> tuple[Array, Array]:
    """The 4th-order one-sided second differences at nodes 1 and n-2 of ``axis``."""
    n = u.shape[axis]

    def take(i: int) -> Array:
        return lax.slice_in_dim(u, i, i + 1, axis=axis)

    lo = sum(c * take(i) for i, c in enumerate(ONE_SIDED_D2))
    hi = sum(c * take(n - 1 - i) for i, c in enumerate(ONE_SIDED_D2))
    return lo * h2inv, hi * h2inv  # type: ignore[operator]


def boundary_mask(shape: tuple[int, ...], ndim: int) -> np.ndarray:
    """Boolean NumPy mask of full rank ``len(shape)``: True on interior nodes of the last
    ``ndim`` axes (size 1 on leading axes, so it broadcasts without rank promotion)."""
    lead = len(shape) - ndim
    mask = np.zeros((1,) * lead + tuple(shape[lead:]), dtype=bool)
    mask[(slice(None),) * lead + (slice(1, -1),) * ndim] = True
    return mask


def laplacian_dirichlet(
    u: Float[Array, "*batch ..."], dx: Float[Array, "*d"], *, ndim: int, order: int = 2
) -> Float[Array, "*batch ..."]:
    """The stencil at interior nodes; zero on the (held) boundary nodes of the last ``ndim``
    axes, whose values are the Dirichlet data.

    Each axis's second difference reads ``u`` directly (centered on nodes ``r .. n-1-r``, plus
    the one-sided rows at nodes 1 and n-2 for order 4), so the gradient is a flat sum of
    shifted cotangents; chaining ghost-node concatenates instead made XLA's fused backward
    expression grow combinatorially (40 s to compile a 12x10 gradient).
    """
    w = _check_order(order)
    r = order // 2
    lead = u.ndim - ndim
    inv = _inv_h2(dx, ndim)
    zero = jnp.zeros((), u.dtype)
    total = None
    for a in range(ndim):
        ax = lead + a
        n = u.shape[ax]
        term = centred_sum(u, w, ax, r, n - 2 * r) * inv[a]
        if order == 4:
            lo, hi = _one_sided(u, ax, inv[a])
            term = jnp.concatenate([lo, term, hi], axis=ax)
        # back to n nodes along this axis (zero at its boundary nodes)
        term = lax.pad(term, zero, [(0, 0, 0)] * ax + [(1, 1, 0)] + [(0, 0, 0)] * (u.ndim - ax - 1))
        total = term if total is None else total + term
    assert total is not None
    # zero on every boundary node (the other axes' terms are nonzero on this axis's boundary)
    return jnp.where(boundary_mask(u.shape, ndim), total, zero)


def _min_points(order: int, bc: str) -> int:
    if bc == "periodic":
        return order + 1
    return 3 if order == 2 else 6


def check_grid(name: str, u: Array, ndim: int, order: int, bc: str) -> None:
    """Trace-time checks shared by the FD kernels: rank, grid size for the stencil, bc."""
    _check_order(order)
    if bc not in ("periodic", "dirichlet"):
        raise ValueError(f"bc: expected 'periodic' or 'dirichlet', got {bc!r}")
    axes = " ".join(f"n{a}" for a in range(ndim))
    check_array(name, u, min_ndim=ndim)
    check_state_dtype(name, u)
    need = _min_points(order, bc)
    if any(s < need for s in u.shape[u.ndim - ndim :]):
        raise ValueError(
            f"{name}: expected shape (*batch, {axes}) with every n >= {need} for order {order} "
            f"{bc}, got {tuple(u.shape)}"
        )


def check_spacing(dx: Array | float, dtype, ndim: int) -> Array:
    """``dx`` as an array of ``dtype``, scalar or one spacing per axis, finite and > 0."""
    dx = as_real("dx", dx, dtype, shape=None)
    if dx.ndim != 0:
        check_array("dx", dx, shape=(ndim,))
    return check_positive("dx", check_finite("dx", dx))


def check_courant(x: T, courant: Array, limit: float, name: str, scheme: str) -> T:
    """Refuse an unstable explicit step (``courant > limit``) instead of silently blowing up;
    returns ``x`` (thread it through)."""
    return check_value(
        x, courant > limit, name, f"Courant number {scheme} exceeds {limit:.4g}: unstable step"
    )


def laplacian(
    u: Float[Array, "*batch ..."],
    dx: Float[Array, "*d"] | float,
    *,
    ndim: int,
    order: int = 2,
    bc: BC = "periodic",
) -> Float[Array, "*batch ..."]:
    """``∇²_h u`` on the last ``ndim`` axes of ``u`` (any leading batch axes).

    ``dx``: grid spacing, a scalar or one per axis (array, so it does not recompile).
    ``order``: 2 or 4. ``bc``: ``"periodic"`` or ``"dirichlet"`` (``u`` includes the boundary
    nodes; the result is zero there, i.e. boundary values are held).

    Shapes, ``order``, ``bc`` and ``dx`` are checked; the *values* of ``u`` are not (a NaN in
    ``u`` gives NaN neighbours in the result, visibly): this is an operator applied inside
    loops, and a compiled finiteness check costs a full extra read plus a copy of ``u``, about
    as much as the stencil itself. The steppers and rollouts check their
    initial state once per call.
    """
    check_grid("u", u, ndim, order, bc)
    dx = check_spacing(dx, u.dtype, ndim)
    if bc == "periodic":
        return laplacian_periodic(u, dx, ndim=ndim, order=order)
    return laplacian_dirichlet(u, dx, ndim=ndim, order=order)


def laplacian_2d(
    u: Float[Array, "*batch nx ny"],
    dx: Float[Array, "*d"] | float,
    *,
    order: int = 2,
    bc: BC = "periodic",
) -> Float[Array, "*batch nx ny"]:
    """2D five-point (order 2) or nine-point-cross (order 4) Laplacian; see :func:`laplacian`."""
    return laplacian(u, dx, ndim=2, order=order, bc=bc)


def laplacian_3d(
    u: Float[Array, "*batch nx ny nz"],
    dx: Float[Array, "*d"] | float,
    *,
    order: int = 2,
    bc: BC = "periodic",
) -> Float[Array, "*batch nx ny nz"]:
    """3D seven-point (order 2) or 13-point (order 4) Laplacian; see :func:`laplacian`."""
    return laplacian(u, dx, ndim=3, order=order, bc=bc)
