"""Smoke test: LJ NVT -> NVE in a tiny box: finite energies, NVE conserves energy, g(r) built."""

from __future__ import annotations

import pytest

from parallax import run


def test_lj_fluid_tiny(run_tiny, tmp_path):
    s = run_tiny(
        "lj_fluid",
        cells=2,
        r_cut=1.6,
        chunk=10,
        nvt_chunks=3,
        steps=6,
        rdf_bins=20,
        checkpoint_every=3,
    )
    res = s["results"]
    assert res["n"] == 32 and res["rdf_samples"] == 3
    assert abs(res["nve_energy_drift"]) < 1e-3  # velocity Verlet, dt = 0.005
    rows = run.read_metrics(tmp_path / "metrics.jsonl")
    assert [r["phase"] for r in rows] == [0, 0, 0, 1, 1, 1]
    assert all(r["temperature"] > 0 for r in rows)
    assert 0.8 < res["rdf_peak_r"] < 1.5  # first neighbour shell near 2^(1/6) σ
    for name in ("energy", "rdf"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 1000


def test_lj_fluid_rejects_a_cutoff_beyond_half_the_box(load):
    mod = load("lj_fluid")
    with pytest.raises(run.ConfigError, match="--r-cut: must be at most half the box"):
        run.validate_config(mod.Config(cells=2))
