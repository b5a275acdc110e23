"""Helpers for writing case factories."""

from __future__ import annotations

import numpy as np

__all__ = ["normal", "scalar", "uniform"]


def normal(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Standard normal samples drawn in float64, then cast (same values at every dtype)."""
    return rng.standard_normal(shape).astype(dtype)


def uniform(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype, low=0.0, high=1.0
) -> np.ndarray:
    return rng.uniform(low, high, shape).astype(dtype)


def scalar(value: float, dtype: np.dtype) -> np.ndarray:
    """A 0-d array (dynamic quantities are arrays, so changing them does not recompile)."""
    return np.asarray(value, dtype=dtype)
