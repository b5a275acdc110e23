"""Human-readable bench tables and the warnings that say when not to trust them."""

from __future__ import annotations

from collections.abc import Sequence

from parallax.bench._ceilings import Ceilings
from parallax.bench._runner import SPREAD_LIMIT, BenchRecord
from parallax.bench._timing import format_seconds

__all__ = ["format_table", "trust_warnings"]


def _us(x: float | None) -> str:
    return format_seconds(None if x is None else x * 1e-6)


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def flags(r: BenchRecord) -> str:
    """``L``: taken under load; ``N``: noisy (IQR over ``SPREAD_LIMIT`` of the median)."""
    return ("L" if r.loaded else "") + ("N" if r.noisy else "")


def format_table(records: Sequence[BenchRecord], ceilings: Ceilings | None = None) -> str:
    lines = []
    if ceilings is not None:
        lines.append(
            f"machine ceilings: SGEMM {ceilings.sgemm_gflops:.1f} GFLOP/s (n={ceilings.sgemm_n}), "
            f"stream triad {ceilings.stream_gbps:.1f} GB/s, "
            f"copy {_fmt(ceilings.copy_gbps, '.1f')} GB/s"
        )
    head = (
        f"{'kernel':<28} {'case':<8} {'impl':<14} {'median':>9} {'min':>9} {'iqr':>6} "
        f"{'per step':>9} {'x jax':>6} {'compile':>8} {'GFLOP/s':>8} {'GB/s':>7} {'roofline':>12} "
        f"{'flags':>5}"
    )
    lines += [head, "-" * len(head)]
    for r in records:
        if r.error:
            lines.append(f"{r.kernel:<28} {r.case:<8} {r.impl:<14} unavailable: {r.error}")
            continue
        roof = r.roofline
        roof_s = "-" if roof is None else f"{100 * roof[0]:.1f}% {roof[1]}"
        iqr = "-" if r.rel_iqr is None else f"{100 * r.rel_iqr:.0f}%"
        lines.append(
            f"{r.kernel:<28} {r.case:<8} {r.impl:<14} {_us(r.median_us):>9} {_us(r.min_us):>9} "
            f"{iqr:>6} {_us(r.per_step_us):>9} {_fmt(r.ratio_to_jax, '6.2f')} "
            f"{format_seconds(r.compile_s):>8} {_fmt(r.gflops, '8.2f')} {_fmt(r.gbps, '7.2f')} "
            f"{roof_s:>12} {flags(r):>5}"
        )
    lines.append(
        "x jax: median time relative to JAX (>1 means JAX is faster); iqr: interquartile range "
        "of the samples over their median; roofline: achieved GFLOP/s or GB/s over its ceiling "
        "measured in this run, whichever binds; flags: L taken under load, N noisy "
        f"(iqr > {100 * SPREAD_LIMIT:.0f}%)"
    )
    return "\n".join(lines)


def trust_warnings(records: Sequence[BenchRecord]) -> list[str]:
    """One line per reason not to trust ``records``: load during a kernel's samples, or a
    sample spread wider than ``SPREAD_LIMIT`` of the median."""
    out = []
    seen: set[str] = set()
    for r in records:
        if r.loaded and r.kernel not in seen:
            seen.add(r.kernel)
            out.append(f"{r.kernel}/{r.case}: measured under load: {'; '.join(r.load_reasons)}")
    for r in records:
        if r.noisy and r.rel_iqr is not None:
            out.append(
                f"{r.kernel}/{r.case}/{r.impl}: samples spread {100 * r.rel_iqr:.0f}% of the "
                f"median (IQR; > {100 * SPREAD_LIMIT:.0f}%): re-run before quoting"
            )
    return out
