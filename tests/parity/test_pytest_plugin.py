"""The pytest plugin as another project sees it: loaded through the pytest11 entry point with no
conftest, cheap to load, a `parity` fixture and --parity-dtypes, a skip without torch."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

USER_TESTS = """
import jax.numpy as jnp
import numpy as np
import torch

X = np.linspace(-1.0, 1.0, 12).reshape(3, 4)


def test_port(parity):
    report = parity(jnp.tanh, torch.tanh, (X,))
    print("DTYPES", sorted({r.dtype for r in report.leaves}))


def test_wrong_port(parity):
    parity(jnp.tanh, lambda x: torch.tanh(1.001 * x), (X,))


def test_module(parity):
    from flax import nnx
    from parallax import bridge as B

    torch.manual_seed(0)
    rules = B.Rules.of(B.linear("kernel", "weight"), B.same("bias", "bias"))
    report = parity.modules(nnx.Linear(4, 2, rngs=nnx.Rngs(0)), torch.nn.Linear(4, 2), (X,),
                            rules=rules)
    assert report.first_divergence is None
"""


def _pytest(tmp_path, tests, *args, conftest=None):
    """pytest in a fresh project folder: no conftest unless given, no parallax configuration."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_user.py").write_text(tests)
    if conftest is not None:
        (tmp_path / "conftest.py").write_text(conftest)
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-rs", "-p", "no:cacheprovider", *args]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_entry_point_and_a_light_import():
    eps = importlib.metadata.entry_points(group="pytest11")
    assert [e.value for e in eps if e.name == "parallax"] == ["parallax.pytest_plugin"]
    code = (
        "import sys, parallax.pytest_plugin; "
        "print(sorted(m for m in ('jax', 'torch', 'numpy', 'flax') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.slow
def test_fixture_in_a_project_without_conftest(tmp_path):
    pytest.importorskip("torch")
    run = _pytest(tmp_path, USER_TESTS, "--parity-dtypes", "float64")
    assert "1 failed, 2 passed" in run.stdout, run.stdout + run.stderr
    assert "DTYPES ['float64']" in run.stdout
    assert "test_wrong_port" in run.stdout and "worst at" in run.stdout  # the table, in the failure
    bad = _pytest(tmp_path, USER_TESTS, "--parity-dtypes", "float8")
    assert bad.returncode != 0 and "--parity-dtypes: expected" in bad.stdout + bad.stderr


@pytest.mark.slow
def test_fixture_skips_with_a_reason_without_torch(tmp_path):
    tests = "def test_port(parity):\n    raise AssertionError('never runs')\n"
    no_torch = "import sys\n\nsys.modules['torch'] = None  # as if torch were not installed\n"
    run = _pytest(tmp_path, tests, conftest=no_torch)
    assert "1 skipped" in run.stdout, run.stdout + run.stderr
    assert "torch is not installed" in run.stdout
