"""Any equation's terms run sharded: ``sharded_stepper`` equals the single-device stepper, and a
transform's block ops give the single-device grid's tables."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding

import parallax.sharding as ps
from parallax.kernels import pde


@pytest.fixture(scope="module")
def mesh():
    return ps.make_mesh({"a": 4, "b": 2})


def test_local_block_ops_equal_grid_ops():
    """LocalFFT(real=True).spectral_ops is the GridOps of the same grid: same transform, modes,
    |k|², derivatives and mask (float64)."""
    with jax.enable_x64(True):
        shape, length = (6, 8, 10), (1.0, 2.0, 3.0)
        block = ps.LocalFFT(shape, length, real=True).spectral_ops(jnp.float64)
        grid = pde.GridOps(pde.make_grid(shape, length), jnp.float64)
        u = jnp.asarray(np.random.default_rng(0).standard_normal((2, *shape)))
        uh = grid.fft(u)
        np.testing.assert_allclose(np.asarray(block.fft(u)), np.asarray(uh), atol=1e-12)
        np.testing.assert_allclose(np.asarray(block.ifft(uh)), np.asarray(u), atol=1e-12)
        np.testing.assert_allclose(np.asarray(block.k2()), np.asarray(grid.k2()), rtol=1e-15)
        np.testing.assert_array_equal(np.asarray(block.dealias(uh)), np.asarray(grid.dealias(uh)))
        for j in range(3):
            got, want = np.broadcast_arrays(block.modes(j), grid.modes(j))
            np.testing.assert_array_equal(got, want)
            got, want = np.broadcast_arrays(block.derivative(j), grid.derivative(j))
            np.testing.assert_array_equal(got, want)


def _single(name, shape, dt, length):
    return {
        "allen_cahn": lambda: pde.allen_cahn(shape, dt, 0.3, length=length),
        "burgers": lambda: pde.burgers(shape, dt, 0.1, length=length),
        "advection_diffusion": lambda: pde.advection_diffusion(
            shape, dt, jnp.asarray([0.5, -0.2, 0.3], dt.dtype), 0.1, length=length
        ),
    }[name]()


EQUATIONS = {
    # name: (terms, params, grid, mesh axes, state shape, real)
    "allen_cahn": (pde.allen_cahn_terms, (0.3,), (16, 16), ("a",), (16, 16), True),
    "burgers": (pde.burgers_terms, (0.1,), (16, 16), ("a",), (2, 16, 16), False),
    "advection_diffusion": (
        pde.advection_diffusion_terms,
        ([0.5, -0.2, 0.3], 0.1),
        (8, 8, 4),
        ("a", "b"),
        (8, 8, 4),
        False,
    ),
}


@pytest.mark.parametrize("name", sorted(EQUATIONS))
def test_any_equation_sharded_matches_single_device(mesh, name):
    """An equation with no sharded constructor of its own runs sharded from its terms alone:
    Allen–Cahn (slab, r2c, on a Nyquist-free u0), 2D Burgers (a velocity with a channel axis,
    slab, c2c) and 3D advection–diffusion (complex L, pencil, c2c) equal the single-device
    steppers to round-off (float64), communicating only by FFT transposes."""
    terms, params, shape, axes, state, real = EQUATIONS[name]
    length = 2 * math.pi
    with jax.enable_x64(True):
        dt, n = jnp.asarray(0.02), 8
        d = ps.distributed_fft(mesh, shape, axes, length=length, real=real)
        u0 = d.project(jnp.asarray(np.random.default_rng(1).standard_normal(state) * 0.5))
        ref = jax.jit(lambda u: _single(name, shape, dt, length).rollout(u, n)[0])(u0)
        stepper = ps.sharded_stepper(d, terms, dt, *params)
        b = len(state) - len(shape)
        us = jax.device_put(u0, NamedSharding(mesh, d.physical_spec(b)))
        compiled = jax.jit(lambda u: stepper.rollout(u, n)).lower(us).compile()
        out = compiled(us)
        assert float(jnp.max(jnp.abs(ref - u0))) > 0.05  # the dynamics did something
        np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-12, atol=1e-12)
        assert set(ps.comms_report(compiled).summary()) == {"all-to-all"}


def test_sharded_stepper_static_arguments_and_one_dimension():
    """Static keywords reach the terms (NS forcing wavenumber, KS without dealiasing), and a
    1D equation runs on a LocalFFT, as its single-device stepper (float64)."""
    with jax.enable_x64(True):
        dt = jnp.asarray(0.05)
        u0 = jnp.asarray(np.random.default_rng(2).standard_normal(32))
        ks_terms = pde.kuramoto_sivashinsky_terms
        ks = ps.sharded_stepper(ps.LocalFFT((32,), 8 * math.pi), ks_terms, dt, dealias=False)
        want = pde.kuramoto_sivashinsky(32, dt, length=8 * math.pi, dealias=False)
        np.testing.assert_allclose(
            np.asarray(jax.jit(lambda u: ks.rollout(u, 5))(u0)),
            np.asarray(jax.jit(lambda u: want.rollout(u, 5)[0])(u0)),
            atol=1e-12,
        )
        w0 = jnp.asarray(np.random.default_rng(3).standard_normal((8, 8)))
        ns_terms, params = pde.navier_stokes_2d_terms, (0.05, 0.1, 1.0)
        ns = ps.sharded_stepper(ps.LocalFFT((8, 8)), ns_terms, dt, *params, forcing_wavenumber=1)
        want = pde.navier_stokes_2d((8, 8), dt, 0.05, 0.1, 1.0, forcing_wavenumber=1)
        np.testing.assert_allclose(
            np.asarray(jax.jit(lambda w: ns.rollout(w, 3))(w0)),
            np.asarray(jax.jit(lambda w: want.rollout(w, 3)[0])(w0)),
            atol=1e-12,
        )
    with pytest.raises(ValueError, match="method: expected 'etdrk4' or 'etd1', got 'rk4'"):
        ps.sharded_stepper(ps.LocalFFT((8, 8)), pde.heat_terms, 0.1, 0.2, method="rk4")
