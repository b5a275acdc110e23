"""Heat in 2D/3D (not a registered spec): the exact-solution check and forward twin parity.

Every registered spectral kernel (KS 1D/2D, Burgers 1D/2D, KdV, NS 2D, Allen–Cahn,
advection–diffusion) gets its physics checks through tests/test_registry_contract.py and its
twin parity through tests/test_parity.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import pde
from parallax.registry import _pde_spectral_checks as chk

CHECKS = [
    chk.heat_exact_nd,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_physics_float64(check):
    metrics = check("float64")
    assert all(np.isfinite(v) for v in metrics.values())


def _field(rng, shape, ndim):
    n = shape[-1]
    x = np.arange(n) * 2 * np.pi / n
    grids = np.meshgrid(*([x] * ndim), indexing="ij")
    lead = shape[: len(shape) - ndim]
    a = rng.standard_normal((*lead, 3))
    out = sum(a[..., j, None, None] * np.cos((j + 1) * grids[0] + j * grids[1]) for j in range(3))
    return np.broadcast_to(out, shape).copy()


CASES = {
    "heat_rollout": ((2, 8, 8), 2, (0.05, 0.3), {"ndim": 2}),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unregistered_kernels_match_torch_twins(name, dtype):
    """Forward parity, 4 steps; tolerances as for the registered spectral specs."""
    torch = pytest.importorskip("torch", reason="torch twin parity needs PyTorch")
    from parallax.kernels.pde import twins

    shape, ndim, params, static = CASES[name]
    u0 = _field(np.random.default_rng(0), shape, ndim).astype(dtype)
    with jax.enable_x64(dtype == "float64"):
        args = [jnp.asarray(u0)] + [jnp.asarray(p, dtype) for p in params]
        fn = jax.jit(lambda *a: getattr(pde, name)(*a, num_steps=4, save_every=2, **static))
        got = [np.asarray(x) for x in fn(*args)]
    targs = [torch.from_numpy(u0)] + [torch.tensor(p, dtype=getattr(torch, dtype)) for p in params]
    want = [t.numpy() for t in getattr(twins, name)(*targs, num_steps=4, save_every=2, **static)]
    rtol, atol = (1e-5, 1e-5) if dtype == "float32" else (1e-10, 1e-12)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
