"""Human-readable bench tables."""

from __future__ import annotations

from collections.abc import Sequence

from parallax.bench._ceilings import Ceilings
from parallax.bench._runner import BenchRecord

__all__ = ["format_table"]


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def format_table(records: Sequence[BenchRecord], ceilings: Ceilings | None = None) -> str:
    lines = []
    if ceilings is not None:
        lines.append(
            f"machine ceilings: SGEMM {ceilings.sgemm_gflops:.1f} GFLOP/s (n={ceilings.sgemm_n}), "
            f"stream triad {ceilings.stream_gbps:.1f} GB/s, "
            f"copy {_fmt(ceilings.copy_gbps, '.1f')} GB/s"
        )
    head = (
        f"{'kernel':<28} {'case':<8} {'impl':<14} {'median':>11} {'min':>11} {'iqr':>9} "
        f"{'per step':>10} {'x jax':>7} {'compile':>8} {'GFLOP/s':>8} {'GB/s':>7} {'%peak':>6}"
    )
    lines += [head, "-" * len(head)]
    for r in records:
        if r.error:
            lines.append(f"{r.kernel:<28} {r.case:<8} {r.impl:<14} unavailable: {r.error}")
            continue
        fracs = [f for f in (r.frac_peak_flops, r.frac_peak_bw) if f is not None]
        peak = max(fracs) if fracs else None  # the binding ceiling
        lines.append(
            f"{r.kernel:<28} {r.case:<8} {r.impl:<14} {_fmt(r.median_us, '9.1f')}us "
            f"{_fmt(r.min_us, '9.1f')}us {_fmt(r.iqr_us, '7.1f')}us "
            f"{_fmt(r.per_step_us, '8.2f')}us "
            f"{_fmt(r.ratio_to_jax, '7.2f')} {_fmt(r.compile_s, '7.2f')}s "
            f"{_fmt(r.gflops, '8.2f')} {_fmt(r.gbps, '7.2f')} "
            f"{_fmt(None if peak is None else 100 * peak, '5.1f')}"
        )
    lines.append(
        "x jax: median time relative to JAX (>1 means JAX is faster); %peak: achieved "
        "GFLOP/s or GB/s over its ceiling measured in this run, whichever binds"
    )
    return "\n".join(lines)
