"""Smoke test: a tiny KS emulator run trains, rolls out, checks torch parity and plots."""

from __future__ import annotations

import pytest


def test_ks_emulator_tiny(load, tmp_path):
    pytest.importorskip("torch", reason="the parity step needs the optional torch extra")
    from parallax import run

    mod = load("ks_emulator")
    cfg = mod.Config(
        workdir=str(tmp_path),
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
    s = run.execute(mod.main, cfg)
    assert s["status"] == "completed", s["error"]
    res = s["results"]
    assert res["torch_parity"]["ok"] and res["torch_parity"]["max_rel_diff"] < 1e-5
    assert 0 < res["one_step_rel_err"] < 10
    assert set(res["rollout_rel_err_at"]) == {"1", "10", "40", "8"}
    for name in ("spacetime", "error_growth", "training"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 1000
