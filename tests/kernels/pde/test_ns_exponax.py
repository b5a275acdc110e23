"""The exponax peer of pde.navier_stokes_2d (timed by `parallax bench`) solves the same problem:
its first step matches parallax's.

Tolerances: with a field of modes |m| < 2 every ETDRK4 stage product stays below mode 9, inside
both 2/3 masks (parallax keeps 3|m| < n, i.e. |m| <= 10 at n = 32; exponax keeps |m| <= 9), so
the two steps are the same arithmetic up to FFT rounding: float64 within 1e-12 (measured
1.3e-15). With modes |m| < 4 the second-stage products reach mode 12 and the masks differ at
mode 10 only, an O(dt²) effect: measured 5e-8 at dt = 0.01 on a field of max 3, bounded here by
1e-6 so a wrong sign, frame or coefficient (all O(dt) = 1e-2 effects) still fails.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.bench.peers import peers_for
from parallax.kernels.initial_conditions import smooth_random_field
from parallax.registry import get
from parallax.registry._spec import Case

pytest.importorskip("exponax", reason="the NS peer is exponax")


def test_exponax_ns_first_step_matches():
    spec = get("pde.navier_stokes_2d")
    (peer,) = [p for p in peers_for(spec.name) if p.name == "exponax"]
    rng = np.random.default_rng(0)
    w0 = np.concatenate(
        [
            smooth_random_field(rng, (1, 32, 32), ndim=2, modes=2),
            smooth_random_field(rng, (1, 32, 32), ndim=2),
        ]
    )
    params = {"dt": 0.01, "nu": 0.01, "drag": 0.1, "forcing": 1.0}
    static = {"num_steps": 1, "save_every": 1, "forcing_wavenumber": 2}
    with jax.enable_x64(True):
        inputs = {"w0": w0, **{k: np.asarray(v) for k, v in params.items()}}
        ours, _ = jax.jit(lambda kw: spec.fn(**kw, **static))(
            {k: jnp.asarray(v) for k, v in inputs.items()}
        )
        # exponax itself relies on standard dtype and rank promotion
        with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
            theirs = peer.make(Case(inputs=inputs, static=static))()
    ours = np.asarray(ours)
    theirs = -np.swapaxes(np.asarray(theirs)[:, 0], -1, -2)  # back from exponax's frame
    assert np.max(np.abs(ours - w0)) > 1e-3, "the step should change the field"
    np.testing.assert_allclose(theirs[0], ours[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(theirs[1], ours[1], rtol=0, atol=1e-6)
