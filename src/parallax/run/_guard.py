"""NaN/Inf guard: stop the run at the first non-finite metric or state, before it is saved."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["NonFiniteError", "check_metrics", "nonfinite_leaves"]


class NonFiniteError(FloatingPointError):
    """A metric or a state leaf became NaN/Inf; ``step`` is the step that produced it (the
    runner adds which checkpoints are kept and how to go on)."""

    def __init__(self, step: int, names: list[str], where: str = "metrics"):
        self.step = step
        self.names = names
        self.where = where
        super().__init__(f"non-finite {where} at step {step}: {', '.join(names)}.")


def check_metrics(step: int, metrics: Mapping[str, float]) -> None:
    bad = [f"{k}={v}" for k, v in metrics.items() if not math.isfinite(v)]
    if bad:
        raise NonFiniteError(step, bad)


@jax.jit
def _finite_flags(leaves: list[jax.Array]) -> list[jax.Array]:
    return [jnp.all(jnp.isfinite(x)) for x in leaves]


def nonfinite_leaves(tree: Any) -> list[str]:
    """Paths of inexact leaves of ``tree`` holding a NaN or Inf (one fused check)."""
    pairs = [
        (jax.tree_util.keystr(p), x)
        for p, x in jax.tree_util.tree_leaves_with_path(tree)
        if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)
    ]
    if not pairs:
        return []
    flags = jax.device_get(_finite_flags([x for _, x in pairs]))
    return [p for (p, _), ok in zip(pairs, flags, strict=True) if not ok]
