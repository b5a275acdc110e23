"""Torch twin of :mod:`parallax.kernels.particles._md` and ``._nbody`` (Python loops, same math)."""

from __future__ import annotations

from typing import NamedTuple

import torch

from parallax.kernels._twins import python_loop
from parallax.kernels.particles.twins._lj import (
    build_neighbor_list,
    lj_energy_and_forces,
    lj_energy_and_forces_neighbor,
    maybe_update_neighbor_list,
)


class MDTrajectory(NamedTuple):
    position: torch.Tensor
    velocity: torch.Tensor
    kinetic: torch.Tensor
    potential: torch.Tensor


class NBodyTrajectory(NamedTuple):
    position: torch.Tensor
    velocity: torch.Tensor
    energy: torch.Tensor
    momentum: torch.Tensor


def _kinetic(v: torch.Tensor) -> torch.Tensor:
    return 0.5 * (v * v).sum()


@python_loop
def _loop(step, x, v, f, u, num_steps: int, save_every: int) -> MDTrajectory:
    kin, pot = [], []
    for i in range(num_steps):
        x, v, f, u = step(i, x, v, f, u)
        if (i + 1) % save_every == 0:
            kin.append(_kinetic(v))
            pot.append(u)
    empty = x.new_zeros(0)
    return MDTrajectory(
        x, v, torch.stack(kin) if kin else empty, torch.stack(pot) if pot else empty
    )


def lj_nve_rollout(
    positions: torch.Tensor,
    velocities: torch.Tensor,
    box: torch.Tensor,
    dt: torch.Tensor,
    sigma: torch.Tensor,
    epsilon: torch.Tensor,
    *,
    num_steps: int,
    r_cut: float = 2.5,
    save_every: int = 1,
    skin: float | None = None,
    capacity: int = 0,
    cells_per_side: tuple[int, ...] | None = None,
    cell_capacity: int = 0,
) -> MDTrajectory:
    state: dict = {}
    if skin is None:

        def forces(x):
            return lj_energy_and_forces(x, box, sigma, epsilon, r_cut=r_cut)
    else:
        state["nl"] = build_neighbor_list(
            positions,
            box,
            cutoff=r_cut,
            skin=skin,
            capacity=capacity,
            cells_per_side=None if cells_per_side is None else tuple(cells_per_side),
            cell_capacity=cell_capacity,
        )

        def forces(x):
            state["nl"] = maybe_update_neighbor_list(state["nl"], x, box)
            return lj_energy_and_forces_neighbor(x, box, sigma, epsilon, state["nl"], r_cut=r_cut)

    u, f = forces(positions)

    def step(i, x, v, f, u):
        v = v + (0.5 * dt) * f
        x = x + dt * v
        u, f = forces(x)
        return x, v + (0.5 * dt) * f, f, u

    out = _loop(step, positions, velocities, f, u, num_steps, save_every)
    if skin is not None and state["nl"].did_overflow:
        raise RuntimeError("neighbor list overflow")
    return out


def lj_langevin_rollout(
    positions: torch.Tensor,
    velocities: torch.Tensor,
    box: torch.Tensor,
    dt: torch.Tensor,
    sigma: torch.Tensor,
    epsilon: torch.Tensor,
    gamma: torch.Tensor,
    kT: torch.Tensor,
    noise: torch.Tensor,
    *,
    num_steps: int,
    r_cut: float = 2.5,
    save_every: int = 1,
) -> MDTrajectory:
    c1 = torch.exp(-gamma * dt)
    c2 = torch.sqrt((1.0 - c1 * c1) * kT)
    u, f = lj_energy_and_forces(positions, box, sigma, epsilon, r_cut=r_cut)

    def step(i, x, v, f, u):
        v = v + (0.5 * dt) * f
        x = x + (0.5 * dt) * v
        v = c1 * v + c2 * noise[i]
        x = x + (0.5 * dt) * v
        u, f = lj_energy_and_forces(x, box, sigma, epsilon, r_cut=r_cut)
        return x, v + (0.5 * dt) * f, f, u

    return _loop(step, positions, velocities, f, u, num_steps, save_every)


def _nbody_parts(x: torch.Tensor, softening: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    n = x.shape[0]
    dr = x[None, :, :] - x[:, None, :]
    r2 = (dr * dr).sum(-1) + softening * softening
    eye = torch.eye(n, dtype=torch.bool, device=x.device)
    inv_r = torch.where(eye, torch.zeros_like(r2), torch.rsqrt(r2))
    return dr, inv_r


def nbody_accelerations(x, masses, softening, G=1.0):
    dr, inv_r = _nbody_parts(x, softening)
    return G * ((masses[None, :] * inv_r**3)[:, :, None] * dr).sum(1)


def nbody_energy(x, v, masses, softening, G=1.0):
    _, inv_r = _nbody_parts(x, softening)
    pot = -0.5 * G * (masses[:, None] * masses[None, :] * inv_r).sum()
    return 0.5 * (masses[:, None] * v * v).sum() + pot


def nbody_rollout(
    positions: torch.Tensor,
    velocities: torch.Tensor,
    masses: torch.Tensor,
    dt: torch.Tensor,
    softening: torch.Tensor,
    *,
    num_steps: int,
    G: float = 1.0,
    save_every: int = 1,
) -> NBodyTrajectory:
    a = nbody_accelerations(positions, masses, softening, G)
    return _nbody_loop(positions, velocities, a, masses, dt, softening, G, num_steps, save_every)


def _nbody_step(x, v, a, masses, dt, softening, G):
    v = v + (0.5 * dt) * a
    x = x + dt * v
    a = nbody_accelerations(x, masses, softening, G)
    return x, v + (0.5 * dt) * a, a


@python_loop
def _nbody_loop(x, v, a, masses, dt, softening, G, num_steps: int, save_every: int):
    energies, moms = [], []
    for i in range(num_steps):
        x, v, a = _nbody_step(x, v, a, masses, dt, softening, G)
        if (i + 1) % save_every == 0:
            energies.append(nbody_energy(x, v, masses, softening, G))
            moms.append((masses[:, None] * v).sum(0))
    return NBodyTrajectory(x, v, torch.stack(energies), torch.stack(moms))


__all__ = [
    "MDTrajectory",
    "NBodyTrajectory",
    "lj_langevin_rollout",
    "lj_nve_rollout",
    "nbody_accelerations",
    "nbody_energy",
    "nbody_rollout",
]
