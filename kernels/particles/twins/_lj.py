"""Torch twin of :mod:`parallax.kernels.particles._lj` and ``._neighbors``.

Same math. Forces are written in closed form, ``F_i = Σ_j 24ε(2(σ/r)^12 - (σ/r)^6) Δ_ij / r²``,
which is ``-∇U`` of the JAX side's ``jax.grad`` exactly; autograd through it gives the same
gradients as JAX's (second-order) derivatives. The neighbor list is the same fixed-capacity cell
list algorithm (sort by cell, scatter into a cell table, gather 3^d cells, compact).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch


def box_vector(box: torch.Tensor | float, dim: int, like: torch.Tensor) -> torch.Tensor:
    b = torch.as_tensor(box, dtype=like.dtype, device=like.device)
    return b.expand(dim) if b.ndim == 0 else b


def _min_image(dr: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    return dr - box * torch.round(dr / box)


def _pair_terms(
    r2: torch.Tensor, inside: torch.Tensor, sigma: torch.Tensor, epsilon: torch.Tensor, r_cut: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(u(r), f(r)/r)`` for masked squared distances; zero outside ``inside``."""
    rc2 = r_cut * r_cut
    safe = torch.where(inside, r2, torch.full_like(r2, rc2))
    s2 = sigma * sigma
    s6 = (s2 / safe) ** 3
    c6 = (s2 / rc2) ** 3
    u = 4.0 * epsilon * ((s6 * s6 - s6) - (c6 * c6 - c6))
    f_over_r = 24.0 * epsilon * (2.0 * s6 * s6 - s6) / safe
    zero = torch.zeros_like(u)
    return torch.where(inside, u, zero), torch.where(inside, f_over_r, zero)


def lj_energy_and_forces(
    positions: torch.Tensor,
    box: torch.Tensor,
    sigma: torch.Tensor,
    epsilon: torch.Tensor,
    *,
    r_cut: float = 2.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    n, dim = positions.shape
    b = box_vector(box, dim, positions)
    dr = _min_image(positions[:, None, :] - positions[None, :, :], b)
    r2 = (dr * dr).sum(-1)
    eye = torch.eye(n, dtype=torch.bool, device=positions.device)
    inside = (r2 < r_cut * r_cut) & ~eye
    u, fr = _pair_terms(r2, inside, sigma, epsilon, r_cut)
    return 0.5 * u.sum(), (fr[:, :, None] * dr).sum(1)


def lj_energy(positions, box, sigma, epsilon, *, r_cut: float = 2.5) -> torch.Tensor:
    return lj_energy_and_forces(positions, box, sigma, epsilon, r_cut=r_cut)[0]


# --- neighbor list ------------------------------------------------------------------------------


@dataclass
class NeighborList:
    idx: torch.Tensor
    reference_positions: torch.Tensor
    did_overflow: bool
    cutoff: float
    skin: float
    capacity: int
    cells_per_side: tuple[int, ...] | None
    cell_capacity: int


def _strides(cps: tuple[int, ...]) -> list[int]:
    return [math.prod(cps[d + 1 :]) for d in range(len(cps))]


@torch.no_grad()
def build_neighbor_list(
    positions: torch.Tensor,
    box: torch.Tensor,
    *,
    cutoff: float,
    skin: float,
    capacity: int,
    cells_per_side: tuple[int, ...] | None = None,
    cell_capacity: int = 0,
) -> NeighborList:
    x = positions.detach()
    n, dim = x.shape
    dev = x.device
    b = box_vector(box, dim, x).detach()
    reach = cutoff + skin
    cell_over = False
    if cells_per_side is None:
        cand = torch.arange(n, device=dev).expand(n, n)
    else:
        cps = tuple(int(c) for c in cells_per_side)
        if bool((b / torch.tensor(cps, dtype=b.dtype, device=dev) < reach).any()):
            raise ValueError(f"box: cells smaller than cutoff + skin = {reach}")
        cps_t = torch.tensor(cps, device=dev)
        ncell = math.prod(cps)
        c = torch.floor(torch.remainder(x, b) / (b / cps_t)).long()
        c = torch.minimum(c.clamp(min=0), cps_t - 1)
        strides = torch.tensor(_strides(cps), device=dev)
        flat = (c * strides).sum(-1)
        counts = torch.bincount(flat, minlength=ncell)
        cell_over = bool(counts.max() > cell_capacity)
        order = torch.argsort(flat, stable=True)
        sorted_cell = flat[order]
        slot = torch.arange(n, device=dev) - (torch.cumsum(counts, 0) - counts)[sorted_cell]
        keep = slot < cell_capacity
        table = torch.full((ncell, cell_capacity), n, dtype=torch.long, device=dev)
        table[sorted_cell[keep], slot[keep]] = order[keep]
        offsets = torch.tensor(list(itertools.product((-1, 0, 1), repeat=dim)), device=dev)
        around = torch.remainder(c[:, None, :] + offsets[None], cps_t)
        cand = table[(around * strides).sum(-1)].reshape(n, -1)
    padded = torch.cat([x, x.new_zeros(1, dim)])
    dr = _min_image(x[:, None, :] - padded[cand], b)
    d2 = (dr * dr).sum(-1)
    self_idx = torch.arange(n, device=dev)[:, None]
    mask = (cand < n) & (cand != self_idx) & (d2 < reach * reach)
    pos = torch.cumsum(mask.long(), 1) - 1
    nb_over = bool(mask.sum(1).max() > capacity)
    keep = mask & (pos < capacity)
    rows = self_idx.expand_as(pos)
    idx = torch.full((n, capacity), n, dtype=torch.long, device=dev)
    idx[rows[keep], pos[keep]] = cand[keep]
    return NeighborList(
        idx, x.clone(), cell_over or nb_over, cutoff, skin, capacity, cells_per_side, cell_capacity
    )


def maybe_update_neighbor_list(
    nl: NeighborList, positions: torch.Tensor, box: torch.Tensor
) -> NeighborList:
    with torch.no_grad():
        b = box_vector(box, positions.shape[-1], positions)
        d = _min_image(positions.detach() - nl.reference_positions, b)
        if not bool((d * d).sum(-1).max() > (0.5 * nl.skin) ** 2):
            return nl
    new = build_neighbor_list(
        positions,
        box,
        cutoff=nl.cutoff,
        skin=nl.skin,
        capacity=nl.capacity,
        cells_per_side=nl.cells_per_side,
        cell_capacity=nl.cell_capacity,
    )
    new.did_overflow = new.did_overflow or nl.did_overflow
    return new


def lj_energy_and_forces_neighbor(
    positions: torch.Tensor,
    box: torch.Tensor,
    sigma: torch.Tensor,
    epsilon: torch.Tensor,
    nl: NeighborList,
    *,
    r_cut: float = 2.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    n, dim = positions.shape
    b = box_vector(box, dim, positions)
    padded = torch.cat([positions, positions.new_zeros(1, dim)])
    dr = _min_image(positions[:, None, :] - padded[nl.idx], b)
    r2 = (dr * dr).sum(-1)
    inside = (nl.idx < n) & (r2 < r_cut * r_cut)
    u, fr = _pair_terms(r2, inside, sigma, epsilon, r_cut)
    return 0.5 * u.sum(), (fr[:, :, None] * dr).sum(1)
