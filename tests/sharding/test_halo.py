"""Halo exchange: sharded stencils equal unsharded ones and move only halos."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import parallax.sharding as ps
from parallax.kernels import pde


def lap_periodic(u, dims):
    out = jnp.zeros_like(u)
    for a in dims:
        out = out + jnp.roll(u, 1, a) + jnp.roll(u, -1, a) - 2 * u
    return out


def lap4_periodic(u, dims):
    """Fourth-order Laplacian (radius 2)."""
    out = jnp.zeros_like(u)
    for a in dims:
        out = (
            out
            + (
                -jnp.roll(u, 2, a)
                + 16 * jnp.roll(u, 1, a)
                - 30 * u
                + 16 * jnp.roll(u, -1, a)
                - jnp.roll(u, -2, a)
            )
            / 12
        )
    return out


def lap_padded(u, dims, mode):
    """Non-periodic Laplacian: pad each dim by 1 (zeros or edge), central differences."""
    pads = [(1, 1) if d in dims else (0, 0) for d in range(u.ndim)]
    p = jnp.pad(u, pads, mode=mode)
    out = jnp.zeros_like(u)
    for a in dims:
        sl = [slice(1, -1) if d in dims else slice(None) for d in range(u.ndim)]
        lo, hi = list(sl), list(sl)
        lo[a], hi[a] = slice(0, -2), slice(2, None)
        out = out + p[tuple(lo)] + p[tuple(hi)] - 2 * u
    return out


@pytest.fixture(scope="module")
def meshes():
    return {
        1: ps.make_mesh({"x": 8}),
        2: ps.make_mesh({"x": 4, "y": 2}),
        3: ps.make_mesh({"x": 2, "y": 2, "z": 2}),
    }


CASES = [
    # (grid shape, stencil dims, spec, stencil, width, boundary)
    ((32,), (0,), P("x"), "lap", 1, "periodic"),
    ((16, 8), (0, 1), P("x", "y"), "lap4", 2, "periodic"),
    ((8, 8, 8), (0, 1, 2), P("x", "y", "z"), "lap", 1, "constant"),
    ((2, 16, 8), (1, 2), P(None, "x", None), "lap", 1, "periodic"),  # batch dim, 1 of 2 sharded
    ((32,), (0,), P("x"), "lap", 1, "edge"),
]


@pytest.mark.parametrize("shape,dims,spec,kind,width,boundary", CASES)
def test_sharded_stencil_matches_unsharded(meshes, shape, dims, spec, kind, width, boundary):
    mesh = meshes[len({a for a in spec if a is not None}) if spec != P(None, "x", None) else 1]
    if kind == "lap":
        if boundary == "periodic":
            f = lambda u: lap_periodic(u, dims)  # noqa: E731
        else:
            mode = "constant" if boundary == "constant" else "edge"
            f = lambda u: lap_padded(u, dims, mode)  # noqa: E731
    else:
        f = lambda u: lap4_periodic(u, dims)  # noqa: E731
    u = jnp.asarray(np.random.default_rng(0).standard_normal(shape), jnp.float32)
    g = ps.sharded_stencil(f, mesh, spec, width=width, boundary=boundary)
    us = jax.device_put(u, NamedSharding(mesh, spec))
    out = jax.jit(g)(us)
    np.testing.assert_allclose(np.asarray(out), np.asarray(f(u)), rtol=1e-6, atol=1e-6)
    assert out.sharding.spec == spec


@pytest.mark.parametrize("axes", [("x", "y"), ("y", "x")])
@pytest.mark.parametrize("boundary", ["periodic", "constant"])
def test_dimension_over_two_mesh_axes_in_either_order(meshes, axes, boundary):
    """Blocks of a dimension sharded over ``("y", "x")`` are numbered ``y`` major; the halos
    must still come from the neighbouring blocks (``ppermute`` numbers devices in mesh order)."""
    spec = P(axes)
    u = jnp.asarray(np.random.default_rng(1).standard_normal(32) ** 2, jnp.float32)
    if boundary == "periodic":
        f = lambda v: lap_periodic(v, (0,))  # noqa: E731
    else:
        f = lambda v: lap_padded(v, (0,), "constant")  # noqa: E731
    g = ps.sharded_stencil(f, meshes[2], spec, width=1, boundary=boundary)
    out = jax.jit(g)(jax.device_put(u, NamedSharding(meshes[2], spec)))
    np.testing.assert_allclose(np.asarray(out), np.asarray(f(u)), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("order", [2, 4])
def test_kernel_fd_laplacians_sharded(meshes, order):
    """The parallax.kernels.pde finite-difference Laplacians, sharded 2D over 4x2 devices:
    the periodic one as a shape-keeping stencil, the halo-padded one in ``valid`` mode."""
    mesh = meshes[2]
    spec = P("x", "y")
    r = order // 2
    dx = jnp.asarray([0.1, 0.2], jnp.float32)
    u = jnp.asarray(np.random.default_rng(4).standard_normal((16, 8)), jnp.float32)
    us = jax.device_put(u, NamedSharding(mesh, spec))
    ref = pde.laplacian_periodic(u, dx, ndim=2, order=order)

    def sharded(laplacian, **mode):
        return ps.sharded_stencil(
            lambda v: laplacian(v, dx, ndim=2, order=order),
            mesh,
            spec,
            width=r,
            corners=False,
            **mode,
        )

    per, pad = sharded(pde.laplacian_periodic), sharded(pde.laplacian_padded, mode="valid")
    for g in (per, pad):
        compiled = jax.jit(g).lower(us).compile()
        np.testing.assert_allclose(np.asarray(compiled(us)), np.asarray(ref), rtol=1e-5, atol=1e-4)
        rep = ps.comms_report(compiled)
        assert set(rep.summary()) == {"collective-permute"}
        assert rep.total_bytes == 2 * r * (16 // 4 + 8 // 2) * 4


def test_halo_moves_only_halos(meshes):
    """A width-w exchange on a 2D grid moves exactly 2·w·face per sharded dim, no all-gather."""
    mesh = meshes[2]
    nx, ny, w = 64, 32, 2
    spec = P("x", "y")
    u = jax.device_put(jnp.ones((nx, ny), jnp.float32), NamedSharding(mesh, spec))
    g = ps.sharded_stencil(lambda v: lap4_periodic(v, (0, 1)), mesh, spec, width=w, corners=False)
    compiled = jax.jit(g).lower(u).compile()
    rep = ps.comms_report(compiled)
    np.testing.assert_allclose(
        np.asarray(compiled(u)), np.zeros((nx, ny), np.float32), atol=1e-6
    )  # the Laplacian of a constant
    lx, ly = nx // 4, ny // 2
    assert rep.count("all-gather") == 0 and rep.count("all-to-all") == 0
    assert rep.count("all-reduce") == 0
    assert rep.count("collective-permute") == 4
    analytic = 2 * w * (ly + lx) * 4
    assert rep.total_bytes == analytic
    # with corners the second dimension's halos include the corner cells
    g_c = ps.sharded_stencil(lambda v: lap4_periodic(v, (0, 1)), mesh, spec, width=w)
    rep_c = ps.comms_report(jax.jit(g_c), u)
    assert rep_c.total_bytes == 2 * w * (ly + (lx + 2 * w)) * 4
    assert "collective-permute" in rep.table()


def test_slice_concat_stencil_all_gathers(meshes):
    """The contrast the halo avoids: a pad+slice stencil on a sharded array all-gathers."""
    mesh = meshes[1]
    u = jax.device_put(jnp.ones((64,), jnp.float32), NamedSharding(mesh, P("x")))
    rep = ps.comms_report(jax.jit(lambda v: lap_padded(v, (0,), "constant")), u)
    sharded = ps.comms_report(
        jax.jit(
            ps.sharded_stencil(
                lambda v: lap_padded(v, (0,), "constant"),
                mesh,
                P("x"),
                width=1,
                boundary="constant",
            )
        ),
        u,
    )
    assert sharded.count("all-gather") == 0
    assert sharded.total_bytes <= rep.total_bytes


def test_grad_through_sharded_rollout(meshes):
    mesh = meshes[2]
    spec = P("x", "y")
    dt = 0.1

    def step_unsharded(u):
        return u + dt * lap_periodic(u, (0, 1))

    lap_s = ps.sharded_stencil(lambda v: lap_periodic(v, (0, 1)), mesh, spec, width=1)

    def step_sharded(u):
        return u + dt * lap_s(u)

    def loss(step, u0):
        u, _ = jax.lax.scan(lambda u, _: (step(u), None), u0, None, length=5)
        return jnp.sum(jnp.sin(u) * u)

    u0 = jnp.asarray(np.random.default_rng(1).standard_normal((16, 8)), jnp.float32)
    us = jax.device_put(u0, NamedSharding(mesh, spec))
    g_ref = jax.grad(lambda u: loss(step_unsharded, u))(u0)
    g_sh = jax.jit(jax.grad(lambda u: loss(step_sharded, u)))(us)
    np.testing.assert_allclose(np.asarray(g_sh), np.asarray(g_ref), rtol=1e-5, atol=1e-5)


def test_bad_decomposition_errors(meshes):
    mesh = meshes[2]
    f = ps.sharded_stencil(lambda v: v, mesh, P("x", "y"), width=1)
    with pytest.raises(
        ValueError, match=r"dimension 0 has 18 points, not divisible by mesh axis 'x' of size 4"
    ):
        f(jnp.ones((18, 8), jnp.float32))
    g = ps.sharded_stencil(lambda v: v, mesh, P("x", "y"), width=3)
    with pytest.raises(
        ValueError,
        match=r"halo width 3 along dimension 1 is wider than the local block of 2 points",
    ):
        g(jnp.ones((16, 4), jnp.float32))
    with pytest.raises(ValueError, match="boundary"):
        ps.sharded_stencil(lambda v: v, mesh, P("x", "y"), width=1, boundary="reflect")(
            jnp.ones((16, 8), jnp.float32)
        )
