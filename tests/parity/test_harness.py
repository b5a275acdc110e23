"""The parity harness itself: it must catch wrong twins and say where."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from parallax.parity import compare_leaf, pinned_precision, run_parity
from parallax.registry import get

torch = pytest.importorskip("torch", reason="the harness compares against torch twins")


def _wrong_heat(u0, dt, nu, *, num_steps, save_every=1, length=2 * np.pi):
    from parallax.kernels.pde.twins import heat_rollout

    final, traj = heat_rollout(u0, dt, nu * 1.01, num_steps=num_steps, save_every=save_every)
    return final, traj


def test_mismatch_names_leaf_worst_element_and_both_values(monkeypatch):
    spec = dataclasses.replace(get("pde.heat_1d"), twin="tests.parity.test_harness:_wrong_heat")
    monkeypatch.setattr(type(spec), "load_twin", lambda self: _wrong_heat)
    result = run_parity(spec, "test", "float64")
    assert not result.passed
    msg = result.message()
    assert "MISMATCH" in msg and "out[0]" in msg and "grad[nu]" in msg
    worst = next(r for r in result.fwd if r.name == "out[0]")
    assert worst.worst_index is not None and len(worst.worst_index) == 2
    assert f"jax={worst.got!r}" in msg and f"torch={worst.want!r}" in msg
    assert worst.max_abs > 1e-6


def test_twin_error_is_reported_not_raised(monkeypatch):
    spec = get("pde.heat_1d")

    def broken(**_):
        raise RuntimeError("twin exploded")

    monkeypatch.setattr(type(spec), "load_twin", lambda self: broken)
    result = run_parity(spec, "test", "float32")
    assert not result.passed and "twin exploded" in (result.error or "")


def test_compare_leaf_nan_never_passes():
    a = np.array([1.0, np.nan])
    rep = compare_leaf("x", a, a.copy(), 1e-3, 1e-3)
    assert not rep.passed and rep.note == "NaN present"


def test_compare_leaf_shape_mismatch():
    rep = compare_leaf("x", np.zeros(3), np.zeros(4), 1e-3, 1e-3)
    assert not rep.passed and "shape mismatch" in rep.note


def test_relative_error_ignores_tiny_reference_elements():
    rep = compare_leaf("x", np.array([1.0 + 1e-7, 1e-12]), np.array([1.0, 0.0]), 1e-6, 1e-9)
    assert rep.passed and rep.max_rel == pytest.approx(1e-7, rel=1e-3)


def test_precision_is_pinned_and_restored():
    matmul = torch.backends.cuda.matmul
    matmul.fp32_precision = "tf32"
    before_det = torch.are_deterministic_algorithms_enabled()
    # jax.config sets its flag attributes at run time: pyright sees none of them
    before_prec = jax.config.jax_default_matmul_precision  # pyright: ignore[reportAttributeAccessIssue]
    try:
        with pinned_precision():
            assert jax.config.jax_default_matmul_precision == "highest"  # pyright: ignore[reportAttributeAccessIssue]
            assert matmul.fp32_precision == "ieee"
            assert torch.backends.cudnn.conv.fp32_precision == "ieee"
            assert torch.are_deterministic_algorithms_enabled()
        assert matmul.fp32_precision == "tf32"
        assert torch.are_deterministic_algorithms_enabled() == before_det
        assert jax.config.jax_default_matmul_precision == before_prec  # pyright: ignore[reportAttributeAccessIssue]
    finally:
        matmul.fp32_precision = "none"
