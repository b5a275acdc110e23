"""Initial conditions: the states that cases, tests and experiments start kernels from.

Host-side NumPy builders, deterministic for a given ``np.random.Generator``; they return
float64 arrays (cast with ``.astype(dtype)``, so a case holds the same values at every dtype).

* Fields: :func:`smooth_random_field` (a few low Fourier modes, unit RMS).
* Particles: :func:`cubic_lattice`, :func:`fcc_lattice`, :func:`box_for_density`,
  :func:`thermal_velocities`, :func:`lj_cluster` (a bound 8-particle Lennard-Jones cluster).
* Orbits: :func:`kepler_periapsis` (an exact orbit of known period), :func:`kepler_orbits`.
"""

from parallax.kernels.initial_conditions._fields import smooth_random_field as smooth_random_field
from parallax.kernels.initial_conditions._orbits import kepler_orbits as kepler_orbits
from parallax.kernels.initial_conditions._orbits import kepler_periapsis as kepler_periapsis
from parallax.kernels.initial_conditions._particles import box_for_density as box_for_density
from parallax.kernels.initial_conditions._particles import cubic_lattice as cubic_lattice
from parallax.kernels.initial_conditions._particles import fcc_lattice as fcc_lattice
from parallax.kernels.initial_conditions._particles import lj_cluster as lj_cluster
from parallax.kernels.initial_conditions._particles import (
    thermal_velocities as thermal_velocities,
)

__all__ = [
    "box_for_density",
    "cubic_lattice",
    "fcc_lattice",
    "kepler_orbits",
    "kepler_periapsis",
    "lj_cluster",
    "smooth_random_field",
    "thermal_velocities",
]
