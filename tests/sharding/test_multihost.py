"""2 processes x 4 CPU devices on localhost: same results as one process with 8 devices, and a
dead peer ends the survivor with a clear error in bounded time."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import parallax.sharding as ps

WORKER = Path(__file__).with_name("_multihost_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(mode: str, out: Path, timeout: float) -> list[tuple[int, str, float]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XLA_FLAGS")}
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONUNBUFFERED"] = "1"
    t0 = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(i), str(port), mode, str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for i in range(2)
    ]
    results = []
    try:
        for p in procs:
            remaining = max(1.0, timeout - (time.monotonic() - t0))
            text, _ = p.communicate(timeout=remaining)
            results.append((p.returncode, text, time.monotonic() - t0))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    return results


def _reference():
    spec = importlib.util.spec_from_file_location("_multihost_worker", WORKER)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    # the worker sets jax_num_cpu_devices at import; here the test process already has 8
    src = WORKER.read_text().replace('jax.config.update("jax_num_cpu_devices", 4)', "")
    exec(compile(src, str(WORKER), "exec"), mod.__dict__)
    out = mod.workload(ps.make_mesh({"data": 4, "model": 2}))
    return {k: np.asarray(v) for k, v in out.items()}


def test_two_processes_match_one(tmp_path):
    out = tmp_path / "result.npz"
    res = _launch("run", out, timeout=100)
    for rc, text, _ in res:
        assert rc == 0, text[-3000:]
    got = dict(np.load(out))
    want = _reference()
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_dead_peer_ends_survivor(tmp_path):
    res = _launch("die", tmp_path / "unused.npz", timeout=90)
    (rc0, text0, t0), (rc1, text1, _) = res
    assert rc1 == 1 and "exiting on purpose" in text1
    assert rc0 != 0, text0[-3000:]
    assert ("another task died" in text0) or ("exceeded" in text0), text0[-3000:]
    assert t0 < 90  # heartbeat 3 s; the in-worker deadline (60 s) is the backstop
    assert not (tmp_path / "unused.npz").exists()


def test_detect_cluster_from_environment():
    spec = ps.detect_cluster(
        {
            "PARALLAX_COORDINATOR": "10.0.0.1:1234",
            "PARALLAX_NUM_PROCESSES": "4",
            "PARALLAX_PROCESS_ID": "2",
        }
    )
    assert spec.method == "explicit"
    assert spec.kwargs == {
        "coordinator_address": "10.0.0.1:1234",
        "num_processes": 4,
        "process_id": 2,
    }
    assert ps.detect_cluster({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "8"}).method == "slurm"
    assert ps.detect_cluster({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}).method == "single"
    assert ps.detect_cluster({"TPU_WORKER_HOSTNAMES": "h0,h1"}).method == "tpu"
    assert ps.detect_cluster({}).method == "single"
    assert ps.initialize_distributed(env={}).method == "single"
    with pytest.raises(ValueError, match="PARALLAX_PROCESS_ID"):
        ps.detect_cluster({"PARALLAX_COORDINATOR": "h:1", "PARALLAX_NUM_PROCESSES": "2"})
    with pytest.raises(ValueError, match=r"process id 3 is outside \[0, 2\)"):
        ps.detect_cluster({}, coordinator="h:1", num_processes=2, process_id=3)
