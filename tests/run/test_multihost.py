"""Two processes x 4 CPU devices on localhost, the way a 2-worker TPU slice runs an experiment:
one writer, collective orbax checkpoints, the same numbers as one process; SIGTERM to one worker
stops both at one step; a dead worker stops the other within seconds with a summary."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from parallax import run

TOY = Path(__file__).with_name("toy_experiment.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Job:
    """The same command on two local processes (each in its own session, like two hosts)."""

    def __init__(self, workdir: Path, *args: str):
        port = _free_port()
        self.workdir = workdir
        self.procs: list[subprocess.Popen[str]] = []
        for i in range(2):
            env = {
                **os.environ,
                "JAX_PLATFORMS": "cpu",
                "JAX_NUM_PROCESSES": "2",
                "JAX_PROCESS_ID": str(i),
                "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
                "PYTHONUNBUFFERED": "1",
            }
            env.pop("XLA_FLAGS", None)
            cmd = [sys.executable, str(TOY), "--workdir", str(workdir), "--cpu-devices", "4"]
            self.procs.append(
                subprocess.Popen(
                    [*cmd, *args],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,
                )
            )

    def wait_for_rows(self, n: int, timeout: float = 120) -> None:
        metrics = self.workdir / "metrics.jsonl"
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if metrics.exists() and len(run.read_metrics(metrics)) >= n:
                return
            assert all(p.poll() is None for p in self.procs), self.outputs()
            time.sleep(0.05)
        raise AssertionError(f"no {n} metric rows in {timeout} s")

    def wait(self, timeout: float = 150) -> list[tuple[int, str]]:
        try:
            return [self.wait_one(i, timeout) for i in range(len(self.procs))]
        finally:
            self.kill()

    def wait_one(self, i: int, timeout: float) -> tuple[int, str]:
        out, _ = self.procs[i].communicate(timeout=timeout)
        return self.procs[i].returncode, out

    def outputs(self) -> str:
        self.kill()
        return "\n".join(self.wait_one(i, 10)[1] for i in range(len(self.procs)))

    def kill(self, i: int | None = None) -> None:
        """SIGKILL process ``i``'s whole session (all of it, as when its host dies)."""
        for p in self.procs if i is None else [self.procs[i]]:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
            if p.stdout is not None and not p.stdout.closed:
                p.communicate()


