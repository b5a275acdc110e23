"""Smoke test: Kolmogorov flow on an 8-way slab-sharded grid matches the single-device kernel."""

from __future__ import annotations

import pytest

from parallax import run


def test_kolmogorov_sharded_tiny(run_tiny, tmp_path):
    s = run_tiny(
        "kolmogorov_sharded",
        n=16,
        kf=2,
        chunk=2,
        steps=4,
        snapshots=2,
        mesh="data=-1",
        log_every=2,
        checkpoint_every=2,
    )
    res = s["results"]
    assert res["mesh"] == {"data": 8}
    assert res["sharded_vs_local_rel_diff"] < 1e-5
    assert res["collectives_per_chunk"].get("all-to-all", 0) > 0  # FFT transposes
    assert res["final_energy"] > 0
    for name in ("vorticity", "spectrum"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 1000


def test_kolmogorov_grid_must_split_over_the_mesh(load, tmp_path):
    mod = load("kolmogorov_sharded")
    cfg = mod.Config(workdir=str(tmp_path), n=12, kf=2, steps=1, mesh="data=-1")
    with pytest.raises(run.ConfigError, match="--n: 12 is not divisible by the 8 devices"):
        run.execute(mod.main, cfg)
