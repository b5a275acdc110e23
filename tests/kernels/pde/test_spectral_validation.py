"""Spectral PDE kernels: gradients through long rollouts, vmap, conservation, bad input."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import pde


def _wave(n: int, *shifts: float) -> np.ndarray:
    x = np.arange(n) * 2 * np.pi / n
    return np.stack([np.sin(x + s) + 0.5 * np.cos(2 * x - s) for s in shifts])


def test_grad_through_100_step_rollout_matches_central_differences():
    """d/dε of Σ w·u_T(u0 + ε v, ν + ε δ) by jax.grad vs a 4th-order central difference
    (float64, Burgers, 100 ETDRK4 steps, t = 1)."""
    with jax.enable_x64(True):
        n = 32
        rng = np.random.default_rng(0)
        u0 = jnp.asarray(_wave(n, 0.3)[0])
        w = jnp.asarray(rng.standard_normal(n))
        v = jnp.asarray(rng.standard_normal(n))
        dt, nu = jnp.asarray(0.01), jnp.asarray(0.1)

        @jax.jit
        def loss(u, nu):
            final, _ = pde.burgers_1d_rollout(u, dt, nu, num_steps=100, save_every=100)
            return jnp.sum(w * final)

        gu, gnu = jax.grad(loss, argnums=(0, 1))(u0, nu)
        analytic = float(jnp.sum(gu * v) + gnu * 0.05)
        eps = 1e-3

        def at(t):
            return float(loss(u0 + t * v, nu + t * 0.05))

        numeric = (8 * (at(eps) - at(-eps)) - (at(2 * eps) - at(-2 * eps))) / (12 * eps)
    assert analytic == pytest.approx(numeric, rel=1e-7, abs=1e-10)


def test_vmap_over_64_initial_conditions_equals_separate_calls():
    n, steps = 32, 10
    rng = np.random.default_rng(1)
    u0 = jnp.asarray(rng.standard_normal((64, n)), jnp.float32)
    dt = jnp.float32(0.2)
    run = jax.jit(lambda u: pde.ks_1d_rollout(u, dt, num_steps=steps, save_every=5, length=32.0))
    batched_final, batched_traj = jax.jit(jax.vmap(run))(u0)
    for i in range(64):
        final, traj = run(u0[i])
        np.testing.assert_allclose(batched_final[i], final, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(batched_traj[i], traj, rtol=1e-5, atol=1e-5)


def test_vmap_over_parameters_equals_separate_calls():
    """A batch of (dt, ν) pairs under vmap: the coefficients are computed per element."""
    u0 = jnp.asarray(_wave(32, 0.0)[0], jnp.float32)
    dts = jnp.asarray([0.01, 0.02, 0.05, 0.1], jnp.float32)
    nus = jnp.asarray([0.0, 0.05, 0.1, 0.5], jnp.float32)
    run = jax.jit(lambda dt, nu: pde.burgers_1d_rollout(u0, dt, nu, num_steps=5)[0])
    batched = jax.jit(jax.vmap(run))(dts, nus)
    for i in range(4):
        np.testing.assert_allclose(batched[i], run(dts[i], nus[i]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kernel", ["burgers_1d", "kdv", "navier_stokes_2d"])
def test_mass_is_conserved_by_conservative_forms(kernel):
    """The mean of u (ω for NS) is unchanged to rounding over 200 steps: i k vanishes at
    k = 0, so the nonlinear term never feeds mode 0, and L(0) = 0 (ν-only, no drag)."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(2)
        if kernel == "navier_stokes_2d":
            u0 = jnp.asarray(rng.standard_normal((16, 16)) + 0.7)
            args = (jnp.asarray(0.01), jnp.asarray(0.01), jnp.asarray(0.0), jnp.asarray(1.0))
            fn = pde.navier_stokes_2d_rollout
        elif kernel == "kdv":
            u0 = jnp.asarray(_wave(64, 0.1)[0] + 0.7)
            args, fn = (jnp.asarray(1e-3),), pde.kdv_rollout
        else:
            u0 = jnp.asarray(_wave(64, 0.1)[0] + 0.7)
            args, fn = (jnp.asarray(0.01), jnp.asarray(0.05)), pde.burgers_1d_rollout
        _, traj = jax.jit(lambda u, *a: fn(u, *a, num_steps=200, save_every=20))(u0, *args)
    start, traj = np.asarray(u0), np.asarray(traj)
    means = traj.reshape(10, -1).mean(axis=1)
    assert np.max(np.abs(means - start.mean())) < 1e-13
    assert np.max(np.abs(traj[-1] - start)) > 1e-3  # it moved


# --- bad input ----------------------------------------------------------------------------------


def test_grid_size_mismatch_names_the_expected_shape():
    """Shape errors are raised while tracing (checked with eval_shape: nothing is computed)."""
    f32 = jax.ShapeDtypeStruct

    def ks_step(u):
        return pde.kuramoto_sivashinsky(pde.make_grid(64), jnp.float32(0.1))(u)

    with pytest.raises(ValueError, match=r"u: expected shape \(\.\.\., 64\), got \(2, 32\)"):
        jax.eval_shape(ks_step, f32((2, 32), jnp.float32))

    def burgers_2d(u):
        grid = pde.make_grid((16, 16))
        return pde.burgers(grid, jnp.float32(0.1), jnp.float32(0.1)).rollout(u, 2)

    with pytest.raises(ValueError, match=r"expected shape \(\.\.\., 2, 16, 16\)"):
        jax.eval_shape(burgers_2d, f32((3, 16, 16), jnp.float32))
    with pytest.raises(ValueError, match="u0: expected shape"):
        jax.eval_shape(
            lambda u: pde.burgers_2d_rollout(u, jnp.float32(0.1), jnp.float32(0.1), num_steps=1),
            f32((3, 16, 16), jnp.float32),
        )
    with pytest.raises(ValueError, match="length: expected 2 side lengths"):
        pde.make_grid((16, 16), (1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="velocity: expected shape \\(2\\)"):
        jax.eval_shape(
            lambda c: pde.advection_diffusion((8, 8), 0.1, c, 0.1), f32((3,), jnp.float32)
        )
    with pytest.raises(ValueError, match="grid: expected a 2D grid"):
        # a grid of the wrong type is the input under test
        pde.navier_stokes_2d(32, 0.1, 0.01)  # pyright: ignore[reportArgumentType]


def test_dtype_mismatch_between_state_and_stepper_is_a_type_error():
    def run(u):
        return pde.heat(16, jnp.asarray(0.1, jnp.float64), 0.1)(u)

    with jax.enable_x64(True), pytest.raises(TypeError, match="u: expected dtype float64"):
        jax.eval_shape(run, jax.ShapeDtypeStruct((16,), jnp.float32))


def test_nonpositive_dt_and_negative_viscosity_raise():
    u = jnp.asarray(_wave(16, 0.0)[0], jnp.float32)
    with pytest.raises(ValueError, match="dt: expected a value > 0"):
        pde.burgers_1d_rollout(u, jnp.float32(0.0), jnp.float32(0.1), num_steps=1)
    with pytest.raises(ValueError, match="nu: expected a value >= 0"):
        pde.burgers_1d_rollout(u, jnp.float32(0.1), jnp.float32(-0.1), num_steps=1)
    run = jax.jit(lambda u, dt, nu: pde.burgers_1d_rollout(u, dt, nu, num_steps=1)[0])
    with pytest.raises(Exception, match="dt: expected a value > 0"):
        run(u, jnp.float32(-0.1), jnp.float32(0.1)).block_until_ready()
    with pytest.raises(Exception, match="nu: expected a value >= 0"):
        run(u, jnp.float32(0.1), jnp.float32(-1.0)).block_until_ready()
    with pytest.raises(Exception, match="eps: expected a value > 0"):
        pde.allen_cahn(16, 0.1, 0.0)


def test_nan_initial_state_raises_eagerly_and_under_jit():
    u = jnp.asarray(_wave(16, 0.0)[0], jnp.float32).at[3].set(jnp.nan)
    with pytest.raises(ValueError, match="u0: contains NaN or Inf"):
        pde.kdv_rollout(u, jnp.float32(1e-3), num_steps=1)
    run = jax.jit(lambda u: pde.kdv_rollout(u, jnp.float32(1e-3), num_steps=1)[0])
    with pytest.raises(Exception, match="u0: contains NaN or Inf"):
        run(u).block_until_ready()


def test_unknown_method_and_bad_grid():
    with pytest.raises(ValueError, match="method: expected one of"):
        pde.burgers(16, 0.1, 0.1, method="rk4")
    with pytest.raises(ValueError, match="grid: KdV is 1D"):
        # a grid of the wrong type is the input under test
        pde.korteweg_de_vries((16, 16), 0.1)  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match="shape: expected 1 to 3 grid axes"):
        pde.make_grid((4, 4, 4, 4))
    with pytest.raises(ValueError, match="dt: expected a scalar"):
        pde.heat(16, jnp.ones(2), 0.1)
    assert math.isclose(pde.make_grid(8, 3.0).spacing[0], 0.375)
