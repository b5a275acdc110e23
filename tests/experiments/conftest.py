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
