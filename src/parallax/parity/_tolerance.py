r"""Tolerance tables: ``{dtype: (rtol, atol)}`` for values and for gradients.

An element passes when

.. math::  |\mathrm{got} - \mathrm{want}| \le \mathrm{atol} + \mathrm{rtol}\,|\mathrm{want}|

(``want`` is the reference: torch, ONNX Runtime or a recorded golden array).

Defaults follow each dtype's machine epsilon ``ε`` (``jnp.finfo(dtype).eps``): two correct
implementations differ by re-association of sums and by last-ulp differences in ``exp``/``erf``,
which grow roughly like a power of ``ε`` below one. Values get ``ε^(3/4)``, gradients (one more
chained product, ``Σ c·∂out/∂x``) ``ε^(2/3)``, for both ``rtol`` and ``atol``:

==========  =========  ===============  ===============
dtype       ε          values           gradients
==========  =========  ===============  ===============
float64     2.2e-16    1.8e-12          3.7e-11
float32     1.2e-07    6.4e-06          2.4e-05
float16     9.8e-04    5.5e-03          9.8e-03
bfloat16    7.8e-03    2.6e-02          3.9e-02
==========  =========  ===============  ===============

A bug (a wrong constant, axis or sign) is typically visible at ``ε^(1/2)`` or far above, so the
defaults separate rounding from mistakes on small problems. Deep models and long rollouts
accumulate more rounding: pass a table for them (``tol={"float32": (1e-4, 1e-5)}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "DTYPES",
    "Tolerance",
    "Tolerances",
    "default_tolerances",
    "dtype_eps",
    "resolve_tolerances",
]

Tolerance = tuple[float, float]
"""``(rtol, atol)``."""

DTYPES: tuple[str, ...] = ("float32", "float64", "bfloat16", "float16")
"""The floating dtypes a comparison can run at."""


def dtype_eps(dtype: str) -> float:
    """Machine epsilon of a floating dtype name (``"bfloat16"`` included)."""
    if dtype == "bfloat16":
        import ml_dtypes

        return float(ml_dtypes.finfo(ml_dtypes.bfloat16).eps)
    return float(np.finfo(np.dtype(dtype)).eps)


def _default(dtype: str, power: float) -> Tolerance:
    t = float(f"{dtype_eps(dtype) ** power:.2g}")
    return (t, t)


@dataclass(frozen=True)
class Tolerances:
    """Separate ``{dtype: (rtol, atol)}`` tables for values (outputs, activations, parameters)
    and for gradients (VJP and JVP)."""

    values: Mapping[str, Tolerance] = field(default_factory=dict)
    grads: Mapping[str, Tolerance] = field(default_factory=dict)

    def get(self, dtype: str, kind: str = "values") -> Tolerance:
        table = self.grads if kind == "grads" else self.values
        if dtype not in table:
            raise ValueError(
                f"tol: no {kind} tolerance for dtype {dtype!r}; the table has "
                f"{sorted(table)} (add an entry or leave tol=None for the defaults)"
            )
        return table[dtype]


def default_tolerances() -> Tolerances:
    """``ε^(3/4)`` for values and ``ε^(2/3)`` for gradients, per dtype (see module doc)."""
    return Tolerances(
        values={d: _default(d, 0.75) for d in DTYPES},
        grads={d: _default(d, 2.0 / 3.0) for d in DTYPES},
    )


def _check_table(table: Any, what: str) -> dict[str, Tolerance]:
    if not isinstance(table, Mapping):
        raise TypeError(f"{what}: expected a mapping {{dtype: (rtol, atol)}}, got {table!r}")
    out: dict[str, Tolerance] = {}
    for dtype, pair in table.items():
        if dtype not in DTYPES:
            raise ValueError(f"{what}: unknown dtype {dtype!r}; expected one of {DTYPES}")
        try:
            rtol, atol = (float(v) for v in pair)
        except (TypeError, ValueError):
            raise TypeError(f"{what}[{dtype!r}]: expected (rtol, atol), got {pair!r}") from None
        if not (rtol >= 0 and atol >= 0):
            raise ValueError(f"{what}[{dtype!r}]: tolerances must be >= 0, got {pair!r}")
        out[dtype] = (rtol, atol)
    return out


def resolve_tolerances(tol: Any, name: str = "tol") -> Tolerances:
    """``None`` -> defaults; ``{dtype: (rtol, atol)}`` -> that table for values and gradients;
    a :class:`Tolerances` -> itself (checked)."""
    if tol is None:
        return default_tolerances()
    if isinstance(tol, Tolerances):
        return Tolerances(
            _check_table(tol.values, f"{name}.values"), _check_table(tol.grads, f"{name}.grads")
        )
    table = _check_table(tol, name)
    return Tolerances(table, table)
