"""Test-wide JAX configuration; must run before anything touches a device.

* 8 fake CPU devices, so sharding tests see a mesh on any machine;
* strict dtype promotion and rank promotion that raises: silent float32 -> float64 upcasts and
  accidental broadcasting are bugs here;
* warnings are errors (pyproject's ``filterwarnings``, narrow exceptions commented there).
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("EQX_ON_ERROR", "raise")

import jax

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")
