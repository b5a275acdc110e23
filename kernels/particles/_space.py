r"""Periodic (orthorhombic) boxes: displacement under the minimum-image convention.

A box is a scalar side length ``L`` (cubic) or a vector ``(L_1, ..., L_d)``. For two points the
minimum-image displacement is

.. math:: \Delta = (r_i - r_j) - L \odot \operatorname{round}\big((r_i - r_j) \oslash L\big),

so every component lies in ``[-L/2, L/2]``. Positions are kept *unwrapped* by the integrators
(the minimum image makes the energy independent of wrapping, and unwrapped coordinates keep
trajectories smooth for gradients and parity); :func:`wrap` maps them into ``[0, L)`` when
needed (cell assignment, output).
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from parallax.kernels._checks import (
    as_real,
    check_array,
    check_finite,
    check_positive,
    check_value,
)

__all__ = ["box_vector", "check_box", "displacement", "pair_displacements", "wrap"]


def box_vector(box: Float[Array, ""] | Float[Array, " dim"] | float, dim: int, dtype) -> Array:
    """``box`` as a ``(dim,)`` array of side lengths (a scalar means a cubic box); shape only,
    see :func:`check_box` for the values."""
    b = as_real("box", box, dtype, shape=None)
    if b.ndim == 0:
        return jnp.full((dim,), b, dtype=dtype) if dim > 0 else b.reshape((0,))
    check_array("box", b, shape=(dim,))
    return b


def check_box(
    box: Float[Array, ""] | Float[Array, " dim"] | float,
    dim: int,
    dtype,
    *,
    r_cut: float | None = None,
) -> Array:
    """:func:`box_vector` with finite side lengths ``> 0`` and, given a cutoff, ``r_cut <=
    min(L) / 2``: beyond it a pair's nearest image is not the only one within the cutoff, and
    the minimum-image sum misses pairs. Value checks: use the returned box."""
    b = check_positive("box", check_finite("box", box_vector(box, dim, dtype)))
    if r_cut is None or dim == 0:
        return b
    return check_value(
        b,
        2 * r_cut > jnp.min(b),
        "r_cut",
        f"expected r_cut <= min(box) / 2 (the minimum-image convention), got r_cut={r_cut}",
    )


def _expand(box: Array, ndim: int) -> Array:
    return box.reshape((1,) * (ndim - 1) + (-1,))


def displacement(
    ri: Float[Array, "*batch dim"],
    rj: Float[Array, "*batch dim"],
    box: Float[Array, ""] | Float[Array, " dim"] | float,
) -> Float[Array, "*batch dim"]:
    """Minimum-image displacement ``r_i - r_j`` in a periodic box (shapes must match; finite
    coordinates)."""
    check_array("ri", ri, min_ndim=1)
    check_array("rj", rj, shape=tuple(ri.shape))
    b = _expand(check_box(box, ri.shape[-1], ri.dtype), ri.ndim)
    dr = check_finite("ri", ri) - check_finite("rj", rj)
    return dr - b * jnp.round(dr / b)


def pair_displacements(
    positions: Float[Array, "n dim"], box: Float[Array, ""] | Float[Array, " dim"] | float
) -> Float[Array, "n n dim"]:
    """All minimum-image displacements ``Δ[i, j] = r_i - r_j``, shape ``(n, n, dim)``."""
    check_array("positions", positions, ndim=2)
    b = check_box(box, positions.shape[-1], positions.dtype).reshape(1, 1, -1)
    positions = check_finite("positions", positions)
    dr = positions[:, None, :] - positions[None, :, :]
    return dr - b * jnp.round(dr / b)


def wrap(
    positions: Float[Array, "*batch dim"], box: Float[Array, ""] | Float[Array, " dim"] | float
) -> Float[Array, "*batch dim"]:
    """Positions mapped into ``[0, L)`` per axis (finite coordinates)."""
    check_array("positions", positions, min_ndim=1)
    b = _expand(check_box(box, positions.shape[-1], positions.dtype), positions.ndim)
    return jnp.mod(check_finite("positions", positions), b)
