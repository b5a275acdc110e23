"""Dynamics: gradients through rollouts, vmap over initial conditions, noise handling, bad input."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parallax.kernels import particles as P
from parallax.kernels.initial_conditions import lj_cluster

pytestmark = pytest.mark.usefixtures("x64")


def _cluster_args(seed: int, dtype=jnp.float64):
    x, v = lj_cluster(np.random.default_rng(seed), box=10.0, kT=0.5)
    return jnp.asarray(x, dtype), jnp.asarray(v, dtype), jnp.asarray(10.0, dtype)


# the 8-particle cluster's cell list: r_c = 3 with skin 0.3 on 3^3 cells of the box of 10
_CLUSTER_LIST: dict[str, Any] = {
    "r_cut": 3.0,
    "skin": 0.3,
    "capacity": 8,
    "cells_per_side": (3, 3, 3),
    "cell_capacity": 8,
}


def test_grad_through_100_step_nve_matches_central_differences():
    """d/dθ of a loss of the final state after 100 velocity-Verlet steps on the cell list, for
    θ = initial positions (a random direction), ε and dt; float64 central differences with
    h = 1e-6 (truncation ~h² · |L'''| ≈ 1e-10, rounding ~1e-16/h ≈ 1e-10). The 8-particle
    cluster crosses no cutoff, so the loss is smooth."""
    x, v, box = _cluster_args(0)
    c = jnp.asarray(np.random.default_rng(1).standard_normal(x.shape))
    kw: dict[str, Any] = dict(num_steps=100, save_every=100, **_CLUSTER_LIST)

    @jax.jit
    def loss(x, dt, eps):
        out = P.lj_nve_rollout(x, v, box, dt, jnp.asarray(1.0), eps, **kw)
        return jnp.sum(c * out.position) + out.potential[-1]

    dt, eps = jnp.asarray(0.005), jnp.asarray(1.0)
    gx, gdt, geps = jax.grad(loss, argnums=(0, 1, 2))(x, dt, eps)
    d = jnp.asarray(np.random.default_rng(2).standard_normal(x.shape))
    h = 1e-6
    fd_x = (loss(x + h * d, dt, eps) - loss(x - h * d, dt, eps)) / (2 * h)
    fd_dt = (loss(x, dt + h * 1e-2, eps) - loss(x, dt - h * 1e-2, eps)) / (2e-2 * h)
    fd_eps = (loss(x, dt, eps + h) - loss(x, dt, eps - h)) / (2 * h)
    assert float(jnp.sum(gx * d)) == pytest.approx(float(fd_x), rel=1e-6)
    assert float(gdt) == pytest.approx(float(fd_dt), rel=1e-5)
    assert float(geps) == pytest.approx(float(fd_eps), rel=1e-6)


def test_vmap_over_64_initial_conditions_equals_separate_calls():
    run = jax.jit(
        lambda x, v: P.lj_nve_rollout(
            x,
            v,
            jnp.asarray(10.0),
            jnp.asarray(0.005),
            jnp.asarray(1.0),
            jnp.asarray(1.0),
            num_steps=20,
            save_every=10,
            **_CLUSTER_LIST,
        )
    )
    xs, vs = zip(*(_cluster_args(s)[:2] for s in range(64)), strict=True)
    batched = jax.vmap(run)(jnp.stack(xs), jnp.stack(vs))
    for i in range(64):
        single = run(xs[i], vs[i])
        for b, s in zip(batched, single, strict=True):
            np.testing.assert_allclose(np.asarray(b[i]), np.asarray(s), rtol=1e-12, atol=1e-12)


def test_langevin_key_equals_explicit_noise_and_zero_friction_is_nve():
    x, v, box = _cluster_args(3)
    key = jax.random.key(7)
    steps = 30
    noise = jnp.stack(
        [jax.random.normal(jax.random.fold_in(key, t), x.shape) for t in range(steps)]
    )
    args = (x, v, box, jnp.asarray(0.005), jnp.asarray(1.0), jnp.asarray(1.0))
    kw: dict[str, Any] = dict(num_steps=steps, r_cut=3.0, save_every=10)
    by_key = P.lj_langevin_rollout(*args, jnp.asarray(0.5), jnp.asarray(1.0), key=key, **kw)
    by_noise = P.lj_langevin_rollout(*args, jnp.asarray(0.5), jnp.asarray(1.0), noise, **kw)
    for a, b in zip(by_key, by_noise, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-13, atol=1e-13)
    # γ = 0: O is the identity and BAOAB is velocity Verlet (split drift)
    frozen = P.lj_langevin_rollout(*args, jnp.asarray(0.0), jnp.asarray(1.0), noise, **kw)
    nve = P.lj_nve_rollout(*args, **kw)
    np.testing.assert_allclose(np.asarray(frozen.position), np.asarray(nve.position), atol=1e-12)


def test_bad_input():
    x, v, box = _cluster_args(0)
    one = jnp.asarray(1.0)
    kw: dict[str, Any] = dict(num_steps=2, r_cut=3.0)
    with pytest.raises(ValueError, match="dt: expected a value > 0"):
        P.lj_nve_rollout(x, v, box, jnp.asarray(0.0), one, one, **kw)
    with pytest.raises(Exception, match="dt: expected a value > 0"):  # runtime check under jit
        jax.block_until_ready(
            jax.jit(lambda dt: P.lj_nve_rollout(x, v, box, dt, one, one, **kw))(-0.1)
        )
    with pytest.raises(ValueError, match="positions: contains NaN"):
        P.lj_nve_rollout(x.at[0, 0].set(jnp.nan), v, box, jnp.asarray(0.01), one, one, **kw)
    with pytest.raises(ValueError, match=r"velocities: expected shape \(8, 3\)"):
        P.lj_nve_rollout(x, v[:5], box, jnp.asarray(0.01), one, one, **kw)
    with pytest.raises(ValueError, match="kT: expected a value >= 0"):
        P.lj_langevin_rollout(
            x, v, box, 0.01, one, one, one, jnp.asarray(-1.0), key=jax.random.key(0), **kw
        )
    with pytest.raises(ValueError, match="exactly one"):
        P.lj_langevin_rollout(x, v, box, 0.01, one, one, one, one, **kw)
    with pytest.raises(ValueError, match=r"noise: expected shape \(2, 8, 3\)"):
        P.lj_langevin_rollout(x, v, box, 0.01, one, one, one, one, jnp.zeros((3, 8, 3)), **kw)
    m = jnp.ones((8,))
    with pytest.raises(ValueError, match="softening: expected a value > 0"):
        P.nbody_rollout(x, v, m, jnp.asarray(0.01), jnp.asarray(0.0), num_steps=2)
    with pytest.raises(ValueError, match=r"masses: expected shape \(8\)"):
        P.nbody_rollout(x, v, m[:3], jnp.asarray(0.01), jnp.asarray(0.1), num_steps=2)


def test_nbody_forces_are_minus_grad_of_potential():
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.standard_normal((32, 3)))
    m = jnp.asarray(rng.uniform(0.5, 1.5, 32))
    eps = jnp.asarray(0.05)
    a = P.nbody_accelerations(x, m, eps, 1.0)
    g = jax.grad(lambda y: P.nbody_energy(y, jnp.zeros_like(y), m, eps, 1.0))(x)
    np.testing.assert_allclose(np.asarray(m[:, None] * a), -np.asarray(g), rtol=1e-10, atol=1e-12)
