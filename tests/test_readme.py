"""The README as a new user follows it: in a fresh copy of the repository, after the two set-up
commands (``scripts/run`` and ``source .venv/bin/activate``), every command and code block in it
runs, and so does every Python block of the documentation site (``docs/``).

The copy's ``.venv`` reuses this environment's installed dependencies (a path file, and links to
their console scripts) instead of downloading them, so the test exercises what the README and
``scripts/run`` do, not the package index. Commands too long for a test run in a short form that
still proves they are found and parse (:data:`SHORT`).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP = ["scripts/run", "source .venv/bin/activate"]
SMALL = (
    "--n 32 --train-trajectories 2 --test-trajectories 2 --burn-in 20 --samples 16 "
    "--rollout-steps 8 --modes 4 --width 8 --depth 1 --batch 8 --log-every 5 --steps 10"
)
SHORT = {
    # the default demo trains for minutes: the same script on a tiny config
    "scripts/run": f"scripts/run experiments/ks_emulator.py {SMALL} --workdir runs/demo",
    "python experiments/ks_emulator.py --cpu-devices 8 --mesh data=8 --workdir runs/ks": (
        f"python experiments/ks_emulator.py --cpu-devices 8 --mesh data=8 --workdir runs/ks {SMALL}"
    ),
    "parallax bench nn --json bench.json": "parallax bench nn --json bench.json --help",
    # a GPU run: on this CPU, check that it is found and parses its arguments
    "parallax gpu-check out/ --budget-s 480": "parallax gpu-check out/ --budget-s 480 --help",
    # a server: check instead that it reads the run's events
    "tensorboard --logdir runs/lj/tb": "tensorboard --inspect --logdir runs/lj/tb",
    # the benchmarks page's runs take an idle machine for most of an hour: one kernel, the small
    # memory configurations, and a page that accepts them although CI is loaded
    "parallax bench --json benchmarks/cpu/bench.json": (
        "parallax bench pde.heat_1d --impl jax --samples 7 --no-ceilings "
        "--json benchmarks/cpu/bench.json"
    ),
    "parallax bench --memory --json benchmarks/cpu/memory.json": (
        "parallax bench --memory --case test --json benchmarks/cpu/memory.json"
    ),
    "parallax bench --report benchmarks/cpu/bench.json benchmarks/cpu/memory.json "
    "--output BENCHMARKS.md": (
        "parallax bench --report benchmarks/cpu/bench.json benchmarks/cpu/memory.json "
        "--output BENCHMARKS.md --force"
    ),
}


def _blocks(lang: str, page: Path = ROOT / "README.md") -> list[str]:
    """Top-level fenced blocks (an indented one inside a list is a template, not a command)."""
    return re.findall(rf"^```{lang}\n(.*?)^```", page.read_text(), re.S | re.M)


def _python_examples() -> list[tuple[str, str]]:
    """The README's Python blocks and the documentation site's (``docs/``), named by page."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [(p.relative_to(ROOT).as_posix(), code) for p in pages for code in _blocks("python", p)]


def _commands() -> list[str]:
    """Each shell command of the README (continuation lines joined, comments dropped)."""
    out = []
    for block in _blocks("bash"):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            cmd = line.split(" #")[0].strip()
            if cmd and not cmd.startswith("#"):
                out.append(re.sub(r"\s+", " ", cmd))
    return out


def _copy_repo(dest: Path) -> None:
    """What a clone holds: the tracked files and new files git does not ignore."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            (dest / f).write_bytes(src.read_bytes())
            (dest / f).chmod(src.stat().st_mode)


def _venv_from_this_environment(repo: Path, make_venv) -> None:
    """``repo/.venv`` seeing this environment's dependencies, marked as installed for
    scripts/_bootstrap.sh (which then only installs parallax itself, editable)."""
    venv = repo / ".venv"
    make_venv(venv)
    ours = Path(sys.executable).parent
    for tool in ("tensorboard", "ruff", "pyright", "pytest"):
        if (ours / tool).exists():
            (venv / "bin" / tool).symlink_to(ours / tool)
    deps = subprocess.run(
        ["bash", "-c", "source scripts/_bootstrap.sh && _deps_hash"],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (venv / ".parallax-deps").write_text(deps)


def _bash(
    repo: Path,
    script: str,
    timeout: float = 600,
    /,
    *,
    path: str = "/usr/local/bin:/usr/bin:/bin",
    **env: str,
) -> subprocess.CompletedProcess:
    env = {
        "PATH": path,  # no virtual environment on it
        "HOME": os.environ.get("HOME", "/root"),
        "JAX_PLATFORMS": "cpu",
        **{k: v for k, v in os.environ.items() if k.startswith("PIP_")},
        **env,
    }
    return subprocess.run(
        ["bash", "-c", f"set -e\n{script}"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_setup_commands_come_first():
    assert _commands()[: len(SETUP)] == SETUP


@pytest.mark.slow
@pytest.mark.torch
def test_every_readme_command_works_after_the_setup(tmp_path, venv_over_this_environment):
    pytest.importorskip("torch", reason="the README installs the torch extra")
    repo = tmp_path / "parallax"
    _copy_repo(repo)
    _venv_from_this_environment(repo, venv_over_this_environment)
    setup = _bash(repo, SHORT["scripts/run"])
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    assert "== ks_emulator: completed" in setup.stdout  # the demo's results block

    failures = []
    for cmd in _commands()[len(SETUP) :]:
        short, cloud = SHORT.get(cmd, cmd), {}
        if cmd.startswith("scripts/tpu_vm.sh"):
            # --dry-run prints the gcloud commands; the fake gcloud (first on PATH, before any
            # real one) records a call it would get, and none may come
            short = cmd.replace("scripts/tpu_vm.sh", "scripts/tpu_vm.sh --dry-run", 1)
            fake = repo / "tests" / "run" / "fake_gcloud"
            cloud = {"path": f"{fake}:/usr/local/bin:/usr/bin:/bin"}
            cloud["FAKE_GCLOUD_STATE"] = str(tmp_path / "gcloud")
        p = _bash(repo, f"source .venv/bin/activate\n{short}", **cloud)
        if p.returncode != 0:
            failures.append(f"$ {short}\n{p.stdout[-1500:]}{p.stderr[-1500:]}")
        if (tmp_path / "gcloud" / "calls.log").exists():
            calls = (tmp_path / "gcloud" / "calls.log").read_text()
            failures.append(f"$ {short}\ncalled gcloud:\n{calls}")
    for i, (page, code) in enumerate(_python_examples()):
        (repo / f"readme_{i}.py").write_text(code)
        p = _bash(repo, f"source .venv/bin/activate\npython readme_{i}.py")
        if p.returncode != 0:
            failures.append(f"python block {i} of {page}:\n{code}\n{p.stderr[-1500:]}")
    assert not failures, "\n\n".join(failures)


def test_short_forms_name_readme_commands():
    """A README command that changes must not leave a stale short form here."""
    commands = set(_commands())
    assert set(SHORT) <= commands, set(SHORT) - commands
    for cmd in commands:
        assert shlex.split(cmd)  # each parses as a shell command line
