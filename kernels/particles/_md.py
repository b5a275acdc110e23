r"""Lennard-Jones dynamics on ``lax.scan``: NVE (velocity Verlet) and NVT (Langevin BAOAB).

Reduced units: unit mass; ``sigma``, ``epsilon``, ``dt``, ``gamma``, ``kT`` are arrays (no
recompiles when they change, differentiable). Positions stay unwrapped (minimum image in the
energy). Each rollout returns an :class:`MDTrajectory`: the final positions and velocities and
the kinetic and potential energies after every ``save_every`` steps.

Forces over all pairs (default) or over a neighbor list: pass ``skin`` (and static capacities)
to :func:`lj_nve_rollout`, or an allocated :class:`NeighborList` to
:func:`lj_nve_neighbor_rollout`, which returns the list so the caller sees ``did_overflow``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from parallax.kernels._checks import (
    as_real,
    check_array,
    check_finite,
    check_nonnegative,
    check_positive,
    check_same_dtype,
    error_if,
)
from parallax.kernels._rollout import rollout
from parallax.kernels.particles._integrators import (
    MDState,
    baoab_step,
    init_state,
    kinetic_energy,
    step_noise,
    velocity_verlet_step,
)
from parallax.kernels.particles._lj import check_lj, check_neighbors, energy, energy_neighbor
from parallax.kernels.particles._neighbors import NeighborList, build_neighbor_list, maybe_update

__all__ = [
    "MDTrajectory",
    "lj_langevin_rollout",
    "lj_nve_neighbor_rollout",
    "lj_nve_rollout",
]


class MDTrajectory(NamedTuple):
    """Final ``position``/``velocity`` ``(n, dim)``; ``kinetic``/``potential`` ``(t,)`` energies
    after every ``save_every`` steps (``t = num_steps // save_every``)."""

    position: Float[Array, "n dim"]
    velocity: Float[Array, "n dim"]
    kinetic: Float[Array, " t"]
    potential: Float[Array, " t"]


def _check_state(
    positions: Array, velocities: Array, box: Any, dt: Any, sigma: Any, epsilon: Any, r_cut: float
) -> tuple[Array, ...]:
    """``(positions, velocities, box, dt, sigma, epsilon)`` checked once per rollout (the
    steps evaluate the unchecked energy)."""
    check_array("positions", positions, ndim=2)
    check_array("velocities", velocities, shape=tuple(positions.shape))
    check_same_dtype(positions=positions, velocities=velocities)
    if positions.shape[1] not in (1, 2, 3):
        raise ValueError(
            f"positions: expected shape (n, dim) with dim in 1..3, got {positions.shape}"
        )
    dt = as_real("dt", dt, positions.dtype)
    positions, box, sigma, epsilon = check_lj(positions, box, sigma, epsilon, r_cut)
    return (
        positions,
        check_finite("velocities", velocities),
        box,
        check_positive("dt", dt),
        sigma,
        epsilon,
    )


def _all_pairs_force(box, sigma, epsilon, r_cut: float):
    def force_fn(x: Array, aux: Any) -> tuple[Array, Array, Any]:
        u, g = jax.value_and_grad(energy)(x, box, sigma, epsilon, r_cut)
        return u, -g, aux

    return force_fn


def _neighbor_force(box, sigma, epsilon, r_cut: float, *, update: bool = True):
    """Forces over the list, rebuilt first when stale (``update``; off only for a list just
    built at these positions: each rebuild path in the program costs compile time)."""

    def force_fn(x: Array, nl: NeighborList) -> tuple[Array, Array, NeighborList]:
        if update:
            nl = maybe_update(nl, x, box)
        u, g = jax.value_and_grad(energy_neighbor)(x, box, sigma, epsilon, nl, r_cut)
        return u, -g, nl

    return force_fn


def _run(step, state: MDState, num_steps: int, save_every: int) -> tuple[MDTrajectory, MDState]:
    def advance(s: MDState) -> MDState:
        return step(s)

    final, traj = rollout(advance, state, num_steps, save_every=save_every)
    out = MDTrajectory(
        final.position,
        final.velocity,
        jax.vmap(kinetic_energy)(traj.velocity),
        traj.potential,
    )
    return out, final


def lj_nve_neighbor_rollout(
    positions: Float[Array, "n dim"],
    velocities: Float[Array, "n dim"],
    box: Float[Array, ""] | Float[Array, " dim"] | float,
    dt: Float[Array, ""] | float,
    sigma: Float[Array, ""] | float,
    epsilon: Float[Array, ""] | float,
    neighbors: NeighborList,
    *,
    num_steps: int,
    r_cut: float = 2.5,
    save_every: int = 1,
) -> tuple[MDTrajectory, NeighborList]:
    """NVE with forces over a neighbor list, rebuilt (at fixed capacity) whenever a particle
    moved more than ``skin / 2``. Returns the trajectory AND the final list: if
    ``neighbors.did_overflow`` is set the trajectory is invalid — reallocate
    (:func:`reallocate_neighbor_list`) and rerun."""
    return _nve_neighbor(
        positions,
        velocities,
        box,
        dt,
        sigma,
        epsilon,
        neighbors,
        num_steps,
        r_cut,
        save_every,
        fresh=False,
    )


def _nve_neighbor(
    positions,
    velocities,
    box,
    dt,
    sigma,
    epsilon,
    neighbors: NeighborList,
    num_steps: int,
    r_cut: float,
    save_every: int,
    *,
    fresh: bool,
) -> tuple[MDTrajectory, NeighborList]:
    """``fresh``: ``neighbors`` was just built at ``positions`` (no staleness check at t=0)."""
    positions, velocities, box, dt, sigma, epsilon = _check_state(
        positions, velocities, box, dt, sigma, epsilon, r_cut
    )
    check_neighbors(neighbors, positions.shape[0], r_cut)
    force_fn = _neighbor_force(box, sigma, epsilon, r_cut)
    first = _neighbor_force(box, sigma, epsilon, r_cut, update=not fresh)
    state = init_state(first, positions, velocities, neighbors)
    out, final = _run(lambda s: velocity_verlet_step(force_fn, s, dt), state, num_steps, save_every)
    return out, final.aux


def lj_nve_rollout(
    positions: Float[Array, "n dim"],
    velocities: Float[Array, "n dim"],
    box: Float[Array, ""] | Float[Array, " dim"] | float,
    dt: Float[Array, ""] | float,
    sigma: Float[Array, ""] | float,
    epsilon: Float[Array, ""] | float,
    *,
    num_steps: int,
    r_cut: float = 2.5,
    save_every: int = 1,
    skin: float | None = None,
    capacity: int = 0,
    cells_per_side: tuple[int, ...] | None = None,
    cell_capacity: int = 0,
) -> MDTrajectory:
    """Lennard-Jones NVE (velocity Verlet) rollout; see the module docstring.

    All pairs when ``skin`` is ``None``. Otherwise a neighbor list with the given static
    ``capacity`` (and cell grid, ``None`` = dense candidates) is built inside; if it overflows
    the call RAISES (``equinox.error_if``) rather than return wrong forces. To get the status
    back instead, use :func:`lj_nve_neighbor_rollout`.
    """
    if skin is None:
        positions, velocities, box, dt, sigma, epsilon = _check_state(
            positions, velocities, box, dt, sigma, epsilon, r_cut
        )
        force_fn = _all_pairs_force(box, sigma, epsilon, r_cut)
        state = init_state(force_fn, positions, velocities)
        out, _ = _run(lambda s: velocity_verlet_step(force_fn, s, dt), state, num_steps, save_every)
        return out
    if capacity < 1:
        raise ValueError(f"capacity: expected a positive static int with skin set, got {capacity}")
    nl = build_neighbor_list(
        jnp.asarray(positions),
        jnp.asarray(box, dtype=jnp.asarray(positions).dtype),
        cutoff=r_cut,
        skin=skin,
        capacity=capacity,
        cells_per_side=cells_per_side,
        cell_capacity=cell_capacity,
    )
    out, nl = _nve_neighbor(
        positions, velocities, box, dt, sigma, epsilon, nl, num_steps, r_cut, save_every, fresh=True
    )
    return error_if(
        out,
        nl.did_overflow,
        "neighbor list overflow: capacity or cell_capacity too small for this configuration "
        "(use allocate_neighbor_list / lj_nve_neighbor_rollout to size it)",
    )


def lj_langevin_rollout(
    positions: Float[Array, "n dim"],
    velocities: Float[Array, "n dim"],
    box: Float[Array, ""] | Float[Array, " dim"] | float,
    dt: Float[Array, ""] | float,
    sigma: Float[Array, ""] | float,
    epsilon: Float[Array, ""] | float,
    gamma: Float[Array, ""] | float,
    kT: Float[Array, ""] | float,
    noise: Float[Array, "steps n dim"] | None = None,
    *,
    key: Array | None = None,
    num_steps: int,
    r_cut: float = 2.5,
    save_every: int = 1,
) -> MDTrajectory:
    """Lennard-Jones Langevin dynamics (BAOAB, all pairs) at friction ``gamma >= 0`` and
    temperature ``kT >= 0``.

    Noise: either ``noise`` of shape ``(num_steps, n, dim)`` (standard normal; used for parity)
    or a PRNG ``key`` (step ``t`` uses ``normal(fold_in(key, t))``), exactly one of the two.
    """
    positions, velocities, box, dt, sigma, epsilon = _check_state(
        positions, velocities, box, dt, sigma, epsilon, r_cut
    )
    dtype = positions.dtype
    gamma = check_nonnegative("gamma", as_real("gamma", gamma, dtype))
    kT = check_nonnegative("kT", as_real("kT", kT, dtype))
    if (noise is None) == (key is None):
        raise ValueError("noise/key: pass exactly one of an explicit noise array or a PRNG key")
    if noise is not None:
        check_array("noise", noise, shape=(num_steps, *positions.shape))
        noise = noise.astype(dtype)
    force_fn = _all_pairs_force(box, sigma, epsilon, r_cut)

    def xi(s: MDState) -> Array:
        if noise is not None:
            return noise[s.step]
        assert key is not None
        return step_noise(key, s.step, positions.shape, dtype)

    state = init_state(force_fn, positions, velocities)
    out, _ = _run(
        lambda s: baoab_step(force_fn, s, dt, gamma, kT, xi(s)), state, num_steps, save_every
    )
    return out
