"""Checkpoint, resume, preemption and the NaN guard, end to end on the toy experiment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from parallax import run

TOY = Path(__file__).with_name("toy_experiment.py")


def test_resumed_run_is_bitwise_equal_to_uninterrupted(toy, final_state, tmp_path):
    """SIGTERM at step 7 saves and stops; the same command resumes and ends bit-identical."""
    full = toy.Config(workdir=str(tmp_path / "full"), steps=12, checkpoint_every=5)
    s_full = run.execute(toy.main, full)
    assert s_full["status"] == "completed" and s_full["step"] == 12

    cut = toy.Config(workdir=str(tmp_path / "cut"), steps=12, checkpoint_every=5, sigterm_at=6)
    s1 = run.execute(toy.main, cut)
    assert s1["status"] == "preempted"
    assert s1["step"] == 7  # the step in flight finishes, then the state is saved
    steps = sorted(int(p.name) for p in (tmp_path / "cut" / "checkpoints").iterdir())
    assert steps == [5, 7]

    again = toy.Config(workdir=str(tmp_path / "cut"), steps=12, checkpoint_every=5)
    s2 = run.execute(toy.main, again)
    assert s2["status"] == "completed" and s2["resumed_from"] == 7 and s2["step"] == 12
    log = (tmp_path / "cut" / "log.txt").read_text()
    assert "resumed from checkpoint" in log and "/checkpoints/7" in log

    a = final_state(tmp_path / "full", full)
    b = final_state(tmp_path / "cut", again)
    assert a.keys() == b.keys() and int(a["step"]) == 12
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k
        assert a[k].tobytes() == b[k].tobytes(), k
    # and the run had actually learned something (the comparison is not of two zero vectors)
    assert np.abs(a["['params']['w']"]).min() > 0

    # metrics past the resumed checkpoint were rewritten, not duplicated
    rows = run.read_metrics(tmp_path / "cut" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [2, 4, 6, 8, 10, 12]
    rows_full = run.read_metrics(tmp_path / "full" / "metrics.jsonl")
    assert [r["loss"] for r in rows] == [r["loss"] for r in rows_full]


def test_sigterm_subprocess_saves_and_exits_cleanly(tmp_path):
    wd = tmp_path / "run"
    cmd = [
        sys.executable,
        str(TOY),
        "--workdir",
        str(wd),
        "--steps",
        "400",
        "--sleep",
        "0.05",
        "--checkpoint-every",
        "1000",
        "--log-every",
        "1",
        "--async-checkpoint",
        "False",
    ]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    metrics = wd / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and len(run.read_metrics(metrics)) >= 3:
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "received SIGTERM" in err and "re-run the same command to resume" in err
    summary = json.loads((wd / "summary.json").read_text())
    assert summary["status"] == "preempted"
    stopped = summary["step"]
    assert 3 <= stopped < 400
    assert [p.name for p in (wd / "checkpoints").iterdir()] == [str(stopped)]


def test_nan_guard_stops_and_keeps_last_good_checkpoint(toy, final_state, tmp_path):
    cfg = toy.Config(workdir=str(tmp_path), steps=12, checkpoint_every=3, nan_at=4)
    s = run.execute(toy.main, cfg)
    assert s["status"] == "nonfinite"
    assert "non-finite metrics at step 6: loss=nan" in s["error"]
    assert s["step"] == 5  # the last step whose metrics were finite
    ckpts = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir())
    assert ckpts == [3]
    state = final_state(tmp_path, cfg)
    assert all(np.isfinite(v).all() for k, v in state.items() if v.dtype.kind == "f")
    assert "non-finite" in (tmp_path / "log.txt").read_text()
    rc = run.cli(
        toy.main,
        toy.Config,
        ["--workdir", str(tmp_path / "b"), "--nan-at", "1", "--steps", "4"],
        exit=False,
    )
    assert rc == run.EXIT_CODES["nonfinite"]


def test_nonfinite_state_is_never_checkpointed(tmp_path):
    import jax.numpy as jnp

    @__import__("dataclasses").dataclass
    class Cfg(run.RunConfig):
        steps: int = 2

    def main(cfg, r):
        state = r.restore_or_init(lambda: {"x": jnp.zeros(3)})
        # metrics stay finite while the state goes NaN: the save-time check catches it
        r.loop(state, lambda s, i: ({"x": s["x"] + (jnp.nan if i == 1 else 1.0)}, {"m": 1.0}))

    s = run.execute(main, Cfg(workdir=str(tmp_path), checkpoint_every=1), name="nanstate")
    assert s["status"] == "nonfinite" and "non-finite state at step 2: ['x']" in s["error"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["1"]


def test_kill_9_mid_checkpointing_then_resume_is_exact(toy, final_state, tmp_path):
    """SIGKILL while async checkpoints are written every step; the same command resumes from the
    newest finalized step (verified by its digest) and ends bitwise equal to a clean run."""
    wd = tmp_path / "killed"
    cmd = [
        sys.executable,
        str(TOY),
        "--workdir",
        str(wd),
        "--steps",
        "400",
        "--sleep",
        "0.02",
        "--checkpoint-every",
        "1",
        "--log-every",
        "1",
        "--keep",
        "2",
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    metrics = wd / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and len(run.read_metrics(metrics)) >= 6:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.kill()
    proc.communicate(timeout=30)

    cfg = toy.Config(workdir=str(wd), steps=20, checkpoint_every=1, keep=2)
    s = run.execute(toy.main, cfg)
    assert s["status"] == "completed" and s["resumed_from"] >= 1  # the newest finalized step
    clean = toy.Config(workdir=str(tmp_path / "clean"), steps=20, checkpoint_every=1, keep=2)
    run.execute(toy.main, clean)
    a, b = final_state(wd, cfg), final_state(tmp_path / "clean", clean)
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k
