"""Test-wide JAX configuration; must run before anything touches a device.

* 8 fake CPU devices, so sharding tests see a mesh on any machine;
* strict dtype promotion and rank promotion that raises: silent float32 -> float64 upcasts and
  accidental broadcasting are bugs here;
* warnings are errors (pyproject's ``filterwarnings``, narrow exceptions commented there).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
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


@pytest.fixture
def venv_over_this_environment():
    """``make(venv, this_parallax=False) -> python``: a virtual environment at ``venv`` whose
    Python sees this environment's installed packages without installing or downloading them (a
    ``.pth`` file adds this site-packages). With ``this_parallax`` it also reads that folder's own
    ``.pth`` files, where this environment's editable parallax lives; without, parallax is
    whatever the test installs into the venv (a wheel, a copy of the repo)."""

    def make(venv: Path, *, this_parallax: bool = False) -> Path:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        py = venv / "bin" / "python"
        site = subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        ours = sysconfig.get_paths()["purelib"]
        line = f"import site; site.addsitedir({ours!r})" if this_parallax else ours
        (Path(site) / "this_environment.pth").write_text(line + "\n")
        return py

    return make


@pytest.fixture
def torch_encoder_mirror():
    """``mirror(d, heads, ff, depth) -> (config, rules)``: the parallax Transformer config that
    computes what ``torch.nn.TransformerEncoder`` does when built from
    ``TransformerEncoderLayer(d, heads, ff, dropout=0, activation="gelu", batch_first=True,
    norm_first=True)`` with a final ``LayerNorm(d)`` as ``norm`` (exact GELU, eps 1e-5, biases,
    no causal mask, no rotary embedding), and the bridge rules between the two parameter sets."""
    from parallax import bridge as B
    from parallax import models as M

    def mirror(d: int, heads: int, ff: int, depth: int):
        config = M.TransformerConfig(
            embed=d,
            depth=depth,
            heads=heads,
            mlp_hidden=ff,
            activation="gelu_exact",
            norm="layer",
            norm_eps=1e-5,
            bias=True,
            causal=False,
            rope_base=None,
            final_norm=True,
        )
        rules = M.encoder_layer_torch_rules("params.blocks.{i}.", "layers.{i}.") + B.Rules.of(
            B.norm("params.norm_f.scale", "norm.weight"),
            B.same("params.norm_f.bias", "norm.bias"),
        )
        return config, rules

    return mirror
