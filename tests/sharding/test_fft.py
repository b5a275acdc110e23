"""Distributed FFT (slab, pencil) and spectral steppers sharded vs single device."""

from __future__ import annotations

from typing import Any

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


@pytest.mark.parametrize(
    "shape,axes",
    [
        ((16, 8), ("a",)),  # slab 2D: the halved dimension is split, 4 | 8/2
        ((3, 8, 8, 6), ("a",)),  # slab 3D, batch of 3: the halved dimension stays whole
        ((8, 8, 4), ("a", "b")),  # pencil: 2 | 4/2
        ((2, 8, 8, 16), ("b", "a")),  # pencil, axes swapped, batch of 2: 4 | 16/2
    ],
)
def test_rfft_matches_rfftn_roundtrip_and_comms(mesh, shape, axes):
    """r2c: the kept modes equal jnp.fft.rfftn's (the Nyquist column dropped), the inverse
    returns P u exactly (u itself iff its last-axis Nyquist mode is zero), and each transform is
    one all_to_all per mesh axis moving exactly the r2c minimum, half the c2c bytes."""
    grid = shape[-3:] if len(axes) == 2 else (shape[1:] if len(shape) == 4 else shape)
    b = len(shape) - len(grid)
    with jax.enable_x64(True):
        d = ps.distributed_fft(mesh, grid, axes, real=True)
        assert d.spectral_shape == (*grid[:-1], grid[-1] // 2)
        x = jnp.asarray(np.random.default_rng(1).standard_normal(shape), jnp.float64)
        xs = jax.device_put(x, NamedSharding(mesh, d.physical_spec(b)))
        fwd = jax.jit(d.fft).lower(xs).compile()
        xh = fwd(xs)
        full = np.fft.rfftn(np.asarray(x), axes=tuple(range(b, len(shape))))
        assert xh.dtype == jnp.complex128 and xh.shape == (*shape[:-1], grid[-1] // 2)
        np.testing.assert_allclose(np.asarray(xh), full[..., : grid[-1] // 2], atol=1e-12)
        assert xh.sharding.is_equivalent_to(NamedSharding(mesh, d.spectral_spec(b)), len(shape))
        inv = jax.jit(d.ifft).lower(xh).compile()
        back = inv(xh)
        assert back.dtype == jnp.float64
        # the dropped mode: irfft(rfft(u)) = P u = u - N/n (-1)^j, N = sum_j (-1)^j u_j
        nyq = np.fft.rfft(np.asarray(x), axis=-1)[..., grid[-1] // 2].real
        alt = (-1.0) ** np.arange(grid[-1])
        pu = np.asarray(x) - nyq[..., None] / grid[-1] * alt
        np.testing.assert_allclose(np.asarray(back), pu, atol=1e-13)
        np.testing.assert_allclose(np.asarray(d.project(x)), pu, atol=1e-13)
        assert np.max(np.abs(np.asarray(back) - np.asarray(x))) > 1e-2  # random u: N != 0
        # a Nyquist-free field round-trips exactly
        y = jax.device_put(d.project(x), NamedSharding(mesh, d.physical_spec(b)))
        np.testing.assert_allclose(np.asarray(inv(fwd(y))), np.asarray(y), atol=1e-13)
        batch = int(np.prod(shape[:b]))
        c2c = d.with_real(False).transpose_bytes(itemsize=16, batch=batch)
        assert d.transpose_bytes(itemsize=16, batch=batch) == pytest.approx(c2c / 2)
        for compiled in (fwd, inv):
            rep = ps.comms_report(compiled)
            assert rep.count("all-to-all") == len(axes) and rep.count() == len(axes)
            assert rep.total_bytes == pytest.approx(c2c / 2)


def test_rfft_precondition(mesh):
    """The r2c precondition: check_nyquist raises on a field with a last-axis Nyquist mode
    (naming it and its size), passes on the projected field; P is a projection."""
    d = ps.distributed_fft(mesh, (8, 8, 8), ("a", "b"), real=True)
    x = jnp.asarray(np.random.default_rng(4).standard_normal((8, 8, 8)), jnp.float32)
    xs = jax.device_put(x, NamedSharding(mesh, d.physical_spec()))
    with pytest.raises(ValueError, match=r"last-axis Nyquist mode max \|sum_j \(-1\)\^j u_j\|"):
        d.fft(xs, check_nyquist=True)
    with pytest.raises(ValueError, match="Nyquist"):
        ps.check_nyquist_free(x)
    px = d.project(x)
    ps.check_nyquist_free(px)  # passes
    assert float(jnp.max(jnp.abs(ps.nyquist_mode(px)))) < 1e-5
    np.testing.assert_allclose(np.asarray(d.project(px)), np.asarray(px), atol=1e-6)
    fft = jax.jit(d.fft)
    pxs = jax.device_put(px, NamedSharding(mesh, d.physical_spec()))
    # P changes only the dropped mode: the kept spectrum is the same
    np.testing.assert_allclose(np.asarray(fft(pxs)), np.asarray(fft(xs)), atol=1e-5)
    with pytest.raises(TypeError, match="concrete"):
        jax.jit(lambda u: d.fft(u, check_nyquist=True))(px)
    with pytest.raises(TypeError, match="real input"):
        d.fft(xs.astype(jnp.complex64))
    # the steppers: check_nyquist=True refuses u0 with a Nyquist mode instead of projecting it
    stepper = ps.sharded_heat(d, 0.01, 0.3, check_nyquist=True)
    with pytest.raises(ValueError, match="u0: last-axis Nyquist mode"):
        stepper.rollout(xs, 1)
    # c2c keeps every mode: no precondition, project is the identity
    assert d.with_real(False).project(x) is x


def test_local_rfft_keeps_every_mode():
    """LocalFFT(real=True): rfftn with all n/2 + 1 modes, exact for any real field."""
    x = jnp.asarray(np.random.default_rng(5).standard_normal((2, 6, 8)), jnp.float32)
    lf = ps.LocalFFT((6, 8), real=True)
    xh = lf.fft_local(x)
    np.testing.assert_allclose(
        np.asarray(xh), np.fft.rfftn(np.asarray(x), axes=(1, 2)), rtol=1e-5, atol=1e-4
    )
    np.testing.assert_allclose(np.asarray(lf.ifft_local(xh)), np.asarray(x), atol=1e-5)
    assert tuple(k.shape for k in lf.local_wavenumbers()) == ((6, 1), (1, 5))
    # the stepper on LocalFFT(real=True) matches the kernel for any u0 (Nyquist mode kept)
    with jax.enable_x64(True):
        u0 = jnp.asarray(np.random.default_rng(6).standard_normal((8, 8)), jnp.float64)
        kw: dict[str, Any] = {"forcing_wavenumber": 1}
        ns = ps.sharded_navier_stokes_2d(ps.LocalFFT((8, 8), real=True), 0.02, 0.05, 0.1, 1.0, **kw)
        ref = jax.jit(
            lambda u: pde.navier_stokes_2d((8, 8), 0.02, 0.05, 0.1, 1.0, **kw).rollout(u, 3)[0]
        )(u0)
        assert ns.ops.real
        out = jax.jit(lambda u: ns.rollout(u, 3))(u0)
        np.testing.assert_allclose(np.asarray(out), np.asarray(ref), atol=1e-12)


STEPPERS = {
    # name: (grid, mesh axes, length, single-device stepper, sharded stepper)
    "ks2d": (
        (32, 32),
        ("a",),
        8 * np.pi,
        lambda g, L, dt: pde.kuramoto_sivashinsky(g, dt, length=L),
        lambda ops, dt, **kw: ps.sharded_kuramoto_sivashinsky(ops, dt, **kw),
    ),
    "ns2d": (
        (16, 16),
        ("a",),
        2 * np.pi,
        lambda g, L, dt: pde.navier_stokes_2d(g, dt, 0.05, 0.1, 1.0, forcing_wavenumber=2),
        lambda ops, dt, **kw: ps.sharded_navier_stokes_2d(
            ops, dt, 0.05, 0.1, 1.0, forcing_wavenumber=2, **kw
        ),
    ),
    "heat3d": (
        (8, 8, 4),
        ("a", "b"),
        2 * np.pi,
        lambda g, L, dt: pde.heat(g, dt, 0.3),
        lambda ops, dt, **kw: ps.sharded_heat(ops, dt, 0.3, **kw),
    ),
}


@pytest.mark.parametrize(
    "name,real,dtype",
    # r2c at float64 to round-off for all three; c2c (the default) at float32 like before;
    # r2c float32 on the pencil (the grad test below runs r2c NS 2D at float32 too)
    [(n, True, jnp.float64) for n in sorted(STEPPERS)]
    + [(n, False, jnp.float32) for n in sorted(STEPPERS)]
    + [("heat3d", True, jnp.float32)],
)
def test_kernel_steppers_sharded_match_single_device(mesh, name, real, dtype):
    """The parallax.kernels.pde stepper on one device vs the same equation and ETDRK4 scheme
    with the grid sharded (slab for 2D, pencil for 3D). c2c matches the rollout of u0; r2c
    (Nyquist mode dropped) matches the rollout of P u0, and the difference to the rollout of
    u0 is a pure last-axis Nyquist field (the decoupled, linearly evolved mode)."""
    shape, axes, length, single, sharded = STEPPERS[name]
    tol = 1e-5 if dtype == jnp.float32 else 1e-12
    with jax.enable_x64(dtype == jnp.float64):
        dt, n = jnp.asarray(0.02, dtype), 10
        u0 = jnp.asarray(np.random.default_rng(2).standard_normal(shape) * 0.5, dtype)
        d = ps.distributed_fft(mesh, shape, axes, length=length)
        dr = d.with_real(True)
        run = jax.jit(lambda u: single(shape, length, dt).rollout(u, n)[0])
        ref = run(u0)
        ref_p = run(dr.project(u0))
        us = jax.device_put(u0, NamedSharding(mesh, d.physical_spec()))
        stepper = sharded(d, dt, real=real)
        assert stepper.ops.real is real
        # without real=..., a stepper uses the transform it is given (c2c unless asked)
        assert sharded(d, dt).ops.real is False and sharded(dr, dt).ops.real is True
        compiled = jax.jit(lambda u: stepper.rollout(u, n)).lower(us).compile()
        out = compiled(us)
        assert out.dtype == dtype
        assert float(jnp.max(jnp.abs(ref - u0))) > 0.1  # the dynamics did something
        np.testing.assert_allclose(
            np.asarray(out), np.asarray(ref_p if real else ref), rtol=tol, atol=tol
        )
        if real:  # what the dropped mode changes: only the Nyquist mode of the result
            np.testing.assert_allclose(np.asarray(dr.project(ref - out)), 0.0, atol=tol)
        assert out.sharding.is_equivalent_to(NamedSharding(mesh, d.physical_spec()), len(shape))
        rep = ps.comms_report(compiled)
        assert set(rep.summary()) == {"all-to-all"}  # only FFT transposes, never a gather
        # every transform moves exactly the minimum of its layout (r2c: half of c2c)
        transforms = rep.count("all-to-all") / len(axes)
        item = 2 * np.dtype(dtype).itemsize
        assert rep.total_bytes == pytest.approx(
            transforms * stepper.ops.transpose_bytes(itemsize=item)
        )


def test_grad_through_sharded_spectral_rollout(mesh):
    """grad through the sharded r2c rollout = grad of the unsharded rollout of P w."""
    shape = (16, 16)
    real = True
    d = ps.distributed_fft(mesh, shape, ("a",))
    proj = d.with_real(real).project
    dt = jnp.float32(0.02)
    w0 = jnp.asarray(np.random.default_rng(3).standard_normal(shape), jnp.float32)

    def loss_ref(w):
        return jnp.sum(pde.navier_stokes_2d(shape, dt, 0.05).rollout(proj(w), 4)[0] ** 2)

    def loss_sh(w):
        return jnp.sum(ps.sharded_navier_stokes_2d(d, dt, 0.05, real=real).rollout(w, 4) ** 2)

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
    # r2c: the halved last dimension must divide over its axis (c2c of the same grid is fine)
    ps.distributed_fft(mesh, (8, 12), "a")
    with pytest.raises(
        ValueError,
        match=r"spectrum \(r2c: last dimension halved, Nyquist mode dropped\): grid dimension 1 "
        r"has 6 points, not divisible by mesh axis 'a' of size 4",
    ):
        ps.distributed_fft(mesh, (8, 12), "a", real=True)
    with pytest.raises(
        ValueError, match=r"dimension 2 has 3 points, not divisible by mesh axis 'b'"
    ):
        ps.distributed_fft(mesh, (8, 8, 6), ("a", "b"), real=True)
    with pytest.raises(ValueError, match=r"grid dimension 1 has 9 points; .* even last dimension"):
        ps.distributed_fft(mesh, (8, 9), "a", real=True)
