"""2 processes x 4 CPU devices on localhost: same results as one process with 8 devices, and a
dead peer ends the survivor with a clear error in bounded time."""

from __future__ import annotations

import importlib.util
import math
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
    ended: dict[int, float] = {}
    try:
        while len(ended) < len(procs) and time.monotonic() - t0 < timeout:
            for i, p in enumerate(procs):
                if i not in ended and p.poll() is not None:
                    ended[i] = time.monotonic() - t0
            time.sleep(0.02)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return [(p.returncode, p.communicate()[0], ended.get(i, math.inf)) for i, p in enumerate(procs)]


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


@pytest.mark.parametrize("victim", [1, 0], ids=["worker-dies", "coordinator-dies"])
def test_dead_peer_ends_survivor(tmp_path, victim):
    """With the default timeouts a survivor stops within 10 s, with one parallax line (exit 75)
    instead of JAX's abort and stack trace."""
    res = _launch(f"die{victim}", tmp_path / "unused.npz", timeout=90)
    rc_dead, text_dead, t_dead = res[victim]
    rc, text, t = res[1 - victim]
    assert rc_dead == 1 and "exiting on purpose" in text_dead
    assert rc == ps.PEER_LOST_EXIT, text[-3000:]
    last = text.strip().splitlines()[-1]
    assert last.startswith(f"parallax: process {1 - victim} of 2"), text[-3000:]
    assert "Check failure stack trace" not in text and "Traceback" not in text, text[-3000:]
    assert t - t_dead < 10, f"survivor stopped {t - t_dead:.1f} s after its peer died"
    print(f"victim {victim}: survivor stopped {t - t_dead:.2f} s after its peer")
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
    # JAX_* names are read too; explicit wins over everything else
    env = {"JAX_COORDINATOR_ADDRESS": "h:9", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1"}
    assert ps.detect_cluster({**env, "SLURM_JOB_ID": "7"}).kwargs["process_id"] == 1
    assert ps.detect_cluster({}).method == "single"
    assert ps.initialize_distributed(env={}).method == "single"
    assert ps.detect_cluster({"PARALLAX_DISTRIBUTED": "1"}).method == "auto"
    with pytest.raises(ValueError, match="PARALLAX_PROCESS_ID"):
        ps.detect_cluster({"PARALLAX_COORDINATOR": "h:1", "PARALLAX_NUM_PROCESSES": "2"})
    with pytest.raises(ValueError, match=r"process id 3 is outside \[0, 2\)"):
        ps.detect_cluster({}, coordinator="h:1", num_processes=2, process_id=3)
    with pytest.raises(ValueError, match="JAX_NUM_PROCESSES='two'"):
        ps.detect_cluster({"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "two"})


def test_detect_slurm():
    """Inside an srun step with several tasks; a batch script (one task in its step) or a
    single-task job stays single-process."""
    step = {"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "gpu[01-02]", "SLURM_PROCID": "3"}
    spec = ps.detect_cluster({**step, "SLURM_STEP_NUM_TASKS": "8", "SLURM_NTASKS": "8"})
    assert (spec.method, spec.process_id, spec.num_processes) == ("slurm", 3, 8)
    assert ps.detect_cluster({**step, "SLURM_STEP_NUM_TASKS": "1", "SLURM_NTASKS": "8"}).method == (
        "single"
    )
    assert ps.detect_cluster({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "8"}).method == "single"


def _metadata(**attrs: str):
    table = {k.replace("_", "-"): v for k, v in attrs.items()}
    return table.get


def test_detect_tpu_vm_from_metadata():
    """The attributes a Cloud TPU VM's metadata server gives (both endpoint formats), one and
    several slices (multi-slice: MEGASCALE_* in tpu-env or the environment)."""
    two = _metadata(worker_network_endpoints="10.0.0.5,10.0.0.6", agent_worker_number="1")
    spec = ps.detect_cluster({}, metadata=two)
    assert spec.method == "tpu"
    assert spec.kwargs == {
        "coordinator_address": "10.0.0.5:8482",
        "num_processes": 2,
        "process_id": 1,
    }
    assert (
        ps.detect_cluster({"JAX_COORDINATOR_PORT": "1234"}, metadata=two).kwargs[
            "coordinator_address"
        ]
        == "10.0.0.5:1234"
    )
    old = _metadata(
        worker_network_endpoints="w-0:uid0:10.1.0.2,w-1:uid1:10.1.0.3", agent_worker_number="0"
    )
    assert ps.detect_cluster({}, metadata=old).kwargs["coordinator_address"] == "10.1.0.2:8482"
    one = _metadata(worker_network_endpoints="10.0.0.5", agent_worker_number="0")
    assert ps.detect_cluster({}, metadata=one).method == "single"
    sliced = _metadata(
        worker_network_endpoints="10.0.1.5,10.0.1.6",
        agent_worker_number="1",
        tpu_env="MEGASCALE_NUM_SLICES: '2'\nMEGASCALE_SLICE_ID: '1'\n"
        "MEGASCALE_COORDINATOR_ADDRESS: '10.0.0.5:8080'\n",
    )
    spec = ps.detect_cluster({}, metadata=sliced)
    assert spec.kwargs == {
        "coordinator_address": "10.0.0.5:8482",
        "num_processes": 4,
        "process_id": 3,
    }
    assert ps.detect_cluster({"MEGASCALE_SLICE_ID": "0"}, metadata=sliced).process_id == 1
    # a single-host VM of a multi-slice job is multi-process too
    single_host_slices = _metadata(
        worker_network_endpoints="10.0.1.5",
        agent_worker_number="0",
        tpu_env="MEGASCALE_NUM_SLICES: '2'\nMEGASCALE_SLICE_ID: '1'\n",
    )
    assert ps.detect_cluster({}, metadata=single_host_slices).kwargs["process_id"] == 1
    # off a TPU VM the metadata server is not asked at all
    from parallax.sharding._distributed import metadata_server

    assert metadata_server({}) is None  # this machine has no TPU PCI device
