"""Finite-difference PDE kernels: pieces the registered physics checks and parity do not cover.

Convergence orders, exact translation, standing waves and energy conservation run as the
registered PhysicsChecks (tests/test_registry_contract.py); here: the stencil layers agree
with each other, the 4th-order one-sided closure's exactness, held boundaries, twin parity of
the order/bc combinations that are not the registered test case, sharded lowering, bad input.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import pde

RNG = np.random.default_rng(0)


def _jit(fn, **static):
    return jax.jit(functools.partial(fn, **static))


def test_periodic_shift_is_roll():
    x = jnp.asarray(RNG.standard_normal((3, 5, 7)), jnp.float32)
    combos = [(s, axis) for axis in (0, 1, 2) for s in (-2, 1, 9)]

    @jax.jit
    def both(x):
        return [(pde.periodic_shift(x, s, a), jnp.roll(x, s, a)) for s, a in combos]

    for got, want in both(x):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("order", [2, 4])
def test_padded_stencil_on_wrapped_block_equals_periodic(order):
    """What a sharded caller does: wrap-pad a block by r halo cells, apply the padded stencil."""
    u = jnp.asarray(RNG.standard_normal((2, 9, 11)), jnp.float32)
    dx = jnp.asarray([0.3, 0.2], jnp.float32)
    r = order // 2
    up = jnp.pad(u, ((0, 0), (r, r), (r, r)), mode="wrap")
    got = jax.jit(functools.partial(pde.laplacian_padded, ndim=2, order=order))(up, dx)
    want = pde.laplacian_periodic(u, dx, ndim=2, order=order)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)


def test_one_sided_closure_is_exact_to_degree_five():
    """Node 1 of an order-4 Dirichlet Laplacian: exact for x^k, k <= 5 (4th order), not k = 6."""
    with jax.enable_x64(True):
        h = 0.1
        x = np.arange(8) * h
        lap = _jit(pde.laplacian, ndim=1, order=4, bc="dirichlet")
        for k in range(7):
            got = float(lap(jnp.asarray(x**k), jnp.asarray(h))[1])
            want = k * (k - 1) * x[1] ** (k - 2) if k >= 2 else 0.0
            if k <= 5:
                assert got == pytest.approx(want, abs=1e-9), k
            else:
                assert abs(got - want) > 1e-3  # the h^4 u^(6) truncation term shows


def test_dirichlet_boundaries_are_held():
    """Advection (1D, 2D) and the wave equation keep boundary nodes bit-for-bit."""
    u0 = jnp.asarray(RNG.standard_normal((10, 12)))
    c = jnp.asarray([0.5, -0.4])
    adv = _jit(pde.advection_2d_rollout, num_steps=30, save_every=30, bc="dirichlet")
    final, _ = adv(u0, c, jnp.asarray(0.05), jnp.asarray(0.1))
    interior = np.zeros((10, 12), bool)
    interior[1:-1, 1:-1] = True
    edge = ~interior
    np.testing.assert_array_equal(np.asarray(final)[edge], np.asarray(u0)[edge])
    assert np.abs(np.asarray(final - u0)[interior]).max() > 0.1

    u1 = jnp.asarray(RNG.standard_normal(12))
    f1, _ = _jit(pde.advection_1d_rollout, num_steps=30, save_every=30, bc="dirichlet")(
        u1, jnp.asarray(-0.7), jnp.asarray(0.05), jnp.asarray(0.1)
    )
    np.testing.assert_array_equal(np.asarray(f1)[[0, -1]], np.asarray(u1)[[0, -1]])

    roll = _jit(pde.wave_2d_rollout, num_steps=30, save_every=30, order=4, bc="dirichlet")
    up = u0 + 0.1  # inconsistent previous level: the stepper still holds u's boundary values
    (_, w), _ = roll(up, u0, jnp.asarray(1.0), jnp.asarray(0.02), jnp.asarray(0.1))
    np.testing.assert_array_equal(np.asarray(w)[edge], np.asarray(u0)[edge])


TWIN_COMBOS = [
    # (jax fn, twin name, kwargs, shape, dx) — the order/bc combos outside the registered cases
    (pde.laplacian_2d, "laplacian_2d", {"order": 2, "bc": "periodic"}, (2, 9, 8), 0.25),
    (pde.laplacian_2d, "laplacian_2d", {"order": 4, "bc": "periodic"}, (9, 8), (0.2, 0.3)),
    (pde.laplacian_2d, "laplacian_2d", {"order": 2, "bc": "dirichlet"}, (9, 8), 0.25),
    (pde.laplacian_3d, "laplacian_3d", {"order": 2, "bc": "periodic"}, (5, 6, 7), 0.25),
    (pde.laplacian_3d, "laplacian_3d", {"order": 2, "bc": "dirichlet"}, (2, 5, 6, 7), 0.25),
    (pde.laplacian_3d, "laplacian_3d", {"order": 4, "bc": "dirichlet"}, (6, 7, 8), 0.25),
]


@pytest.mark.parametrize("combo", TWIN_COMBOS, ids=lambda c: f"{c[1]}-{c[2]['order']}-{c[2]['bc']}")
def test_laplacian_twin_parity_other_combos(combo):
    torch = pytest.importorskip("torch", reason="torch twin parity needs torch")
    from parallax.kernels.pde import twins

    fn, twin_name, kw, shape, dx = combo
    with jax.enable_x64(True):
        u = RNG.standard_normal(shape)
        got = _jit(fn, **kw)(jnp.asarray(u), jnp.asarray(dx))
        dxt = torch.tensor(dx, dtype=torch.float64)
        want = getattr(twins, twin_name)(torch.from_numpy(u), dxt, **kw)
        np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-12, atol=1e-11)


def test_rollout_twin_parity_other_combos():
    torch = pytest.importorskip("torch", reason="torch twin parity needs torch")
    from parallax.kernels.pde import twins

    with jax.enable_x64(True):
        u = RNG.standard_normal((11, 10))
        up = u.copy()
        args = (1.0, 0.05, 0.25)
        kw = {"num_steps": 12, "save_every": 6, "order": 2, "bc": "periodic"}
        (_, got), tr = _jit(pde.wave_2d_rollout, **kw)(
            jnp.asarray(up), jnp.asarray(u), *map(jnp.asarray, args)
        )
        t = [torch.tensor(a, dtype=torch.float64) for a in args]
        (_, want), ttr = twins.wave_2d_rollout(torch.from_numpy(up), torch.from_numpy(u), *t, **kw)
        np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(np.asarray(tr), ttr.numpy(), rtol=1e-11, atol=1e-11)

        u1 = RNG.standard_normal((2, 16))
        kw1 = {"num_steps": 10, "save_every": 5, "bc": "dirichlet"}
        a1 = (0.6, 0.02, 1 / 16)
        got1, _ = _jit(pde.advection_1d_rollout, **kw1)(jnp.asarray(u1), *map(jnp.asarray, a1))
        t1 = [torch.tensor(a, dtype=torch.float64) for a in a1]
        want1, _ = twins.advection_1d_rollout(torch.from_numpy(u1), *t1, **kw1)
        np.testing.assert_allclose(np.asarray(got1), want1.numpy(), rtol=1e-12, atol=1e-12)


def test_periodic_stencil_moves_only_halos_on_a_sharded_grid():
    """The fused periodic shift on an 8-device (4x2) Auto mesh: collective-permutes of halo
    size only, never an all-gather."""
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = jax.make_mesh((4, 2), ("x", "y"), axis_types=(AxisType.Auto, AxisType.Auto))
    u = jax.device_put(jnp.zeros((64, 32), jnp.float32), NamedSharding(mesh, P("x", "y")))
    lap = jax.jit(functools.partial(pde.laplacian_periodic, ndim=2, order=4))
    hlo = lap.lower(u, jnp.asarray(0.1, jnp.float32)).compile().as_text()
    assert hlo is not None
    assert "all-gather" not in hlo and "all-to-all" not in hlo
    assert "collective-permute" in hlo


Z = jnp.zeros
LAP2, LAP3, ADV1, ADV2 = (
    pde.laplacian_2d,
    pde.laplacian_3d,
    pde.advection_1d_step,
    pde.advection_2d_step,
)
WAVE, START = pde.wave_2d_step, pde.wave_2d_start


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (lambda: LAP2(Z(5), 0.1), ValueError, "u: expected rank >= 2"),
        (lambda: LAP2(Z((4, 8)), 0.1, order=4), ValueError, "n >= 5"),
        (lambda: LAP2(Z((8, 8)), 0.1, order=3), ValueError, "order"),
        # an argument of the wrong type is the input under test (here and for c below)
        (lambda: LAP2(Z((8, 8)), 0.1, bc="neumann"), ValueError, "bc"),  # pyright: ignore[reportArgumentType]
        (lambda: LAP2(Z((8, 8)), -0.1), ValueError, "dx: expected a value > 0"),
        (lambda: LAP2(Z((8, 8)), jnp.ones(3)), ValueError, r"dx: expected shape \(2\)"),
        (lambda: LAP2(Z((8, 8), jnp.int32), 0.1), TypeError, "floating"),
        (lambda: ADV2(Z((5, 5)).at[2, 2].set(jnp.nan), Z(2), 0.1, 0.1), ValueError, "u: contains"),
        (lambda: ADV1(Z(8), 1.0, 0.0, 0.1), ValueError, "dt: expected a value > 0"),
        (lambda: ADV1(Z(8), 1.0, 0.2, 0.1), ValueError, "Courant"),
        (lambda: ADV2(Z((8, 8)), 1.0, 0.01, 0.1), ValueError, r"c: expected shape \(2\)"),  # pyright: ignore[reportArgumentType]
        (lambda: WAVE(Z((8, 8)), Z((8, 9)), 1.0, 0.01, 0.1), ValueError, "u_prev: expected shape"),
        (lambda: WAVE(Z((8, 8)), Z((8, 8)), 1.0, 0.1, 0.1), ValueError, "Courant"),
        (lambda: START(Z((8, 8)), Z((8, 8)) + jnp.inf, 1.0, 0.01, 0.1), ValueError, "v0: contains"),
    ],
)
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_laplacian_operator_propagates_nan_visibly():
    """The operator does not check values (see its docstring): a NaN marks its neighbours."""
    u = Z((6, 6, 6)).at[2, 3, 3].set(jnp.nan)
    out = np.asarray(LAP3(u, 0.1))
    assert np.isnan(out[2, 3, 3]) and np.isnan(out[1, 3, 3]) and np.isnan(out[2, 3, 4])
    assert np.isfinite(out[0, 0, 0])


def test_bad_value_under_jit_raises_at_run_time():
    step = jax.jit(pde.advection_1d_step)
    with pytest.raises(Exception, match="dt: expected a value > 0"):
        jax.block_until_ready(step(jnp.zeros(8), jnp.asarray(1.0), jnp.asarray(-0.01), 0.1))


def test_batch_of_64_initial_conditions_equals_64_separate_calls():
    """The leading batch axis and jax.vmap both equal separate calls (wave, 8x8, 10 steps)."""
    u = jnp.asarray(RNG.standard_normal((64, 8, 8)), jnp.float32)
    up = jnp.asarray(RNG.standard_normal((64, 8, 8)), jnp.float32)
    args = (jnp.asarray(1.0), jnp.asarray(0.05), jnp.asarray(0.2))
    run = _jit(pde.wave_2d_rollout, num_steps=10, save_every=10)
    (_, batched), _ = run(up, u, *args)
    (_, mapped), _ = jax.vmap(lambda a, b: run(a, b, *args))(up, u)
    for i in range(64):
        (_, single), _ = run(up[i], u[i], *args)
        np.testing.assert_allclose(batched[i], single, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(mapped[i], single, rtol=1e-6, atol=1e-6)
