"""Kepler two-body initial states (relative coordinates, ``mu = G(m1 + m2)``)."""

from __future__ import annotations

import numpy as np

__all__ = ["kepler_orbits", "kepler_periapsis"]


def kepler_periapsis(eccentricity: float) -> tuple[np.ndarray, np.ndarray]:
    """``(q0, v0)`` at periapsis of the ``mu = 1``, semi-major axis 1 orbit of the given
    eccentricity (period ``2π``, energy ``-1/2``): ``q0 = (1 - e, 0)``,
    ``v0 = (0, sqrt((1 + e)/(1 - e)))`` (vis-viva)."""
    e = float(eccentricity)
    if not 0.0 <= e < 1.0:
        raise ValueError(f"eccentricity: expected 0 <= e < 1 (a bound orbit), got {e}")
    return np.array([1.0 - e, 0.0]), np.array([0.0, np.sqrt((1 + e) / (1 - e))])


def kepler_orbits(rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """``batch`` bound orbits around ``mu = 1``: radius uniform in ``[1, 1.2)``, random phase,
    tangential speed within ±20% of circular: ``(q0 (batch, 2), v0 (batch, 2))``, float64."""
    r = 1.0 + 0.2 * rng.uniform(size=batch)
    phi = 2 * np.pi * rng.uniform(size=batch)
    speed = np.sqrt(1.0 / r) * (1.0 + 0.2 * rng.uniform(-1, 1, size=batch))
    rot = np.stack([np.cos(phi), np.sin(phi)], axis=-1)
    perp = np.stack([-np.sin(phi), np.cos(phi)], axis=-1)
    return r[:, None] * rot, speed[:, None] * perp
