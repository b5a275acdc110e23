"""Kernels from other packages: the ``parallax.kernels`` entry-point group.

In-process: distributions written onto ``sys.path`` (a ``.dist-info`` with entry points) over
a fresh registry. End to end: tests/data/example_kernel_pkg pip-installed into a temporary
virtual environment, then ``parallax kernels``, ``parallax parity`` and ``parallax bench`` on it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from parallax.bench import bench_spec
from parallax.bench.peers import _peer, peers_for
from parallax.parity import run_parity, torch_available
from parallax.registry import KernelPluginWarning, _registry, get, names

EXAMPLE = Path(__file__).parents[1] / "data" / "example_kernel_pkg"


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A registry that has not looked for plugins yet (its built-in kernels kept), fresh peers,
    and a folder on ``sys.path`` for distributions; ``dist(name, entry_points)`` adds one."""
    names()  # the built-in kernels, registered once per process
    monkeypatch.setattr(_registry, "_SPECS", dict(_registry._SPECS))
    monkeypatch.setattr(_registry, "_loaded", False)
    peers_for("pde.heat_1d")
    monkeypatch.setattr(_peer, "_PEERS", {k: dict(v) for k, v in _peer._PEERS.items()})
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)

    def dist(name: str, entry_points: dict[str, str]) -> None:
        info = tmp_path / f"{name.replace('-', '_')}-0.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
        lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text(f"[parallax.kernels]\n{lines}")

    yield dist
    for mod in set(sys.modules) - before:
        if mod.startswith(("parallax_example", "plugin_")):
            del sys.modules[mod]


def test_an_installed_package_registers_kernels_and_peers(fresh, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    fresh("parallax-example-kernels", {"example": "parallax_example_kernels.registered"})
    assert "example.logistic" in names() and "pde.heat_1d" in names()
    spec = get("example.logistic")
    assert spec.family == "example"
    assert spec.twin == "parallax_example_kernels.twins:logistic_rollout"  # by convention
    assert [p.name for p in peers_for("example.logistic")] == ["numpy"]
    (rec,) = bench_spec(spec, "test", impls=["numpy"], samples=7, min_sample_s=0.0)
    assert rec.error is None and rec.median_us is not None
    if torch_available():
        for dtype in ("float32", "float64"):
            result = run_parity(spec, "test", dtype)
            assert result.passed, result.message()
            assert {r.name for r in result.grad} == {"grad[u0]", "grad[rate]", "grad[capacity]"}


def test_a_broken_entry_point_warns_naming_the_package_and_keeps_the_rest(fresh, tmp_path):
    (tmp_path / "plugin_half.py").write_text(
        textwrap.dedent("""
        from parallax.registry import KernelSpec, get, register

        heat = get("pde.heat_1d")
        register(KernelSpec(name="half.first", fn=heat.fn, cases=heat.cases,
                            fwd_tol=heat.fwd_tol, grad_tol=heat.grad_tol))
        raise RuntimeError("the second kernel needs a GPU")
        """)
    )
    (tmp_path / "plugin_ok.py").write_text(
        textwrap.dedent("""
        import dataclasses
        from parallax.registry import get

        def kernels():
            return [dataclasses.replace(get("pde.heat_1d"), name="ok.heat")]

        def not_specs():
            return [1]
        """)
    )
    fresh("half-done", {"half": "plugin_half"})
    fresh("missing-dep", {"missing": "plugin_missing_module"})
    fresh("returns-specs", {"ok": "plugin_ok:kernels", "bad": "plugin_ok:not_specs"})
    fresh("clashes", {"clash": "plugin_ok:kernels"})
    with pytest.warns(KernelPluginWarning) as caught:
        have = names()
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 4, messages
    by_package = {m.split("'")[1]: m for m in messages}
    assert set(by_package) == {"half-done", "missing-dep", "returns-specs", "clashes"}
    assert "'half' = 'plugin_half'" in by_package["half-done"]
    assert "RuntimeError: the second kernel needs a GPU" in by_package["half-done"]
    assert "ModuleNotFoundError" in by_package["missing-dep"]
    assert "expected it to return KernelSpecs, got a int" in by_package["returns-specs"]
    assert "'ok.heat' is already registered" in by_package["clashes"]
    assert "half.first" not in have  # all or nothing per entry point
    assert "ok.heat" in have and "pde.heat_1d" in have


@pytest.mark.slow
def test_a_pip_installed_package_is_listed_compared_and_timed(tmp_path, venv_over_this_environment):
    py = venv_over_this_environment(tmp_path / "venv", this_parallax=True)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(py), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )

    package = shutil.copytree(EXAMPLE, tmp_path / "example_kernel_pkg")  # builds write into it
    pip = run(
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--quiet",
        str(package),
    )
    assert pip.returncode == 0, pip.stderr[-3000:]

    listed = run("-m", "parallax.cli", "kernels", "--json")
    assert listed.returncode == 0, listed.stderr[-3000:]
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["example.logistic"]["family"] == "example"
    assert rows["example.logistic"]["peers"] == ["numpy"]
    assert "pde.heat_1d" in rows
    # the broken entry point: one clear warning naming the package, and nothing else lost
    assert "parallax: skipping the kernels of package 'parallax-example-kernels'" in listed.stderr
    assert "entry point 'broken'" in listed.stderr
    assert "No module named 'parallax_example_missing_dependency'" in listed.stderr

    impls = ("--impl", "jax", "--impl", "numpy")
    bench = run(
        "-m",
        "parallax.cli",
        "bench",
        "example.logistic",
        "--case",
        "test",
        *impls,
        "--no-ceilings",
        "--json",
        "run.json",
    )
    assert bench.returncode == 0, bench.stdout[-2000:] + bench.stderr[-2000:]
    records = json.loads((tmp_path / "run.json").read_text())["records"]
    assert {(r["kernel"], r["impl"]) for r in records if r["error"] is None} == {
        ("example.logistic", "jax"),
        ("example.logistic", "numpy"),
    }

    if torch_available():
        parity = run("-m", "parallax.cli", "parity", "example.logistic", "--json")
        assert parity.returncode == 0, parity.stdout[-2000:] + parity.stderr[-2000:]
        results = json.loads(parity.stdout)
        assert [(r["dtype"], r["passed"]) for r in results] == [
            ("float32", True),
            ("float64", True),
        ]
