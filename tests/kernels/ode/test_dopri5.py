"""Dormand–Prince 5(4): status codes, bad input, dynamic tolerances, loop variants, forward-mode
derivatives through the while loop, vmap. Orders and the scipy reference are the registered
physics checks (``ode.dopri5_lorenz63``); reverse mode is the generic contract test."""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import ode

P63 = (10.0, 28.0, 8.0 / 3.0)
TS = np.linspace(0.0, 1.0, 11)


@functools.cache
def _solver(loop: Literal["while", "scan"] = "while", max_steps: int = 2000, throw: bool = True):
    """One compiled Lorenz-63 solve per (loop, max_steps, throw), reused across tests
    (float64)."""
    return jax.jit(
        functools.partial(ode.dopri5, ode.lorenz63, max_steps=max_steps, loop=loop, throw=throw)
    )


def _args(y0=(1.0, 2.0, 3.0), params=P63, ts=TS, rtol=1e-8, atol=1e-8, dt0=1e-2):
    return tuple(jnp.asarray(x, dtype=jnp.float64) for x in (y0, ts, params, rtol, atol, dt0))


def test_while_and_scan_agree_and_tolerances_do_not_recompile():
    with jax.enable_x64(True):
        solve = _solver()
        a = solve(*_args())
        b = solve(*_args(rtol=1e-6, atol=1e-6, dt0=1e-3))
        # rtol/atol/dt0 are arrays: no recompile (`_cache_size` is a run-time attribute of jit's
        # wrapper, absent from its stub)
        assert solve._cache_size() == 1  # pyright: ignore[reportAttributeAccessIssue]
        assert int(a.status) == int(b.status) == ode.SUCCESS
        assert int(a.num_accepted) > int(b.num_accepted)  # tighter tolerance, more steps
        s = _solver("scan", 400)(*_args())
        np.testing.assert_allclose(np.asarray(s.ys), np.asarray(a.ys), rtol=1e-13, atol=1e-13)
        assert (int(s.num_accepted), int(s.num_rejected)) == (
            int(a.num_accepted),
            int(a.num_rejected),
        )
        np.testing.assert_array_equal(np.asarray(a.ys[0]), [1.0, 2.0, 3.0])


@pytest.mark.parametrize("loop", ["while", "scan"])
def test_max_steps_reached_is_a_status_not_a_hang(loop):
    from parallax.kernels.ode import twins

    torch = pytest.importorskip("torch", reason="torch twin comparison needs torch")
    with jax.enable_x64(True):
        sol = _solver(loop, 12, throw=False)(*_args())
    assert int(sol.status) == ode.MAX_STEPS_REACHED
    assert int(sol.num_accepted) + int(sol.num_rejected) == 12
    ys = np.asarray(sol.ys)
    reached = ~np.any(np.isnan(ys), axis=1)
    assert reached[0] and not reached[-1]  # never a silent wrong answer at unreached times
    assert np.isnan(ys[~reached]).all()
    with jax.enable_x64(True):
        tt = [torch.tensor(np.asarray(x)) for x in _args()]
    t_ys, t_status, t_acc, t_rej = twins.dopri5(twins.lorenz63, *tt, max_steps=12)
    assert (t_status, t_acc, t_rej) == (
        ode.MAX_STEPS_REACHED,
        int(sol.num_accepted),
        int(sol.num_rejected),
    )
    np.testing.assert_allclose(t_ys.numpy(), ys, rtol=1e-12, atol=1e-12)


def _singular(t, y, p):
    """``y' = p0 y^2 + p1 sqrt(p2 - t) + p3 / (1 - t)``: a blow-up at t = 1 (p = (1, 0, 1, 0)),
    a field that turns NaN after t = 1 (p = (0, 1, 1, 0)) or at once (p = (0, 1, -1, 0)), a
    logarithmic singularity at t = 1 that stays finite (p = (0, 0, 1, 1))."""
    return p[0] * y * y + (p[1] * jnp.sqrt(p[2] - t) + p[3] / (1 - t)) * jnp.ones_like(y)


