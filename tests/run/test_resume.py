"""Checkpoint, resume, preemption and the NaN guard, end to end on the toy experiment."""

from __future__ import annotations

import json
import os
import re
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


def _toy_in_background(wd: Path, *, sleep: float, checkpoint_every: int, extra=()):
    """The toy experiment as a subprocess of 400 steps of ``sleep`` seconds, logging every step:
    long enough for a test to signal it mid-run."""
    cmd = [
        sys.executable,
        str(TOY),
        "--workdir",
        str(wd),
        "--steps",
        "400",
        "--sleep",
        str(sleep),
        "--checkpoint-every",
        str(checkpoint_every),
        "--log-every",
        "1",
        *extra,
    ]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_metric_rows(proc: subprocess.Popen, wd: Path, rows: int) -> None:
    """Until ``rows`` metric rows are written (at most 60 s); the process must still run."""
    metrics = wd / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and len(run.read_metrics(metrics)) >= rows:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()


def test_sigterm_subprocess_saves_and_exits_cleanly(tmp_path):
    wd = tmp_path / "run"
    proc = _toy_in_background(
        wd, sleep=0.05, checkpoint_every=1000, extra=("--async-checkpoint", "False")
    )
    _wait_for_metric_rows(proc, wd, 3)
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
    proc = _toy_in_background(wd, sleep=0.02, checkpoint_every=1, extra=("--keep", "2"))
    _wait_for_metric_rows(proc, wd, 6)
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


def _without_wall_time(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "wall_time_s"}


def test_rerunning_a_finished_run_changes_nothing(toy, tmp_path):
    """The same command again (a scheduler retrying a finished job) keeps the summary."""
    cfg = toy.Config(workdir=str(tmp_path), steps=6)
    s1 = run.execute(toy.main, cfg)
    assert s1["status"] == "completed" and s1["final_metrics"]["loss"] > 0
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    s2 = run.execute(toy.main, cfg)
    assert s2 == s1
    assert json.loads((tmp_path / "summary.json").read_text()) == s1
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert {p for p in after if after[p] != before.get(p)} <= {tmp_path / "log.txt"}
    assert "already completed" in (tmp_path / "log.txt").read_text()


def test_resuming_from_the_final_checkpoint_keeps_the_final_metrics(toy, final_state, tmp_path):
    """Stopped after the loop (post-training phase): the re-run restores the last metrics and
    finishes with the summary of an uninterrupted run."""
    clean = run.execute(toy.main, toy.Config(workdir=str(tmp_path / "clean"), steps=6))
    cut = toy.Config(workdir=str(tmp_path / "cut"), steps=6, sigterm_in="post")
    s1 = run.execute(toy.main, cut)
    assert s1["status"] == "preempted" and s1["step"] == 6
    assert s1["final_metrics"] == clean["final_metrics"]
    s2 = run.execute(toy.main, toy.Config(workdir=str(tmp_path / "cut"), steps=6))
    assert s2["status"] == "completed" and s2["resumed_from"] == 6
    assert s2["final_metrics"] == clean["final_metrics"]
    assert s2["results"] == clean["results"] and s2["best"] == clean["best"]
    a, b = final_state(tmp_path / "clean", cut), final_state(tmp_path / "cut", cut)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)


def test_sigterm_during_start_up_writes_a_preempted_summary(toy, tmp_path):
    s = run.execute(toy.main, toy.Config(workdir=str(tmp_path), steps=6, sigterm_in="init"))
    assert s["status"] == "preempted" and s["step"] == 0
    assert "start-up" in s["error"]
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "preempted"
    assert not (tmp_path / "checkpoints").exists() or not any((tmp_path / "checkpoints").iterdir())
    s2 = run.execute(toy.main, toy.Config(workdir=str(tmp_path), steps=6))
    assert s2["status"] == "completed" and s2["step"] == 6


def _popen_toy(wd: Path, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, str(TOY), "--workdir", str(wd), "--progress", "log", *args]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(proc: subprocess.Popen, ready, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and not ready():
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()


def test_sigterm_outside_the_loop_exits_cleanly_in_a_subprocess(tmp_path):
    """SIGTERM while the script starts (before its state exists) and while it finishes (after
    the last checkpoint): exit status 0, a "preempted" summary, and the same command resumes."""
    wd = tmp_path / "start"
    proc = _popen_toy(wd, "--steps", "4", "--startup-sleep", "30")
    _wait_for(proc, lambda: (wd / "log.txt").exists())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    summary = json.loads((wd / "summary.json").read_text())
    assert summary["status"] == "preempted" and summary["step"] == 0

    wd = tmp_path / "post"
    proc = _popen_toy(wd, "--steps", "4", "--checkpoint-every", "2", "--post-sleep", "30")
    _wait_for(proc, lambda: (wd / "checkpoints" / "4").is_dir())
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    summary = json.loads((wd / "summary.json").read_text())
    assert summary["status"] == "preempted" and summary["step"] == 4
    assert summary["final_metrics"]["loss"] > 0
    assert "re-run the same command" in err


def test_nan_before_any_checkpoint_says_so(toy, tmp_path):
    """lr = 1e30: the loss overflows at step 2, before the first checkpoint (every 3)."""
    s = run.execute(toy.main, toy.Config(workdir=str(tmp_path / "a"), steps=12, lr=1e30))
    assert s["status"] == "nonfinite" and s["step"] == 1
    assert "non-finite metrics at step 2" in s["error"]
    assert "kept" not in s["error"] and "no checkpoint" in s["error"]
    assert "new --workdir" in s["error"] and "--lr" not in s["error"]  # no guess at the cause
    assert s["last_checkpoint"] is None


def test_nan_advice_works_as_written(toy, tmp_path):
    """The message names the checkpoints kept and how to start from one in a new workdir; doing
    exactly that (with the poison removed, as a lower learning rate would) completes."""
    wd = tmp_path / "a"
    s = run.execute(toy.main, toy.Config(workdir=str(wd), steps=12, checkpoint_every=3, nan_at=6))
    assert s["status"] == "nonfinite" and s["step"] == 7 and s["last_checkpoint"] == 6
    assert "non-finite metrics at step 8" in s["error"]
    assert f"{wd}/checkpoints: 3, 6 (all finite)" in s["error"]
    advice = re.search(r"--workdir NEW --init-from (\S+)", s["error"])
    assert advice, s["error"]
    s2 = run.execute(
        toy.main,
        toy.Config(workdir=str(tmp_path / "b"), steps=12, init_from=advice.group(1)),
    )
    assert s2["status"] == "completed" and s2["step"] == 12


def test_step_means_the_last_finite_step_for_train_and_eval_metrics(toy, tmp_path):
    train = run.execute(toy.main, toy.Config(workdir=str(tmp_path / "t"), nan_at=4, eval_every=1))
    evl = run.execute(
        toy.main, toy.Config(workdir=str(tmp_path / "e"), eval_nan_at=5, eval_every=1)
    )
    for s in (train, evl):
        assert s["status"] == "nonfinite"
        assert s["step"] == 4 and "non-finite metrics at step 5" in s["error"], s["error"]
        assert s["final_metrics"] == train["final_metrics"]  # the metrics of step 4
