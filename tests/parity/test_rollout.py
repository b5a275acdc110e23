"""compare_rollout on Lorenz-63 (RK4, Δt = 0.01): the parity horizon of a chaotic system.

The largest Lyapunov exponent of Lorenz-63 at (σ, ρ, β) = (10, 28, 8/3) is λ ≈ 0.906 (Sprott,
"Chaos and time-series analysis", 2003). Two correct float64 implementations agree to round-off,
and their difference grows like e^{λt} until it saturates at the attractor's size.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import ode
from parallax.parity import compare_rollout
from parallax.parity._rollout import round_off_envelope

torch = pytest.importorskip("torch", reason="compare_rollout runs the torch twin")
twins = pytest.importorskip("parallax.kernels.ode.twins")

LAMBDA, DT = 0.906, 0.01
SIGMA_RHO_BETA = np.array([10.0, 28.0, 8.0 / 3.0])
Y0 = np.array([-5.9, -5.5, 24.5])  # on the attractor


def jax_step(y):
    p = jnp.asarray(SIGMA_RHO_BETA, y.dtype)
    return ode.rk4_step(ode.lorenz63, 0.0, y, jnp.asarray(DT, y.dtype), p)


def torch_step_with(params):
    def step(y):
        p, dt = torch.tensor(params, dtype=y.dtype), torch.tensor(DT, dtype=y.dtype)
        return twins.rk4_step(twins.lorenz63, torch.zeros((), dtype=y.dtype), y, dt, p)

    return step


TORCH_STEP = torch_step_with(SIGMA_RHO_BETA)


def test_honest_twin_stays_inside_the_envelope_and_grows_at_the_lyapunov_rate():
    r = compare_rollout(
        jax_step, TORCH_STEP, Y0, 4000, lyapunov_exponent=LAMBDA, save_every=10, dt=DT
    )
    assert r.dtype == "float64" and r.passed and r.horizon is None
    # the envelope C ε e^{λt} / (1 - e^{-λΔt}) reaches 1 at t = ln(...)/λ ≈ 32
    t_pred = np.log((1 - np.exp(-LAMBDA * DT)) / (10 * np.finfo(np.float64).eps)) / LAMBDA
    assert r.predictability_time == pytest.approx(t_pred, abs=0.2)
    assert r.errors[0] < 1e-15 and r.errors[-1] > 1e-2  # round-off ... decorrelated
    assert r.growth_rate() == pytest.approx(LAMBDA, abs=0.15)
    text = str(r)
    assert "parity horizon: none" in text and "predictability time: t=" in text


def test_float32_reaches_its_predictability_time_earlier():
    r = compare_rollout(
        jax_step,
        TORCH_STEP,
        Y0.astype(np.float32),
        1500,
        lyapunov_exponent=LAMBDA,
        save_every=10,
        dt=DT,
    )
    assert r.dtype == "float32" and r.passed
    assert r.predictability_time == pytest.approx(9.9, abs=0.2)


def test_a_wrong_constant_leaves_the_envelope_at_once():
    """β rounded to float32 (relative error 3e-8) in a float64 twin."""
    wrong = torch_step_with([10.0, 28.0, float(np.float32(8.0 / 3.0))])
    r = compare_rollout(jax_step, wrong, Y0, 200, lyapunov_exponent=LAMBDA, save_every=10, dt=DT)
    assert not r.passed
    assert r.horizon == pytest.approx(0.1)  # the first saved frame
    i = r.horizon_index
    assert r.errors[i] > 10 * r.envelope[i]
    assert "OUTSIDE" in str(r)


def test_without_lambda_chaos_leaves_the_linear_envelope_near_t10():
    """λ = 0 assumes round-off grows linearly (C ε n): fine for non-chaotic systems, and for
    Lorenz-63 it holds until e^{λt} outgrows n, near t = 10."""
    r = compare_rollout(jax_step, TORCH_STEP, Y0, 1500, save_every=10, dt=DT)
    assert r.lyapunov_exponent == 0.0
    assert r.horizon is not None and 6.0 < r.horizon < 14.0
    steps = np.array([1, 10, 100])
    np.testing.assert_allclose(
        round_off_envelope(steps, DT, 0.0, 1e-16, 10.0), 1e-15 * steps, rtol=1e-12
    )


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="save_every: expected a positive divisor"):
        compare_rollout(jax_step, TORCH_STEP, Y0, 100, save_every=7)
    with pytest.raises(ValueError, match="num_steps"):
        compare_rollout(jax_step, TORCH_STEP, Y0, 0)
    with pytest.raises(TypeError, match="state0: expected at least one floating"):
        compare_rollout(jax_step, TORCH_STEP, np.arange(3), 10)
