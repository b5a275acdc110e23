"""Sharded rollouts take ``checkpoint=``: their gradients equal the plain scan's (float64)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import parallax.sharding as ps


@pytest.mark.parametrize("checkpoint", ["sqrt", "binomial"])
def test_sharded_navier_stokes_gradient(checkpoint):
    mesh = ps.make_mesh({"a": 4, "b": 2})
    shape = (16, 16)
    with jax.enable_x64(True):
        d = ps.distributed_fft(mesh, shape, ("a",))
        w0 = jnp.asarray(np.random.default_rng(3).standard_normal(shape))
        w0 = jax.device_put(w0, NamedSharding(mesh, d.physical_spec()))

        def loss(w, nu, **kw):
            stepper = ps.sharded_navier_stokes_2d(d, jnp.float64(0.02), nu, real=False)
            return jnp.sum(stepper.rollout(w, 9, **kw) ** 2)

        grad = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnames="checkpoint")
        want = grad(w0, jnp.float64(0.05))
        got = grad(w0, jnp.float64(0.05), checkpoint=checkpoint)
        np.testing.assert_allclose(np.asarray(got[0]), np.asarray(want[0]), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(float(got[1]), float(want[1]), rtol=1e-12)


def test_sharded_fd_heat_and_nbody_gradients():
    mesh = ps.make_mesh({"x": 4, "y": 2})
    with jax.enable_x64(True):
        u0 = jax.device_put(
            jnp.asarray(np.random.default_rng(1).standard_normal((16, 12))),
            NamedSharding(mesh, P("x", "y")),
        )
        dt, dx = jnp.asarray(1e-3), jnp.asarray([0.1, 0.12])

        def heat_loss(u, nu, **kw):
            run = ps.sharded_fd_heat(mesh, P("x", "y"), ndim=2, num_steps=10, save_every=2, **kw)
            return jnp.sum(jnp.sin(run(u, dt, nu, dx)[1]))

        want = jax.jit(jax.grad(heat_loss, argnums=(0, 1)))(u0, jnp.asarray(0.5))
        got = jax.jit(
            jax.grad(lambda u, n: heat_loss(u, n, checkpoint="binomial"), argnums=(0, 1))
        )(u0, jnp.asarray(0.5))
        np.testing.assert_allclose(np.asarray(got[0]), np.asarray(want[0]), rtol=1e-12)
        np.testing.assert_allclose(float(got[1]), float(want[1]), rtol=1e-12)

        rng = np.random.default_rng(2)
        ring = ps.make_mesh({"p": 8})
        x = jax.device_put(jnp.asarray(rng.standard_normal((16, 3))), NamedSharding(ring, P("p")))
        v = jax.device_put(jnp.zeros((16, 3)), NamedSharding(ring, P("p")))
        m = jnp.ones(16)

        def nbody_loss(x, **kw):
            xf, _ = ps.sharded_nbody_rollout(
                ring, "p", x, v, m, jnp.asarray(0.01), jnp.asarray(0.1), num_steps=6, **kw
            )
            return jnp.sum(xf**2)

        want = jax.jit(jax.grad(nbody_loss))(x)
        got = jax.jit(jax.grad(lambda x: nbody_loss(x, checkpoint="sqrt")))(x)
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12)
