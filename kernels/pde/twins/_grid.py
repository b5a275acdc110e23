"""The twins' own periodic grid: wavenumbers, spectral Laplacian, ``∂_j`` and the 2/3 mask.

An independent port of :class:`parallax.kernels.pde.Grid` (NumPy, float64): the parity tests
compare two derivations of the same constants, so an error in either one shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["TwinGrid", "twin_grid"]


@dataclass(frozen=True)
class TwinGrid:
    """``shape`` points on ``[0, L_1) x ... x [0, L_d)``; spatial axes are the trailing ``d``."""

    shape: tuple[int, ...]
    length: tuple[float, ...]

    @property
    def axes(self) -> tuple[int, ...]:
        return tuple(range(-len(self.shape), 0))

    @property
    def spacing(self) -> tuple[float, ...]:
        return tuple(ell / n for n, ell in zip(self.shape, self.length, strict=True))

    def _mode_grids(self) -> list[np.ndarray]:
        """Integer mode numbers per axis on the full ``rfftn`` spectrum (``ij`` indexing)."""
        *full, last = self.shape
        per_axis = [np.fft.fftfreq(n) * n for n in full] + [np.arange(last // 2 + 1.0)]
        return list(np.meshgrid(*per_axis, indexing="ij"))

    def laplacian_np(self) -> np.ndarray:
        """``-|k|²`` with ``k_j = 2π m_j / L_j``."""
        k2 = [
            (2 * math.pi * m / ell) ** 2
            for m, ell in zip(self._mode_grids(), self.length, strict=True)
        ]
        return -np.sum(k2, axis=0)

    def derivative_np(self) -> list[np.ndarray]:
        """``i k_j`` per axis, zero on the Nyquist mode of an even axis (its odd derivative is
        not a real grid function)."""
        out = []
        for m, n, ell in zip(self._mode_grids(), self.shape, self.length, strict=True):
            nyquist = 2 * np.abs(m) == n
            out.append(np.where(nyquist, 0.0, 1j * 2 * math.pi * m / ell))
        return out

    def dealias_np(self) -> np.ndarray:
        """Orszag's 2/3 rule: keep a mode when ``3 |m_j| < n_j`` on every axis."""
        keep = [3 * np.abs(m) < n for m, n in zip(self._mode_grids(), self.shape, strict=True)]
        return np.logical_and.reduce(keep)


def twin_grid(shape: tuple[int, ...], length: float | tuple[float, ...]) -> TwinGrid:
    lengths = (length,) * len(shape) if isinstance(length, int | float) else tuple(length)
    return TwinGrid(tuple(int(n) for n in shape), tuple(float(ell) for ell in lengths))
