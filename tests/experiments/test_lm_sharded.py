"""Smoke test: the sharded transformer trains under fsdp_tp on a 4x2 mesh and under dp."""

from __future__ import annotations

import pytest

from parallax import run


def test_lm_sharded_tiny(run_tiny, tmp_path):
    s = run_tiny(
        "lm_sharded",
        mesh="data=4,model=2",
        preset="fsdp_tp",
        vocab=8,
        branching=2,
        seq=8,
        batch=8,
        embed=16,
        depth=1,
        heads=2,
        mlp_hidden=32,
        steps=6,
        log_every=3,
        checkpoint_every=3,
    )
    res = s["results"]
    assert res["mesh"] == {"data": 4, "model": 2}
    assert 0 < res["entropy_rate"] < res["uniform_loss"]
    assert res["collectives"]  # a sharded step communicates
    rows = run.read_metrics(tmp_path / "metrics.jsonl")
    assert rows[-1]["loss"] < rows[0]["loss"] + 0.5  # finite and not diverging


def test_lm_sharded_preset_needs_model_axis(load):
    mod = load("lm_sharded")
    with pytest.raises(run.ConfigError, match="--mesh: preset 'tp' needs a 'model' mesh axis"):
        run.validate_config(mod.Config(preset="tp", mesh="data=-1"))
