"""Particle configurations: lattices, a bound Lennard-Jones cluster, thermal velocities."""

from __future__ import annotations

import numpy as np

__all__ = ["box_for_density", "cubic_lattice", "fcc_lattice", "lj_cluster", "thermal_velocities"]


def box_for_density(num_particles: int, density: float, *, dim: int = 3) -> float:
    """The side ``L`` of a cubic box holding ``num_particles`` at ``density``: ``(N/ρ)^(1/d)``."""
    if num_particles < 1 or density <= 0:
        raise ValueError(
            f"num_particles, density: expected >= 1 and > 0, got {num_particles}, {density}"
        )
    return float((num_particles / density) ** (1.0 / dim))


def cubic_lattice(
    n_side: int,
    box: float,
    *,
    dim: int = 3,
    rng: np.random.Generator | None = None,
    jitter: float = 0.05,
) -> np.ndarray:
    """``n_side^dim`` sites of a simple-cubic lattice filling ``[0, box)^dim``, shape
    ``(n_side^dim, dim)``, float64, each site at the centre of its cell and displaced by normal
    noise of standard deviation ``jitter`` when ``rng`` is given (so no two particles start
    closer than a Lennard-Jones core at liquid densities, and no symmetry is exact)."""
    g = np.stack(np.meshgrid(*[np.arange(n_side)] * dim, indexing="ij"), -1).reshape(-1, dim)
    sites = (g + 0.5) * (box / n_side)
    return sites if rng is None else sites + jitter * rng.standard_normal(g.shape)


def fcc_lattice(cells: int, box: float) -> np.ndarray:
    """The ``4 cells³`` sites of a face-centred cubic lattice of ``cells³`` unit cells filling
    ``[0, box)³``, shape ``(4 cells³, 3)``, float64: the densest packing, the usual start of an
    LJ liquid simulation."""
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    grid = np.stack(np.meshgrid(*[np.arange(cells)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    return (grid + base[None]).reshape(-1, 3) * (box / cells)


def thermal_velocities(rng: np.random.Generator, shape: tuple[int, ...], kT: float) -> np.ndarray:
    """Maxwell–Boltzmann velocities of unit-mass particles, ``N(0, kT)`` per component, shape
    ``(n, dim)``, float64, with the total momentum removed."""
    v = np.sqrt(kT) * rng.standard_normal(shape)
    return v - v.mean(axis=0)


def lj_cluster(
    rng: np.random.Generator, *, box: float = 10.0, kT: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """8 Lennard-Jones particles (σ = ε = 1) on a 2x2x2 cube of side 1.12 (≈ the pair minimum
    2^(1/6)) at the centre of a ``box``, jittered by 0.02, with :func:`thermal_velocities` at
    ``kT``: ``(positions (8, 3), velocities (8, 3))``, float64.

    A bound cluster: at ``kT <= 0.5`` all pair distances stay below 2.5, so with a cutoff of 3 no
    pair crosses it and the dynamics are smooth (no force jump) — what convergence orders and
    finite differences of a trajectory need."""
    g = np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    x = 0.5 * box + 1.12 * (g - 0.5) + 0.02 * rng.standard_normal(g.shape)
    return x, thermal_velocities(rng, g.shape, kT)
