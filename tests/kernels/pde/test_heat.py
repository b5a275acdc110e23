"""Spectral heat kernel: exact mode decay, conservation, bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import pde


def test_each_mode_decays_as_exp_minus_nu_k2_t():
    with jax.enable_x64(True):
        n, nu, dt, steps = 32, 0.3, 0.01, 20
        x = np.arange(n) * 2 * np.pi / n
        u0 = sum(np.cos(k * x) / k for k in range(1, 9))
        final, traj = pde.heat_1d_rollout(
            jnp.asarray(u0), jnp.asarray(dt), jnp.asarray(nu), num_steps=steps, save_every=5
        )
        assert traj.shape == (4, n)
        amp = np.abs(np.fft.rfft(np.asarray(final))) * 2 / n
        t = dt * steps
        for k in range(1, 9):
            assert amp[k] == pytest.approx(np.exp(-nu * k**2 * t) / k, rel=1e-12)


def test_mean_is_conserved():
    u0 = jax.random.normal(jax.random.key(0), (4, 64))
    final, _ = pde.heat_1d_rollout(u0, jnp.float32(0.1), jnp.float32(1.0), num_steps=10)
    np.testing.assert_allclose(final.mean(-1), u0.mean(-1), atol=1e-6)


def test_step_equals_one_step_rollout():
    u0 = jax.random.normal(jax.random.key(1), (64,))
    a = pde.heat_1d_step(u0, jnp.float32(0.05), jnp.float32(0.2))
    b, _ = pde.heat_1d_rollout(u0, jnp.float32(0.05), jnp.float32(0.2), num_steps=1)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_changing_dt_does_not_recompile():
    f = jax.jit(lambda u, dt: pde.heat_1d_step(u, dt, jnp.float32(0.1)))
    u = jnp.ones(16)
    f(u, jnp.float32(0.1))
    f(u, jnp.float32(0.2))
    assert f._cache_size() == 1


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"u0": jnp.ones(())}, ValueError, "u: expected rank >= 1"),
        ({"u0": jnp.ones(8, jnp.int32)}, TypeError, "u: expected a floating dtype"),
        ({"dt": jnp.float32(-1.0)}, ValueError, "dt: expected a value > 0"),
        ({"nu": jnp.float32(-0.1)}, ValueError, "nu: expected a value >= 0"),
        ({"dt": jnp.ones(2)}, ValueError, "dt: expected rank 0"),
        ({"u0": jnp.array([1.0, jnp.nan, 0.0, 0.0])}, ValueError, "u: contains NaN"),
    ],
)
def test_bad_input_is_named(kwargs, exc, match):
    args = {"u0": jnp.ones(8), "dt": jnp.float32(0.1), "nu": jnp.float32(0.1), **kwargs}
    with pytest.raises(exc, match=match):
        pde.heat_1d_rollout(**args, num_steps=2)


def test_bad_values_raise_under_jit_too():
    f = jax.jit(lambda dt: pde.heat_1d_step(jnp.ones(8), dt, jnp.float32(0.1)))
    with pytest.raises(Exception, match="dt: expected a value > 0"):
        jax.block_until_ready(f(jnp.float32(0.0)))


def test_rollout_rejects_bad_save_every():
    with pytest.raises(ValueError, match="multiple of save_every"):
        pde.heat_1d_rollout(jnp.ones(8), 0.1, 0.1, num_steps=5, save_every=2)
