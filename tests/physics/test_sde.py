"""Physics of the registered ``sde`` kernels: Ornstein–Uhlenbeck stationary statistics and the
strong orders of Euler–Maruyama (1/2) and Milstein (1) on geometric Brownian motion. One test
per (kernel, check, dtype), parametrized over the registry's ``sde`` family
(tests/physics/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from parallax.kernels import sde
from parallax.registry import specs


def _ou_stationary(dtype: str) -> dict[str, float]:
    """N = 10^4 independent paths from x0 = mu, theta = 1, sigma = 0.8, dt = 0.01 to t = 6
    (transient e^{-12} ~ 6e-6 of the variance). The sample variance of N Gaussian samples has
    relative standard error sqrt(2/(N-1)) = 1.4%; assert within 4 standard errors of the
    Euler–Maruyama recursion's own stationary variance sigma^2/(theta(2 - theta dt)), and
    within 4 SE plus that O(dt) bias (0.5%) of the exact sigma^2 / 2 theta. Mean: within
    4 sqrt(var/N) of mu. Fixed seed."""
    n_paths, steps, theta, mu, sigma, dt = 10_000, 600, 1.0, 0.5, 0.8, 0.01
    with jax.enable_x64(True):
        key = jax.random.key(20260101)
        x0 = jnp.full((n_paths,), mu)
        dW = sde.brownian_increments(key, dt, steps, (n_paths,), dtype=jnp.float64)
        run = jax.jit(lambda *a: sde.ou_euler_maruyama(*a, save_every=steps)[0])
        xt = np.asarray(run(x0, theta, mu, sigma, dt, dW))
    var, mean = float(np.var(xt, ddof=1)), float(np.mean(xt))
    v_em = float(sde.ou_em_stationary_variance(theta, sigma, dt))
    v_exact = float(sde.ou_variance(theta, sigma))
    se = v_em * np.sqrt(2.0 / (n_paths - 1))
    assert abs(var - v_em) <= 4 * se, f"OU EM variance {var:.4f} vs {v_em:.4f} ± {4 * se:.4f}"
    assert abs(var - v_exact) <= 4 * se + abs(v_em - v_exact), f"OU variance {var} vs {v_exact}"
    assert abs(mean - mu) <= 4 * np.sqrt(v_em / n_paths), f"OU mean {mean} vs {mu}"
    return {"variance": var, "variance_em_theory": v_em, "variance_exact": v_exact, "mean": mean}


# Strong-order tolerance: slope of log E|X_N - X(T)| vs log dt over dt = 2^-5 .. 2^-9 with
# M = 4000 paths (mu = 2, sigma = 1, T = 1, Higham 2001's setting). Across 6 seeds measured:
# EM 0.507 .. 0.546 (mean 0.527: a +0.03 pre-asymptotic bias, sd 0.014), Milstein 0.978 ..
# 0.985 (sd 0.003). ±0.1 is the bias plus > 4 sd (the ODE and FD order checks allow ±0.3),
# and the gap Milstein - EM (0.45 .. 0.47 measured) must exceed 0.35.
STRONG_TOL = 0.1


_LEVELS = (5, 6, 7, 8, 9)


def _strong_errors(method: Callable[..., Any], seed: int = 0, paths: int = 4000) -> np.ndarray:
    """E|X_N - X(T)| per level, every level on the same Brownian paths (coarse increments are
    sums of the finest), the exact solution from W(T)."""
    t_end, mu, sigma, fine = 1.0, 2.0, 1.0, 2 ** _LEVELS[-1]
    with jax.enable_x64(True):

        @jax.jit
        def errors(key: jax.Array) -> jax.Array:
            dw = jax.random.normal(key, (fine, paths), jnp.float64) * jnp.sqrt(t_end / fine)
            x0 = jnp.ones((paths,), jnp.float64)
            exact = sde.gbm_exact(x0, mu, sigma, t_end, jnp.sum(dw, axis=0))
            out = []
            for k in _LEVELS:
                n = 2**k
                coarse = jnp.sum(dw.reshape(n, fine // n, paths), axis=1)
                xn = method(x0, mu, sigma, t_end / n, coarse, save_every=n)[0]
                out.append(jnp.mean(jnp.abs(xn - exact)))
            return jnp.stack(out)

        return np.asarray(errors(jax.random.key(seed)))


def _slope(errs: np.ndarray) -> float:
    dts = np.array([2.0**-k for k in _LEVELS])
    return float(np.polyfit(np.log(dts), np.log(errs), 1)[0])


def _strong_order(method: Callable[..., Any], expected: float) -> Callable[[str], dict[str, float]]:
    def run(dtype: str) -> dict[str, float]:
        p = _slope(_strong_errors(method))
        assert abs(p - expected) <= STRONG_TOL, f"strong order {p:.3f}, expected {expected}±0.1"
        return {"strong_order": p}

    return run


def _milstein_vs_em(dtype: str) -> dict[str, float]:
    p_m = _slope(_strong_errors(sde.gbm_milstein))
    assert abs(p_m - 1.0) <= STRONG_TOL, f"Milstein strong order {p_m:.3f}, expected 1±0.1"
    p_em = _slope(_strong_errors(sde.gbm_euler_maruyama))
    assert p_m - p_em >= 0.35, f"Milstein ({p_m:.3f}) not clearly above EM ({p_em:.3f})"
    return {"strong_order": p_m, "strong_order_em": p_em}


KERNELS = [s.name for s in specs(family="sde")]
CHECKS = {
    "sde.ou_euler_maruyama": (("stationary_variance", _ou_stationary, ("float64",)),),
    "sde.gbm_euler_maruyama": (
        ("strong_order", _strong_order(sde.gbm_euler_maruyama, 0.5), ("float64",)),
    ),
    "sde.gbm_milstein": (("strong_order_vs_em", _milstein_vs_em, ("float64",)),),
}


def test_physics(physics):
    physics.check()
