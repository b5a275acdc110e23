"""ParityReport: every compared leaf at every dtype, printable as a table and as JSON."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from parallax.parity._compare import LeafReport

__all__ = ["ParityError", "ParityReport", "Printable", "format_table", "leaf_json"]


def _num(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.2e}"


def format_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces, with a header row."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]


def leaf_json(r: LeafReport) -> dict[str, Any]:
    d = asdict(r)
    for k in ("got", "want"):
        if isinstance(d[k], complex):
            d[k] = [d[k].real, d[k].imag]
    for k in ("max_abs", "max_rel"):
        if math.isinf(d[k]):
            d[k] = "inf"
    return d


class Printable:
    """A report whose ``str`` and ``repr`` are its ``table()`` (pytest and the REPL show it)."""

    def table(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return self.table()


@dataclass(repr=False)
class ParityReport(Printable):
    """The result of :func:`parallax.parity.compare`.

    ``leaves`` holds one :class:`LeafReport` per (dtype, output / gradient / JVP leaf), with
    the worst element's index and both values; ``errors`` the comparisons that could not be made
    (output structures that differ, a missing dtype in a recording). ``passed`` is True when
    there is no error and every leaf passes. ``str(report)`` is a table.
    """

    title: str = "parity"
    reference: str = "torch"
    leaves: list[LeafReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.errors and all(r.passed for r in self.leaves)

    def failures(self) -> list[LeafReport]:
        return [r for r in self.leaves if not r.passed]

    def select(self, *, kind: str | None = None, dtype: str | None = None) -> list[LeafReport]:
        return [
            r
            for r in self.leaves
            if (kind is None or r.kind == kind) and (dtype is None or r.dtype == dtype)
        ]

    def max_error(
        self, attr: str = "max_abs", *, kind: str | None = None, dtype: str | None = None
    ) -> float:
        """Largest ``max_abs`` (or ``max_rel``) over the selected leaves (0 when none)."""
        return max((getattr(r, attr) for r in self.select(kind=kind, dtype=dtype)), default=0.0)

    def table(self) -> str:
        status = "passed" if self.passed else "FAILED"
        lines = [f"{self.title} vs {self.reference}: {status}"]
        rows = [
            [
                r.name,
                r.dtype,
                _num(r.max_abs),
                _num(r.max_rel),
                f"{r.rtol:.1e}/{r.atol:.1e}",
                "pass" if r.passed else "FAIL",
            ]
            for r in self.leaves
        ]
        header = ["leaf", "dtype", "max abs", "max rel", "rtol/atol", "result"]
        table = format_table(header, rows)
        lines.append(table[0])
        for line, r in zip(table[1:], self.leaves, strict=True):
            lines.append(line)
            if not r.passed:
                detail = [r.note] if r.note else []
                if r.worst_index is not None:
                    detail.append(
                        f"worst at {list(r.worst_index)}: jax={r.got!r} {self.reference}={r.want!r}"
                    )
                lines.extend(f"    {d}" for d in detail)
        lines.extend(f"error: {e}" for e in self.errors)
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "reference": self.reference,
            "passed": self.passed,
            "errors": list(self.errors),
            "leaves": [leaf_json(r) for r in self.leaves],
        }


class ParityError(AssertionError):
    """Raised by :func:`parallax.parity.assert_parity`; ``.report`` is the full report."""

    def __init__(self, report: Any) -> None:
        super().__init__(str(report))
        self.report = report
