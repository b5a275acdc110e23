"""Torch twin of :mod:`parallax.kernels.pde._fd_stencil` (same stencils, same summation order)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from parallax.kernels.pde._fd_weights_np import D2_WEIGHTS, ONE_SIDED_D2

__all__ = [
    "laplacian",
    "laplacian_2d",
    "laplacian_3d",
    "laplacian_dirichlet",
    "laplacian_padded",
    "laplacian_periodic",
]


def _inv_h2(dx: torch.Tensor, ndim: int) -> list[torch.Tensor]:
    inv = 1.0 / (dx * dx)
    return [inv if dx.ndim == 0 else inv[a] for a in range(ndim)]


def _central(w, r: int, window) -> torch.Tensor:
    """``Σ_o w[r + o] · window(r + o)`` for ``o = -r..r``, summed in that order."""
    term = None
    for o, c in zip(range(-r, r + 1), w, strict=True):
        t = c * window(r + o)
        term = t if term is None else term + t
    assert term is not None
    return term


def _axis_sum(x: torch.Tensor, dx: torch.Tensor, ndim: int, order: int, axis_term):
    """``Σ_a axis_term(axis, w, r, 1/h_a²)`` over the last ``ndim`` axes of ``x``, added axis by
    axis (the kernel's order); ``w`` the central weights of ``order``, ``r`` their radius."""
    w, r = D2_WEIGHTS[order], order // 2
    lead = x.ndim - ndim
    inv = _inv_h2(dx, ndim)
    total = None
    for a in range(ndim):
        term = axis_term(lead + a, w, r, inv[a])
        total = term if total is None else total + term
    assert total is not None
    return total


def laplacian_padded(up: torch.Tensor, dx: torch.Tensor, *, ndim: int, order: int = 2):
    r = order // 2
    lead = up.ndim - ndim
    interior = [slice(None)] * lead + [slice(r, up.shape[lead + a] - r) for a in range(ndim)]

    def axis_term(ax: int, w, r: int, inv: torch.Tensor) -> torch.Tensor:
        m = up.shape[ax] - 2 * r

        def window(start: int) -> torch.Tensor:
            idx = list(interior)
            idx[ax] = slice(start, start + m)
            return up[tuple(idx)]

        return _central(w, r, window) * inv

    return _axis_sum(up, dx, ndim, order, axis_term)


def laplacian_periodic(u: torch.Tensor, dx: torch.Tensor, *, ndim: int, order: int = 2):
    def axis_term(ax: int, w, r: int, inv: torch.Tensor) -> torch.Tensor:
        term = w[r] * u
        for o in range(1, r + 1):
            term = term + w[r + o] * (torch.roll(u, -o, ax) + torch.roll(u, o, ax))
        return term * inv

    return _axis_sum(u, dx, ndim, order, axis_term)


def _one_sided(u: torch.Tensor, axis: int, h2inv: torch.Tensor):
    n = u.shape[axis]
    lo = sum(c * u.narrow(axis, i, 1) for i, c in enumerate(ONE_SIDED_D2))
    hi = sum(c * u.narrow(axis, n - 1 - i, 1) for i, c in enumerate(ONE_SIDED_D2))
    return lo * h2inv, hi * h2inv


def pad_boundary(inner: torch.Tensor, ndim: int) -> torch.Tensor:
    """Zero-pad one node on each side of the last ``ndim`` axes (F.pad lists last axis first)."""
    return F.pad(inner, (1, 1) * ndim)


def _pad_axis(x: torch.Tensor, axis: int) -> torch.Tensor:
    pads = [0, 0] * (x.ndim - axis)
    pads[-2:] = [1, 1]
    return F.pad(x, pads)


def laplacian_dirichlet(u: torch.Tensor, dx: torch.Tensor, *, ndim: int, order: int = 2):
    def axis_term(ax: int, w, r: int, inv: torch.Tensor) -> torch.Tensor:
        m = u.shape[ax] - 2 * r
        term = _central(w, r, lambda start: u.narrow(ax, start, m)) * inv
        if order == 4:
            lo, hi = _one_sided(u, ax, inv)
            term = torch.cat([lo, term, hi], dim=ax)
        return _pad_axis(term, ax)

    total = _axis_sum(u, dx, ndim, order, axis_term)
    mask = torch.zeros(u.shape[u.ndim - ndim :], dtype=torch.bool, device=u.device)
    mask[(slice(1, -1),) * ndim] = True
    return torch.where(mask, total, torch.zeros((), dtype=u.dtype, device=u.device))


def laplacian(u, dx, *, ndim: int, order: int = 2, bc: str = "periodic"):
    dx = torch.as_tensor(dx, dtype=u.dtype)
    if bc == "periodic":
        return laplacian_periodic(u, dx, ndim=ndim, order=order)
    return laplacian_dirichlet(u, dx, ndim=ndim, order=order)


def laplacian_2d(u, dx, *, order: int = 2, bc: str = "periodic"):
    return laplacian(u, dx, ndim=2, order=order, bc=bc)


def laplacian_3d(u, dx, *, order: int = 2, bc: str = "periodic"):
    return laplacian(u, dx, ndim=3, order=order, bc=bc)
