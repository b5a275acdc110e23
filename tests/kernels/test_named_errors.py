"""Shape and dtype errors name the argument the caller passed (not a derived name such as
``dtype`` for ``u0`` or ``y`` for ``y0``, and not jax's "add got incompatible shapes"), and the
simulation families agree on state dtypes: float32 or float64."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from parallax.kernels import ode, particles, pde, sde

F32, F16 = jnp.float32, jnp.float16
Y3 = jnp.ones(3, F32)
L63 = jnp.asarray([10.0, 28.0, 8 / 3], F32)
TS = jnp.linspace(0.0, 1.0, 4, dtype=F32)


X4 = jnp.asarray([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [0.0, 1.5, 0.0], [0.0, 0.0, 1.5]], F32)


def _lj_force(x, aux):
    u, f = particles.lj_energy_and_forces(x, 6.0, 1.0, 1.0)
    return u, f, aux


def _wrong_shape_field(t, y, params):
    return jnp.ones(5, y.dtype)


def _wrong_dtype_field(t, y, params):
    return y.astype(F16)


CASES = [
    # a user's callable returning the wrong shape or dtype
    (
        "rk4 f shape",
        lambda: ode.rk4_rollout(_wrong_shape_field, Y3, 0.1, None, num_steps=2),
        ValueError,
        "f: expected it to return shape (3,)",
    ),
    (
        "rk4_step f dtype",
        lambda: ode.rk4_step(_wrong_dtype_field, 0.0, Y3, 0.1, None),
        TypeError,
        "f: expected it to return dtype float32",
    ),
    (
        "dopri5 f shape",
        lambda: ode.dopri5(_wrong_shape_field, Y3, TS, None, 1e-5, 1e-5, 0.1),
        ValueError,
        "f: expected it to return shape (3,)",
    ),
    (
        "verlet accel shape",
        lambda: ode.velocity_verlet_rollout(
            lambda q, p: jnp.ones(5, F32), Y3, Y3, 0.1, None, num_steps=2
        ),
        ValueError,
        "accel: expected it to return shape (3,)",
    ),
    (
        "sde drift shape",
        lambda: sde.euler_maruyama(
            lambda x, t, a: jnp.ones(5, F32), lambda x, t, a: x, Y3, 0.1, jnp.zeros((4, 3), F32)
        ),
        ValueError,
        "drift: expected it to return shape (3,)",
    ),
    (
        "sde diffusion shape",
        lambda: sde.milstein(
            lambda x, t, a: x, lambda x, t, a: jnp.ones((), F32), Y3, 0.1, jnp.zeros((4, 3), F32)
        ),
        ValueError,
        "diffusion: expected it to return shape (3,)",
    ),
    # mismatched inputs
    (
        "gbm_exact w shape",
        lambda: sde.gbm_exact(jnp.ones(10, F32), 0.05, 0.2, 1.0, jnp.ones(7, F32)),
        ValueError,
        "w: expected shape (10)",
    ),
    (
        "gbm_exact w dtype",
        lambda: sde.gbm_exact(jnp.ones(10, F32), 0.05, 0.2, 1.0, jnp.ones(10, F16)),
        TypeError,
        "w: expected dtype float32",
    ),
    # derived names
    (
        "heat f16 u0",
        lambda: pde.heat_rollout(jnp.ones(8, F16), 0.1, 0.1, num_steps=2),
        TypeError,
        "u0: expected float32 or float64, got float16",
    ),
    (
        "heat n < 4",
        lambda: pde.heat_rollout(jnp.ones(3, F32), 0.1, 0.1, num_steps=2),
        ValueError,
        "u0: expected at least 4 points per grid axis",
    ),
    (
        "ks_2d n < 4",
        lambda: pde.ks_2d_rollout(jnp.ones((8, 2), F32), 0.1, num_steps=2),
        ValueError,
        "u0: expected at least 4 points per grid axis",
    ),
    (
        "ns w0 rank",
        lambda: pde.navier_stokes_2d_rollout(jnp.ones(8, F32), 0.01, 0.01, 0.0, 0.0, num_steps=2),
        ValueError,
        "w0: expected rank >= 2",
    ),
    (
        "ns w0 NaN",
        lambda: pde.navier_stokes_2d_rollout(
            jnp.ones((8, 8), F32).at[1, 1].set(jnp.nan), 0.01, 0.01, 0.0, 0.0, num_steps=2
        ),
        ValueError,
        "w0: contains NaN or Inf",
    ),
    (
        "ns f16 w0",
        lambda: pde.navier_stokes_2d_rollout(
            jnp.ones((8, 8), F16), 0.01, 0.01, 0.0, 0.0, num_steps=2
        ),
        TypeError,
        "w0: expected float32 or float64",
    ),
    # a system names its own state and parameters (the solvers pass them through)
    (
        "lorenz63 y",
        lambda: ode.dopri5(ode.lorenz63, jnp.ones(4, F32), TS, L63, 1e-5, 1e-5, 0.1),
        ValueError,
        "y: expected shape (..., 3)",
    ),
    (
        "lorenz96 y sites",
        lambda: ode.rk4_rollout(ode.lorenz96, Y3, 0.1, 8.0, num_steps=2),
        ValueError,
        "y: expected at least 4 sites",
    ),
    (
        "lorenz96 forcing",
        lambda: ode.rk4_rollout(ode.lorenz96, jnp.ones(8, F32), 0.1, jnp.ones(2), num_steps=2),
        ValueError,
        "params: expected rank 0",
    ),
    (
        "kepler q",
        lambda: ode.velocity_verlet_rollout(ode.kepler_accel, Y3, Y3, 0.1, 1.0, num_steps=2),
        ValueError,
        "q: expected shape (..., 2)",
    ),
    (
        "kepler mu",
        lambda: ode.velocity_verlet_rollout(
            ode.kepler_accel, jnp.ones(2, F32), jnp.ones(2, F32), 0.1, jnp.ones(2), num_steps=2
        ),
        ValueError,
        "params: expected rank 0",
    ),
    (
        "md step mass shape",
        lambda: particles.velocity_verlet_step(
            _lj_force, particles.init_state(_lj_force, X4, X4 * 0), 0.01, mass=jnp.ones(3, F32)
        ),
        ValueError,
        "mass: expected a scalar or shape (4,)",
    ),
    (
        "baoab noise shape",
        lambda: particles.baoab_step(
            _lj_force,
            particles.init_state(_lj_force, X4, X4 * 0),
            0.01,
            1.0,
            1.0,
            jnp.zeros((3, 3), F32),
        ),
        ValueError,
        "noise: expected shape (4, 3)",
    ),
    (
        "kinetic_energy rank",
        lambda: particles.kinetic_energy(jnp.ones(4, F32)),
        ValueError,
        "velocity: expected rank 2",
    ),
    # one state dtype rule for every simulation family
    (
        "rk4 f16 y0",
        lambda: ode.rk4_rollout(ode.lorenz63, Y3.astype(F16), 0.1, L63, num_steps=2),
        TypeError,
        "y0: expected float32 or float64, got float16",
    ),
    (
        "dopri5 f16 y0",
        lambda: ode.dopri5(ode.lorenz63, Y3.astype(F16), TS, L63, 1e-3, 1e-3, 0.1),
        TypeError,
        "y0: expected float32 or float64, got float16",
    ),
    (
        "verlet bf16 q0",
        lambda: ode.velocity_verlet_rollout(
            ode.kepler_accel,
            jnp.ones(2, jnp.bfloat16),
            jnp.ones(2, jnp.bfloat16),
            0.1,
            1.0,
            num_steps=2,
        ),
        TypeError,
        "q0: expected float32 or float64, got bfloat16",
    ),
    (
        "sde f16 x0",
        lambda: sde.gbm_euler_maruyama(jnp.ones(3, F16), 0.1, 0.2, 0.01, jnp.zeros((4, 3), F16)),
        TypeError,
        "x0: expected float32 or float64, got float16",
    ),
    (
        "fd f16 u0",
        lambda: pde.advection_1d_rollout(jnp.ones(8, F16), 0.1, 0.1, 0.1, num_steps=2),
        TypeError,
        "u0: expected float32 or float64, got float16",
    ),
    (
        "laplacian f16 u",
        lambda: pde.laplacian_2d(jnp.ones((8, 8), F16), 0.1),
        TypeError,
        "u: expected float32 or float64, got float16",
    ),
    (
        "md f16 positions",
        lambda: particles.lj_nve_rollout(
            jnp.ones((4, 3), F16), jnp.ones((4, 3), F16), 10.0, 0.01, 1.0, 1.0, num_steps=2
        ),
        TypeError,
        "positions: expected float32 or float64, got float16",
    ),
    (
        "nbody f16 positions",
        lambda: particles.nbody_rollout(
            jnp.ones((4, 3), F16), jnp.ones((4, 3), F16), jnp.ones(4, F16), 0.01, 0.1, num_steps=2
        ),
        TypeError,
        "positions: expected float32 or float64, got float16",
    ),
]


@pytest.mark.parametrize(("call", "err", "msg"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_error_names_the_argument_the_caller_passed(call, err, msg):
    with pytest.raises(err) as info:
        jax.block_until_ready(call())
    assert msg in str(info.value), str(info.value)
