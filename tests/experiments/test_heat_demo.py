"""The heat demo: error against the exact solution, parity lines, a labelled figure."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "heat_demo.py"


def _load():
    spec = importlib.util.spec_from_file_location("parallax_experiment_heat_demo", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


def test_heat_demo_reports_what_good_looks_like(tmp_path, capsys):
    demo = _load()
    cfg = demo.HeatDemoConfig(n=32, steps=20, save_every=5, workdir=str(tmp_path))
    report = demo.run_heat_demo(cfg)
    assert report["max_abs_error_vs_exact"] < 1e-5
    out = capsys.readouterr().out
    assert "good: about 1e-5" in out and f"{tmp_path}/heat.png" in out
    assert json.loads((tmp_path / "report.json").read_text())["config"]["n"] == 32
    assert (tmp_path / "heat.png").read_bytes()[:4] == b"\x89PNG"  # labelled, or it warns
