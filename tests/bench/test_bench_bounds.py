"""Every JAX row below half its roofline ceiling says what bounds it: the committed CPU run's
rows each have an explanation in the registry, and the page lists them (or shows that one is
missing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parallax.bench import BOUND_FRACTION, BenchRecord, below_half, explanation
from parallax.bench._bounds import MISSING, bounds_section

_COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks" / "cpu" / "bench.json"


def _committed_records() -> list[BenchRecord]:
    run = json.loads(_COMMITTED.read_text())
    return [BenchRecord.from_json(d) for d in run["records"]]


def _below() -> list[str]:
    return [f"{r.kernel}/{r.case}" for r in below_half(_committed_records())]


@pytest.mark.parametrize("row", _below())
def test_every_committed_row_below_half_its_ceiling_is_explained(row):
    kernel, case = row.split("/")
    why = explanation(kernel, case)
    assert why is not None, f"{row}: below {BOUND_FRACTION:.0%} of its ceiling, no bounds entry"
    assert len(why) > 40, f"{row}: explanation too short to say what bounds it: {why!r}"


def _record(kernel: str, frac_bw: float, frac_flops: float, impl: str = "jax") -> BenchRecord:
    return BenchRecord(
        kernel=kernel,
        case="bench",
        impl=impl,
        dtype="float32",
        median_us=100.0,
        frac_peak_bw=frac_bw,
        frac_peak_flops=frac_flops,
    )


def test_section_lists_rows_below_half_with_their_explanation_or_a_visible_gap():
    records = [
        _record("ode.dopri5_lorenz63", 0.001, 0.0005),
        _record("ode.dopri5_lorenz63", 0.001, 0.0005, impl="torch-eager"),
        _record("mylab.unexplained", 0.2, 0.01),
        _record("pde.heat_1d", 0.9, 0.05),
    ]
    text = "\n".join(bounds_section(records))
    why = explanation("ode.dopri5_lorenz63", "bench")
    assert f"- `ode.dopri5_lorenz63`, 0.1% (GB/s): {why}" in text
    assert f"- `mylab.unexplained`, 20.0% (GB/s): {MISSING}" in text
    assert "pde.heat_1d" not in text  # above half its ceiling
    assert text.count("ode.dopri5_lorenz63") == 1  # JAX rows only
    assert "None." in "\n".join(bounds_section([records[-1]]))
