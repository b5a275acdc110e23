"""Physics checks of the registered kernels, parametrized over the registry.

A module here sets ``KERNELS`` (the registered names it covers, read from the registry) and
``CHECKS``, ``{kernel: ((check name, run, dtypes), ...)}``, where ``run(dtype)`` raises
``AssertionError`` on failure and returns the numbers it measured. Its ``test_physics(physics)``
then runs once per (kernel, check, dtype); a covered kernel without a check is a failing test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pytest


@dataclass(frozen=True)
class Physics:
    kernel: str
    name: str
    run: Callable[[str], Mapping[str, float]] | None
    dtype: str

    def check(self) -> None:
        assert self.run is not None, f"{self.kernel}: no physics check (add one to CHECKS)"
        metrics = self.run(self.dtype)
        assert all(np.isfinite(v) for v in metrics.values()), metrics


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "physics" not in metafunc.fixturenames:
        return
    module = metafunc.module
    assert module is not None  # a test that takes the fixture lives in a module
    checks = module.CHECKS
    assert set(checks) <= set(module.KERNELS), "CHECKS names an uncovered kernel"
    params = [
        pytest.param(Physics(kernel, name, run, dtype), id=f"{kernel}-{name}-{dtype}")
        for kernel in module.KERNELS
        for name, run, dtypes in checks.get(kernel, (("missing", None, ("float64",)),))
        for dtype in dtypes
    ]
    metafunc.parametrize("physics", params)
