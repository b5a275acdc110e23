"""The heat demo: error against the exact solution, parity lines, a labelled figure."""

from __future__ import annotations

import json

from parallax.demo import HeatDemoConfig, run_heat_demo


def test_heat_demo_reports_what_good_looks_like(tmp_path, capsys):
    cfg = HeatDemoConfig(n=32, steps=20, save_every=5, workdir=str(tmp_path))
    report = run_heat_demo(cfg)
    assert report["max_abs_error_vs_exact"] < 1e-5
    out = capsys.readouterr().out
    assert "good: about 1e-5" in out and f"{tmp_path}/heat.png" in out
    assert json.loads((tmp_path / "report.json").read_text())["config"]["n"] == 32
    assert (tmp_path / "heat.png").read_bytes()[:4] == b"\x89PNG"  # labelled, or it warns
