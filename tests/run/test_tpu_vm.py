"""scripts/tpu_vm.sh cannot reach a TPU here; its --dry-run commands are checked instead."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "tpu_vm.sh"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _dry(*args: str) -> tuple[int, list[list[str]], str]:
    p = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", *args], capture_output=True, text=True, timeout=30
    )
    return p.returncode, [shlex.split(line) for line in p.stdout.splitlines()], p.stderr


def test_full_dry_run_builds_every_step():
    rc, cmds, _ = _dry(
        "--name",
        "exp-1",
        "--zone",
        "us-central2-b",
        "--type",
        "v4-16",
        "--project",
        "proj",
        "--bucket",
        "my-bucket",
        "--spot",
        "--delete",
        "--tag",
        "t1",
        "--experiment",
        "experiments/ks_emulator.py",
        "--",
        "--steps",
        "4000",
        "--mesh",
        "data=-1,model=2",
        "--note",
        "it's ok",
    )
    assert rc == 0
    gcloud = ["gcloud", "compute", "tpus", "tpu-vm"]
    create, archive, scp, install, run, delete = cmds
    assert create[:6] == [*gcloud, "create", "exp-1"]
    assert _opt(create, "--accelerator-type") == "v4-16" and "--spot" in create
    assert _opt(create, "--zone") == "us-central2-b" and _opt(create, "--project") == "proj"
    assert archive[0] == "git" and "archive" in archive
    tarball = _opt(archive, "-o")
    assert scp[:5] == [*gcloud, "scp"] and scp[5] == tarball and "--worker=all" in scp
    for c in (install, run):
        assert c[:6] == [*gcloud, "ssh", "exp-1"] and "--worker=all" in c
    assert "jax[tpu]" in _opt(install, "--command") and "gcsfuse" in _opt(install, "--command")
    remote = _opt(run, "--command")
    assert "gcsfuse --implicit-dirs my-bucket" in remote
    # the remote command itself is valid shell: its argv ends with the experiment and overrides
    tail = shlex.split(remote.split("&& ", 2)[-1].replace('"$HOME', '"/home/u'))
    assert tail[:3] == ["cd", "~/parallax", "&&"]
    assert tail[3:6] == ["PARALLAX_DISTRIBUTED=1", "python3", "experiments/ks_emulator.py"]
    assert tail[6:] == [
        "--workdir",
        "/home/u/bucket/runs/ks_emulator/t1",
        "--steps",
        "4000",
        "--mesh",
        "data=-1,model=2",
        "--note",
        "it's ok",
    ]
    assert delete[:6] == [*gcloud, "delete", "exp-1"] and "--quiet" in delete


def test_minimal_dry_run_and_skips():
    rc, cmds, err = _dry("--name", "a", "--zone", "z", "--no-create", "--no-install")
    assert rc == 0 and len(cmds) == 1
    assert "runs/ks_emulator/" in _opt(cmds[0], "--command")
    assert "without --bucket" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--zone", "z"], "--name is required"),
        (["--name", "a"], "--zone is required"),
        (["--name", "Bad_Name", "--zone", "z"], "lowercase"),
        (["--name", "a", "--zone", "z", "--experiment", "nope"], "no experiment"),
        (["--name", "a", "--zone", "z", "--frobnicate"], "unknown option '--frobnicate'"),
        (["--name", "a", "--zone", "z", "--tag", "x y"], "--tag"),
    ],
)
def test_bad_arguments_are_reported(args, message):
    rc, cmds, err = _dry(*args)
    assert rc == 2 and not cmds and message in err


def _opt(cmd: list[str], flag: str) -> str:
    return cmd[cmd.index(flag) + 1]
