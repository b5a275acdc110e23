"""Test-wide JAX configuration; must run before anything touches a device.

* 8 fake CPU devices, so sharding tests see a mesh on any machine;
* strict dtype promotion and rank promotion that raises: silent float32 -> float64 upcasts and
  accidental broadcasting are bugs here;
* warnings are errors (pyproject's ``filterwarnings``, narrow exceptions commented there).
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("EQX_ON_ERROR", "raise")

import jax
import pytest

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


TESTS = Path(__file__).resolve().parent

# `scripts/test --quick` (pytest -m quick): one fast module per layer, so a change anywhere is
# exercised in a few minutes. Slow and multi-process tests stay in the full suite only.
QUICK_MODULES = frozenset(
    {
        "kernels/test_value_checks.py",
        "kernels/test_named_errors.py",
        "kernels/pde/test_heat.py",
        "kernels/ode/test_fixed_step.py",
        "kernels/sde/test_sde.py",
        "kernels/nn/test_layers.py",
        "kernels/particles/test_space_lj.py",
        "parity/test_compare.py",
        "parity/test_golden_roundtrip.py",
        "bridge/test_state_dict.py",
        "sharding/test_mesh.py",
        "sharding/test_halo.py",
        "models/test_models.py",
        "run/test_config.py",
        "run/test_rundir.py",
        "run/test_checkpoint.py",
        "cli/test_cli.py",
        "bench/test_bench_cli.py",
    }
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.resolve().relative_to(TESTS).as_posix() in QUICK_MODULES:
            item.add_marker(pytest.mark.quick)


# Folders whose tests run with JAX's default dtype promotion, as experiments do: optax's Adam
# bias correction computes ``b1 ** count`` (Python float ** int32), which strict promotion rejects.
STANDARD_PROMOTION_FOLDERS = ("experiments", "run")


@pytest.fixture(autouse=True)
def _folder_dtype_promotion(request):
    if Path(request.path).resolve().relative_to(TESTS).parts[0] in STANDARD_PROMOTION_FOLDERS:
        with jax.numpy_dtype_promotion("standard"):
            yield
    else:
        yield


@pytest.fixture
def x64():
    """float64 enabled for the whole test (``jax_enable_x64`` is off everywhere else)."""
    with jax.enable_x64(True):
        yield
