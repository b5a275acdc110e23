"""Random initialisation from ONE random draw.

Every parameter is a slice of a single ``jax.random.uniform`` buffer: a model with dozens of
parameters then compiles one threefry instead of dozens.
``draw_init(build, key, dtype)`` runs ``build(draw)`` twice: once to count the numbers it
needs, once with the real buffer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["Draw", "draw_init"]


class Draw:
    def __init__(self, buf: jax.Array | None = None) -> None:
        self.buf = buf
        self.pos = 0

    def uniform(self, shape: tuple[int, ...], lo: float, hi: float, dtype: Any) -> jax.Array:
        """``U[lo, hi)`` of ``shape`` (real ``dtype``)."""
        n = math.prod(shape)
        start, self.pos = self.pos, self.pos + n
        if self.buf is None:
            return jnp.zeros(shape, dtype)
        u = self.buf[start : start + n].reshape(shape).astype(dtype)
        return lo + (hi - lo) * u

    def fan_in(self, shape: tuple[int, ...], fan_in: int, dtype: Any) -> jax.Array:
        """torch's Linear default: ``U[-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
        bound = 1.0 / math.sqrt(fan_in)
        return self.uniform(shape, -bound, bound, dtype)


def draw_init(build: Callable[[Draw], Any], key: jax.Array, dtype: Any) -> Any:
    count = Draw()
    build(count)
    buf = jax.random.uniform(key, (max(count.pos, 1),), dtype)
    return build(Draw(buf))
