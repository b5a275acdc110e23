"""SDE integrators: vmap over paths and parameters, keys, noise layouts, gradients, bad input.

Stationary variance (OU) and strong orders (GBM) run as registered PhysicsChecks; parity with
the torch twins and gradient-vs-finite-difference on a 100-step rollout run for every
registered spec in tests/test_registry_contract.py and tests/test_parity.py.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import sde

RNG = np.random.default_rng(0)


def _inputs(paths=6, steps=40, dt=0.01):
    x0 = jnp.asarray(RNG.uniform(0.5, 1.5, paths))
    dW = jnp.asarray(np.sqrt(dt) * RNG.standard_normal((steps, paths)))
    return x0, dW, dt


def test_vmap_over_paths_equals_single_path_calls():
    """A batch of paths in one call == vmap of single-path calls == a Python loop of them."""
    with jax.enable_x64(True):
        x0, dW, dt = _inputs()
        run = jax.jit(functools.partial(sde.gbm_milstein, save_every=10))
        batched, traj = run(x0, 0.3, 0.7, dt, dW)
        single = jax.vmap(lambda x, w: run(x[None], 0.3, 0.7, dt, w[:, None]), (0, 1))(x0, dW)
        np.testing.assert_allclose(single[0][:, 0], batched, rtol=1e-14)
        np.testing.assert_allclose(single[1][:, :, 0].T, traj, rtol=1e-14)
        for i in (0, 3):
            one, _ = run(x0[i : i + 1], 0.3, 0.7, dt, dW[:, i : i + 1])
            np.testing.assert_allclose(one[0], batched[i], rtol=1e-14)


def test_vmap_over_parameters():
    with jax.enable_x64(True):
        x0, dW, dt = _inputs()
        run = jax.jit(functools.partial(sde.ou_euler_maruyama, save_every=40))
        thetas = jnp.asarray([0.5, 1.0, 2.0])
        out = jax.vmap(lambda th: run(x0, th, 0.2, 0.5, dt, dW)[0])(thetas)
        for i, th in enumerate(thetas):
            np.testing.assert_allclose(out[i], run(x0, th, 0.2, 0.5, dt, dW)[0], rtol=1e-14)


def test_milstein_equals_em_for_additive_noise_and_differs_for_multiplicative():
    with jax.enable_x64(True):
        x0, dW, dt = _inputs()

        def drift(x, t, a):
            return -x

        def const(x, t, a):
            return jnp.full_like(x, 0.4)

        def mult(x, t, a):
            return 0.4 * x

        em = sde.euler_maruyama(drift, const, x0, dt, dW, save_every=40)[0]
        mil = sde.milstein(drift, const, x0, dt, dW, save_every=40)[0]
        np.testing.assert_allclose(mil, em, rtol=1e-14)
        em = sde.euler_maruyama(drift, mult, x0, dt, dW, save_every=40)[0]
        mil = sde.milstein(drift, mult, x0, dt, dW, save_every=40)[0]
        assert float(jnp.max(jnp.abs(mil - em))) > 1e-4


def test_milstein_generic_jvp_matches_hand_written_gbm_correction():
    """The jvp-based correction equals ½ σ² X (ΔW² − dt) written out by hand."""
    with jax.enable_x64(True):
        x0, dW, dt = _inputs(steps=25)
        mu, sig = 0.3, 0.9
        got = sde.gbm_milstein(x0, mu, sig, dt, dW, save_every=25)[0]
        x = np.asarray(x0)
        for dw in np.asarray(dW):
            x = x + mu * x * dt + sig * x * dw + 0.5 * sig**2 * x * (dw * dw - dt)
        np.testing.assert_allclose(got, x, rtol=1e-13)


def test_scalar_noise_shared_by_a_vector_state():
    """A 2-vector per path driven by ONE Brownian motion (noise axis of size 1): rotation
    dX = A X dt + B X dW with commuting A, B has the exact solution
    X_T = exp((A - B²/2) T + B W_T) X_0; Milstein converges to it at order 1."""
    with jax.enable_x64(True):
        a = jnp.asarray([[-0.5, 1.0], [-1.0, -0.5]])
        b = jnp.asarray([[0.0, 0.6], [-0.6, 0.0]])  # commutes with a (both ~ rotations)

        def drift(x, t, args):
            return x @ a.T

        def diff(x, t, args):
            return x @ b.T

        paths, t_end = 200, 1.0
        x0 = jnp.tile(jnp.asarray([[1.0, 0.0]]), (paths, 1))
        fine = jax.random.normal(jax.random.key(1), (256, paths, 1), jnp.float64) * jnp.sqrt(
            t_end / 256
        )
        w = np.asarray(jnp.sum(fine, axis=0))  # (paths, 1)
        m = np.asarray(a - 0.5 * b @ b)
        import scipy.linalg

        exact = np.stack(
            [
                scipy.linalg.expm(m * t_end + np.asarray(b) * wi[0]) @ np.array([1.0, 0.0])
                for wi in w
            ]
        )
        errs = []
        for n in (32, 64):
            coarse = jnp.sum(fine.reshape(n, 256 // n, paths, 1), axis=1)
            xn = sde.milstein(drift, diff, x0, t_end / n, coarse, save_every=n)[0]
            errs.append(float(np.mean(np.linalg.norm(np.asarray(xn) - exact, axis=-1))))
        order = np.log2(errs[0] / errs[1])
        assert 0.7 <= order <= 1.3, (errs, order)


def test_solve_from_key_is_reproducible_and_returns_its_increments():
    with jax.enable_x64(True):
        x0 = jnp.ones(5)
        key = jax.random.key(3)

        def drift(x, t, a):
            return a * x

        def diff(x, t, a):
            return 0.5 * x

        solve = jax.jit(lambda k: sde.solve_from_key(k, "milstein", drift, diff, x0, 0.01, 30, 0.1))
        f1, _, dw1 = solve(key)
        f2, _, dw2 = solve(key)
        np.testing.assert_array_equal(f1, f2)
        np.testing.assert_array_equal(dw1, dw2)
        assert dw1.shape == (30, 5)
        np.testing.assert_allclose(sde.milstein(drift, diff, x0, 0.01, dw1, 0.1)[0], f1)
        f3, _, _ = solve(jax.random.key(4))
        assert float(jnp.max(jnp.abs(f3 - f1))) > 1e-3
        # increments have variance dt
        big = sde.brownian_increments(key, 0.01, 200, (500,), dtype=jnp.float64)
        assert float(jnp.var(big)) == pytest.approx(0.01, rel=0.02)  # 1e5 samples: se 0.45%


def test_time_dependent_coefficients_see_t0_plus_n_dt():
    """dX = t dt (no noise) from t0 = 1: X_T = X_0 + Σ t_n dt (left Riemann sum, exact here)."""
    with jax.enable_x64(True):
        dW = jnp.zeros((10, 1))

        def drift(x, t, a):
            return jnp.broadcast_to(t, x.shape)

        def zero(x, t, a):
            return jnp.zeros_like(x)

        got = sde.euler_maruyama(drift, zero, jnp.zeros(1), 0.1, dW, t0=1.0, save_every=10)[0]
        assert float(got[0]) == pytest.approx(sum((1.0 + 0.1 * n) * 0.1 for n in range(10)))


def test_gradient_of_mean_terminal_value_matches_exact_gbm_derivative():
    """d/dmu E-path of X_T for EM on fixed increments vs central finite differences, and
    d/dx0 X_T = X_T / x0 exactly (linear SDE)."""
    with jax.enable_x64(True):
        x0, dW, dt = _inputs(steps=100)

        def loss(x0, mu):
            return jnp.sum(sde.gbm_euler_maruyama(x0, mu, 0.8, dt, dW, save_every=100)[0])

        gx, gmu = jax.grad(loss, argnums=(0, 1))(x0, jnp.asarray(0.3))
        xt = sde.gbm_euler_maruyama(x0, 0.3, 0.8, dt, dW, save_every=100)[0]
        np.testing.assert_allclose(gx, xt / x0, rtol=1e-12)
        eps = 1e-5
        fd = (loss(x0, 0.3 + eps) - loss(x0, 0.3 - eps)) / (2 * eps)
        assert float(gmu) == pytest.approx(float(fd), rel=1e-7)


X0, DW = jnp.ones(4), jnp.zeros((10, 4))
GEM, GMIL, OU = sde.gbm_euler_maruyama, sde.gbm_milstein, sde.ou_euler_maruyama


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (lambda: GEM(X0, 0.1, 0.2, 0.0, DW), ValueError, "dt: expected a value"),
        (lambda: GEM(X0, 0.1, 0.2, -1.0, DW), ValueError, "dt: expected a value"),
        (lambda: GMIL(X0.at[1].set(jnp.nan), 0.1, 0.2, 0.01, DW), ValueError, "x0: contains NaN"),
        (lambda: GMIL(X0, 0.1, 0.2, 0.01, jnp.zeros((10, 3))), ValueError, "dW: expected shape"),
        (lambda: GMIL(X0, 0.1, 0.2, 0.01, jnp.zeros(10)), ValueError, "dW: expected shape"),
        (lambda: GMIL(X0, 0.1, 0.2, 0.01, DW, save_every=3), ValueError, "save_every"),
        (lambda: GMIL(X0, jnp.ones(2), 0.2, 0.01, DW), ValueError, "mu: expected a scalar"),
        (lambda: OU(X0, -1.0, 0.0, 0.2, 0.01, DW), ValueError, "theta: expected a val"),
        (lambda: OU(X0, 1.0, 0.0, 0.2, 0.01, DW.astype(jnp.int32)), TypeError, "dW"),
        (lambda: sde.brownian_increments(jax.random.key(0), 0.01, 0, (3,)), ValueError, "num_st"),
    ],
)
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_bad_dt_under_jit_raises_at_run_time():
    run = jax.jit(functools.partial(sde.gbm_euler_maruyama, save_every=10))
    with pytest.raises(Exception, match="dt: expected a value > 0"):
        jax.block_until_ready(run(X0, 0.1, 0.2, jnp.asarray(-0.01), DW))


@pytest.mark.parametrize(
    ("fn", "args", "msg", "traced"),
    [
        (lambda s: GEM(X0, 0.1, s, 0.01, DW)[0], (-0.2,), "sigma: expected a value >= 0", (0,)),
        (lambda s: GMIL(X0, 0.1, s, 0.01, DW)[0], (-0.2,), "sigma: expected a value >= 0", (0,)),
        (
            lambda s: sde.gbm_exact(X0, 0.1, s, 1.0, X0),
            (-0.2,),
            "sigma: expected a value >= 0",
            (0,),
        ),
        (lambda s: OU(X0, 1.0, 0.0, s, 0.01, DW)[0], (-0.2,), "sigma: expected a value >= 0", (0,)),
    ],
    ids=["gbm_euler_maruyama", "gbm_milstein", "gbm_exact", "ou_euler_maruyama"],
)
def test_a_negative_volatility_is_refused(named_error, fn, args, msg, traced):
    """Were: GBM accepted sigma < 0 (a path driven by -W: the same law, a different path than
    the caller's dW promises) while OU documented sigma >= 0 without checking it."""
    named_error(fn, args, msg, traced)
