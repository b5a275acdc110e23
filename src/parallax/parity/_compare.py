"""Leaf-by-leaf comparison of two pytrees of arrays, with a report of the worst element."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LeafReport", "compare_leaf"]


@dataclass(frozen=True)
class LeafReport:
    """How one output or gradient leaf compares.

    ``max_rel`` is taken over elements whose reference magnitude exceeds ``atol`` (elsewhere
    the relative error says nothing). ``worst`` is the element that most exceeds its allowance
    ``atol + rtol * |want|``, with both values.
    """

    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    rtol: float
    atol: float
    passed: bool
    worst_index: tuple[int, ...] | None = None
    got: complex | None = None
    want: complex | None = None
    note: str = ""
    dtype: str = ""
    kind: str = ""

    def describe(self) -> str:
        head = (
            f"{self.name}: max_abs={self.max_abs:.3e} max_rel={self.max_rel:.3e} "
            f"(rtol={self.rtol:.0e}, atol={self.atol:.0e})"
        )
        if self.note:
            head += f" — {self.note}"
        if not self.passed and self.worst_index is not None:
            head += f"; worst at {list(self.worst_index)}: jax={self.got!r} torch={self.want!r}"
        return head


def _scalar(x: np.generic) -> complex | float:
    return complex(x) if np.iscomplexobj(x) else float(x)


def compare_leaf(
    name: str, got, want, rtol: float, atol: float, *, dtype: str = "", kind: str = ""
) -> LeafReport:
    """Compare ``got`` (JAX) against ``want`` (reference) elementwise:
    ``|got - want| <= atol + rtol |want|``; NaN never passes, equal infinities do."""
    got = np.asarray(got)
    want = np.asarray(want)
    if got.shape != want.shape:
        return LeafReport(
            name,
            tuple(want.shape),
            np.inf,
            np.inf,
            rtol,
            atol,
            False,
            note=f"shape mismatch: jax {got.shape} vs torch {want.shape}",
            dtype=dtype,
            kind=kind,
        )
    compute = np.complex128 if np.iscomplexobj(got) or np.iscomplexobj(want) else np.float64
    g, w = got.astype(compute), want.astype(compute)
    if g.size == 0:
        return LeafReport(name, tuple(w.shape), 0.0, 0.0, rtol, atol, True, dtype=dtype, kind=kind)
    finite = np.isfinite(g) & np.isfinite(w)
    same_inf = np.isinf(g) & (g == w)  # equal infinities agree; any NaN never does
    diff = np.where(finite, np.abs(g - w), np.where(same_inf, 0.0, np.inf))
    mag = np.abs(w)
    excess = diff - (atol + rtol * mag)
    worst = np.unravel_index(int(np.argmax(excess)), w.shape)
    significant = mag > atol
    max_rel = float(np.max(diff[significant] / mag[significant])) if significant.any() else 0.0
    passed = bool(np.all(excess <= 0))
    note = "NaN present" if np.isnan(g).any() or np.isnan(w).any() else ""
    return LeafReport(
        name=name,
        shape=tuple(w.shape),
        max_abs=float(np.max(diff)),
        max_rel=max_rel,
        rtol=rtol,
        atol=atol,
        passed=passed,
        worst_index=tuple(int(i) for i in worst),
        got=_scalar(got[worst]),
        want=_scalar(want[worst]),
        note=note,
        dtype=dtype,
        kind=kind,
    )
