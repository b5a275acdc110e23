"""Distributed FFT (slab, pencil) and spectral steppers sharded vs single device."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding

import parallax.sharding as ps


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
    xh = jax.jit(d.fft)(xs)
    ref = jnp.fft.fftn(x, axes=tuple(range(b, len(shape))))
    np.testing.assert_allclose(np.asarray(xh), np.asarray(ref), rtol=1e-5, atol=1e-4)
    assert xh.sharding.is_equivalent_to(NamedSharding(mesh, d.spectral_spec(b)), len(shape))
    back = jnp.real(jax.jit(d.ifft)(xh))
    np.testing.assert_allclose(np.asarray(back), np.asarray(x), rtol=1e-5, atol=1e-5)
    rep = ps.comms_report(jax.jit(d.fft), xs)
    # one all_to_all per mesh axis (slab: 1, pencil: 2) and nothing else
    assert rep.count("all-to-all") == len(axes) and rep.count() == len(axes)
    batch = int(np.prod(shape[:b]))
    assert rep.total_bytes == pytest.approx(d.transpose_bytes(itemsize=8, batch=batch))


def _run(step, u, n, dt, nu):
    def body(v, _):
        return step(v, dt, nu), None

    return jax.lax.scan(body, u, None, length=n)[0]


@pytest.mark.parametrize(
    "name,shape,axes",
    [("ks2d", (32, 32), ("a",)), ("ns2d", (16, 16), ("a",)), ("heat3d", (8, 8, 4), ("a", "b"))],
)
def test_spectral_stepper_sharded_matches_single_device(mesh, name, shape, axes):
    make = {"ks2d": ps.ks2d_stepper, "ns2d": ps.ns2d_stepper, "heat3d": ps.heat3d_stepper}[name]
    length = 8 * np.pi if name == "ks2d" else 2 * np.pi
    d = ps.distributed_fft(mesh, shape, axes, length=length)
    loc = ps.LocalFFT(shape, length=length)
    rng = np.random.default_rng(2)
    u0 = jnp.asarray(rng.standard_normal(shape) * 0.5, jnp.float32)
    us = jax.device_put(u0, NamedSharding(mesh, d.physical_spec()))
    dt, nu = jnp.float32(0.02), jnp.float32(1.0 if name == "ks2d" else 0.05)
    n = 10
    ref = jax.jit(lambda u: _run(make(loc), u, n, dt, nu))(u0)
    out = jax.jit(lambda u: _run(make(d), u, n, dt, nu))(us)
    assert float(jnp.max(jnp.abs(ref - u0))) > 1e-2  # the dynamics did something
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-4, atol=1e-5)
    if name == "heat3d":  # exact solution mode by mode: a single Fourier mode decays as e^{-ν k² t}
        x = np.arange(8) * 2 * np.pi / 8
        mode = (
            np.sin(2 * x)[:, None, None]
            * np.cos(x[:4] * 0 + 1 * np.arange(4) * 2 * np.pi / 4)[None, None, :]
        )
        m = jnp.asarray(np.broadcast_to(mode, shape), jnp.float32)
        got = jax.jit(lambda u: _run(make(d), u, n, dt, nu))(m)
        want = np.asarray(m) * np.exp(-0.05 * (4 + 1) * 0.02 * n)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


def test_grad_through_sharded_spectral_rollout(mesh):
    shape = (16, 16)
    d = ps.distributed_fft(mesh, shape, ("a",))
    loc = ps.LocalFFT(shape)
    dt, nu = jnp.float32(0.02), jnp.float32(0.05)
    w0 = jnp.asarray(np.random.default_rng(3).standard_normal(shape), jnp.float32)

    def loss(ops, w):
        return jnp.sum(_run(ps.ns2d_stepper(ops), w, 4, dt, nu) ** 2)

    g_ref = jax.jit(jax.grad(lambda w: loss(loc, w)))(w0)
    ws = jax.device_put(w0, NamedSharding(mesh, d.physical_spec()))
    g_sh = jax.jit(jax.grad(lambda w: loss(d, w)))(ws)
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
