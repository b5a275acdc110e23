"""Periodic spectral grids: wavenumbers for real FFTs on ``[0, L)^d``."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

__all__ = ["complex_dtype", "grid_points", "rfft_wavenumbers"]


def rfft_wavenumbers(
    shape: tuple[int, ...], length: float | tuple[float, ...] = 2 * math.pi, dtype=jnp.float32
) -> tuple[Float[Array, ...], ...]:
    """Angular wavenumbers ``k = 2π m / L`` broadcastable against ``rfftn`` output of ``shape``.

    The last axis holds the non-negative half spectrum (``n // 2 + 1`` entries), as ``rfftn``
    returns. Returned arrays have rank ``len(shape)`` with singleton dimensions elsewhere.
    Computed with NumPy, so they are constants under ``jit``.
    """
    d = len(shape)
    lengths = (length,) * d if isinstance(length, int | float) else tuple(length)
    if len(lengths) != d:
        raise ValueError(f"length: expected {d} values for a {d}D grid, got {len(lengths)}")
    ks = []
    for axis, (n, ell) in enumerate(zip(shape, lengths, strict=True)):
        if axis == d - 1:
            m = np.fft.rfftfreq(n, d=1.0 / n)
        else:
            m = np.fft.fftfreq(n, d=1.0 / n)
        k = 2 * np.pi * m / ell
        bshape = [1] * d
        bshape[axis] = k.size
        ks.append(jnp.asarray(k.reshape(bshape), dtype=dtype))
    return tuple(ks)


def grid_points(n: int, length: float = 2 * math.pi, dtype=jnp.float32) -> Float[Array, " n"]:
    """The ``n`` equispaced points ``x_j = j L / n`` of a periodic grid."""
    return jnp.asarray(np.arange(n) * (length / n), dtype=dtype)


def complex_dtype(real_dtype) -> jnp.dtype:
    """The complex dtype matching a real one (float32 -> complex64, float64 -> complex128).

    Strict dtype promotion forbids ``real * complex``; spectral factors are cast with this.
    """
    return jnp.dtype(jnp.complex128 if jnp.dtype(real_dtype) == jnp.float64 else jnp.complex64)
