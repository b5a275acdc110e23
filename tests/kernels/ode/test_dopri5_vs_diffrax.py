"""Dormand–Prince against diffrax's Dopri5 under the same PI controller: the only difference is
the embedded error estimate (Shampine's is 2/3 of Dormand–Prince's), so diffrax at tolerance
``tol / 1.5`` takes exactly our steps at ``tol`` and lands on the same solution."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.bench.peers._ode import diffrax_controller
from parallax.kernels import ode
from parallax.kernels.ode._dopri5_np import E

diffrax = pytest.importorskip("diffrax", reason="diffrax is a peer (the `peers` extra)")

TOLS = (1e-4, 1e-6, 1e-8, 1e-10, 1e-12)
P63 = (10.0, 28.0, 8.0 / 3.0)


@jax.jit
def _diffrax_solve(tol: jax.Array):
    ctrl = diffrax_controller(tol, tol)
    term = diffrax.ODETerm(lambda t, y, p: ode.lorenz63(jnp.asarray(t), y, p))
    with jax.numpy_dtype_promotion("standard"):
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Dopri5(),
            0.0,
            5.0,
            1e-2,
            jnp.ones(3),
            args=jnp.asarray(P63),
            stepsize_controller=ctrl,
            saveat=diffrax.SaveAt(t1=True),
            max_steps=100_000,
        )
    return sol.stats["num_accepted_steps"], sol.stats["num_rejected_steps"], sol.ys


@jax.jit
def _solve(tol: jax.Array) -> ode.ODESolution:
    return ode.dopri5(
        ode.lorenz63,
        jnp.ones(3),
        jnp.asarray([0.0, 5.0]),
        jnp.asarray(P63),
        tol,
        tol,
        1e-2,
        max_steps=100_000,
    )


def _diffrax_steps(tol: float) -> tuple[int, int, np.ndarray]:
    acc, rej, ys = _diffrax_solve(jnp.float64(tol))
    return int(acc), int(rej), np.asarray(ys)[-1]


def test_diffrax_error_estimate_is_two_thirds_of_ours():
    b = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0])
    shampine = np.array(
        [1951 / 21600, 0, 22642 / 50085, 451 / 720, -12231 / 42400, 649 / 6300, 1 / 60]
    )
    np.testing.assert_allclose(b - shampine, np.asarray(E) * 2 / 3, rtol=1e-14, atol=1e-17)


@pytest.mark.parametrize("tol", TOLS)
def test_same_steps_as_diffrax_at_two_thirds_of_the_tolerance(tol):
    with jax.enable_x64(True):
        ours = _solve(jnp.float64(tol))
        acc, rej, y = _diffrax_steps(tol / 1.5)
        assert (int(ours.num_accepted), int(ours.num_rejected)) == (acc, rej)
        np.testing.assert_allclose(np.asarray(ours.ys[-1]), y, rtol=1e-9)
        # at the same tolerance diffrax takes fewer, larger steps (and is less accurate)
        assert _diffrax_steps(tol)[0] < acc
