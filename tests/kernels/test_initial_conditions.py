"""Initial conditions: the properties their docstrings promise, with numbers."""

from __future__ import annotations

import numpy as np
import pytest

from parallax.kernels import initial_conditions as ic


def test_smooth_random_field_is_unit_rms_and_band_limited():
    u = ic.smooth_random_field(np.random.default_rng(0), (3, 16, 32), ndim=2, modes=3)
    assert u.shape == (3, 16, 32) and u.dtype == np.float64
    assert np.mean(u**2) == pytest.approx(1.0, rel=1e-12)
    spec = np.abs(np.fft.rfft2(u))
    ky = np.abs(np.fft.fftfreq(16, 1 / 16))[:, None]
    kx = np.fft.rfftfreq(32, 1 / 32)[None, :]
    outside = (ky >= 3) | (kx >= 3)
    assert spec[:, outside].max() < 1e-12 * spec.max()
    assert not np.allclose(u[0], u[1])  # independent fields along the leading axis


def test_smooth_random_field_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="ndim"):
        ic.smooth_random_field(rng, (8,), ndim=2)
    with pytest.raises(ValueError, match="modes"):
        ic.smooth_random_field(rng, (8,), ndim=1, modes=0)


def test_lattices_fill_the_box_at_the_density():
    box = ic.box_for_density(4**3, 0.5)
    assert 4**3 / box**3 == pytest.approx(0.5)
    x = ic.cubic_lattice(4, box)
    assert x.shape == (64, 3) and x.min() > 0 and x.max() < box
    spacing = box / 4
    d = np.linalg.norm(x[:, None] - x[None], axis=-1) + np.eye(64) * box
    assert d.min() == pytest.approx(spacing)
    jittered = ic.cubic_lattice(4, box, rng=np.random.default_rng(1), jitter=0.05)
    assert 0 < np.abs(jittered - x).max() < 0.5
    f = ic.fcc_lattice(3, 6.0)
    assert f.shape == (108, 3)
    d = np.linalg.norm(f[:, None] - f[None], axis=-1) + np.eye(108) * 6.0
    assert d.min() == pytest.approx(2.0 / np.sqrt(2))  # nearest fcc neighbours: a / sqrt(2)
    with pytest.raises(ValueError, match="density"):
        ic.box_for_density(8, 0.0)


def test_lj_cluster_and_thermal_velocities():
    x, v = ic.lj_cluster(np.random.default_rng(2), box=10.0, kT=0.5)
    assert x.shape == v.shape == (8, 3)
    assert np.abs(v.sum(axis=0)).max() < 1e-14  # zero total momentum
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)[np.triu_indices(8, 1)]
    assert d.min() > 1.0 and d.max() < 2.5  # bound, inside a cutoff of 3
    w = ic.thermal_velocities(np.random.default_rng(3), (20_000, 3), 2.0)
    assert np.var(w) == pytest.approx(2.0, rel=0.03)


def test_kepler_initial_states():
    q, v = ic.kepler_periapsis(0.3)
    energy = 0.5 * v @ v - 1.0 / np.linalg.norm(q)
    assert energy == pytest.approx(-0.5)  # semi-major axis 1
    assert q[0] * v[1] == pytest.approx(np.sqrt(1 - 0.3**2))  # angular momentum sqrt(a(1-e²))
    with pytest.raises(ValueError, match="eccentricity"):
        ic.kepler_periapsis(1.0)
    q, v = ic.kepler_orbits(np.random.default_rng(4), 16)
    energy = 0.5 * np.sum(v * v, -1) - 1.0 / np.linalg.norm(q, axis=-1)
    assert q.shape == v.shape == (16, 2) and np.all(energy < 0)  # all bound
