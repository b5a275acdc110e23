"""Two processes x 2 CPU devices on localhost: jax.distributed from the environment, one writer,
collective orbax checkpoints, and the same numbers as a single-process run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from parallax import run

TOY = Path(__file__).with_name("toy_experiment.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_share_one_run(toy, tmp_path):
    wd = tmp_path / "mh"
    port = _free_port()
    procs = []
    for i in range(2):
        env = {
            **os.environ,
            "JAX_PLATFORMS": "cpu",
            "JAX_NUM_PROCESSES": "2",
            "JAX_PROCESS_ID": str(i),
            "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
        }
        env.pop("XLA_FLAGS", None)
        cmd = [sys.executable, str(TOY), "--workdir", str(wd), "--cpu-devices", "2", "--steps", "6"]
        procs.append(
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    try:
        outs = [p.communicate(timeout=150) for p in procs]
    finally:
        for p in procs:  # never leave a process waiting on its peer
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    err0, err1 = outs[0][1], outs[1][1]
    assert "process 0/2" in err0  # jax.distributed started from the environment
    assert "starting toy_experiment" not in err1  # only process 0 logs
    summary = json.loads((wd / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 6
    env_json = json.loads((wd / "environment.json").read_text())
    assert env_json["devices"]["process_count"] == 2 and env_json["devices"]["count"] == 4
    assert sorted(p.name for p in (wd / "checkpoints").iterdir()) == ["3", "6"]
    # the same run in one process gives the same losses
    single = run.execute(toy.main, toy.Config(workdir=str(tmp_path / "one"), steps=6))
    assert summary["final_metrics"] == single["final_metrics"]
    assert summary["results"]["w"] == single["results"]["w"]
