r"""Per-axis Fourier tables of a periodic grid, in NumPy only (float64 / complex128 / bool).

One axis of ``n`` points on ``[0, L)`` has the integer modes ``m`` of ``numpy.fft.fftfreq`` (a
full axis) or ``numpy.fft.rfftfreq`` (the halved last axis of a real FFT); every spectral
constant of the pseudo-spectral equations is a function of ``(m, n, L)`` per axis:

* wavenumber ``k = 2π m / L``;
* first derivative ``i k``, zero at the Nyquist mode ``2|m| = n`` of an even axis: an odd
  derivative of the real Nyquist cosine is not representable on the grid (Trefethen 2000,
  Spectral Methods in MATLAB, ch. 3);
* Orszag's 2/3 rule (Orszag 1971, J. Atmos. Sci. 28:1074): a mode is kept when ``3|m| < n``, so
  a product of two kept fields aliases only into modes that are zeroed again.

The single-device :class:`~parallax.kernels.pde.Grid` evaluates these on its whole spectrum; the
distributed transforms of :mod:`parallax.sharding` evaluate them per axis and keep each device's
slice. This module imports NumPy only, so a torch twin may share its tables.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["axis_modes", "dealias_keep", "derivative_factor", "wavenumber"]


def axis_modes(n: int, *, half: bool = False) -> np.ndarray:
    """The integer modes of an axis of ``n`` points: ``fftfreq`` order, or the ``n // 2 + 1``
    non-negative modes of ``rfftfreq`` when ``half`` (int64, 1D)."""
    m = np.fft.rfftfreq(n, 1.0 / n) if half else np.fft.fftfreq(n, 1.0 / n)
    return np.rint(m).astype(np.int64)


def wavenumber(m: np.ndarray, length: float) -> np.ndarray:
    """``k = 2π m / L`` (float64)."""
    return 2 * math.pi * np.asarray(m, dtype=np.float64) / length


def derivative_factor(m: np.ndarray, n: int, length: float) -> np.ndarray:
    """``i k`` (complex128) with the Nyquist mode ``2|m| = n`` zeroed."""
    k = np.where(2 * np.abs(m) == n, 0.0, wavenumber(m, length))
    return 1j * k


def dealias_keep(m: np.ndarray, n: int) -> np.ndarray:
    """The 2/3 rule: ``True`` where ``3|m| < n`` (bool)."""
    return 3 * np.abs(m) < n
