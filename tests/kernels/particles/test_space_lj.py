"""Periodic box, Lennard-Jones energy and forces, with numbers."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import particles as P
from parallax.kernels.initial_conditions import cubic_lattice

pytestmark = pytest.mark.usefixtures("x64")


def test_minimum_image_is_the_nearest_periodic_image():
    """Against brute force over the 27 image shifts, in a non-cubic box."""
    rng = np.random.default_rng(0)
    box = np.array([3.0, 4.5, 5.0])
    ri = rng.uniform(-10, 10, (200, 3))
    rj = rng.uniform(-10, 10, (200, 3))
    got = np.asarray(P.displacement(jnp.asarray(ri), jnp.asarray(rj), jnp.asarray(box)))
    shifts = np.array(list(itertools.product((-1, 0, 1), repeat=3))) * box
    base = (ri - rj) - box * np.round((ri - rj) / box)  # reduce first, then check neighbours
    cands = base[:, None, :] + shifts[None]
    best = cands[np.arange(200), np.argmin(np.sum(cands**2, -1), axis=1)]
    np.testing.assert_allclose(got, best, atol=1e-12)
    assert np.all(np.abs(got) <= box / 2 + 1e-12)
    w = np.asarray(P.wrap(jnp.asarray(ri), jnp.asarray(box)))
    assert np.all((w >= 0) & (w < box))
    np.testing.assert_allclose(np.round((ri - w) / box), (ri - w) / box, atol=1e-9)


def test_pair_energy_minimum_and_cutoff():
    """u has its minimum -ε + shift at r = 2^(1/6) σ and is exactly 0 at and beyond r_c."""
    sigma, eps, rc = 1.3, 0.7, 2.5 * 1.3
    r = jnp.asarray([2 ** (1 / 6) * sigma, rc, rc * 1.01, 10.0])
    u = np.asarray(P.lj_pair_energy(r**2, jnp.asarray(sigma), jnp.asarray(eps), rc))
    shift = 4 * eps * ((sigma / rc) ** 12 - (sigma / rc) ** 6)
    np.testing.assert_allclose(u[0], -eps - shift, rtol=1e-12)
    assert u[1] == 0 and u[2] == 0 and u[3] == 0
    du = jax.grad(lambda r: P.lj_pair_energy(r**2, jnp.asarray(sigma), jnp.asarray(eps), rc))
    assert abs(float(du(r[0]))) < 1e-12  # dU/dr = 0 at the minimum


def _liquid(rng, n_side=5, box=6.1, jitter=0.05):
    return jnp.asarray(cubic_lattice(n_side, box, rng=rng, jitter=jitter)), jnp.asarray(box)


def test_forces_are_minus_grad_and_match_finite_differences():
    rng = np.random.default_rng(1)
    x, box = _liquid(rng)
    sig, eps = jnp.asarray(1.0), jnp.asarray(1.0)
    u, f = P.lj_energy_and_forces(x, box, sig, eps, r_cut=2.5)
    g = jax.grad(P.lj_energy)(x, box, sig, eps, r_cut=2.5)
    np.testing.assert_array_equal(np.asarray(f), -np.asarray(g))
    # analytic pair sum F_i = Σ_j 24ε(2(σ/r)^12 - (σ/r)^6) Δ_ij / r², independent of autodiff
    dr = np.asarray(P.pair_displacements(x, box))
    r2 = np.sum(dr**2, -1) + np.eye(len(x)) * 100.0
    s6 = r2**-3.0
    fr = np.where(r2 < 2.5**2, 24 * (2 * s6 * s6 - s6) / r2, 0.0)
    np.testing.assert_allclose(
        np.asarray(f), np.sum(fr[:, :, None] * dr, 1), rtol=1e-11, atol=1e-11
    )
    assert np.abs(np.sum(np.asarray(f), axis=0)).max() < 1e-10  # Newton's third law
    # central differences on single coordinates (h = 1e-6, float64)
    h = 1e-6
    for i, d in [(0, 0), (17, 1), (63, 2), (124, 0)]:
        e = jnp.zeros_like(x).at[i, d].set(h)
        fd = (P.lj_energy(x + e, box, sig, eps) - P.lj_energy(x - e, box, sig, eps)) / (2 * h)
        assert float(-fd) == pytest.approx(float(f[i, d]), rel=1e-6, abs=1e-7)
    assert float(u) == pytest.approx(float(P.lj_energy(x, box, sig, eps)), rel=1e-14)


def test_energy_is_invariant_to_wrapping_and_translation():
    rng = np.random.default_rng(2)
    x, box = _liquid(rng)
    e0 = P.lj_energy(x, box, 1.0, 1.0)
    shifted = x + jnp.asarray(rng.uniform(-20, 20, (1, 3)))
    shuffled = shifted + box * jnp.asarray(rng.integers(-3, 4, x.shape).astype(np.float64))
    for y in (shifted, P.wrap(shuffled, box)):
        assert float(P.lj_energy(y, box, 1.0, 1.0)) == pytest.approx(float(e0), rel=1e-11)


def test_bad_input_is_rejected_clearly():
    x = jnp.zeros((4, 3))
    with pytest.raises(ValueError, match="positions: expected rank 2"):
        P.lj_energy(jnp.zeros((4,)), jnp.asarray(5.0), 1.0, 1.0)
    with pytest.raises(ValueError, match=r"box: expected shape \(3\)"):
        P.lj_energy(x, jnp.ones((2,)), 1.0, 1.0)
    with pytest.raises(ValueError, match="r_cut"):
        P.lj_energy(x, jnp.asarray(5.0), 1.0, 1.0, r_cut=-1.0)
    with pytest.raises(TypeError, match="floating"):
        P.lj_energy(jnp.zeros((4, 3), jnp.int32), jnp.asarray(5.0), 1.0, 1.0)


def _xs(n=16, box=5.0):
    return jnp.asarray(np.random.default_rng(0).random((n, 3)) * box)


@pytest.mark.parametrize(
    ("fn", "args", "msg", "traced"),
    [
        (lambda x, b: P.lj_energy(x, b, 1.0, 1.0), (_xs(), 0.0), "box: expected a value > 0", (1,)),
        (
            lambda x, b: P.lj_energy(x, b, 1.0, 1.0),
            (_xs(), -5.0),
            "box: expected a value > 0",
            (1,),
        ),
        (
            lambda x, b: P.lj_energy(x, b, 1.0, 1.0),
            (_xs(), jnp.asarray([5.0, 0.0, 5.0])),
            "box: expected a value > 0",
            (1,),
        ),
        (
            lambda x, b: P.lj_energy(x, b, 1.0, 1.0),
            (_xs(), jnp.inf),
            "box: contains NaN or Inf",
            (1,),
        ),
        (
            lambda x, b: P.lj_energy(x, b, 1.0, 1.0),
            (_xs().at[0, 0].set(jnp.nan), 5.0),
            "positions: contains NaN or Inf",
            (0,),
        ),
        (
            lambda x, b: P.lj_energy(x, b, 1.0, 1.0, r_cut=4.0),
            (_xs(), 5.0),
            "r_cut: expected r_cut <= min(box) / 2",
            (1,),
        ),
        (
            lambda x, b: P.lj_energy_and_forces(x, b, 1.0, 1.0)[1],
            (_xs(), 4.0),
            "r_cut: expected r_cut <= min(box) / 2",
            (1,),
        ),
        (lambda x, b: P.wrap(x, b), (_xs(), 0.0), "box: expected a value > 0", (1,)),
        (
            lambda x, b: P.displacement(x[0], x[1], b),
            (_xs(), 0.0),
            "box: expected a value > 0",
            (1,),
        ),
        (lambda x, b: P.pair_displacements(x, b), (_xs(), -1.0), "box: expected a value > 0", (1,)),
        (
            lambda x, b: (
                P.lj_nve_rollout(x, jnp.zeros_like(x), b, 0.001, 1.0, 1.0, num_steps=2).position
            ),
            (_xs(), 0.0),
            "box: expected a value > 0",
            (1,),
        ),
        (
            lambda x, b: (
                P.lj_langevin_rollout(
                    x,
                    jnp.zeros_like(x),
                    b,
                    0.001,
                    1.0,
                    1.0,
                    1.0,
                    1.0,
                    key=jax.random.key(0),
                    num_steps=2,
                ).position
            ),
            (_xs(), -5.0),
            "box: expected a value > 0",
            (1,),
        ),
        (
            lambda x, b: P.build_neighbor_list(x, b, cutoff=1.0, skin=0.2, capacity=8).idx,
            (_xs(), 0.0),
            "box: expected a value > 0",
            (1,),
        ),
    ],
)
def test_a_bad_box_nan_positions_or_a_long_cutoff_is_an_error_not_a_number(
    named_error, fn, args, msg, traced
):
    """Were: box=0 gave U=0, box=-5 the same U as +5, a NaN coordinate a finite U (its pairs
    fell out of the cut-off mask), r_cut > L/2 a U that breaks the minimum image, wrap NaN."""
    named_error(fn, args, msg, traced)


def test_r_cut_at_exactly_half_the_box_is_allowed():
    x = _xs(box=5.0)
    assert np.isfinite(float(P.lj_energy(x, 5.0, 1.0, 1.0, r_cut=2.5)))
