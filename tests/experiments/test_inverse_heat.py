"""Smoke test: gradient descent through the heat solver recovers the initial condition."""

from __future__ import annotations

from parallax import run


def test_inverse_heat_tiny(run_tiny, tmp_path):
    s = run_tiny(
        "inverse_heat",
        n=32,
        snapshots=2,
        steps_between=4,
        steps=60,
        lr=0.1,
        log_every=20,
        checkpoint_every=30,
    )
    # starting from u0 = 0 (relative error 1), the misfit and the error both fall
    rows = run.read_metrics(tmp_path / "metrics.jsonl")
    assert rows[-1]["loss"] < 0.1 * rows[0]["loss"]
    assert s["results"]["u0_rel_err"] < 0.5
    assert (tmp_path / "plots" / "recovery.png").stat().st_size > 1000