@pytest.mark.parametrize(
    ("params", "expected", "y_half"),
    [
        ((1.0, 0.0, 1.0, 0.0), {ode.STEP_SIZE_UNDERFLOW, ode.NONFINITE}, 2.0),
        ((0.0, 1.0, 1.0, 0.0), {ode.NONFINITE}, 1 + (1 - 0.5**1.5) / 1.5),
        ((0.0, 1.0, -1.0, 0.0), {ode.NONFINITE}, None),
        ((0.0, 0.0, 1.0, 1.0), {ode.STEP_SIZE_UNDERFLOW}, 1 + np.log(2.0)),
    ],
)
def test_singular_problems_stop_with_a_status(params, expected, y_half):
    with jax.enable_x64(True):
        solve = _singular_solver()
        sol = solve(jnp.ones(1), jnp.linspace(0.0, 2.0, 5), jnp.asarray(params), 1e-8, 1e-8, 0.1)
        status = int(sol.status)
    assert status in expected, ode.status_message(status)
    assert int(sol.num_accepted) + int(sol.num_rejected) < 2000  # stopped, did not run out
    assert np.isnan(np.asarray(sol.ys[-1])).all()
    if y_half is None:  # NaN at t0: nothing attempted
        assert int(sol.num_accepted) + int(sol.num_rejected) == 0
    else:  # the solution before the singularity is right
        assert float(sol.ys[1, 0]) == pytest.approx(y_half, rel=1e-6)


@functools.cache
def _singular_solver(throw: bool = False):
    return jax.jit(functools.partial(ode.dopri5, _singular, max_steps=2000, throw=throw))


MAX_STEPS_MSG = "max_steps: the solve needed more than max_steps=12 steps"


@pytest.mark.parametrize("loop", ["while", "scan"])
def test_a_failed_solve_raises_by_default_saying_what_to_change(loop):
    """Was: NaN rows and status=1, no warning (diffrax raises unless throw=False)."""
    with jax.enable_x64(True):
        with pytest.raises(Exception) as info:  # the message is what is checked
            jax.block_until_ready(_solver(loop, 12)(*_args()))
        line = str(info.value).splitlines()[0]
        assert MAX_STEPS_MSG in line, line
        for hint in ("raise max_steps", "rtol/atol", "throw=False"):
            assert hint in line, line
        with pytest.raises(ValueError, match=MAX_STEPS_MSG):  # eagerly: at once
            ode.dopri5(ode.lorenz63, *_args(), max_steps=12, loop=loop)


@pytest.mark.parametrize(
    ("params", "msg"),
    [
        ((0.0, 1.0, -1.0, 0.0), "f: returned NaN or Inf"),
        ((0.0, 0.0, 1.0, 1.0), "f: the step size underflowed"),
    ],
)
def test_singular_problems_raise_by_default(params, msg):
    with jax.enable_x64(True):
        args = (jnp.ones(1), jnp.linspace(0.0, 2.0, 5), jnp.asarray(params), 1e-8, 1e-8, 0.1)
        with pytest.raises(Exception) as info:  # the message is what is checked
            jax.block_until_ready(_singular_solver(throw=True)(*args))
    assert msg in str(info.value).splitlines()[0], str(info.value)[:300]


def test_a_failed_solve_raises_instead_of_returning_nan_rows():
    """Was: the Lorenz-63 solve returned NaN rows and dropped the status (D8)."""
    args = (jnp.ones(3), jnp.linspace(0, 10, 5), jnp.array([10.0, 28.0, 8 / 3]), 1e-8, 1e-8, 1e-3)

    def solve(*a, max_steps):
        return ode.dopri5(ode.lorenz63, *a, max_steps=max_steps).ys

    with pytest.raises(ValueError, match="max_steps: the solve needed more than max_steps=2"):
        solve(*args, max_steps=2)
    line = str(
        _first_error(lambda: jax.jit(solve, static_argnames="max_steps")(*args, max_steps=2))
    )
    assert "max_steps: the solve needed more than max_steps=2" in line.splitlines()[0]


def _first_error(call) -> BaseException:
    with pytest.raises(Exception) as info:  # the message is what is checked
        jax.block_until_ready(call())
    return info.value


