"""`parallax bench` as a user calls it: bad arguments fail before anything is measured, a run
that measured nothing fails, and every run says when its numbers cannot be trusted."""

from __future__ import annotations

import json

import pytest

from parallax.bench import BenchRecord
from parallax.bench._environment import Load
from parallax.cli import _bench, main

_SMALL = ["pde.heat_1d", "--case", "test", "--no-ceilings", "--impl", "jax"]


@pytest.fixture
def no_measuring(monkeypatch):
    """Fail the test if the bench starts measuring."""

    def refuse(*a, **k):
        raise AssertionError("the bench measured before validating its arguments")

    monkeypatch.setattr(_bench, "bench_spec", refuse)
    monkeypatch.setattr(_bench, "measure_ceilings", refuse)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["pde.heat_1d", "--impl", "nope"], "--impl"),
        (["pde.heat_1d", "--impl", "exponax"], "--impl"),  # a peer of other kernels only
        (["pde.heat_1d", "--case", "nope"], "--case"),
        (["nn.conv_1d", "--dtype", "bfloat16", "--impl", "numpy"], "--impl"),
    ],
)
def test_unknown_impl_or_case_exits_2_before_measuring(args, named, no_measuring, capsys):
    assert main(["bench", *args]) == 2
    err = capsys.readouterr().err
    assert named in err and "expected" in err


def test_dtype_not_registered_exits_2(no_measuring, capsys):
    assert main(["bench", "pde.heat_1d", "--dtype", "bfloat16"]) == 2
    assert "--dtype" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # not a dtype at all: argparse refuses it
        main(["bench", "pde.heat_1d", "--dtype", "int8"])
    assert e.value.code == 2


@pytest.mark.parametrize("where", ["missing_dir", "is_a_dir"])
def test_bad_json_path_exits_2_before_measuring(where, tmp_path, no_measuring, capsys):
    path = tmp_path / "nope" / "out.json" if where == "missing_dir" else tmp_path
    assert main(["bench", *_SMALL, "--json", str(path)]) == 2
    assert "--json" in capsys.readouterr().err


def test_nothing_measured_exits_nonzero(monkeypatch, capsys):
    def fail(spec, case, **k):
        return [BenchRecord(spec.name, case, "jax", "float32", error="RuntimeError: boom")]

    monkeypatch.setattr(_bench, "bench_spec", fail)
    assert main(["bench", *_SMALL]) == 1
    assert "nothing was measured" in capsys.readouterr().err


def test_times_have_units_and_json_records_the_environment(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main(["bench", *_SMALL, "--json", str(out)]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("pde.heat_1d"))
    assert any(unit in row for unit in (" ns", " µs", " ms")) and "us " not in row
    run = json.loads(out.read_text())
    assert run["kind"] == "bench" and run["argv"][:1] == ["pde.heat_1d"]
    env = run["environment"]
    for key in ("date", "host", "cpu", "cores", "versions", "threads", "fft"):
        assert env[key], key
    assert env["versions"]["jax"] and "torch_intra_op" in env["threads"]
    assert "XLA_FLAGS" in env["threads"]
    assert f"CPU FFT {env['fft']['backend']}, " in table  # the run's first line
    load = run["load"]
    assert len(load["load_before"]) == 3 and len(load["load_after"]) == 3
    assert isinstance(load["loaded"], bool) and isinstance(run["loaded"], bool)
    assert run["loaded"] >= load["loaded"]  # a loaded kernel window also flags the run
    (rec,) = run["records"]
    assert rec["impl"] == "jax" and rec["median_us"] > 0 and "others_cores" in rec


def test_progress_is_shown_while_compiling(capsys):
    assert main(["bench", *_SMALL]) == 0
    err = capsys.readouterr().err
    assert "building jax ..." in err and "warming up jax" in err


def _busy(loaded: bool) -> Load:
    before = 3.0 if loaded else 0.1
    return Load(
        2,
        (before, before, before),
        (3.0, 3.0, 3.0),
        1.5 if loaded else 0.0,
        1.0,
        5.0,
        start_of_run=True,
    )


def test_load_is_flagged_in_table_json_and_warning(monkeypatch, tmp_path, capsys):
    real_bench = _bench.bench_spec

    def loaded_bench(*a, **k):
        recs = real_bench(*a, **k)
        for r in recs:
            r.load_reasons = _busy(True).reasons
        return recs

    monkeypatch.setattr(_bench, "bench_spec", loaded_bench)
    monkeypatch.setattr(_bench, "run_load", lambda monitor: _busy(True))
    out = tmp_path / "b.json"
    assert main(["bench", *_SMALL, "--json", str(out)]) == 0
    cap = capsys.readouterr()
    assert "WARNING" in cap.err and "load" in cap.err
    row = next(line for line in cap.out.splitlines() if line.startswith("pde.heat_1d"))
    assert row.rstrip().endswith("L") or row.rstrip().endswith("LN")
    run = json.loads(out.read_text())
    assert run["loaded"] is True and run["records"][0]["loaded"] is True


def test_wide_spread_warns(monkeypatch, capsys):
    real_bench = _bench.bench_spec

    def noisy_bench(*a, **k):
        recs = real_bench(*a, **k)
        for r in recs:
            r.iqr_us = 0.5 * (r.median_us or 1.0)
        return recs

    monkeypatch.setattr(_bench, "bench_spec", noisy_bench)
    assert main(["bench", *_SMALL]) == 0
    err = capsys.readouterr().err
    assert "WARNING" in err and "spread 50%" in err
