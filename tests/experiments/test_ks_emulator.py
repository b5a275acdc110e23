"""Smoke test: a tiny KS emulator run trains, rolls out, checks torch parity and plots."""

from __future__ import annotations

import pytest


def test_ks_emulator_tiny(run_tiny, tmp_path):
    pytest.importorskip("torch", reason="the parity step needs the optional torch extra")
    s = run_tiny(
        "ks_emulator",
        n=32,
        train_trajectories=2,
        test_trajectories=2,
        burn_in=20,
        samples=16,
        rollout_steps=8,
        modes=4,
        width=8,
        depth=1,
        batch=8,
        steps=6,
        log_every=3,
        checkpoint_every=3,
    )
    res = s["results"]
    assert res["torch_parity"]["ok"] and res["torch_parity"]["max_rel_diff"] < 1e-5
    assert 0 < res["one_step_err_vs_increment"] < 10
    assert set(res["rollout_err_vs_state"]) == {"1", "8"}
    horizon = res["error_horizon"]
    assert horizon["threshold"] == 0.3 and horizon["rollout_steps"] == 8
    crossed = horizon["crossed_at_step"]
    errs = list(res["rollout_err_vs_state"].values())
    assert crossed is None or 1 <= crossed <= 8
    if crossed is None:  # null means the error stayed below the threshold all the way
        assert max(errs) <= 0.3
    labels = [row["label"] for row in s["report"]]
    assert any("vs the step's change" in x for x in labels)
    assert any("torch twin" in x for x in labels)
    for name in ("spacetime", "error_growth", "training"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 1000
