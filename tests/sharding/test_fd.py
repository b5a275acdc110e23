"""Sharded finite-difference Laplacians (periodic and Dirichlet) and the sharded FD heat rollout:
equal to the single-device kernels, moving only halos."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import parallax.sharding as ps
from parallax.kernels import pde

# (global shape, mesh, spec, ndim, order, bc)
CASES = [
    ((16, 12), {"x": 4, "y": 2}, P("x", "y"), 2, 2, "periodic"),
    ((16, 12), {"x": 4, "y": 2}, P("x", "y"), 2, 2, "dirichlet"),
    ((16, 12), {"x": 4, "y": 2}, P("x", "y"), 2, 4, "periodic"),
    ((16, 12), {"x": 4, "y": 2}, P("x", "y"), 2, 4, "dirichlet"),
    ((8, 10, 12), {"x": 2, "y": 2, "z": 2}, P("x", "y", "z"), 3, 4, "dirichlet"),
    ((7, 32, 6), {"x": 8}, P(None, "x", None), 3, 2, "dirichlet"),  # one of three axes
    ((4, 12, 16), {"data": 2, "x": 4}, P("data", None, "x"), 2, 4, "dirichlet"),  # batch
    ((2, 8, 6, 8), {"data": 2, "x": 2, "y": 2}, P("data", "x", None, "y"), 3, 4, "periodic"),
    ((32, 10), {"x": 4, "y": 2}, P(("x", "y"), None), 2, 4, "dirichlet"),  # over two mesh axes
    ((32, 10), {"x": 4, "y": 2}, P(("y", "x"), None), 2, 4, "dirichlet"),  # not in mesh order
]


def _halo_bytes(shape, mesh, spec, ndim, order, itemsize):
    """The analytic minimum: 2 r face itemsize per sharded grid axis (face = local
    cross-section, batch included)."""
    entries = tuple(spec) + (None,) * (len(shape) - len(tuple(spec)))

    def size(a):
        names = () if a is None else (a,) if isinstance(a, str) else a
        return math.prod(mesh.shape[n] for n in names)

    local = [n // size(a) for n, a in zip(shape, entries, strict=True)]
    lead = len(shape) - ndim
    r = order // 2
    return sum(
        2 * r * math.prod(local) // local[d] * itemsize
        for d in range(lead, len(shape))
        if entries[d] is not None
    )


@pytest.mark.parametrize("shape,mspec,spec,ndim,order,bc", CASES)
def test_sharded_laplacian_matches_kernel(shape, mspec, spec, ndim, order, bc):
    mesh = ps.make_mesh(mspec)
    with jax.enable_x64(True):
        u = jnp.asarray(np.random.default_rng(0).standard_normal(shape))
        dx = jnp.asarray(np.linspace(0.1, 0.3, ndim))
        ref = jax.jit(lambda v, h: pde.laplacian(v, h, ndim=ndim, order=order, bc=bc))(u, dx)
        lap = ps.sharded_laplacian(mesh, spec, ndim=ndim, order=order, bc=bc)
        us = jax.device_put(u, NamedSharding(mesh, spec))
        compiled = jax.jit(lap).lower(us, dx).compile()
        out = compiled(us, dx)
        scale = float(jnp.max(jnp.abs(ref)))
        np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=0, atol=1e-14 * scale)
        assert out.sharding.spec == spec
        rep = ps.comms_report(compiled)
        assert set(rep.summary()) == {"collective-permute"}  # no all-gather, no all-reduce
        n_sharded = sum(1 for d in ps.spec_axes(spec, len(shape)) if d >= len(shape) - ndim)
        assert rep.count("collective-permute") == 2 * n_sharded
        assert rep.total_bytes == _halo_bytes(shape, mesh, spec, ndim, order, 8)


def _heat_ref(u0, dt, nu, dx, num_steps, order):
    def step(v, _):
        v = v + (nu * dt) * pde.laplacian(v, dx, ndim=2, order=order, bc="dirichlet")
        return v, v

    return jax.lax.scan(step, u0, None, length=num_steps)


def test_sharded_fd_heat_rollout_and_grad():
    """Sharded Dirichlet heat (order 4) == the unsharded scan, trajectory and final state, and
    the gradient of a loss through the rollout (w.r.t. u0 and nu) equals the unsharded one."""
    mesh = ps.make_mesh({"x": 4, "y": 2})
    spec = P("x", "y")
    steps, every = 6, 2
    with jax.enable_x64(True):
        u0 = jnp.asarray(np.random.default_rng(1).standard_normal((16, 12)))
        dx = jnp.asarray([0.1, 0.12])
        dt, nu = jnp.asarray(1e-3), jnp.asarray(0.5)
        run = jax.jit(
            ps.sharded_fd_heat(
                mesh, spec, ndim=2, num_steps=steps, save_every=every, order=4, bc="dirichlet"
            )
        )
        us = jax.device_put(u0, NamedSharding(mesh, spec))
        fin, traj = run(us, dt, nu, dx)
        ref_fin, ref_traj = jax.jit(_heat_ref, static_argnums=(4, 5))(u0, dt, nu, dx, steps, 4)
        np.testing.assert_allclose(np.asarray(fin), np.asarray(ref_fin), rtol=0, atol=1e-13)
        np.testing.assert_allclose(
            np.asarray(traj), np.asarray(ref_traj[every - 1 :: every]), rtol=0, atol=1e-13
        )
        assert traj.shape == (steps // every, 16, 12) and traj.sharding.spec == P(None, "x", "y")
        # boundary nodes held
        np.testing.assert_array_equal(np.asarray(fin)[[0, -1], :], np.asarray(u0)[[0, -1], :])

        def loss_sharded(u, n):
            return jnp.sum(jnp.sin(run(u, dt, n, dx)[0]) * u0)

        def loss_ref(u, n):
            return jnp.sum(jnp.sin(_heat_ref(u, dt, n, dx, steps, 4)[0]) * u0)

        g_s = jax.jit(jax.grad(loss_sharded, argnums=(0, 1)))(us, nu)
        g_r = jax.jit(jax.grad(loss_ref, argnums=(0, 1)))(u0, nu)
        np.testing.assert_allclose(np.asarray(g_s[0]), np.asarray(g_r[0]), rtol=0, atol=1e-13)
        np.testing.assert_allclose(float(g_s[1]), float(g_r[1]), rtol=1e-12)
        assert float(jnp.max(jnp.abs(g_r[0]))) > 0.1 and abs(float(g_r[1])) > 1e-3


def test_sharded_fd_heat_eigenmode_decay():
    """Order-2 Dirichlet on [0,1]²: sin(πx) sin(πy) is an eigenvector of the discrete Laplacian,
    so after N explicit steps u = (1 + ν Δt λ)^N u0 with λ = -Σ_a (4/h_a²) sin²(π h_a / 2).
    Also the per-step traffic: halos only, plus one 4-byte all-reduce per call (the NaN check
    of u0 agreed across devices)."""
    mesh = ps.make_mesh({"x": 4, "y": 2})
    spec = P("x", "y")
    nx, ny, steps = 16, 12, 20
    with jax.enable_x64(True):
        h = np.asarray([1 / (nx - 1), 1 / (ny - 1)])
        x = np.linspace(0, 1, nx)[:, None]
        y = np.linspace(0, 1, ny)[None, :]
        u0 = jnp.asarray(np.sin(np.pi * x) * np.sin(np.pi * y))
        dt, nu = 2e-4, 1.0
        run = jax.jit(ps.sharded_fd_heat(mesh, spec, ndim=2, num_steps=steps, bc="dirichlet"))
        us = jax.device_put(u0, NamedSharding(mesh, spec))
        fin, traj = run(us, dt, nu, jnp.asarray(h))
        lam = -np.sum(4 / h**2 * np.sin(np.pi * h / 2) ** 2)
        np.testing.assert_allclose(
            np.asarray(fin), (1 + nu * dt * lam) ** steps * np.asarray(u0), rtol=0, atol=1e-14
        )
        assert traj.shape == (1, nx, ny)
        rep = ps.comms_report(run, us, dt, nu, jnp.asarray(h))
        assert set(rep.summary()) <= {"collective-permute", "all-reduce"}
        permutes = sum(c.bytes_sent for c in rep.collectives if c.kind == "collective-permute")
        assert permutes == _halo_bytes((nx, ny), mesh, spec, 2, 2, 8)
        assert rep.count("all-reduce") <= 1
        assert rep.total_bytes - permutes <= 8


@pytest.mark.parametrize(
    "mspec,spec,shape,order,bc",
    [
        ({"x": 4, "y": 2}, P("x", "y"), (16, 12), 4, "dirichlet"),
        ({"data": 2, "x": 4}, P("data", None, "x"), (2, 10, 16), 2, "periodic"),
    ],
)
def test_sharded_wave_2d_matches_kernel(mspec, spec, shape, order, bc):
    """Sharded leapfrog == parallax.kernels.pde.wave_2d_rollout (state pair and trajectory)."""
    mesh = ps.make_mesh(mspec)
    with jax.enable_x64(True):
        rng = np.random.default_rng(2)
        u, up = (jnp.asarray(rng.standard_normal(shape)) for _ in range(2))
        dx = jnp.asarray([0.1, 0.12])
        kw = {"num_steps": 6, "save_every": 3, "order": order, "bc": bc}
        run = jax.jit(ps.sharded_wave_2d(mesh, spec, **kw))
        put = lambda a: jax.device_put(a, NamedSharding(mesh, spec))  # noqa: E731
        (fp, f), traj = run(put(up), put(u), 1.0, 0.02, dx)
        ref = jax.jit(lambda a, b: pde.wave_2d_rollout(a, b, 1.0, 0.02, dx, **kw))
        (rp, r), rtraj = ref(up, u)
        for got, want in ((fp, rp), (f, r), (traj, rtraj)):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=1e-13)
        assert traj.shape == (2, *shape) and traj.sharding.spec == P(None, *spec)


def test_bad_input_errors():
    mesh = ps.make_mesh({"x": 4, "y": 2})
    spec = P("x", "y")
    u = jnp.ones((16, 6), jnp.float32)  # blocks of 4 x 3
    with pytest.raises(
        ValueError,
        match=r"order-4 dirichlet stencil needs blocks of at least 4 points along grid "
        r"dimension 1, got 3 \(6 points over mesh axis 'y' of size 2\)",
    ):
        ps.sharded_laplacian(mesh, spec, ndim=2, order=4, bc="dirichlet")(u, 0.1)
    # the same blocks are wide enough for periodic order 4 (traced only: no compile)
    out = jax.eval_shape(ps.sharded_laplacian(mesh, spec, ndim=2, order=4, bc="periodic"), u, 0.1)
    assert out.shape == u.shape
    with pytest.raises(ValueError, match=r"dimension 0 has 18 points, not divisible by mesh axis"):
        ps.sharded_laplacian(mesh, spec, ndim=2)(jnp.ones((18, 8), jnp.float32), 0.1)
    with pytest.raises(ValueError, match="order: expected 2 or 4"):
        ps.sharded_laplacian(mesh, spec, ndim=2, order=3)
    with pytest.raises(ValueError, match="bc: expected"):
        ps.sharded_laplacian(mesh, spec, ndim=2, bc="neumann")
    with pytest.raises(ValueError, match=r"dx: expected a value > 0"):
        ps.sharded_laplacian(mesh, spec, ndim=2)(jnp.ones((16, 8), jnp.float32), -0.1)
    with pytest.raises(ValueError, match=r"dx: expected shape \(2\), got \(3,\)"):
        ps.sharded_laplacian(mesh, spec, ndim=2)(jnp.ones((16, 8), jnp.float32), jnp.ones(3))
    heat = ps.sharded_fd_heat(mesh, spec, ndim=2, num_steps=2)
    u8 = jnp.ones((16, 8), jnp.float32)
    with pytest.raises(ValueError, match="Courant number"):
        heat(u8, 1.0, 1.0, 0.1)
    with pytest.raises(ValueError, match="dt: expected a value > 0"):
        heat(u8, -1e-3, 1.0, 0.1)
    with pytest.raises(ValueError, match="num_steps"):
        ps.sharded_fd_heat(mesh, spec, ndim=2, num_steps=0)
    wave = ps.sharded_wave_2d(mesh, spec, num_steps=2)
    with pytest.raises(ValueError, match="c: Courant number"):
        wave(u8, u8, 10.0, 0.1, 0.1)
    with pytest.raises(TypeError, match="u_prev: expected dtype float32"):
        wave(u8.astype(jnp.float16), u8, 1.0, 0.01, 0.1)
