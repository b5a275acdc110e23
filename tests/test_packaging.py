"""The install layout: one import root, kernels/ and sharding/ mapped into it, from a wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {
    "parallax": "src/parallax",
    "parallax.kernels": "kernels",
    "parallax.sharding": "sharding",
}


def _declared() -> set[str]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert cfg["package-dir"] == MAPPING
    return set(cfg["packages"])


def _on_disk() -> set[str]:
    found = set()
    for pkg, folder in MAPPING.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found.add(".".join([pkg, *rel.parts]) if rel.parts else pkg)
    return found


def test_every_package_is_declared():
    """A subpackage missing from pyproject's list would be absent from the wheel."""
    assert _on_disk() == _declared()


@pytest.mark.slow
def test_wheel_installs_and_imports_outside_the_repo(tmp_path: Path, venv_over_this_environment):
    """Build the wheel, install it into a fresh venv, import from a folder outside the repo.

    Dependencies come from the test environment's site-packages through a path file, so nothing
    is downloaded; the venv's own site-packages holds only the wheel.
    """
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = wheels.glob("parallax-*.whl")
    py = venv_over_this_environment(tmp_path / "venv")
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.check_output([str(py), "-c", purelib], text=True).strip()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    code = (
        "import parallax, parallax.kernels, parallax.sharding, parallax.registry;"
        "from parallax.kernels import pde, nn;"
        "print(parallax.__file__); print(parallax.kernels.__file__);"
        "print(len(parallax.registry.names()));"
        # the native value check's C++ source ships in the wheel and builds on first use
        "from parallax.kernels import _native_check; print(_native_check.available())"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PARALLAX_CACHE_DIR"] = str(tmp_path / "cache")
    out = subprocess.run(
        [str(py), "-c", code], cwd=tmp_path, env=env, check=True, capture_output=True, text=True
    ).stdout.split()
    assert all(p.startswith(site) for p in out[:2]), out
    assert int(out[2]) >= 2
    assert out[3] == "True", out
