"""scripts/tpu_vm.sh: its --dry-run commands, and its whole lifecycle against a fake ``gcloud``
(tests/run/fake_gcloud/gcloud): create -> install into a fresh venv -> run on 2 workers x 4
CPU devices -> preempt (SIGTERM to one worker, then the VM is taken) -> recreate -> resume to
completion -> delete. What a real TPU VM would add (its images, uv, jax[tpu], libtpu, GCS,
DCN) cannot run here: the README says which parts only the fake has exercised."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from parallax import run

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "tpu_vm.sh"
FAKE = Path(__file__).with_name("fake_gcloud")
TOY = "tests/run/toy_experiment.py"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _dry(*args: str) -> tuple[int, list[list[str]], str]:
    """``tpu_vm.sh ARGS --dry-run``, with the fake gcloud first on PATH: a dry run that called
    gcloud after all would leave a calls.log behind."""
    k = args.index("--") if "--" in args else len(args)
    argv = ["bash", str(SCRIPT), *args[:k], "--dry-run", *args[k:]]
    with tempfile.TemporaryDirectory() as state:
        env = {
            **os.environ,
            "PATH": f"{FAKE}{os.pathsep}{os.environ['PATH']}",
            "FAKE_GCLOUD_STATE": state,
            "FAKE_GCLOUD_PYTHON": sys.executable,
        }
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
        assert not (Path(state) / "calls.log").exists(), "a dry run called gcloud"
    return p.returncode, [shlex.split(line) for line in p.stdout.splitlines()], p.stderr


def _opt(cmd: list[str], flag: str) -> str:
    for i, a in enumerate(cmd):
        if a == flag:
            return cmd[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    raise AssertionError(f"{flag} not in {cmd}")


def test_tpu_pin_is_the_tested_jax():
    """The jax[tpu] pin that workers install (pyproject's tpu extra) is the jax these tests
    run with."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    (pin,) = [r for r in extras["tpu"] if r.startswith("jax[tpu]==")]
    assert pin.split("==")[1] == metadata.version("jax")


@pytest.mark.parametrize(
    ("tpu_type", "image"),
    [
        ("v4-16", "tpu-ubuntu2204-base"),
        ("v5litepod-16", "v2-alpha-tpuv5-lite"),
        ("v5p-8", "v2-alpha-tpuv5"),
        ("v6e-8", "v2-alpha-tpuv6e"),
    ],
)
def test_dry_run_prints_every_command(tpu_type, image):
    rc, cmds, err = _dry(
        "--name",
        "exp-1",
        "--zone",
        "us-central2-b",
        "--type",
        tpu_type,
        "--project",
        "proj",
        "--bucket",
        "my-bucket",
        "--spot",
        "--delete",
        "--retry",
        "2",
        "--",
        "--steps",
        "4000",
        "--note",
        "it's ok",
    )
    assert rc == 0, err
    gcloud = ["gcloud", "compute", "tpus", "tpu-vm"]
    describe, create, archive, scp, install, start, poll, delete = cmds
    assert describe[:6] == [*gcloud, "describe", "exp-1"]
    assert create[:6] == [*gcloud, "create", "exp-1"] and "--spot" in create
    assert _opt(create, "--accelerator-type") == tpu_type and _opt(create, "--version") == image
    assert _opt(create, "--zone") == "us-central2-b" and _opt(create, "--project") == "proj"
    assert archive[:2] == ["git", "-C"] and "ls-files" in archive
    assert scp[:5] == [*gcloud, "scp"] and "--worker=all" in scp
    for c in (install, start, poll):
        assert c[:6] == [*gcloud, "ssh", "exp-1"] and "--worker=all" in c
    pip = _opt(install, "--command")
    assert "uv venv -q --python 3.11" in pip and "[tpu,gcs]" in pip
    assert f'jax.__version__ == "{metadata.version("jax")}"' in pip
    remote = _opt(start, "--command")
    assert "nohup setsid" in remote and "gcsfuse" not in remote + pip
    # the detached command is valid shell and ends with the experiment and its overrides
    inner = shlex.split(remote.split("nohup setsid bash -c ", 1)[1].split(" >/dev/null")[0])[0]
    argv = shlex.split(inner.split("trap true TERM; ", 1)[1].split(" > ")[0])
    assert argv == [
        "~/parallax/venv/bin/python",
        "experiments/ks_emulator.py",
        "--workdir",
        "gs://my-bucket/parallax/exp-1/ks_emulator",
        "--steps",
        "4000",
        "--note",
        "it's ok",
    ]
    assert delete[:6] == [*gcloud, "delete", "exp-1"] and "--quiet" in delete


def test_dry_run_queued_resources_and_subcommands():
    rc, cmds, _ = _dry("--name", "q", "--zone", "z", "--queued", "--bucket", "b", "--delete")
    assert rc == 0
    qr = ["gcloud", "compute", "tpus", "queued-resources"]
    create = next(c for c in cmds if c[:5] == [*qr, "create"])
    assert _opt(create, "--node-id") == "q" and _opt(create, "--runtime-version")
    assert any(c[:5] == [*qr, "describe"] for c in cmds)
    assert cmds[-1][:5] == [*qr, "delete"] and "--force" in cmds[-1]
    for sub, word in [("stop", "kill -TERM"), ("logs", "tail"), ("status", "running")]:
        rc, cmds, _ = _dry(sub, "--name", "q", "--zone", "z")
        assert rc == 0 and word in _opt(cmds[-1], "--command"), (sub, cmds)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--zone", "z"], "--name is required"),
        (["--name", "a"], "--zone is required"),
        (["--name", "Bad_Name", "--zone", "z"], "lowercase"),
        (["--name", "a", "--zone", "z", "--experiment", "nope"], "no experiment"),
        (["--name", "a", "--zone", "z", "--frobnicate"], "unknown option '--frobnicate'"),
        (["--name", "a", "--zone", "z", "--run-name", "x y"], "--run-name"),
        (["--name", "a", "--zone", "z", "--type", "v9x-8"], "unknown TPU type"),
        (["--name", "a", "--zone", "z", "--retry", "many"], "--retry"),
        (["--name", "a", "--zone", "z", "--detach", "--delete"], "--delete needs"),
    ],
)
def test_bad_arguments_are_reported(args, message):
    rc, cmds, err = _dry(*args)
    assert rc == 2 and not cmds and message in err


