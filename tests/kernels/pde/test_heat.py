"""Heat kernels: what the registry contract does not cover (pde.heat_1d/2d/3d get exact mode
decay, mass, jit/vmap/grad, twin parity and goldens from tests/test_registry_contract.py and
tests/test_parity.py and tests/physics): the 1D step is the exact factor, bad input is named,
dt changes do not recompile."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import pde


def test_heat_1d_step_is_the_exact_factor():
    u0 = jax.random.normal(jax.random.key(1), (2, 64))
    dt, nu = jnp.float32(0.05), jnp.float32(0.2)
    a = pde.heat(pde.make_grid((64,)), dt, nu)(u0)
    one, traj = pde.heat_rollout(u0, dt, nu, num_steps=1)
    np.testing.assert_allclose(a, one, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(traj[-1]), np.asarray(one))
    # the exact factor, computed independently with NumPy
    k = np.fft.rfftfreq(64, 1 / 64)
    want = np.fft.irfft(np.exp(-0.2 * 0.05 * k**2) * np.fft.rfft(np.asarray(u0, np.float64)), 64)
    np.testing.assert_allclose(a, want, atol=2e-6)


def test_changing_dt_does_not_recompile():
    f = jax.jit(lambda u, dt: pde.heat_rollout(u, dt, jnp.float32(0.1), num_steps=1)[0])
    u = jnp.ones(16)
    f(u, jnp.float32(0.1))
    f(u, jnp.float32(0.2))
    # `_cache_size` is a run-time attribute of jit's wrapper, absent from its stub
    assert f._cache_size() == 1  # pyright: ignore[reportAttributeAccessIssue]


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"u0": jnp.ones(())}, ValueError, "u0: expected rank >= 1"),
        ({"u0": jnp.ones(8, jnp.int32)}, TypeError, "u0: expected a floating dtype"),
        ({"dt": jnp.float32(-1.0)}, ValueError, "dt: expected a value > 0"),
        ({"nu": jnp.float32(-0.1)}, ValueError, "nu: expected a value >= 0"),
        ({"dt": jnp.ones(2)}, ValueError, "dt: expected a scalar"),
        ({"u0": jnp.array([1.0, jnp.nan, 0.0, 0.0])}, ValueError, "u0: contains NaN"),
        ({"u0": jnp.ones((2, 8)), "ndim": 3}, ValueError, "u0: expected rank >= 3"),
    ],
)
def test_bad_input_is_named(kwargs, exc, match):
    args = {"u0": jnp.ones(8), "dt": jnp.float32(0.1), "nu": jnp.float32(0.1), **kwargs}
    with pytest.raises(exc, match=match):
        pde.heat_rollout(**args, num_steps=2)


def test_bad_values_raise_under_jit_too():
    f = jax.jit(lambda dt: pde.heat_rollout(jnp.ones(8), dt, jnp.float32(0.1), num_steps=1)[0])
    with pytest.raises(Exception, match="dt: expected a value > 0"):
        jax.block_until_ready(f(jnp.float32(0.0)))


def test_rollout_rejects_bad_save_every():
    with pytest.raises(ValueError, match="multiple of save_every"):
        pde.heat_rollout(jnp.ones(8), 0.1, 0.1, num_steps=5, save_every=2)