def test_two_processes_share_one_run(toy, tmp_path):
    wd = tmp_path / "mh"
    (rc0, out0), (rc1, out1) = Job(wd, "--steps", "6").wait()
    assert rc0 == 0 and rc1 == 0, out0 + out1
    assert "process 0/2" in out0  # jax.distributed started from the environment
    assert "starting toy_experiment" not in out1  # only process 0 logs
    summary = json.loads((wd / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 6
    env_json = json.loads((wd / "environment.json").read_text())
    assert env_json["devices"]["process_count"] == 2 and env_json["devices"]["count"] == 8
    assert sorted(p.name for p in (wd / "checkpoints").iterdir()) == ["3", "6"]
    # the same run in one process gives the same losses
    single = run.execute(toy.main, toy.Config(workdir=str(tmp_path / "one"), steps=6))
    assert summary["final_metrics"] == single["final_metrics"]
    assert summary["results"]["w"] == single["results"]["w"]


def _assert_same_state(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k


def test_sigterm_to_one_process_saves_one_step_on_all(toy, final_state, tmp_path):
    """A preemption notice reaching only worker 1 (a pod slice loses one host first): both
    processes agree on one step through JAX's preemption sync point, save it together, exit 0;
    the same command resumes and ends bitwise equal to an uninterrupted run."""
    wd = tmp_path / "pre"
    args = ("--steps", "40", "--checkpoint-every", "1000", "--log-every", "1")
    job = Job(wd, *args, "--sleep", "0.1")
    job.wait_for_rows(3)
    os.kill(job.procs[1].pid, signal.SIGTERM)
    (rc0, out0), (rc1, out1) = job.wait(timeout=60)
    assert rc0 == 0 and rc1 == 0, out0 + out1
    summary = json.loads((wd / "summary.json").read_text())
    assert summary["status"] == "preempted", summary
    stop = summary["step"]
    assert 3 <= stop < 40
    assert [p.name for p in (wd / "checkpoints").iterdir()] == [str(stop)]
    assert "re-run the same command to resume" in out0

    (rc0, out0), (rc1, out1) = Job(wd, *args).wait()
    assert rc0 == 0 and rc1 == 0, out0 + out1
    again = json.loads((wd / "summary.json").read_text())
    assert again["status"] == "completed" and again["resumed_from"] == stop

    cfg = toy.Config(workdir=str(tmp_path / "full"), steps=40, checkpoint_every=1000)
    assert run.execute(toy.main, cfg)["status"] == "completed"
    _assert_same_state(final_state(tmp_path / "full", cfg), final_state(wd, cfg))


@pytest.mark.parametrize("victim", [1, 0], ids=["worker-dies", "coordinator-dies"])
def test_dead_peer_stops_the_survivor_with_a_summary(toy, final_state, tmp_path, victim):
    wd = tmp_path / "dead"
    args = ("--steps", "400", "--checkpoint-every", "4", "--log-every", "1")
    job = Job(wd, *args, "--sleep", "0.05")
    job.wait_for_rows(10)
    job.kill(victim)
    t0 = time.monotonic()
    rc, out = job.wait_one(1 - victim, timeout=60)
    took = time.monotonic() - t0
    job.kill()
    assert rc == run.EXIT_CODES["peer_lost"], out[-3000:]
    assert took < 10, f"survivor took {took:.1f} s"
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"parallax: process {1 - victim} of 2"), out[-3000:]
    assert "re-run the same command" in last
    assert "Check failure stack trace" not in out and "Traceback" not in out, out[-3000:]
    summary = json.loads((wd / "summary.json").read_text())
    assert summary["status"] == "peer_lost" and summary["error"], summary
    saved = sorted(int(p.name) for p in (wd / "checkpoints").iterdir() if p.name.isdigit())
    assert saved, "no checkpoint survived"
    assert summary["last_checkpoint"] == saved[-1], summary

    (rc0, out0), (rc1, out1) = Job(wd, "--steps", str(saved[-1] + 4), *args[2:]).wait()
    assert rc0 == 0 and rc1 == 0, out0 + out1
    again = json.loads((wd / "summary.json").read_text())
    assert again["status"] == "completed" and again["resumed_from"] == saved[-1]
    print(f"victim {victim}: survivor stopped {took:.2f} s after the kill")


def test_slurm_batch_script_with_a_fake_srun(tmp_path):
    """scripts/slurm_gpu.sbatch under the variables sbatch sets, with a fake srun that starts
    the two tasks of one step locally: the tasks find each other through SLURM detection."""
    repo = Path(__file__).resolve().parents[2]
    wd = tmp_path / "slurm"
    env = {
        **os.environ,
        "PATH": f"{Path(__file__).with_name('fake_slurm')}{os.pathsep}{os.environ['PATH']}",
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "toy",
        "SLURM_NTASKS": "2",
        "JAX_COORDINATOR_PORT": str(_free_port()),
        "JAX_PLATFORMS": "cpu",
        "PARALLAX_VENV": sys.prefix,
        "PARALLAX_WORKDIR": str(wd),
    }
    env.pop("XLA_FLAGS", None)
    p = subprocess.run(
        ["bash", "scripts/slurm_gpu.sbatch", str(TOY), "--cpu-devices", "4", "--steps", "4"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    summary = json.loads((wd / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 4
    devices = json.loads((wd / "environment.json").read_text())["devices"]
    assert devices["process_count"] == 2 and devices["count"] == 8