@pytest.fixture
def fake_gcloud(tmp_path):
    state = tmp_path / "gcloud-state"
    env = {
        **os.environ,
        "PATH": f"{FAKE}{os.pathsep}{os.environ['PATH']}",
        "FAKE_GCLOUD_STATE": str(state),
        "FAKE_GCLOUD_PYTHON": sys.executable,
        "PARALLAX_RETRY_DELAY": "0",
        "PARALLAX_PREEMPT_WAIT": "30",
    }
    env.pop("XLA_FLAGS", None)
    env.pop("JAX_PLATFORMS", None)
    yield state, env
    for vm in state.glob("*.json"):  # never leave a simulated worker running
        subprocess.run([FAKE / "gcloud", "compute", "tpus", "tpu-vm", "delete", vm.stem], env=env)


def _calls(state: Path) -> list[list[str]]:
    return [json.loads(line) for line in (state / "calls.log").read_text().splitlines()]


@pytest.mark.slow
def test_lifecycle_with_a_fake_gcloud(fake_gcloud, toy, final_state, tmp_path):
    state, env = fake_gcloud
    wd = tmp_path / "shared" / "run"
    (state).mkdir(parents=True)
    (state / "ssh-failures").write_text("1")  # the first ssh drops: retried
    launch = [
        "bash",
        str(SCRIPT),
        "--name",
        "t1",
        "--zone",
        "z",
        "--type",
        "v4-16",
        "--spot",
        "--experiment",
        TOY,
        "--workdir",
        str(wd),
        "--shared-fs",
        "--retry",
        "1",
        "--delete",
        "--poll",
        "1",
        "--",
        "--cpu-devices",
        "4",
        "--steps",
        "30",
        "--checkpoint-every",
        "1000",
        "--log-every",
        "1",
        "--sleep",
        "0.2",
    ]
    proc = subprocess.Popen(launch, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 400
        while time.monotonic() < end and proc.poll() is None:
            rows = run.read_metrics(wd / "metrics.jsonl")
            if len(rows) >= 3 and not any(c[:2] == ["fake", "preempt"] for c in _calls(state)):
                # a Spot preemption: one worker gets SIGTERM, the VM goes 2 s later
                subprocess.run(
                    [FAKE / "gcloud", "fake", "preempt", "t1", "--worker", "1", "--grace", "2"],
                    env=env,
                    check=True,
                )
            time.sleep(0.2)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
    text = out.decode()
    assert proc.returncode == 0, text[-5000:]
    assert "retry 1/1: recreating t1" in text and "run toy_experiment completed" in text

    summary = json.loads((wd / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 30, summary
    stop = summary["resumed_from"]
    assert stop is not None and 3 <= stop < 30
    assert json.loads((wd / "environment.json").read_text())["devices"]["count"] == 8
    log = (wd / "log.txt").read_text()
    assert re.search(rf"stopped by .* at step {stop}", log), log[-3000:]

    cfg = toy.Config(workdir=str(tmp_path / "full"), steps=30, checkpoint_every=1000)
    assert run.execute(toy.main, cfg)["status"] == "completed"
    a, b = final_state(tmp_path / "full", cfg), final_state(wd, cfg)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)

    calls = [c for c in _calls(state) if c[:3] == ["compute", "tpus", "tpu-vm"]]
    verbs = [c[3] for c in calls if c[3] in ("create", "delete")]
    assert verbs == ["create", "delete", "create", "delete"]  # preempted VM, then --delete
    assert not list(state.glob("*.json"))  # nothing left billing
    installs = [c for c in calls if c[3] == "ssh" and "venv" in (c[-1] or "")]
    assert len(installs) >= 2  # a fresh venv on each VM
