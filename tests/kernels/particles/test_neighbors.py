"""Cell list / neighbor list: exactness against all pairs, overflow status and reallocation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import particles as P
from parallax.kernels.initial_conditions import cubic_lattice

pytestmark = pytest.mark.usefixtures("x64")


def _liquid(seed=0, n_side=6, density=0.8):
    box = float((n_side**3 / density) ** (1 / 3))
    x = cubic_lattice(n_side, box, rng=np.random.default_rng(seed), jitter=0.08)
    return jnp.asarray(x), jnp.asarray(box)


@pytest.mark.parametrize("method", ["cell", "dense"])
def test_neighbor_energy_and_forces_equal_all_pairs(method):
    """216 particles at liquid density (box 6.46, r_c = 1.8, skin 0.3: 3^3 cells)."""
    x, box = _liquid()
    rc = 1.8
    nl = P.allocate_neighbor_list(x, box, cutoff=rc, skin=0.3, method=method)
    assert not bool(nl.did_overflow)
    assert (nl.cells_per_side is None) == (method == "dense")
    e_all, g_all = jax.value_and_grad(P.lj_energy)(x, box, 1.0, 1.0, r_cut=rc)
    e_nl, g_nl = jax.value_and_grad(P.lj_energy_neighbor)(x, box, 1.0, 1.0, nl, r_cut=rc)
    assert float(e_nl) == pytest.approx(float(e_all), rel=1e-12)
    np.testing.assert_allclose(np.asarray(g_nl), np.asarray(g_all), rtol=1e-10, atol=1e-10)
    # the list is symmetric and holds exactly the pairs within cutoff + skin
    idx = np.asarray(nl.idx)
    n = len(x)
    pairs = {(i, j) for i in range(n) for j in idx[i] if j < n}
    assert all((j, i) in pairs for i, j in pairs)
    d = np.asarray(P.pair_displacements(x, box))
    within = np.sum(d**2, -1) < (rc + 0.3) ** 2
    np.fill_diagonal(within, False)
    assert pairs == set(zip(*np.nonzero(within), strict=True))


def test_list_stays_exact_while_particles_move_less_than_half_the_skin():
    x, box = _liquid(1)
    nl = P.allocate_neighbor_list(x, box, cutoff=1.8, skin=0.3)
    rng = np.random.default_rng(3)
    step = rng.standard_normal(x.shape)
    step = jnp.asarray(0.149 * step / np.linalg.norm(step, axis=1, keepdims=True))
    y = x + step
    assert not bool(P.neighbor_list_needs_update(nl, y, box))
    e = P.lj_energy_neighbor(y, box, 1.0, 1.0, nl, r_cut=1.8)
    assert float(e) == pytest.approx(float(P.lj_energy(y, box, 1.0, 1.0, r_cut=1.8)), rel=1e-12)
    assert bool(P.neighbor_list_needs_update(nl, x + 0.16 / 0.149 * step, box))
    nl2 = jax.jit(P.maybe_update_neighbor_list)(nl, x + 0.16 / 0.149 * step, box)
    assert int(nl2.num_builds) == 2 and not bool(nl2.did_overflow)


def test_overflow_is_reported_and_reallocation_fixes_it():
    x, box = _liquid(2)
    rc = 1.8
    good = P.allocate_neighbor_list(x, box, cutoff=rc, skin=0.3)
    # neighbor capacity too small: a status, not an exception, under jit
    small = P.build_neighbor_list(
        x,
        box,
        cutoff=rc,
        skin=0.3,
        capacity=good.capacity // 2,
        cells_per_side=good.cells_per_side,
        cell_capacity=good.cell_capacity,
    )
    assert bool(small.did_overflow)
    assert int(small.max_neighbors_seen) > small.capacity
    wrong = P.lj_energy_neighbor(x, box, 1.0, 1.0, small, r_cut=rc)
    exact = P.lj_energy(x, box, 1.0, 1.0, r_cut=rc)
    assert abs(float(wrong) - float(exact)) > 1.0  # this is why the flag must be checked
    # cell capacity too small
    tight = P.build_neighbor_list(
        x,
        box,
        cutoff=rc,
        skin=0.3,
        capacity=good.capacity,
        cells_per_side=good.cells_per_side,
        cell_capacity=2,
    )
    assert bool(tight.did_overflow) and int(tight.max_cell_seen) > 2
    # the flag is sticky through later rebuilds, even when the new build fits
    again = jax.jit(P.update_neighbor_list)(small, x, box)
    assert bool(again.did_overflow)
    for bad in (small, tight):
        fixed = P.reallocate_neighbor_list(bad, x, box)
        assert not bool(fixed.did_overflow)
        assert fixed.capacity >= int(small.max_neighbors_seen)
        e = P.lj_energy_neighbor(x, box, 1.0, 1.0, fixed, r_cut=rc)
        assert float(e) == pytest.approx(float(exact), rel=1e-12)


def test_rollout_overflow_status_then_rerun_after_reallocation():
    """Compress the liquid mid-run by starting it hot at a low capacity: the rollout returns
    did_overflow; the caller reallocates and reruns; the rerun matches all pairs."""
    x, box = _liquid(4, n_side=6, density=0.8)
    v = jnp.asarray(np.random.default_rng(5).standard_normal(x.shape))
    args = (x, v, box, jnp.asarray(0.005), jnp.asarray(1.0), jnp.asarray(1.0))
    full = P.allocate_neighbor_list(x, box, cutoff=1.8, skin=0.3)
    nl = P.build_neighbor_list(
        x,
        box,
        cutoff=1.8,
        skin=0.3,
        capacity=full.capacity - 6,
        cells_per_side=full.cells_per_side,
        cell_capacity=full.cell_capacity,
    )
    run = jax.jit(P.lj_nve_neighbor_rollout, static_argnames=("num_steps", "r_cut", "save_every"))
    traj, nl_out = run(*args, nl, num_steps=40, r_cut=1.8, save_every=40)
    assert bool(nl_out.did_overflow)
    nl = P.reallocate_neighbor_list(nl_out, x, box, capacity_factor=1.5)
    traj, nl_out = run(*args, nl, num_steps=40, r_cut=1.8, save_every=40)
    assert not bool(nl_out.did_overflow) and int(nl_out.num_builds) > 1
    ref = P.lj_nve_rollout(*args, num_steps=40, r_cut=1.8, save_every=40)
    np.testing.assert_allclose(np.asarray(traj.position), np.asarray(ref.position), atol=1e-9)
    # the convenience rollout with too small a static capacity raises instead of returning
    with pytest.raises(Exception, match="neighbor list overflow"):
        jax.block_until_ready(
            P.lj_nve_rollout(
                *args,
                num_steps=5,
                r_cut=1.8,
                save_every=5,
                skin=0.3,
                capacity=4,
                cells_per_side=full.cells_per_side,
                cell_capacity=full.cell_capacity,
            )
        )


def test_bad_input():
    x, box = _liquid()
    with pytest.raises(ValueError, match=r"box: a cell list needs every box side >= 3"):
        P.allocate_neighbor_list(x, box, cutoff=2.5, skin=0.3)
    with pytest.raises(ValueError, match="half the smallest box side"):
        P.allocate_neighbor_list(x, box, cutoff=3.0, skin=0.3, method="dense")
    with pytest.raises(ValueError, match="contains NaN"):
        P.allocate_neighbor_list(x.at[3, 1].set(jnp.nan), box, cutoff=1.8)
    with pytest.raises(ValueError, match="method"):
        P.allocate_neighbor_list(x, box, cutoff=1.8, method="octree")
    with pytest.raises(TypeError, match="outside jit"):
        jax.jit(lambda y: P.allocate_neighbor_list(y, box, cutoff=1.8).idx)(x)
    nl = P.allocate_neighbor_list(x, box, cutoff=1.5)
    with pytest.raises(ValueError, match="cutoff"):
        P.lj_energy_neighbor(x, box, 1.0, 1.0, nl, r_cut=2.0)
    with pytest.raises(ValueError, match="box"):  # box shrunk below 3 cells of cutoff + skin
        P.update_neighbor_list(nl, x, 0.8 * box)
