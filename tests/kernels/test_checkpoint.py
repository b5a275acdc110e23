"""Checkpointed rollouts: the binomial schedule is correct and minimal, gradients equal the plain
scan's to round-off (float64), and the compiled reverse pass needs far less memory."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import pde, rollout
from parallax.kernels._checkpoint import checkpointed_scan, revolve_schedule


def _simulate(n: int, c: int) -> tuple[list[int], int]:
    """Run the schedule on positions: returns the reversed steps in order and the number of
    forward iterations the backward pass recomputes."""
    store_at, actions = revolve_schedule(n, c)
    slots = {int(s): i for i, s in enumerate(store_at) if s >= 0}  # what the forward pass left
    reversed_steps, advanced = [], 0
    for src, adv, dst, rev in actions.tolist():
        assert 0 <= src < c and dst < c
        position = slots[src] + adv
        advanced += adv
        if dst >= 0:
            slots[dst] = position
        if rev >= 0:
            assert position == rev, "reversal from the wrong state"
            reversed_steps.append(rev)
    return reversed_steps, advanced


@pytest.mark.parametrize(
    ("n", "c"), [(1, 1), (2, 1), (7, 1), (7, 2), (100, 3), (1000, 5), (10_000, 14), (33, 40)]
)
def test_revolve_schedule_reverses_every_step_once_with_minimal_recomputation(n, c):
    steps, advanced = _simulate(n, c)
    assert steps == list(range(n - 1, -1, -1))
    c = min(c, n)
    r = next(r for r in range(n + 1) if math.comb(c + r, c) >= n)
    store_at, _ = revolve_schedule(n, c)
    forward_chain = int(np.flatnonzero(store_at >= 0).max())  # advances done by the forward pass
    # Griewank–Walther: the minimal number of forward iterations is r n - β(c + 1, r - 1)
    assert advanced + forward_chain == r * n - (math.comb(c + r, c + 1) if r >= 1 else 0)


def _loss(x0, p, n, **kw):
    def body(carry):
        i, x = carry
        x = x + 0.05 * jnp.sin(p * x) * jnp.cos(jnp.roll(x, 1))
        return (i + 1, x), (i, jnp.sum(x**2))

    (_, xf), (idx, ys) = checkpointed_scan(body, (jnp.int32(0), x0), n, **kw)
    return jnp.sum(xf**3) + jnp.sum(ys * jnp.cos(idx.astype(ys.dtype)))


SCHEMES = [
    {"checkpoint": "sqrt"},
    {"checkpoint": "sqrt", "checkpoints": 3},
    {"checkpoint": "binomial"},
    {"checkpoint": "binomial", "checkpoints": 1},
    {"checkpoint": "binomial", "checkpoints": 4},
]


@functools.cache
def _plain_grad(n: int) -> tuple[np.ndarray, np.ndarray]:
    with jax.enable_x64(True):
        g = jax.jit(jax.grad(_loss, argnums=(0, 1)), static_argnums=2)(*_X0_P(), n)
        return np.asarray(g[0]), np.asarray(g[1])


def _X0_P() -> tuple[jax.Array, jax.Array]:
    return jnp.linspace(0.1, 1.0, 6), jnp.float64(1.7)


@pytest.mark.parametrize("n", [2, 37])
@pytest.mark.parametrize("kw", SCHEMES, ids=lambda kw: "-".join(map(str, kw.values())))
def test_scan_gradients_equal_plain_scan(n, kw):
    with jax.enable_x64(True):
        x0, p = _X0_P()
        want = _plain_grad(n)
        got = jax.jit(jax.grad(lambda x, q: _loss(x, q, n, **kw), argnums=(0, 1)))(x0, p)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-13)
        # the primal is untouched
        assert float(_loss(x0, p, n, **kw)) == pytest.approx(float(_loss(x0, p, n)), rel=1e-14)


def _ks_loss(u0, dt, **kw):
    x = jnp.linspace(0, 32 * jnp.pi, 64, endpoint=False)
    final, traj = pde.ks_1d_rollout(u0, dt, num_steps=40, save_every=5, **kw)
    return jnp.sum(final * jnp.sin(x / 8)) + 0.1 * jnp.sum(traj**2)


_ks_grad = jax.jit(jax.grad(_ks_loss, argnums=(0, 1)), static_argnames="checkpoint")


@functools.cache
def _ks_plain_grad() -> tuple[np.ndarray, np.ndarray]:
    with jax.enable_x64(True):
        g = _ks_grad(*_ks_inputs())
        return np.asarray(g[0]), np.asarray(g[1])


def _ks_inputs() -> tuple[jax.Array, jax.Array]:
    x = jnp.linspace(0, 32 * jnp.pi, 64, endpoint=False)
    return jnp.cos(x / 16) * (1 + jnp.sin(x / 16)), jnp.float64(0.25)


@pytest.mark.parametrize("checkpoint", ["sqrt", "binomial"])
def test_ks_rollout_gradients_equal_plain_scan(checkpoint):
    """Gradients w.r.t. the initial state and dt of a loss on every 5th state of 40 ETDRK4
    steps of KS 1D (both loops, over frames and inside each frame, checkpointed)."""
    with jax.enable_x64(True):
        want = _ks_plain_grad()
        got = _ks_grad(*_ks_inputs(), checkpoint=checkpoint)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12)


@pytest.mark.parametrize("checkpoint", ["sqrt", "binomial"])
def test_steps_closing_over_integer_and_boolean_tracers(checkpoint):
    """A step that closes over traced integers and booleans (value checks do), run inside an
    enclosing scan (the frame loop of length 1 when save_every = num_steps)."""
    with jax.enable_x64(True):

        def loss(u0, k, flag, **kw):
            def step(u):
                return jnp.where(flag, u + 0.1 * jnp.sin(k.astype(u.dtype) * u), u)

            return jnp.sum(rollout(step, u0, 12, save_every=12, **kw)[0] ** 2)

        args = (jnp.linspace(0.0, 1.0, 4), jnp.int32(3), jnp.bool_(True))
        want = jax.jit(jax.grad(loss))(*args)
        got = jax.jit(jax.grad(lambda *a: loss(*a, checkpoint=checkpoint)))(*args)
        np.testing.assert_allclose(got, want, rtol=1e-13)


def test_vmap_and_batched_parameters_through_binomial():
    with jax.enable_x64(True):
        xs = jnp.stack([jnp.linspace(0.1, 1.0, 6), jnp.linspace(-1.0, 0.3, 6)])
        ps = jnp.asarray([1.1, 1.7])
        kw = {"checkpoint": "binomial", "checkpoints": 3}
        got = jax.jit(jax.vmap(jax.grad(lambda x, p: _loss(x, p, 20, **kw), argnums=(0, 1))))(
            xs, ps
        )
        for i in range(2):
            want = jax.grad(_loss, argnums=(0, 1))(xs[i], ps[i], 20)
            np.testing.assert_allclose(got[0][i], want[0], rtol=1e-13)
            np.testing.assert_allclose(got[1][i], want[1], rtol=1e-13)


def test_forward_mode_works_with_sqrt_and_is_refused_by_binomial():
    step = lambda u: u + 0.1 * jnp.sin(u)  # noqa: E731
    u0, t = jnp.ones(3), jnp.ones(3)
    want = jax.jvp(lambda u: rollout(step, u, 9)[0], (u0,), (t,))[1]
    got = jax.jvp(lambda u: rollout(step, u, 9, checkpoint="sqrt")[0], (u0,), (t,))[1]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(lambda u: rollout(step, u, 9, checkpoint="binomial")[0], (u0,), (t,))


def _temp_bytes(fn, *args) -> int:
    memory = jax.jit(fn).lower(*args).compile().memory_analysis()
    assert memory is not None
    return memory.temp_size_in_bytes


def test_checkpointing_bounds_the_memory_of_the_reverse_pass():
    """KS 1D, 1000 steps of a (4, 64) state: the plain scan keeps every step's residuals."""
    x = jnp.linspace(0, 32 * jnp.pi, 64, endpoint=False)
    u0 = jnp.tile(jnp.cos(x / 16), (4, 1))

    def grad_of(**kw):
        def loss(u0):
            final, _ = pde.ks_1d_rollout(
                u0, jnp.float32(0.25), num_steps=1000, save_every=1000, **kw
            )
            return jnp.sum(final**2)

        return jax.grad(loss)

    state = u0.size * 4
    plain = _temp_bytes(grad_of(), u0)
    sqrt = _temp_bytes(grad_of(checkpoint="sqrt"), u0)
    binomial = _temp_bytes(grad_of(checkpoint="binomial"), u0)
    assert plain > 1000 * state  # at least the state of every step
    assert sqrt < plain / 10 and binomial < plain / 50


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"checkpoint": "segments"}, "checkpoint: expected one of"),
        ({"checkpoint": "binomial", "checkpoints": 0}, "checkpoints: expected a positive int"),
        ({"checkpoints": 4}, "checkpoints: only meaningful"),
    ],
)
def test_bad_checkpoint_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        rollout(lambda u: u, jnp.ones(2), 4, **kw)
