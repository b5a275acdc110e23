"""Physics of the registered ``ode`` kernels: convergence orders against a SciPy DOP853
reference and conservation over long Kepler orbits. One test per (kernel, check, dtype),
parametrized over the registry's ``ode`` family (tests/physics/conftest.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from parallax.kernels import ode
from parallax.kernels.initial_conditions import kepler_periapsis
from parallax.registry import get, specs

LORENZ63 = (10.0, 28.0, 8.0 / 3.0)


PENDULUM = (0.1, 1.0)  # (gamma, omega0^2)


def _np_lorenz63(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.array([p[0] * (y[1] - y[0]), y[0] * (p[1] - y[2]) - y[1], y[0] * y[1] - p[2] * y[2]])


def _np_pendulum(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.array([y[1], -p[0] * y[1] - p[1] * np.sin(y[0])])


def _np_kepler(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    r3 = np.hypot(y[0], y[1]) ** 3
    return np.array([y[2], y[3], -p * y[0] / r3, -p * y[1] / r3])


def _scipy_reference(rhs: Callable[..., np.ndarray], y0, params, ts) -> np.ndarray:
    """DOP853 at rtol = atol = 1e-13 (float64, NumPy right-hand side): the reference for every
    accuracy check."""
    from scipy.integrate import solve_ivp

    p = np.asarray(params, dtype=np.float64)
    sol = solve_ivp(
        lambda t, y: rhs(y, p),
        (ts[0], ts[-1]),
        np.asarray(y0, np.float64),
        method="DOP853",
        rtol=1e-13,
        atol=1e-13,
        t_eval=np.asarray(ts),
    )
    return sol.y.T


def _order(hs: list[float], errs: list[float]) -> float:
    """Least-squares slope of ``log err`` against ``log h``."""
    return float(np.polyfit(np.log(hs), np.log(errs), 1)[0])


def _fixed_step_order(name: str, step: Callable[..., Any], expected: float) -> dict[str, float]:
    """Damped pendulum to ``T = 2`` with 10, 20, 40, 80 steps vs the DOP853 reference."""
    y0, t_end = np.array([1.0, 0.0]), 2.0
    want = _scipy_reference(_np_pendulum, y0, PENDULUM, [0.0, t_end])[-1]
    hs, errs = [], []
    with jax.enable_x64(True):
        p = jnp.asarray(PENDULUM)

        @jax.jit
        def solve(y0, n):  # one compile for every n: fori_loop with a traced trip count
            h = t_end / n.astype(y0.dtype)
            body = lambda i, y: step(ode.damped_pendulum, i.astype(y.dtype) * h, y, h, p)  # noqa: E731
            return lax.fori_loop(0, n, body, y0)

        for n in (10, 20, 40, 80):
            y = solve(jnp.asarray(y0), jnp.asarray(n))
            hs.append(t_end / n)
            errs.append(float(np.max(np.abs(np.asarray(y) - want))))
    order = _order(hs, errs)
    assert abs(order - expected) <= 0.3, f"{name}: order {order:.2f}, expected {expected} ± 0.3"
    return {"order": order, "error_at_finest": errs[-1]}


def _rk4_order(dtype: str) -> dict[str, float]:
    return _fixed_step_order("rk4", ode.rk4_step, 4.0)


def _dopri5_order(dtype: str) -> dict[str, float]:
    """The 5th-order Dormand–Prince solution run with fixed steps (no controller)."""
    return _fixed_step_order("dopri5", lambda *a: ode.dopri5_step(*a)[0], 5.0)


def _dopri5_vs_scipy(dtype: str) -> dict[str, float]:
    """Adaptive Dopri5 (rtol = atol = 1e-10) vs DOP853 (1e-13) at 51 dense-output times."""
    out: dict[str, float] = {}
    cases = (
        ("lorenz63", ode.lorenz63, _np_lorenz63, [1.0, 1.0, 1.0], LORENZ63, 5.0, 2e-6),
        ("pendulum", ode.damped_pendulum, _np_pendulum, [2.0, 0.0], PENDULUM, 10.0, 1e-8),
    )  # Lorenz-63 is chaotic: errors grow like e^(0.9 t), hence its looser bound
    for name, system, rhs, y0, params, t_end, tol in cases:
        ts = np.linspace(0.0, t_end, 51)
        want = _scipy_reference(rhs, y0, params, ts)
        with jax.enable_x64(True):
            sol = ode.dopri5(
                system,
                jnp.asarray(y0),
                jnp.asarray(ts),
                jnp.asarray(params),
                1e-10,
                1e-10,
                1e-3,
                max_steps=20000,
            )
            err = float(np.max(np.abs(np.asarray(sol.ys) - want)))
            assert int(sol.status) == ode.SUCCESS, ode.status_message(sol.status)
        assert err < tol, f"dopri5 {name}: max error {err:.2e} vs DOP853 >= {tol:.0e}"
        out[f"{name}_max_error"] = err
        out[f"{name}_steps"] = float(sol.num_accepted)
    return out


def _verlet_order(dtype: str) -> dict[str, float]:
    """Velocity Verlet over one Kepler period (e = 0.3) with 200..1600 steps vs DOP853."""
    q0, v0 = kepler_periapsis(0.3)
    t_end = 2 * np.pi
    want = _scipy_reference(_np_kepler, np.concatenate([q0, v0]), 1.0, [0.0, t_end])[-1]
    hs, errs = [], []
    with jax.enable_x64(True):

        @jax.jit
        def solve(q, v, n):  # one compile for every n: fori_loop with a traced trip count
            h = t_end / n.astype(q.dtype)

            def body(i, s):
                return ode.velocity_verlet_step(ode.kepler_accel, s[0], s[1], h, 1.0)

            return jnp.concatenate(lax.fori_loop(0, n, body, (q, v)))

        for n in (200, 400, 800, 1600):
            y = solve(jnp.asarray(q0), jnp.asarray(v0), jnp.asarray(n))
            hs.append(t_end / n)
            errs.append(float(np.max(np.abs(np.asarray(y) - want))))
    order = _order(hs, errs)
    assert abs(order - 2.0) <= 0.3, f"velocity Verlet: order {order:.2f}, expected 2 ± 0.3"
    return {"order": order, "error_at_finest": errs[-1]}


def _kepler_conservation(dtype: str) -> dict[str, float]:
    """200 orbits (e = 0.5, 500 steps per orbit): energy error bounded (no secular drift),
    angular momentum conserved to round-off; RK4 at the same step drifts."""
    q0, v0 = kepler_periapsis(0.5)
    per_orbit, orbits = 500, 200
    dt = 2 * np.pi / per_orbit
    mu = 1.0
    with jax.enable_x64(dtype == "float64"):
        args = [jnp.asarray(x, dtype=dtype) for x in (q0, v0, dt, mu)]
        _, (tq, tv) = jax.jit(
            functools.partial(
                get("ode.verlet_kepler").fn, num_steps=per_orbit * orbits, save_every=10
            )
        )(*args)
        energy = np.asarray(ode.kepler_energy(tq, tv, args[3]), np.float64)
        ang = np.asarray(ode.kepler_angular_momentum(tq, tv), np.float64)
        y0 = jnp.concatenate([args[0], args[1]])
        _, ytraj = jax.jit(
            functools.partial(
                ode.rk4_rollout, ode.kepler, num_steps=per_orbit * orbits, save_every=10
            )
        )(y0, args[2], args[3])
        rk_energy = np.asarray(ode.kepler_energy(ytraj[:, :2], ytraj[:, 2:], args[3]), np.float64)
    e0, l0 = -0.5, float(q0[0] * v0[1])
    de = np.abs(energy - e0) / abs(e0)
    dl = np.abs(ang - l0) / abs(l0)
    chunk = len(de) // 10
    first, last = de[:chunk].max(), de[-chunk:].max()
    rk_first = np.abs(rk_energy[:chunk] - e0).max() / abs(e0)
    rk_last = np.abs(rk_energy[-chunk:] - e0).max() / abs(e0)
    e_tol, l_tol = (2e-3, 1e-11) if dtype == "float64" else (3e-3, 2e-4)
    assert de.max() < e_tol, f"Verlet energy error {de.max():.2e} >= {e_tol:.0e}"
    assert last < 1.5 * first + 1e-6, f"Verlet energy drifts: {first:.2e} -> {last:.2e}"
    assert dl.max() < l_tol, f"Verlet angular momentum error {dl.max():.2e} >= {l_tol:.0e}"
    if dtype == "float64":
        assert rk_last > 5 * rk_first, f"RK4 should drift: {rk_first:.2e} -> {rk_last:.2e}"
    return {
        "energy_rel_err_max": float(de.max()),
        "energy_first_10pct": float(first),
        "energy_last_10pct": float(last),
        "angular_momentum_rel_err_max": float(dl.max()),
        "rk4_energy_first_10pct": float(rk_first),
        "rk4_energy_last_10pct": float(rk_last),
    }


KERNELS = [s.name for s in specs(family="ode")]
CHECKS = {
    "ode.dopri5_lorenz63": (
        ("fixed_step_order_5", _dopri5_order, ("float64",)),
        ("vs_scipy_dop853", _dopri5_vs_scipy, ("float64",)),
    ),
    "ode.rk4_lorenz96": (("order_4", _rk4_order, ("float64",)),),
    "ode.verlet_kepler": (
        ("order_2", _verlet_order, ("float64",)),
        ("kepler_conservation", _kepler_conservation, ("float32", "float64")),
    ),
}


def test_physics(physics):
    physics.check()
