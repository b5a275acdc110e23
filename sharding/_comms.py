"""What a compiled step communicates: the collectives in its optimized HLO.

:func:`comms_report` lowers and compiles ``fn(*args)`` and reads every collective from
``compiled.as_text()``: ``all-gather``, ``all-reduce``, ``reduce-scatter``, ``all-to-all`` and
``collective-permute`` (async ``-start`` forms included, ``-done`` halves skipped). For each it
records the result shape (per device: HLO after SPMD partitioning is the per-device program), the
group size ``n`` and the bytes one device sends, with the usual bandwidth-optimal (ring) costs:

==================  ==============================  =================================
collective          result bytes ``R`` per device   bytes sent per device
==================  ==============================  =================================
all-gather          the gathered array              ``R (n-1)/n``
reduce-scatter      one shard of the sum            ``R (n-1)``
all-reduce          the summed array                ``2 R (n-1)/n``
all-to-all          the re-split array              ``R (n-1)/n``
collective-permute  the received block              ``R``
==================  ==============================  =================================

Collectives inside loops (``while`` bodies from ``lax.scan``) are counted once per appearance in
the program text, i.e. per loop iteration, not multiplied by the trip count.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

__all__ = ["Collective", "CommsReport", "comms_report", "parse_collectives"]

KINDS = ("all-gather", "all-reduce", "reduce-scatter", "all-to-all", "collective-permute")

_DTYPE_BYTES = {
    "pred": 1,
    "s8": 1,
    "u8": 1,
    "s16": 2,
    "u16": 2,
    "f16": 2,
    "bf16": 2,
    "s32": 4,
    "u32": 4,
    "f32": 4,
    "s64": 8,
    "u64": 8,
    "f64": 8,
    "c64": 8,
    "c128": 16,
}
_SHAPE = re.compile(r"\b([a-z]+[0-9]*)\[([0-9,]*)\]")
_OP = re.compile(
    r"^\s*(?:ROOT\s+)?%?(?P<name>[\w.\-]+)\s*=\s*(?P<type>.*?)\s+"
    r"(?P<kind>all-gather|all-reduce|reduce-scatter|all-to-all|collective-permute)"
    r"(?P<start>-start)?\("
)


@dataclasses.dataclass(frozen=True)
class Collective:
    """One collective of the compiled program (per-device view)."""

    kind: str
    name: str
    shapes: tuple[tuple[str, tuple[int, ...]], ...]  # (dtype, shape) of the result(s)
    result_bytes: int
    group_size: int
    bytes_sent: float

    @property
    def shape_str(self) -> str:
        return ", ".join(f"{d}[{','.join(map(str, s))}]" for d, s in self.shapes)


def _group_size(line: str, kind: str) -> int:
    if kind == "collective-permute":
        return 2
    m = re.search(r"replica_groups=mesh\[([^\]]*)\][^{]*\{([^}]*)\}", line)
    if m:  # replica_groups=mesh['a'=4,'b'=2] {'a'}, possibly with device_ids=(...) before {
        sizes = dict(re.findall(r"'([^']+)'=(\d+)", m.group(1)))
        axes = re.findall(r"'([^']+)'", m.group(2))
        return int(np.prod([int(sizes[a]) for a in axes])) if axes else 1
    m = re.search(r"replica_groups=\[([\d,]+)\]<=", line)
    if m:  # iota form [groups, size]<=[n]
        dims = [int(x) for x in m.group(1).split(",")]
        return dims[-1]
    m = re.search(r"replica_groups=\{(\{[\d,]*\})", line)
    if m:
        return max(1, len([x for x in m.group(1).strip("{}").split(",") if x]))
    return 1


def parse_collectives(hlo_text: str) -> list[Collective]:
    """Every collective in an optimized HLO module text."""
    out: list[Collective] = []
    for line in hlo_text.splitlines():
        m = _OP.match(line)
        if not m:
            continue
        kind = m.group("kind")
        shapes = []
        for dt, dims in _SHAPE.findall(m.group("type")):
            if dt not in _DTYPE_BYTES:
                continue
            shape = tuple(int(d) for d in dims.split(",") if d)
            shapes.append((dt, shape))
        sizes = [_DTYPE_BYTES[dt] * int(np.prod(s, dtype=np.int64)) for dt, s in shapes]
        if not sizes:
            continue
        if m.group("start"):  # async tuple (operand, result, ...): the largest is the data
            i = int(np.argmax(sizes))
            shapes, result = [shapes[i]], sizes[i]
        else:
            result = int(sum(sizes))
        n = _group_size(line, kind)
        if kind == "all-gather" or kind == "all-to-all":
            sent = result * (n - 1) / n
        elif kind == "reduce-scatter":
            sent = float(result * (n - 1))
        elif kind == "all-reduce":
            sent = 2.0 * result * (n - 1) / n
        else:
            sent = float(result)
        out.append(Collective(kind, m.group("name"), tuple(shapes), result, n, sent))
    return out


@dataclasses.dataclass(frozen=True)
class CommsReport:
    """The collectives of one compiled function, with totals per kind."""

    collectives: tuple[Collective, ...]

    def of(self, kind: str) -> list[Collective]:
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r}: expected one of {KINDS}")
        return [c for c in self.collectives if c.kind == kind]

    def count(self, kind: str | None = None) -> int:
        return len(self.collectives) if kind is None else len(self.of(kind))

    def bytes(self, kind: str | None = None) -> float:
        """Bytes sent per device (all kinds, or one)."""
        cs = self.collectives if kind is None else self.of(kind)
        return float(sum(c.bytes_sent for c in cs))

    @property
    def total_bytes(self) -> float:
        return self.bytes()

    def summary(self) -> dict[str, tuple[int, float]]:
        return {k: (self.count(k), self.bytes(k)) for k in KINDS if self.count(k)}

    def table(self) -> str:
        """A fixed-width table: one row per kind, then one per collective."""
        lines = [f"{'collective':<20}{'count':>6}{'bytes/device':>16}"]
        for k, (cnt, b) in self.summary().items():
            lines.append(f"{k:<20}{cnt:>6}{b:>16,.0f}")
        lines.append(f"{'total':<20}{self.count():>6}{self.total_bytes:>16,.0f}")
        if self.collectives:
            lines.append("")
            lines.append(f"{'op':<28}{'kind':<20}{'n':>3}  {'result':<28}{'bytes sent':>12}")
            for c in self.collectives:
                lines.append(
                    f"{c.name[:27]:<28}{c.kind:<20}{c.group_size:>3}  {c.shape_str[:27]:<28}"
                    f"{c.bytes_sent:>12,.0f}"
                )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def comms_report(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> CommsReport:
    """Compile ``fn(*args, **kwargs)`` and report its collectives.

    ``fn`` may already be jitted (its shardings are used); otherwise it is wrapped in
    ``jax.jit``. It may also be a compiled executable (``jax.jit(f).lower(x).compile()``, then
    no arguments): run and inspect one compilation. Call it under ``jax.set_mesh(mesh)`` when
    ``fn`` relies on a current mesh.
    """
    if hasattr(fn, "as_text") and not hasattr(fn, "lower"):
        text = fn.as_text()  # type: ignore[attr-defined]
    else:
        jitted = fn if hasattr(fn, "lower") else jax.jit(fn)
        text = jitted.lower(*args, **kwargs).compile().as_text()  # type: ignore[attr-defined]
    if not isinstance(text, str):
        raise RuntimeError("the compiled executable has no HLO text to read collectives from")
    return CommsReport(tuple(parse_collectives(text)))
