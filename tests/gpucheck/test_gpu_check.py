"""The prepared GPU run, exercised on the CPU: its dry run, its budget, its isolation, and the
packages it needs on a machine that has only the device image."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from parallax.cli import main
from parallax.gpucheck import SCHEMA, SECTIONS, Options, render_summary, run_check
from parallax.gpucheck._attention import AttentionGrid
from parallax.gpucheck._record import Recorder, Step, write_json
from parallax.gpucheck._sizes import DRY

pytest.importorskip("torch", reason="the check compares against torch")

# smaller than the --dry-run preset: one attention shape at one dtype, one parity kernel
TINY = dataclasses.replace(
    DRY,
    attention=AttentionGrid(1, 1, seqs=(128,), dims=(16,), causal=(True,), dtypes=("float32",)),
    parity_kernels=("nn.rms_norm",),
)
FIRST = ("environment", "precision", "ceilings", "parity", "attention")


def _doc(out: Path) -> dict:
    return json.loads((out / "gpu_check.json").read_text())


def _dry(out: Path, sections: tuple[str, ...]) -> tuple[int, dict]:
    opts = Options(out, dry_run=True, sections=sections, impls=("jax", "torch-eager"), sizes=TINY)
    return run_check(opts, argv=["test"]), _doc(out)


@pytest.mark.slow
def test_dry_run_checks_parity_precision_and_attention(tmp_path):
    rc, doc = _dry(tmp_path, FIRST)
    assert rc == 0 and doc["schema"] == SCHEMA and doc["status"] == "complete"
    assert list(doc["sections"]) == list(FIRST)
    assert all(s["status"] == "ok" for s in doc["sections"].values())
    env = doc["sections"]["environment"]["result"]
    assert env["jax"]["jax"] and env["date_utc"] and len(env["parallax"]["source_sha256"]) == 64
    assert doc["sections"]["precision"]["result"]["pinned_all_ieee"]
    parity = doc["sections"]["parity"]["result"]
    assert parity["planned"] == 2 and parity["passed"] == 2  # rms_norm at float32 and float64
    assert parity["jax_device"].startswith(("TFRT_CPU", "cpu", "CpuDevice"))
    (row,) = doc["sections"]["attention"]["result"]["rows"]
    flash = row["parity"]["parallax-flash"]
    assert flash["fwd"]["ok"] and flash["grad"]["ok"] and flash["fwd"]["rel_l2"] < 1e-5
    assert row["parity"]["torch-sdpa"]["fwd"]["ok"]
    timed = {r["impl"]: r for r in row["fwd_bwd"]}
    assert timed["parallax-flash"]["median_us"] > 0 and timed["parallax-flash"]["ratio_to_jax"] == 1
    summary = (tmp_path / "gpu_check.md").read_text()
    assert "parallax gpu-check (dry-run): complete" in summary and "2 passed" in summary


@pytest.mark.slow
def test_dry_run_times_kernels_and_train_steps(tmp_path):
    rc, doc = _dry(tmp_path, ("ceilings", "bench"))
    assert rc == 0, doc["sections"]
    benches = [s for s in SECTIONS if s.startswith("bench.")]
    assert [s for s in doc["sections"] if s.startswith("bench.")] == benches
    for name in benches:
        records = {r["impl"]: r for r in doc["sections"][name]["result"]["records"]}
        assert records["jax"]["median_us"] > 0 and records["jax"]["samples"] == 7, name
        assert records["torch-eager"]["error"] is None, name
    fd = {r["impl"]: r for r in doc["sections"]["bench.fd_laplacian_3d"]["result"]["records"]}
    assert fd["jax"]["frac_peak_bw"] > 0  # against the copy/triad ceiling of the same run
    for name in ("bench.fno_train", "bench.transformer_train"):
        losses = doc["sections"][name]["result"]["first_step_loss"]
        assert losses["jax"] == pytest.approx(losses["torch-eager"], rel=1e-5), name


def test_cli_runs_selected_sections(tmp_path, capsys):
    rc = main(["gpu-check", str(tmp_path), "--dry-run", "--section", "environment"])
    assert rc == 0
    assert list(_doc(tmp_path)["sections"]) == ["environment"]
    with pytest.raises(SystemExit, match="unknown section"):
        main(["gpu-check", str(tmp_path), "--dry-run", "--section", "benchmarks"])


def test_spent_budget_skips_every_section_but_the_environment(tmp_path, capsys):
    rc = run_check(Options(tmp_path, dry_run=True, budget_s=0.0, sizes=TINY), argv=["test"])
    doc = _doc(tmp_path)
    assert rc == 1 and doc["status"] == "incomplete"
    status = {name: s["status"] for name, s in doc["sections"].items()}
    assert status == {name: "ok" if name == "environment" else "skipped" for name in SECTIONS}
    assert "budget" in doc["sections"]["parity"]["error"]


def test_without_a_gpu_the_run_stops_with_the_reason(tmp_path, monkeypatch, capsys):
    for var in ("XLA_PYTHON_CLIENT_PREALLOCATE", "CUBLAS_WORKSPACE_CONFIG"):
        monkeypatch.setenv(var, "unchanged")  # the run sets defaults only
    rc = run_check(Options(tmp_path, sizes=TINY), argv=["test"])
    doc = _doc(tmp_path)
    assert rc == 2 and doc["status"] == "no-device" and "--dry-run" in doc["error"]


def _recorder(out: Path, budget_s: float | None, grace_min_s: float = 20.0) -> Recorder:
    def write(doc: dict) -> None:
        write_json(out / "doc.json", doc)

    return Recorder({}, write, budget_s=budget_s, log=lambda _: None, grace_min_s=grace_min_s)


def test_a_failing_section_is_recorded_and_the_run_goes_on(tmp_path):
    seen = {}

    def boom(sec):
        sec.result["before"] = 1
        raise ValueError("kaput")

    def after(sec):
        seen.update(json.loads((tmp_path / "doc.json").read_text())["sections"])
        sec.result["ran"] = True

    _recorder(tmp_path, None).run([Step("boom", boom), Step("after", after)])
    doc = json.loads((tmp_path / "doc.json").read_text())
    boom_rec, after_rec = doc["sections"]["boom"], doc["sections"]["after"]
    assert boom_rec["status"] == "error" and "ValueError: kaput" in boom_rec["error"]
    assert "raise ValueError" in boom_rec["traceback"] and boom_rec["result"] == {"before": 1}
    assert after_rec["status"] == "ok" and after_rec["result"] == {"ran": True}
    # the file on disk already held the failure while the next section ran
    assert seen["boom"]["status"] == "error" and seen["after"]["status"] == "running"


def test_a_section_past_its_share_is_stopped_and_later_ones_skip(tmp_path):
    done: dict[str, list[int]] = {}

    def loop(sec):
        for i in range(100):
            if sec.out_of_time():
                sec.skip(f"item {i}")
                continue
            done.setdefault(sec.record["name"], []).append(i)
            time.sleep(0.05)

    def stuck(sec):
        while True:
            time.sleep(0.01)

    steps = [Step("first", loop, 1.0), Step("stuck", stuck, 1.0), Step("late", loop, 1.0)]
    _recorder(tmp_path, budget_s=0.9, grace_min_s=0.5).run(steps)  # stuck overruns it all
    doc = json.loads((tmp_path / "doc.json").read_text())["sections"]
    assert doc["first"]["status"] == "partial" and 0 < len(done["first"]) < 100
    assert len(doc["first"]["skipped"]) == 100 - len(done["first"])
    assert doc["first"]["share_s"] == pytest.approx(0.3, abs=0.05)  # a third of the budget
    assert doc["stuck"]["status"] == "timeout" and "share of the budget" in doc["stuck"]["error"]
    assert doc["late"]["status"] == "skipped" and "late" not in done


def test_summary_renders_a_partial_document():
    doc = {
        "mode": "gpu",
        "status": "running",
        "budget": {"budget_s": 480, "elapsed_s": 12.5},
        "sections": {
            "parity": {
                "name": "parity",
                "status": "error",
                "elapsed_s": 1.0,
                "share_s": 100.0,
                "error": "RuntimeError: CUDA out of memory",
                "traceback": "...",
                "skipped": [],
                "result": {"rows": [], "planned": 80},
            },
        },
    }
    text = render_summary(doc)
    assert "parallax gpu-check (gpu): running" in text
    assert "RuntimeError: CUDA out of memory" in text and "of 80 planned" in text


def test_the_check_imports_nothing_the_device_image_lacks():
    """The device image has jax, torch, flax, optax, equinox, rich... but not these; the check
    must import them only when timing a peer (shipped as wheels by scripts/gpu_wheels)."""
    code = (
        "import sys, parallax.cli, parallax.gpucheck._check as c, parallax.gpucheck._attention,"
        " parallax.gpucheck._benches, parallax.gpucheck._env, parallax.gpucheck._parity,"
        " parallax.gpucheck._precision, parallax.gpucheck._train, parallax.registry as r;"
        " r.specs(); import parallax.bench.peers as bp; [bp.peers_for(s.name) for s in r.specs()];"
        " print(sorted({m.split('.')[0] for m in sys.modules} & {'tyro', 'tensorboardX',"
        " 'exponax', 'jax_md', 'jraph', 'ml_collections', 'e3nn_jax', 'orbax'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout
