"""ETDRK4 / ETD1 machinery: contour coefficients, stepper vs rollout, no recompiles."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import pde


def _direct(z: np.ndarray) -> dict[str, np.ndarray]:
    """The φ-combinations evaluated directly (accurate only away from z = 0), h = 1."""
    ez = np.exp(z)
    return {
        "q": (np.exp(z / 2) - 1) / z,
        "f1": (-4 - z + ez * (4 - 3 * z + z * z)) / z**3,
        "f2": (2 + z + ez * (z - 2)) / z**3,
        "f3": (-4 - 3 * z - z * z + ez * (4 - z)) / z**3,
        "phi": (ez - 1) / z,
    }


def test_contour_coefficients_match_direct_formulas_away_from_zero():
    z = np.array([-40.0, -5.0, -1.5 + 2.0j, 3.0j, -20.0j, 0.7])
    want = _direct(z)
    with jax.enable_x64(True):
        dt = jnp.asarray(1.0)
        c4 = jax.jit(pde.etdrk4_coefficients)(jnp.asarray(z), dt)
        c1 = jax.jit(pde.etd1_coefficients)(jnp.asarray(z), dt)
    for name in ("q", "f1", "f2", "f3"):
        np.testing.assert_allclose(np.asarray(getattr(c4, name)), want[name], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(c1.phi), want["phi"], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(c4.e), np.exp(z), rtol=1e-14)


def test_contour_coefficients_are_accurate_where_direct_formulas_cancel():
    """At |z| = 1e-9 the direct f1 loses all digits; the contour mean gives the limits
    Q → h/2, f1 = f2 = f3 → h/6, φ1 → h (Taylor: f1 = 1/6 + z/6 + ...)."""
    z = np.array([1e-9, -1e-9, 0.0])
    with jax.enable_x64(True):
        h = 0.3
        c4 = jax.jit(pde.etdrk4_coefficients)(jnp.asarray(z), jnp.asarray(h))
        c1 = jax.jit(pde.etd1_coefficients)(jnp.asarray(z / h), jnp.asarray(h))
    np.testing.assert_allclose(np.real(np.asarray(c4.q)), h / 2, rtol=1e-8)
    for name in ("f1", "f2", "f3"):
        np.testing.assert_allclose(np.real(np.asarray(getattr(c4, name))), h / 6, rtol=1e-8)
    np.testing.assert_allclose(np.real(np.asarray(c1.phi)), h, rtol=1e-8)
    direct = _direct(np.array([1e-9]))["f1"]
    assert abs(direct[0] - 1 / 6) > 1e-3, "direct formula expected to cancel catastrophically"


def test_real_operator_gives_real_coefficients():
    lin = -np.linspace(0, 500, 9)
    with jax.enable_x64(True):
        c4 = jax.jit(pde.etdrk4_coefficients)(jnp.asarray(lin), jnp.asarray(0.1))
    for name in c4._fields:
        assert np.all(np.imag(np.asarray(getattr(c4, name))) == 0.0), name


@pytest.mark.parametrize("method", ["etdrk4", "etd1"])
def test_stepper_calls_equal_rollout(method):
    """``stepper(u)`` n times (real space each step) equals the Fourier-space scan rollout."""
    with jax.enable_x64(True):
        grid = pde.make_grid(32)
        rng = np.random.default_rng(0)
        u0 = jnp.asarray(np.sin(np.arange(32) * 2 * np.pi / 32) + 0.1 * rng.standard_normal(32))
        stepper = pde.burgers(grid, jnp.asarray(0.05), jnp.asarray(0.1), method=method)
        final, traj = jax.jit(lambda u: stepper.rollout(u, 6, save_every=2))(u0)
        step = jax.jit(stepper)
        u = u0
        frames = []
        for i in range(6):
            u = step(u)
            if i % 2 == 1:
                frames.append(u)
    assert traj.shape == (3, 32)
    np.testing.assert_allclose(np.asarray(final), np.asarray(u), atol=1e-13)
    np.testing.assert_allclose(np.asarray(traj), np.stack(frames), atol=1e-13)


def test_changing_dt_and_parameters_does_not_recompile():
    traces = []

    @jax.jit
    def run(u, dt, nu):
        traces.append(1)
        return pde.burgers_1d_rollout(u, dt, nu, num_steps=4)[0]

    u = jnp.asarray(np.cos(np.arange(16) * 2 * np.pi / 16), dtype=jnp.float32)
    a = run(u, jnp.float32(0.01), jnp.float32(0.1))
    b = run(u, jnp.float32(0.02), jnp.float32(0.3))
    assert len(traces) == 1
    assert not np.allclose(np.asarray(a), np.asarray(b))