def test_vmap_raises_if_any_solve_fails_and_throw_false_gives_each_status():
    with jax.enable_x64(True):
        y0, ts, p, rtol, atol, dt0 = _args()
        y0s = jnp.stack([y0, y0 * 1e8])  # the second blows the step budget
        run = jax.jit(
            jax.vmap(
                functools.partial(ode.dopri5, ode.lorenz63, max_steps=200),
                in_axes=(0, None, None, None, None, None),
            )
        )
        assert "max_steps" in str(_first_error(lambda: run(y0s, ts, p, rtol, atol, dt0)))
        quiet = jax.jit(
            jax.vmap(
                functools.partial(ode.dopri5, ode.lorenz63, max_steps=200, throw=False),
                in_axes=(0, None, None, None, None, None),
            )
        )
        sol = quiet(y0s, ts, p, rtol, atol, dt0)
    assert np.asarray(sol.status).tolist() == [ode.SUCCESS, ode.MAX_STEPS_REACHED]


def test_bad_input_raises_clearly():
    with jax.enable_x64(True):
        good = _args()
        for i, bad, match in [
            (5, 0.0, "dt0"),
            (5, -1e-3, "dt0"),
            (3, 0.0, "rtol"),
            (4, -1e-9, "atol"),
            (0, (np.nan, 1.0, 1.0), "y0"),
            (1, (0.0, 0.5, 0.4, 1.0), "ts"),
            (1, (0.0, 0.5, 0.5, 1.0), "ts"),
        ]:
            args = list(good)
            args[i] = jnp.asarray(bad, dtype=jnp.float64)
            with pytest.raises(ValueError, match=match):  # concrete values: at once
                ode.dopri5(ode.lorenz63, *args, max_steps=10)
        args = list(good)
        args[3] = jnp.asarray(-1.0, dtype=jnp.float64)
        with pytest.raises(Exception, match="rtol"):  # under jit: at run time (equinox)
            _solver()(*args)
        with pytest.raises(ValueError, match="params"):  # shapes: at trace time
            ode.dopri5(ode.lorenz63, good[0], good[1], jnp.ones(2), *good[3:])
        with pytest.raises(ValueError, match="max_steps"):
            ode.dopri5(ode.lorenz63, *good, max_steps=0)


def test_jvp_through_while_loop_matches_finite_differences():
    """Forward mode works through lax.while_loop (reverse mode needs loop="scan")."""
    with jax.enable_x64(True):
        y0, ts, p, rtol, atol, dt0 = _args()
        solve = _solver()

        def ys(y0, p):
            return solve(y0, ts, p, rtol, atol, dt0).ys

        rng = np.random.default_rng(3)
        dy, dp = jnp.asarray(rng.standard_normal(3)), jnp.asarray(rng.standard_normal(3))
        _, tangent = jax.jit(lambda a, b: jax.jvp(ys, (a, b), (dy, dp)))(y0, p)
        eps = 1e-5
        fd = (ys(y0 + eps * dy, p + eps * dp) - ys(y0 - eps * dy, p - eps * dp)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(tangent), np.asarray(fd), rtol=1e-5, atol=1e-6)


def test_vmap_over_64_initial_conditions_and_over_parameters():
    with jax.enable_x64(True):
        _, ts, _, rtol, atol, dt0 = _args()
        solve = _solver()
        rng = np.random.default_rng(0)
        y0s = jnp.asarray(1.0 + rng.standard_normal((64, 3)))
        rhos = jnp.asarray(20.0 + 10 * rng.uniform(size=(64,)))
        ps = jnp.stack([jnp.full(64, P63[0]), rhos, jnp.full(64, P63[2])], axis=1)
        # one vmap over initial conditions and parameters together (one compile)
        batched = jax.jit(jax.vmap(solve, in_axes=(0, None, 0, None, None, None)))(
            y0s, ts, ps, rtol, atol, dt0
        )
        for i in range(64):
            one = solve(y0s[i], ts, ps[i], rtol, atol, dt0)
            np.testing.assert_allclose(batched.ys[i], one.ys, rtol=1e-12, atol=1e-12)
            assert int(batched.num_accepted[i]) == int(one.num_accepted)  # own step sizes
            assert int(batched.status[i]) == ode.SUCCESS
        assert len(set(np.asarray(batched.num_accepted).tolist())) > 1
