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

__all__ = ["cos_sin_dft", "cos_sin_idft", "real_dft", "real_idft"]


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


def cos_sin_dft(n: int, m: int) -> np.ndarray:
    """``(2 m + 1, n)``: rows ``cos θ_j`` for ``j = 0 … m`` then ``sin θ_j`` for ``j = 1 … m``
    (``θ_j = 2π j t / n``), the real parts of the DFT at both frequencies ``±j`` at once: for a
    real signal ``x`` (``C = Σ_t cos θ_j x``, ``S = Σ_t sin θ_j x``) the DFT at ``+j`` is
    ``C - i S`` and at ``-j`` is ``C + i S``, and the same holds column by column when the
    rows are then transformed along another axis (complex ``C`` and ``S``)."""
    a = _angles(range(m + 1), n)
    return np.concatenate([np.cos(a), np.sin(a[1:])], axis=0)


def cos_sin_idft(n: int, m: int) -> np.ndarray:
    """``(n, 2 m + 1)``: the inverse DFT (``1/n``) of a spectrum nonzero only at ``|k| <= m``
    (``Y_{+m}`` and ``Y_{-m}`` distinct, so ``2 m < n`` unless one of them is zero), taken
    from rows ``U_j = Y_{+j} + Y_{-j}`` (``j = 0 … m``) then ``i V_j = i (Y_{+j} - Y_{-j})``
    (``j = 1 … m``): ``Σ_k Y_k e^{iθ_k} = Σ_j cos θ_j U_j + sin θ_j (i V_j)``. It is the
    transpose of :func:`cos_sin_dft` over ``n``."""
    return cos_sin_dft(n, m).T / n
