"""The bench's bookkeeping (never its timings): records, ratios, errors per implementation."""

from __future__ import annotations

import json
import threading
import time

import pytest

from parallax.bench import bench_spec, format_seconds, format_table
from parallax.bench._runner import progress
from parallax.bench._timing import Stats, settle
from parallax.cli import main
from parallax.registry import get


def test_stats_median_min_iqr():
    s = Stats.of([4.0, 1.0, 3.0, 2.0, 5.0, 6.0, 7.0], inner=3)
    assert (s.median, s.min, s.iqr, s.samples, s.inner) == (4.0, 1.0, 3.0, 7, 3)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1.234e-7, "123 ns"),
        (5.6e-3, "5.60 ms"),
        (0.0009996, "1.00 ms"),
        (12.34, "12.3 s"),
        (2.5e-5, "25.0 µs"),
        (None, "-"),
    ],
)
def test_times_print_with_units_and_three_significant_digits(seconds, text):
    assert format_seconds(seconds) == text


def test_progress_ticks_while_a_block_runs():
    said: list[str] = []
    with progress("compiling x", said.append, every=0.02):
        time.sleep(0.1)
    assert said[0] == "  compiling x ..." and said[-1].startswith("  compiling x: ")
    assert any(s.startswith("  ... still compiling x (") for s in said[1:-1])


def test_a_sample_waits_for_the_process_s_spinning_threads():
    def spin(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    # idle: one poll; a thread burning a core for 0.2 s: until it stops, not until the limit
    assert settle(limit_s=10.0) < 5.0
    spinner = threading.Thread(target=spin, args=(0.2,))
    spinner.start()
    waited = settle(limit_s=10.0)
    assert 0.15 <= waited < 5.0
    spinner.join()


def test_too_few_samples_rejected():
    with pytest.raises(ValueError, match="samples"):
        bench_spec(get("pde.heat_1d"), "test", samples=3)


def test_records_on_a_small_case():
    recs = bench_spec(
        get("pde.heat_1d"), "test", impls=["jax", "torch-eager", "nope"], min_sample_s=0.001
    )
    by = {r.impl: r for r in recs}
    assert by["jax"].ratio_to_jax == 1.0 and by["jax"].compile_s is not None
    median = by["jax"].median_us
    assert by["jax"].samples == 7 and median is not None and median > 0
    assert by["jax"].per_step_us == pytest.approx(median / 10)
    assert "no implementation 'nope'" in (by["nope"].error or "")
    if by["torch-eager"].error is None:
        ratio = by["torch-eager"].ratio_to_jax
        assert ratio is not None and ratio > 0
    assert "unavailable" in format_table(recs)


def test_cli_json_schema(tmp_path, capsys):
    out = tmp_path / "b.json"
    rc = main(
        [
            "bench",
            "pde.heat_1d",
            "--case",
            "test",
            "--impl",
            "jax",
            "--no-ceilings",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    (rec,) = json.loads(out.read_text())["records"]
    for key in (
        "kernel",
        "case",
        "impl",
        "median_us",
        "min_us",
        "iqr_us",
        "compile_s",
        "bytes",
        "flops",
    ):
        assert key in rec
    assert rec["impl"] == "jax" and rec["kernel"] == "pde.heat_1d"


def test_comms_bench_rows(tmp_path, capsys):
    out = tmp_path / "comms.json"
    assert main(["bench", "--comms", "--case", "test", "--json", str(out)]) == 0
    rows = {r["case"]: r for r in json.loads(out.read_text())}
    # a halo exchange moves exactly two faces per sharded axis: the analytic minimum
    assert rows["halo 2D w=1"]["ratio"] == pytest.approx(1.0)
    assert all(r["bytes_per_device"] >= r["minimum_bytes"] > 0 for r in rows.values())
    assert "bytes/device" in capsys.readouterr().out
