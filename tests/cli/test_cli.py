"""The `parallax` command as a user calls it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from parallax.cli import main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "parallax.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_kernels_json(capsys):
    assert main(["kernels", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert {"pde.heat_1d", "nn.dot_product_attention"} <= names
    for r in rows:
        assert r["family"] in {"pde", "ode", "particles", "sde", "nn"}
        assert {"test", "bench"} <= set(r["cases"])
        assert r["dtypes"]


def test_unknown_kernel_exits_2_with_close_matches():
    p = _run("parity", "pde.heat1d")
    assert p.returncode == 2
    assert "unknown kernel 'pde.heat1d'" in p.stderr and "pde.heat_1d" in p.stderr


@pytest.mark.parametrize("sub", ["kernels", "parity", "bench", "gpu-check", "run"])
def test_every_subcommand_has_help(sub, capsys):
    with pytest.raises(SystemExit) as e:
        main([sub, "--help"])
    assert e.value.code == 0
    assert "usage: parallax " + sub in capsys.readouterr().out


def test_parity_json_fields(capsys):
    pytest.importorskip("torch", reason="parity compares against torch twins")
    assert main(["parity", "pde.heat_1d", "--dtype", "float64", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1
    keys = {
        "kernel",
        "case",
        "dtype",
        "fwd_max_abs",
        "fwd_max_rel",
        "grad_max_abs",
        "grad_max_rel",
        "passed",
    }
    assert keys <= set(rows[0]) and rows[0]["passed"] is True


def test_parity_golden_mode_needs_no_torch(capsys):
    assert main(["parity", "pde.heat_1d", "--golden"]) == 0
    assert "2 passed, 0 failed" in capsys.readouterr().out


def test_run_unknown_experiment_exits_2(capsys):
    assert main(["run", "no_such_experiment"]) == 2
    assert "no experiment 'no_such_experiment'" in capsys.readouterr().err


def test_run_resume_finds_the_experiment_from_the_run_directory(tmp_path, monkeypatch, capsys):
    """`parallax run --resume DIR [overrides]`: no experiment name, no retyped flags."""
    import shutil
    from pathlib import Path

    import jax

    toy = Path(__file__).resolve().parents[1] / "run" / "toy_experiment.py"
    (tmp_path / "experiments").mkdir()
    shutil.copy(toy, tmp_path / "experiments" / "toy_experiment.py")
    monkeypatch.chdir(tmp_path)
    wd = tmp_path / "runs" / "a"
    # optax's Adam computes b1 ** count (Python float ** int32); experiments run with JAX's
    # default promotion, the test suite with strict promotion
    with jax.numpy_dtype_promotion("standard"):
        with pytest.raises(SystemExit) as e:
            main(["run", "toy_experiment", "--workdir", str(wd), "--steps", "2", "--dim", "3"])
        assert e.value.code == 0
        with pytest.raises(SystemExit) as e:
            main(["run", "--resume", str(wd), "--steps", "4"])
        assert e.value.code == 0
    summary = json.loads((wd / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["step"] == 4
    assert summary["resumed_from"] == 2 and len(summary["results"]["w"]) == 3
    assert main(["run", "--resume", str(tmp_path / "nope")]) == 2
    assert "no run there" in capsys.readouterr().err


def test_every_command_starts_by_configuring_the_host_allocator(monkeypatch, capsys):
    import parallax.cli

    calls = []
    monkeypatch.setattr(parallax.cli, "configure_host_allocator", lambda: calls.append(1))
    assert main(["kernels", "--json"]) == 0
    assert calls == [1]
