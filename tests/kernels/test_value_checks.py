"""Traced value checks: raise by default, NaN under value_checks("nan") (multi-device safe)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from parallax.kernels import pde, value_checks


def _rollout(u):
    return pde.heat_rollout(u, jnp.float32(0.01), jnp.float32(0.1), ndim=2, num_steps=2)[0]


def _bad_field(batch: int) -> jax.Array:
    u = np.random.default_rng(0).standard_normal((batch, 8, 8)).astype(np.float32)
    u[batch - 1, 3, 3] = np.nan
    return jnp.asarray(u)


def test_traced_check_raises_by_default_and_concrete_checks_always_raise():
    with pytest.raises(Exception, match="u0: contains NaN or Inf"):
        jax.block_until_ready(jax.jit(_rollout)(_bad_field(1)))
    with value_checks("nan"), pytest.raises(ValueError, match="u0: contains NaN or Inf"):
        _rollout(_bad_field(1))  # concrete: checked at once, whatever the mode


def test_nan_mode_returns_nan_without_a_host_callback_on_many_devices():
    """The 'nan' mode on a batch sharded over 4 devices: the call returns (a raise would run on
    one device while the others wait at their next collective until XLA aborts)."""
    mesh = jax.make_mesh((4,), ("b",), axis_types=(jax.sharding.AxisType.Auto,))
    u = jax.device_put(_bad_field(4), NamedSharding(mesh, P("b")))
    with value_checks("nan"):
        f = jax.jit(_rollout)
        hlo = f.lower(u).as_text()
        out = f(u)
    assert "callback" not in hlo
    assert bool(jnp.all(jnp.isnan(out)))
    good = jax.device_put(jnp.ones((4, 8, 8), jnp.float32), NamedSharding(mesh, P("b")))
    with value_checks("nan"):
        np.testing.assert_allclose(np.asarray(jax.jit(_rollout)(good)), 1.0, rtol=1e-6)


def test_bad_mode_is_named():
    with (
        pytest.raises(ValueError, match=r"mode: expected one of .*'nan'.*got 'loud'"),
        value_checks("loud"),
    ):
        pass
