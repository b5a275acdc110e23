"""What bounds a kernel that stays below half of its roofline ceiling.

A JAX row whose achieved GFLOP/s or GB/s (whichever binds, :attr:`BenchRecord.roofline`) is
below :data:`BOUND_FRACTION` of the ceiling measured in the same run is listed on the benchmarks
page with the explanation its registry entry records
(:attr:`parallax.registry.KernelSpec.bounds`): a serial chain of tiny ops, a working set that
stays in cache, temporaries or page faults the flop/byte model does not count. A row without one
says so, so that a regression shows on the page.
"""

from __future__ import annotations

from collections.abc import Iterable

from parallax.bench._runner import BenchRecord
from parallax.registry import UnknownKernelError, get

__all__ = ["BOUND_FRACTION", "MISSING", "below_half", "bounds_section", "explanation"]

BOUND_FRACTION = 0.5
"""A row below this fraction of its binding ceiling needs an explanation of what bounds it."""
MISSING = "(no explanation recorded)"


def explanation(kernel: str, case: str) -> str | None:
    """The registry's explanation of what bounds ``kernel``'s ``case``, if any."""
    try:
        spec = get(kernel)
    except UnknownKernelError:
        return None
    return spec.bounds.get(case)


def below_half(records: Iterable[BenchRecord]) -> list[BenchRecord]:
    """The measured JAX records below :data:`BOUND_FRACTION` of their binding ceiling."""
    out = []
    for r in records:
        roof = r.roofline
        if r.impl == "jax" and r.measured and roof is not None and roof[0] < BOUND_FRACTION:
            out.append(r)
    return sorted(out, key=lambda r: (r.kernel, r.case, r.dtype))


def bounds_section(records: Iterable[BenchRecord]) -> list[str]:
    """Markdown: every JAX row below half its ceiling, with what bounds it."""
    rows = below_half(records)
    out = [
        "## Below half the ceiling: what bounds it",
        "",
        f"JAX rows under {100 * BOUND_FRACTION:g}% of the ceiling that binds them (JAX "
        "roofline column), each with what bounds it instead: measured by profiling the bench "
        "case on the CPU of these runs (optimized HLO, a `jax.profiler` trace, page faults, "
        "working set against the caches) and recorded with the kernel (`KernelSpec.bounds` "
        "in `parallax.registry`).",
        "",
    ]
    if not rows:
        return [*out, "None.", ""]
    for r in rows:
        frac, unit = r.roofline or (0.0, "")
        where = "" if (r.case, r.dtype) == ("bench", "float32") else f" [{r.case}, {r.dtype}]"
        why = explanation(r.kernel, r.case) or MISSING
        out.append(f"- `{r.kernel}`{where}, {100 * frac:.1f}% ({unit}): {why}")
    return [*out, ""]
