"""The layering is executable: import-linter contracts (pyproject's ``[tool.importlinter]``) and
what importing the bottom layers actually loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("flax", "orbax", "matplotlib", "torch")


def test_import_contracts_are_kept():
    pytest.importorskip("importlinter")
    lint = "from importlinter.cli import lint_imports_command as c; c()"
    cmd = [sys.executable, "-c", lint, "--no-cache", "--no-logo"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout


def _heavy_modules_after(statement: str) -> list[str]:
    probe = f"{statement}; print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    cmd = [sys.executable, "-c", f"import json, sys; {probe}"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("package", ["parallax.kernels", "parallax.sharding"])
def test_importing_the_bottom_layers_loads_no_heavy_dependency(package):
    assert _heavy_modules_after(f"import {package}") == []


def test_the_probe_sees_a_heavy_import():
    assert "flax" in _heavy_modules_after("import parallax.models")
