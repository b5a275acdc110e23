"""Distributed FFT (slab, pencil) and spectral steppers sharded vs single device."""

from __future__ import annotations

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


@pytest.mark.parametrize(
    "shape,axes", [((16, 8), ("a",)), ((3, 8, 8, 4), ("a",)), ((8, 8, 4), ("a", "b"))]
)
def test_fft_roundtrip_and_comms(mesh, shape, axes):
    grid = shape[1:] if len(shape) == 4 else shape
    d = ps.distributed_fft(mesh, grid, axes)
    b = len(shape) - len(grid)
    x = jnp.asarray(np.random.default_rng(0).standard_normal(shape), jnp.float32)
    xs = jax.device_put(x, NamedSharding(mesh, d.physical_spec(b)))
    fwd = jax.jit(d.fft).lower(xs).compile()
    xh = fwd(xs)
    ref = jnp.fft.fftn(x, axes=tuple(range(b, len(shape))))
    np.testing.assert_allclose(np.asarray(xh), np.asarray(ref), rtol=1e-5, atol=1e-4)
    assert xh.sharding.is_equivalent_to(NamedSharding(mesh, d.spectral_spec(b)), len(shape))
    back = jnp.real(jax.jit(d.ifft)(xh))
    np.testing.assert_allclose(np.asarray(back), np.asarray(x), rtol=1e-5, atol=1e-5)
    rep = ps.comms_report(fwd)
    # one all_to_all per mesh axis (slab: 1, pencil: 2) and nothing else
    assert rep.count("all-to-all") == len(axes) and rep.count() == len(axes)
    batch = int(np.prod(shape[:b]))
    assert rep.total_bytes == pytest.approx(d.transpose_bytes(itemsize=8, batch=batch))


STEPPERS = {
    # name: (grid, mesh axes, length, single-device stepper, sharded stepper)
    "ks2d": (
        (32, 32),
        ("a",),
        8 * np.pi,
        lambda g, L, dt: pde.kuramoto_sivashinsky(g, dt, length=L),
        lambda ops, dt: ps.sharded_kuramoto_sivashinsky(ops, dt),
    ),
    "ns2d": (
        (16, 16),
        ("a",),
        2 * np.pi,
        lambda g, L, dt: pde.navier_stokes_2d(g, dt, 0.05, 0.1, 1.0, forcing_wavenumber=2),
        lambda ops, dt: ps.sharded_navier_stokes_2d(ops, dt, 0.05, 0.1, 1.0, forcing_wavenumber=2),
    ),
    "heat3d": (
        (8, 8, 4),
        ("a", "b"),
        2 * np.pi,
        lambda g, L, dt: pde.heat(g, dt, 0.3),
        lambda ops, dt: ps.sharded_heat(ops, dt, 0.3),
    ),
}


@pytest.mark.parametrize("name", sorted(STEPPERS))
def test_kernel_steppers_sharded_match_single_device(mesh, name):
    """The parallax.kernels.pde stepper on one device vs the same equation and ETDRK4 scheme
    with the grid sharded (slab for 2D, pencil for 3D)."""
    shape, axes, length, single, sharded = STEPPERS[name]
    dt, n = jnp.float32(0.02), 10
    u0 = jnp.asarray(np.random.default_rng(2).standard_normal(shape) * 0.5, jnp.float32)
    ref = jax.jit(lambda u: single(shape, length, dt).rollout(u, n)[0])(u0)
    d = ps.distributed_fft(mesh, shape, axes, length=length)
    us = jax.device_put(u0, NamedSharding(mesh, d.physical_spec()))
    compiled = jax.jit(lambda u: sharded(d, dt).rollout(u, n)).lower(us).compile()
    out = compiled(us)
    assert float(jnp.max(jnp.abs(ref - u0))) > 0.1  # the dynamics did something
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-5, atol=1e-5)
    assert out.sharding.is_equivalent_to(NamedSharding(mesh, d.physical_spec()), len(shape))
    rep = ps.comms_report(compiled)
    assert set(rep.summary()) == {"all-to-all"}  # only FFT transposes, never a gather


def test_grad_through_sharded_spectral_rollout(mesh):
    shape = (16, 16)
    d = ps.distributed_fft(mesh, shape, ("a",))
    dt = jnp.float32(0.02)
    w0 = jnp.asarray(np.random.default_rng(3).standard_normal(shape), jnp.float32)

    def loss_ref(w):
        return jnp.sum(pde.navier_stokes_2d(shape, dt, 0.05).rollout(w, 4)[0] ** 2)

    def loss_sh(w):
        return jnp.sum(ps.sharded_navier_stokes_2d(d, dt, 0.05).rollout(w, 4) ** 2)

    g_ref = jax.jit(jax.grad(loss_ref))(w0)
    ws = jax.device_put(w0, NamedSharding(mesh, d.physical_spec()))
    g_sh = jax.jit(jax.grad(loss_sh))(ws)
    np.testing.assert_allclose(np.asarray(g_sh), np.asarray(g_ref), rtol=1e-4, atol=1e-4)


def test_fft_bad_input(mesh):
    with pytest.raises(
        ValueError,
        match=r"grid dimension 0 has 10 points, not divisible by mesh axis 'a' of size 4",
    ):
        ps.distributed_fft(mesh, (10, 8), "a")
    with pytest.raises(
        ValueError,
        match=r"spectrum: grid dimension 1 has 6 points, not divisible by mesh axis 'a' of size 4",
    ):
        ps.distributed_fft(mesh, (8, 6), "a")
    with pytest.raises(ValueError, match="pencil"):
        ps.distributed_fft(mesh, (8, 8), ("a", "b"))
