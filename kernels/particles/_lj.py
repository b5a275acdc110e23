r"""Lennard-Jones potential, cut and shifted, in a periodic box.

.. math::
    u(r) = \begin{cases}
        4\varepsilon\big[(\sigma/r)^{12} - (\sigma/r)^{6}\big] - u_{\rm LJ}(r_c) & r < r_c \\
        0 & r \ge r_c
    \end{cases}
    \qquad U = \sum_{i<j} u(|\Delta_{ij}|),

with minimum-image displacements :math:`\Delta_{ij}` (requires :math:`r_c \le L/2`, checked).
The shift makes :math:`u` continuous at the cutoff; the force :math:`F = -\nabla U` (taken with
``jax.grad``) still jumps by :math:`u'(r_c)` there, which is what bounds long-run energy
conservation (Allen & Tildesley, *Computer Simulation of Liquids*, 2nd ed., §1.4.3, §5.2).

Two evaluations of the same sum: all pairs (``O(n^2)``) and over a neighbor list (``O(n)``, see
:mod:`._neighbors`). ``sigma`` and ``epsilon`` are arrays (differentiable); ``r_cut`` is a static
length (it fixes the neighbor-list geometry).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from parallax.kernels._checks import (
    as_real,
    check_array,
    check_finite,
    check_nonnegative,
    check_positive,
    check_state_dtype,
)
from parallax.kernels.particles._neighbors import NeighborList
from parallax.kernels.particles._space import check_box

__all__ = [
    "check_lj",
    "check_neighbors",
    "energy",
    "energy_neighbor",
    "lj_energy",
    "lj_energy_and_forces",
    "lj_energy_neighbor",
    "lj_pair_energy",
]


def lj_pair_energy(
    r2: Float[Array, "*pairs"],
    sigma: Float[Array, ""] | float,
    epsilon: Float[Array, ""] | float,
    r_cut: float,
) -> Float[Array, "*pairs"]:
    """Cut-and-shifted ``u(r)`` from squared distances ``r2`` (0 at and beyond ``r_cut``).

    Entries at or beyond the cutoff are replaced by ``r_cut^2`` *before* the powers (the
    double-``where``), so masked pairs (including ``r2 = 0`` padding) give finite gradients.
    """
    rc2 = jnp.asarray(r_cut * r_cut, dtype=r2.dtype)
    inside = r2 < rc2
    safe = jnp.where(inside, r2, rc2)
    s2 = sigma * sigma
    s6 = (s2 / safe) ** 3
    c6 = (s2 / rc2) ** 3
    u = 4.0 * epsilon * ((s6 * s6 - s6) - (c6 * c6 - c6))
    return jnp.where(inside, u, jnp.zeros_like(u))


def check_lj(
    positions: Array, box: Any, sigma: Any, epsilon: Any, r_cut: float
) -> tuple[Array, Array, Array, Array]:
    """The arguments of an LJ evaluation, checked: ``positions`` ``(n, dim)`` and finite, the
    box (:func:`~parallax.kernels.particles._space.check_box`, with ``r_cut <= L/2``),
    ``sigma > 0``, ``epsilon >= 0`` (scalars of the positions' dtype). Value checks: use the
    returned arrays."""
    check_array("positions", positions, ndim=2)
    check_state_dtype("positions", positions)
    dt = positions.dtype
    if not (isinstance(r_cut, int | float) and r_cut > 0):
        raise ValueError(f"r_cut: expected a positive static float, got {r_cut!r}")
    b = check_box(box, positions.shape[-1], dt, r_cut=r_cut)
    sigma = as_real("sigma", sigma, dt)
    epsilon = as_real("epsilon", epsilon, dt)
    return (
        check_finite("positions", positions),
        b,
        check_positive("sigma", sigma),
        check_nonnegative("epsilon", epsilon),
    )


def energy(positions: Array, b: Array, sigma: Array, epsilon: Array, r_cut: float) -> Array:
    """:func:`lj_energy` on checked arguments (``b`` the ``(dim,)`` box): what a rollout's
    force evaluates every step, after checking once."""
    n, dim = positions.shape
    # one (n, n) plane per coordinate rather than pair_displacements' (n, n, dim): XLA:CPU
    # vectorises poorly over a minor axis of 3, and the plane form (and its gradient) does not
    # have one
    r2 = jnp.zeros((n, n), positions.dtype)
    for d in range(dim):
        x = positions[:, d]
        dr = x[:, None] - x[None, :]
        dr = dr - b[d] * jnp.round(dr / b[d])
        r2 = r2 + dr * dr
    off_diag = ~jnp.eye(n, dtype=bool)
    r2 = jnp.where(off_diag, r2, jnp.full_like(r2, 2.0 * r_cut * r_cut))
    return 0.5 * jnp.sum(lj_pair_energy(r2, sigma, epsilon, r_cut))


def energy_neighbor(
    positions: Array, b: Array, sigma: Array, epsilon: Array, neighbors: NeighborList, r_cut: float
) -> Array:
    """:func:`lj_energy_neighbor` on checked arguments."""
    n, dim = positions.shape
    idx = neighbors.idx
    r2 = jnp.zeros(idx.shape, positions.dtype)
    for d in range(dim):  # per coordinate: see _neighbors.build_neighbor_list
        col = jnp.concatenate([positions[:, d], jnp.zeros((1,), positions.dtype)])
        dr = positions[:, d][:, None] - col[idx]
        dr = dr - b[d] * jnp.round(dr / b[d])
        r2 = r2 + dr * dr
    real = idx < n
    r2 = jnp.where(real, r2, jnp.full_like(r2, 2.0 * r_cut * r_cut))
    return 0.5 * jnp.sum(lj_pair_energy(r2, sigma, epsilon, r_cut))


def check_neighbors(neighbors: NeighborList, n: int, r_cut: float) -> None:
    """A list usable for ``n`` particles at cutoff ``r_cut`` (trace time)."""
    if neighbors.cutoff < r_cut:
        raise ValueError(
            f"neighbors: built with cutoff {neighbors.cutoff} < r_cut {r_cut}; rebuild it"
        )
    check_array("neighbors.idx", neighbors.idx, shape=(n, None), kind="integer")


def lj_energy(
    positions: Float[Array, "n dim"],
    box: Float[Array, ""] | Float[Array, " dim"] | float,
    sigma: Float[Array, ""] | float,
    epsilon: Float[Array, ""] | float,
    *,
    r_cut: float = 2.5,
) -> Float[Array, ""]:
    """Total energy ``U = Σ_{i<j} u(|Δ_ij|)`` over all pairs (``O(n^2)``).

    Checked: finite positions, a finite box with sides ``> 0`` and ``r_cut <= min(L) / 2``,
    ``sigma > 0``, ``epsilon >= 0`` (at once when concrete, at run time under ``jit``)."""
    return energy(*check_lj(positions, box, sigma, epsilon, r_cut), r_cut)


def lj_energy_neighbor(
    positions: Float[Array, "n dim"],
    box: Float[Array, ""] | Float[Array, " dim"] | float,
    sigma: Float[Array, ""] | float,
    epsilon: Float[Array, ""] | float,
    neighbors: NeighborList,
    *,
    r_cut: float = 2.5,
) -> Float[Array, ""]:
    """The same ``U`` summed over a neighbor list (each pair appears twice: factor 1/2).

    Exact when ``neighbors`` was built with ``cutoff >= r_cut``, no particle moved more than
    ``skin / 2`` since, and ``neighbors.did_overflow`` is false — check the flag. The inputs
    are checked as in :func:`lj_energy`.
    """
    x, b, sigma, epsilon = check_lj(positions, box, sigma, epsilon, r_cut)
    check_neighbors(neighbors, x.shape[0], r_cut)
    return energy_neighbor(x, b, sigma, epsilon, neighbors, r_cut)


def lj_energy_and_forces(
    positions: Float[Array, "n dim"],
    box: Float[Array, ""] | Float[Array, " dim"] | float,
    sigma: Float[Array, ""] | float,
    epsilon: Float[Array, ""] | float,
    *,
    r_cut: float = 2.5,
) -> tuple[Float[Array, ""], Float[Array, "n dim"]]:
    """``(U, F)`` with ``F = -∂U/∂positions`` from ``jax.value_and_grad`` (all pairs)."""
    u, g = jax.value_and_grad(lj_energy)(positions, box, sigma, epsilon, r_cut=r_cut)
    return u, -g
