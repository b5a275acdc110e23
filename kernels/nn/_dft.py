r"""Truncated discrete Fourier transforms as real matrices (NumPy, built once per shape).

A spectral convolution keeps only a few low frequencies, so its transforms are thin matrix
products: the ``m`` lowest rFFT modes of a length-``n`` signal cost ``2 · 2m · n`` flops per
channel as a matrix product, against ``~5 n log₂ n`` for an FFT that computes all ``n/2 + 1``.
Complex values are carried as stacked real and imaginary parts (``re`` block first), so every
product is a real GEMM. Angles are reduced exactly, ``2π ((k t) mod n) / n``, and the entries
are computed in float64 before the cast to the compute dtype.

Conventions (``numpy.fft``): forward transforms carry no normalisation, inverse ones ``1/n``;
the real inverse (``irfft``) weighs mode ``k`` by 2 except the zero mode and, for even ``n``,
the Nyquist mode, and ignores their imaginary parts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["complex_dft", "complex_idft", "real_dft", "real_idft"]


def _angles(freqs: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    """``(len(freqs), n)`` angles ``2π (k t mod n) / n``."""
    k = np.asarray(freqs, np.int64)[:, None]
    t = np.arange(n, dtype=np.int64)[None, :]
    return 2.0 * np.pi * ((k * t) % n) / n


def real_dft(n: int, modes: int) -> np.ndarray:
    """``(2 modes, n)``: rows ``[Re; Im]`` of ``rfft(x)[:modes]`` as ``F @ x``."""
    a = _angles(range(modes), n)
    return np.concatenate([np.cos(a), -np.sin(a)], axis=0)


def real_idft(n: int, modes: int) -> np.ndarray:
    """``(n, 2 modes)``: ``irfft(y, n)`` of a spectrum whose first ``modes`` coefficients are
    ``y = Re + i Im`` (stacked ``[Re; Im]``) and whose others are zero, as ``G @ [Re; Im]``."""
    a = _angles(range(modes), n).T
    k = np.arange(modes)[None, :]
    w = np.where((k == 0) | (2 * k == n), 1.0, 2.0) / n
    return np.concatenate([w * np.cos(a), -w * np.sin(a)], axis=1)


def complex_dft(n: int, freqs: Sequence[int]) -> np.ndarray:
    """``(2 K, 2 n)``: the DFT at frequencies ``freqs`` (``K`` of them) of a complex signal laid
    out as ``(t, [re, im])`` rows, giving ``([re, im], k)`` rows (``Z = Σ_t e^{-iθ} A_t``)."""
    a = _angles(freqs, n)
    c, s = np.cos(a), np.sin(a)
    m = np.empty((2, len(freqs), n, 2))
    m[0, :, :, 0], m[0, :, :, 1] = c, s  # Re Z = Σ cos Re A + sin Im A
    m[1, :, :, 0], m[1, :, :, 1] = -s, c  # Im Z = Σ cos Im A - sin Re A
    return m.reshape(2 * len(freqs), 2 * n)


def complex_idft(n: int, freqs: Sequence[int]) -> np.ndarray:
    """``(2 n, 2 K)``: the inverse DFT (``1/n``) of a spectrum nonzero only at ``freqs``, laid
    out as ``([re, im], k)`` rows, giving ``(t, [re, im])`` rows."""
    a = _angles(freqs, n).T
    c, s = np.cos(a) / n, np.sin(a) / n
    m = np.empty((n, 2, 2, len(freqs)))
    m[:, 0, 0], m[:, 0, 1] = c, -s  # Re B = Σ cos Re Y - sin Im Y
    m[:, 1, 0], m[:, 1, 1] = s, c  # Im B = Σ sin Re Y + cos Im Y
    return m.reshape(2 * n, 2 * len(freqs))
