"""RK4 and velocity Verlet: gradients through a 100-step rollout vs finite differences, vmap over
64 initial conditions and parameters, bad input, and the systems' own identities. Orders and
Kepler conservation are the registered physics checks (``ode.rk4_lorenz96``,
``ode.verlet_kepler``)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import ode

P63 = np.array([10.0, 28.0, 8.0 / 3.0])


def test_grad_through_100_step_rk4_rollout_matches_central_differences():
    with jax.enable_x64(True):
        rollout = functools.partial(ode.rk4_rollout, ode.lorenz63, num_steps=100, save_every=10)
        rng = np.random.default_rng(0)
        w = jnp.asarray(rng.standard_normal((10, 3)))

        def loss(y0, dt, p):
            _, traj = rollout(y0, dt, p)
            return jnp.sum(w * traj)

        y0, dt, p = jnp.asarray([1.0, 2.0, 3.0]), jnp.asarray(0.005), jnp.asarray(P63)
        grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(y0, dt, p)
        f = jax.jit(loss)
        for arg, g in enumerate(grads):
            primal = [y0, dt, p]
            for i in np.ndindex(np.shape(g)):
                e = np.zeros(np.shape(g))
                e[i] = 1e-6 * max(1.0, abs(float(primal[arg][i])))
                plus, minus = list(primal), list(primal)
                plus[arg] = primal[arg] + e
                minus[arg] = primal[arg] - e
                fd = (float(f(*plus)) - float(f(*minus))) / (2 * e[i])
                assert float(g[i]) == pytest.approx(fd, rel=1e-6, abs=1e-6), (arg, i)


def test_vmap_over_64_initial_conditions_and_parameters_rk4_and_verlet():
    rng = np.random.default_rng(1)
    y0s = jnp.asarray(1.0 + rng.standard_normal((64, 3)), dtype=jnp.float32)
    ps = jnp.asarray(P63 * (1 + 0.1 * rng.uniform(size=(64, 3))), dtype=jnp.float32)
    dt = jnp.asarray(0.01, dtype=jnp.float32)
    rk = jax.jit(functools.partial(ode.rk4_rollout, ode.lorenz63, num_steps=50, save_every=25))
    final, traj = jax.jit(jax.vmap(rk, in_axes=(0, None, 0)))(y0s, dt, ps)
    q0s = jnp.asarray(rng.uniform(0.8, 1.2, (64, 2)), dtype=jnp.float32)
    v0s = jnp.stack([-q0s[:, 1], q0s[:, 0]], axis=1)
    mus = jnp.asarray(rng.uniform(0.5, 2.0, 64), dtype=jnp.float32)
    vv = jax.jit(
        functools.partial(
            ode.velocity_verlet_rollout, ode.kepler_accel, num_steps=50, save_every=25
        )
    )
    (qf, vf), _ = jax.jit(jax.vmap(vv, in_axes=(0, 0, None, 0)))(q0s, v0s, dt, mus)
    for i in range(64):
        one, one_traj = rk(y0s[i], dt, ps[i])
        np.testing.assert_allclose(final[i], one, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(traj[i], one_traj, rtol=1e-5, atol=1e-5)
        (q, v), _ = vv(q0s[i], v0s[i], dt, mus[i])
        np.testing.assert_allclose(qf[i], q, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(vf[i], v, rtol=1e-6, atol=1e-6)
    # a batch inside the state (leading axes) is the same computation again
    batch_final, _ = rk(y0s, dt, jnp.asarray(P63, dtype=jnp.float32))
    np.testing.assert_allclose(
        batch_final[5], rk(y0s[5], dt, jnp.asarray(P63, jnp.float32))[0], rtol=1e-5, atol=1e-5
    )


def test_bad_input_raises_clearly():
    y0, p = jnp.ones(3), jnp.asarray(P63, dtype=jnp.float32)
    q, v = jnp.ones((4, 2)), jnp.zeros((4, 2))
    for dt in (0.0, -0.1):
        with pytest.raises(ValueError, match="dt"):
            ode.rk4_rollout(ode.lorenz63, y0, dt, p, num_steps=2)
        with pytest.raises(ValueError, match="dt"):
            ode.velocity_verlet_rollout(ode.kepler_accel, q, v, dt, 1.0, num_steps=2)
    # the steps name their own arguments (y, q, v), the rollouts theirs (y0, q0, v0)
    with pytest.raises(ValueError, match="y: contains NaN"):
        ode.rk4_step(ode.lorenz63, 0.0, jnp.asarray([1.0, jnp.nan, 0.0]), 0.1, p)
    with pytest.raises(ValueError, match="q: contains NaN"):
        ode.velocity_verlet_step(ode.kepler_accel, q.at[0, 0].set(jnp.inf), v, 0.1, 1.0)
    with pytest.raises(ValueError, match=r"y: expected shape \(\.\.\., 3\)"):
        ode.rk4_step(ode.lorenz63, 0.0, jnp.ones(4), 0.1, p)
    with pytest.raises(ValueError, match="params"):
        ode.rk4_step(ode.lorenz63, 0.0, y0, 0.1, p[:2])
    with pytest.raises(ValueError, match="v: expected shape"):
        ode.velocity_verlet_step(ode.kepler_accel, q, v[:3], 0.1, 1.0)
    with pytest.raises(TypeError, match="y: expected a floating dtype"):
        ode.rk4_step(ode.lorenz63, 0.0, jnp.ones(3, jnp.int32), 0.1, p)
    run = jax.jit(functools.partial(ode.rk4_rollout, ode.lorenz63, num_steps=2))
    with pytest.raises(Exception, match="dt"):  # traced dt: checked at run time (equinox)
        run(y0, jnp.asarray(-0.1), p)


def test_vector_field_identities():
    """Lorenz-96 has the fixed point x_i = F; along the pendulum flow dE/dt = -gamma omega^2;
    along the Kepler flow energy and angular momentum are stationary (jvp of the invariants)."""
    with jax.enable_x64(True):
        f = jnp.asarray(8.0)
        np.testing.assert_allclose(ode.lorenz96(0.0, jnp.full((3, 40), 8.0), f), 0.0, atol=1e-14)
        rng = np.random.default_rng(2)
        yp, pp = jnp.asarray(rng.standard_normal((16, 2))), jnp.asarray([0.3, 2.0])
        _, de = jax.jvp(
            lambda y: ode.damped_pendulum_energy(y, pp), (yp,), (ode.damped_pendulum(0.0, yp, pp),)
        )
        np.testing.assert_allclose(de, -0.3 * yp[:, 1] ** 2, rtol=1e-12, atol=1e-14)
        yk = jnp.asarray(rng.uniform(0.5, 1.5, (16, 4)))
        mu = jnp.asarray(1.7)

        def invariants(y):
            return ode.kepler_energy(y[:, :2], y[:, 2:], mu), ode.kepler_angular_momentum(
                y[:, :2], y[:, 2:]
            )

        _, (de, dl) = jax.jvp(invariants, (yk,), (ode.kepler(0.0, yk, mu),))
        np.testing.assert_allclose(de, 0.0, atol=1e-13)
        np.testing.assert_allclose(dl, 0.0, atol=1e-13)


def test_torch_systems_match():
    torch = pytest.importorskip("torch", reason="torch twins need torch")
    from parallax.kernels.ode import twins

    rng = np.random.default_rng(4)
    cases = [
        (ode.lorenz63, twins.lorenz63, (5, 3), P63),
        (ode.lorenz96, twins.lorenz96, (5, 12), np.asarray(8.0)),
        (ode.damped_pendulum, twins.damped_pendulum, (5, 2), np.array([0.2, 1.5])),
        (ode.kepler, twins.kepler, (5, 4), np.asarray(1.3)),
    ]
    with jax.enable_x64(True):
        for jf, tf, shape, p in cases:
            y = rng.uniform(0.5, 1.5, shape)
            want = tf(0.0, torch.from_numpy(y), torch.from_numpy(np.asarray(p))).numpy()
            got = np.asarray(jf(0.0, jnp.asarray(y), jnp.asarray(p)))
            np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)
