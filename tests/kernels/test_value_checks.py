"""Traced value checks: raise by default, NaN under value_checks("nan") (multi-device safe)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from parallax.kernels import ode, particles, pde, sde, value_checks


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


# Every kind of traced value check, each under a plain jax.jit with the bad value as a traced
# argument: (what, function of the traced value, bad value, the message naming the argument).
F32 = jnp.float32
U8 = jnp.ones((2, 32), F32)
NAN8 = U8.at[1, 3].set(jnp.nan)
LORENZ = (jnp.ones(3, F32), jnp.asarray([10.0, 28.0, 8 / 3], F32))
TS = jnp.linspace(0.0, 1.0, 5, dtype=F32)
XS = jnp.asarray(np.random.default_rng(0).random((8, 3)) * 4.0, F32)


def _dopri(rtol=None, ts=TS):
    rtol = F32(1e-5) if rtol is None else rtol
    return ode.dopri5(ode.lorenz63, LORENZ[0], ts, LORENZ[1], rtol, F32(1e-5), F32(1e-2)).ys


JIT_CASES = [
    (
        "pde dt <= 0",
        lambda d: pde.heat_rollout(U8, d, F32(0.5), num_steps=3)[0],
        F32(-0.1),
        "dt: expected a value > 0",
    ),
    (
        "pde nu < 0",
        lambda n: pde.heat_rollout(U8, F32(0.1), n, num_steps=3)[0],
        F32(-0.5),
        "nu: expected a value >= 0",
    ),
    (
        "pde NaN u0",
        lambda u: pde.ks_1d_rollout(u, F32(0.1), num_steps=3)[0],
        NAN8,
        "u0: contains NaN or Inf",
    ),
    (
        "pde eps <= 0",
        lambda e: pde.allen_cahn_rollout(U8, F32(0.1), e, num_steps=3)[0],
        F32(0.0),
        "eps: expected a value > 0",
    ),
    (
        "ns drag < 0",
        lambda a: pde.navier_stokes_2d_rollout(
            jnp.ones((16, 16), F32), F32(0.01), F32(0.01), a, F32(0.0), num_steps=2
        )[0],
        F32(-1.0),
        "drag: expected a value >= 0",
    ),
    (
        "fd CFL",
        lambda c: pde.advection_1d_rollout(U8, c, F32(0.1), F32(0.1), num_steps=2)[0],
        F32(5.0),
        "c: Courant number",
    ),
    (
        "wave CFL",
        lambda c: pde.wave_2d_rollout(
            jnp.ones((8, 8), F32), jnp.ones((8, 8), F32), c, F32(0.1), F32(0.1), num_steps=2
        )[0][1],
        F32(50.0),
        "c: Courant number",
    ),
    (
        "laplacian dx <= 0",
        lambda h: pde.laplacian_2d(jnp.ones((8, 8), F32), h),
        F32(-0.1),
        "dx: expected a value > 0",
    ),
    (
        "ode NaN y0",
        lambda y: ode.rk4_rollout(ode.lorenz63, y, F32(0.01), LORENZ[1], num_steps=3)[0],
        jnp.asarray([1.0, jnp.nan, 1.0], F32),
        "y0: contains NaN or Inf",
    ),
    (
        "ode dt <= 0",
        lambda d: ode.rk4_rollout(ode.lorenz63, LORENZ[0], d, LORENZ[1], num_steps=3)[0],
        F32(0.0),
        "dt: expected a value > 0",
    ),
    (
        "verlet NaN v0",
        lambda v: ode.velocity_verlet_rollout(
            ode.kepler_accel, jnp.asarray([1.0, 0.0], F32), v, F32(0.01), F32(1.0), num_steps=2
        )[0][0],
        jnp.asarray([0.0, jnp.inf], F32),
        "v0: contains NaN or Inf",
    ),
    ("dopri5 rtol < 0", lambda r: _dopri(rtol=r), F32(-1e-5), "rtol: expected a value > 0"),
    (
        "dopri5 decreasing ts",
        lambda t: _dopri(ts=t),
        jnp.asarray([0.0, 0.5, 0.4], F32),
        "ts: expected strictly increasing save times",
    ),
    (
        "sde dt <= 0",
        lambda d: sde.gbm_euler_maruyama(jnp.ones(4, F32), 0.1, 0.2, d, jnp.zeros((6, 4), F32))[0],
        F32(-0.01),
        "dt: expected a value > 0",
    ),
    (
        "ou theta < 0",
        lambda th: sde.ou_euler_maruyama(
            jnp.ones(4, F32), th, 0.0, 0.2, 0.01, jnp.zeros((6, 4), F32)
        )[0],
        F32(-1.0),
        "theta: expected a value > 0",
    ),
    (
        "nbody masses < 0",
        lambda m: (
            particles.nbody_rollout(
                XS, jnp.zeros_like(XS), m, F32(0.01), F32(0.1), num_steps=2
            ).position
        ),
        jnp.ones(8, F32).at[2].set(-1.0),
        "masses: expected a value > 0",
    ),
    (
        "md dt <= 0",
        lambda d: (
            particles.lj_nve_rollout(
                XS, jnp.zeros_like(XS), F32(8.0), d, F32(1.0), F32(1.0), num_steps=2
            ).position
        ),
        F32(0.0),
        "dt: expected a value > 0",
    ),
    (
        "langevin kT < 0",
        lambda kt: (
            particles.lj_langevin_rollout(
                XS,
                jnp.zeros_like(XS),
                F32(8.0),
                F32(0.001),
                F32(1.0),
                F32(1.0),
                F32(1.0),
                kt,
                key=jax.random.key(0),
                num_steps=2,
            ).position
        ),
        F32(-1.0),
        "kT: expected a value >= 0",
    ),
    (
        "neighbor overflow",
        lambda x: (
            particles.lj_nve_rollout(
                x,
                jnp.zeros_like(x),
                F32(8.0),
                F32(0.001),
                F32(1.0),
                F32(1.0),
                num_steps=2,
                skin=0.3,
                capacity=1,
            ).position
        ),
        XS,
        "neighbor list overflow",
    ),
]


@pytest.mark.parametrize(
    ("fn", "bad", "msg"), [c[1:] for c in JIT_CASES], ids=[c[0] for c in JIT_CASES]
)
def test_a_traced_check_under_plain_jit_puts_the_parallax_message_first(fn, bad, msg):
    """The first line of the error a user sees names the argument (no host-callback traceback
    or another library's banner before it)."""
    with pytest.raises(Exception) as info:  # the message is what is checked
        jax.block_until_ready(jax.jit(fn)(bad))
    text = str(info.value)
    assert msg in text.splitlines()[0], text[:400]
    assert "filter_jit" not in text
