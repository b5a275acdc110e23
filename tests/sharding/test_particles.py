"""Ring-pass N-body and the ensemble axis: sharded equals unsharded, gradients included."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import parallax.sharding as ps
from parallax.kernels.particles import nbody_accelerations, nbody_rollout


@pytest.fixture(scope="module")
def mesh():
    return ps.make_mesh({"p": 8})


def _system(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.standard_normal((n, 3)), jnp.float32)
    v = jnp.asarray(rng.standard_normal((n, 3)) * 0.1, jnp.float32)
    m = jnp.asarray(rng.uniform(0.5, 1.5, n), jnp.float32)
    return x, v, m


def test_ring_accelerations_match_direct_sum(mesh):
    x, _, m = _system()
    eps = jnp.float32(0.1)
    acc = ps.ring_accelerations(mesh, "p")
    xs = jax.device_put(x, NamedSharding(mesh, P("p")))
    compiled = jax.jit(acc).lower(xs, m, eps, jnp.float32(1.0)).compile()
    got = compiled(xs, m, eps, jnp.float32(1.0))
    want = nbody_accelerations(x, m, eps, 1.0)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)
    # 7 ring shifts of one block of positions and masses; no all-gather of all particles
    rep = ps.comms_report(compiled)
    assert rep.count("all-gather") == 0
    assert {c.kind for c in rep.collectives} == {"collective-permute"}
    assert rep.total_bytes == (32 // 8) * (3 + 1) * 4  # per shift (the scan body appears once)


def test_sharded_rollout_and_gradient(mesh):
    x, v, m = _system()
    dt, eps = jnp.float32(0.01), jnp.float32(0.1)
    rollout = jax.jit(nbody_rollout, static_argnames="num_steps")
    ref = rollout(x, v, m, dt, eps, num_steps=3)
    xs = jax.device_put(x, NamedSharding(mesh, P("p")))
    vs = jax.device_put(v, NamedSharding(mesh, P("p")))
    run = jax.jit(lambda a, b: ps.sharded_nbody_rollout(mesh, "p", a, b, m, dt, eps, num_steps=3))
    xf, vf = run(xs, vs)
    np.testing.assert_allclose(np.asarray(xf), np.asarray(ref.position), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(vf), np.asarray(ref.velocity), rtol=1e-4, atol=1e-5)

    def loss_ref(a):
        return jnp.sum(rollout(a, v, m, dt, eps, num_steps=3).position ** 2)

    def loss_sh(a):
        return jnp.sum(ps.sharded_nbody_rollout(mesh, "p", a, vs, m, dt, eps, num_steps=3)[0] ** 2)

    g_ref = jax.jit(jax.grad(loss_ref))(x)
    g_sh = jax.jit(jax.grad(loss_sh))(xs)
    np.testing.assert_allclose(np.asarray(g_sh), np.asarray(g_ref), rtol=1e-4, atol=1e-4)


def test_particles_not_divisible(mesh):
    x, _, m = _system(n=30)
    with pytest.raises(ValueError, match=r"30 points, not divisible by mesh axis 'p' of size 8"):
        ps.ring_accelerations(mesh, "p")(x, m, jnp.float32(0.1), jnp.float32(1.0))


def test_ensemble_map_spreads_members(mesh):
    """A vmap over initial conditions and viscosities of a heat rollout, members over devices."""

    def member(u0, nu, dt):
        def step(u, _):
            return u + dt * nu * (jnp.roll(u, 1) + jnp.roll(u, -1) - 2 * u), None

        return jax.lax.scan(step, u0, None, length=10)[0]

    rng = np.random.default_rng(5)
    u0s = jnp.asarray(rng.standard_normal((16, 32)), jnp.float32)
    nus = jnp.asarray(rng.uniform(0.1, 0.4, 16), jnp.float32)
    dt = jnp.float32(0.5)
    ens = ps.ensemble_map(member, mesh, "p", in_axes=(0, 0, None))
    u0s_s = jax.device_put(u0s, NamedSharding(mesh, P("p")))
    compiled = jax.jit(ens).lower(u0s_s, nus, dt).compile()
    got = compiled(u0s_s, nus, dt)
    want = jax.vmap(member, in_axes=(0, 0, None))(u0s, nus, dt)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)
    assert got.sharding.spec == P("p")
    assert ps.comms_report(compiled).count() == 0
    # gradient with respect to the per-member parameters
    g = jax.jit(jax.grad(lambda n: jnp.sum(ens(u0s_s, n, dt) ** 2)))(nus)
    g_ref = jax.grad(lambda n: jnp.sum(jax.vmap(member, in_axes=(0, 0, None))(u0s, n, dt) ** 2))(
        nus
    )
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_ref), rtol=1e-5, atol=1e-5)
    with pytest.raises(
        ValueError,
        match=r"ensemble argument 0: grid dimension 0 has 12 points, not divisible by mesh axis "
        r"'p' of size 8",
    ):
        ens(u0s[:12], nus[:12], dt)
