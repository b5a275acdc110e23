"""Helpers for writing case factories."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from parallax.registry._spec import Case

__all__ = ["normal", "rollout_case", "scalar", "uniform"]


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


def rollout_case(
    inputs: Mapping[str, np.ndarray],
    *,
    steps: int,
    save_every: int,
    flops: float | None = None,
    bytes: float | None = None,
    **static: Any,
) -> Case:
    """The case of a rollout kernel, called as ``fn(**inputs, num_steps=steps,
    save_every=save_every, **static)``: one call runs ``steps`` time steps."""
    return Case(
        inputs=inputs,
        static={"num_steps": steps, "save_every": save_every, **static},
        steps=steps,
        flops=flops,
        bytes=bytes,
    )
