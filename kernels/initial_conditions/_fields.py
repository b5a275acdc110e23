"""Random fields for periodic grids."""

from __future__ import annotations

import numpy as np

__all__ = ["smooth_random_field"]


def smooth_random_field(
    rng: np.random.Generator, shape: tuple[int, ...], *, ndim: int, modes: int = 4
) -> np.ndarray:
    r"""A smooth real field on the trailing ``ndim`` axes of ``shape``, unit RMS, float64.

    .. math:: u(x) = \sum_{|m_a| < \text{modes}} c_m e^{i m \cdot x}, \qquad
       c_m \sim \mathcal N(0, 1) + i\,\mathcal N(0, 1),

    normalised so that ``mean(u²) = 1`` over the whole array. Only the Fourier modes with every
    integer wavenumber below ``modes`` are drawn, so the field is resolved on any grid with more
    than ``2 modes`` points per axis and spectral rollouts from it stay well resolved. Leading
    axes of ``shape`` (batch, channels) get independent fields.
    """
    if not 1 <= ndim <= len(shape):
        raise ValueError(f"ndim: expected 1 <= ndim <= len(shape) = {len(shape)}, got {ndim}")
    if modes < 1:
        raise ValueError(f"modes: expected >= 1, got {modes}")
    grid = shape[len(shape) - ndim :]
    spec_shape = (*shape[: len(shape) - ndim], *grid[:-1], grid[-1] // 2 + 1)
    coef = rng.standard_normal(spec_shape) + 1j * rng.standard_normal(spec_shape)
    keep = np.ones(spec_shape[len(shape) - ndim :], dtype=bool)
    for axis, n in enumerate(grid):
        m = np.fft.rfftfreq(n, 1 / n) if axis == ndim - 1 else np.fft.fftfreq(n, 1 / n)
        sh = [1] * ndim
        sh[axis] = m.size
        keep = keep & (np.abs(m) < modes).reshape(sh)
    field = np.fft.irfftn(coef * keep, s=grid, axes=tuple(range(-ndim, 0)))
    return field / np.sqrt(np.mean(field**2))
