"""Experiment smoke tests: load each script as a module and run a tiny config in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallax import run

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture(scope="session")
def load():
    cache: dict[str, object] = {}

    def get(name: str):
        if name not in cache:
            cache[name] = run.load_experiment(EXPERIMENTS / f"{name}.py")
        return cache[name]

    return get


@pytest.fixture
def run_tiny(load, tmp_path):
    """``run_tiny(name, **config) -> summary``: the experiment ``name`` run in-process on
    ``Config(**config)`` with the test's ``tmp_path`` as workdir; the run must complete."""

    def go(name: str, **config):
        mod = load(name)
        summary = run.execute(mod.main, mod.Config(workdir=str(tmp_path), **config))
        assert summary["status"] == "completed", summary["error"]
        return summary

    return go
