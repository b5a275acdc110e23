"""Peers of the ODE kernels: diffrax and SciPy (Dormand–Prince), NumPy (RK4, Verlet)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from parallax.bench.peers._peer import Peer, register_peer
from parallax.kernels import ode
from parallax.registry import Case


def diffrax_controller(rtol: Any, atol: Any) -> Any:
    """diffrax's ``PIDController`` with the settings of :func:`parallax.kernels.ode.dopri5`'s
    own PI controller (read from its defaults, so the two cannot drift apart)."""
    import diffrax

    d = {k: p.default for k, p in inspect.signature(ode.dopri5).parameters.items()}
    return diffrax.PIDController(
        rtol=rtol,
        atol=atol,
        pcoeff=d["pcoeff"],
        icoeff=d["icoeff"],
        dcoeff=0.0,
        safety=d["safety"],
        factormin=d["factor_min"],
        factormax=d["factor_max"],
        error_order=5,
    )


def _diffrax_dopri5(case: Case) -> Callable[[], Any]:
    """diffrax Dopri5 taking exactly the steps of ours: the same controller
    (:func:`diffrax_controller`), dt0, SaveAt(ts) dense output and max_steps, at
    ``rtol / 1.5`` and ``atol / 1.5``: diffrax's embedded error estimate (Shampine's) is 2/3 of
    ours (Dormand–Prince's), see :mod:`parallax.kernels.ode._dopri5`. Same steps, same
    accuracy, so the times compare the same work."""
    import diffrax

    inp = {k: jnp.asarray(v) for k, v in case.inputs.items()}
    ts = inp["ts"]
    term = diffrax.ODETerm(lambda t, y, p: ode.lorenz63(jnp.asarray(t), y, p))
    ctrl = diffrax_controller(inp["rtol"] / 1.5, inp["atol"] / 1.5)

    @jax.jit
    def solve(y0, params, ts, dt0):
        return diffrax.diffeqsolve(
            term,
            diffrax.Dopri5(),
            ts[0],
            ts[-1],
            dt0,
            y0,
            args=params,
            saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=ctrl,
            max_steps=case.static["max_steps"],
        ).ys

    args = (inp["y0"], inp["params"], ts, inp["dt0"])
    return lambda: solve(*args)


def _scipy_rk45(case: Case) -> Callable[[], Any]:
    """scipy ``solve_ivp(method="RK45")`` (the same Dormand–Prince pair with its I controller
    and 4th-order dense output) at the same rtol/atol and first step, NumPy right-hand side."""
    from scipy.integrate import solve_ivp

    c = case.inputs
    sigma, rho, beta = (float(x) for x in c["params"])
    ts = np.asarray(c["ts"], np.float64)

    def rhs(t, y):
        return np.array(
            [sigma * (y[1] - y[0]), y[0] * (rho - y[2]) - y[1], y[0] * y[1] - beta * y[2]]
        )

    def run() -> np.ndarray:
        return solve_ivp(
            rhs,
            (ts[0], ts[-1]),
            np.asarray(c["y0"], np.float64),
            method="RK45",
            t_eval=ts,
            rtol=float(c["rtol"]),
            atol=float(c["atol"]),
            first_step=float(c["dt0"]),
        ).y

    return run


def _numpy_rk4_lorenz96(case: Case) -> Callable[[], Any]:
    """The same RK4 Lorenz-96 rollout in vectorised NumPy (a baseline; scipy has no RK4)."""
    y0 = np.asarray(case.inputs["y0"])
    dt, forcing = y0.dtype.type(case.inputs["dt"]), y0.dtype.type(case.inputs["forcing"])
    steps, every = case.static["num_steps"], case.static["save_every"]

    def f(y):
        return (np.roll(y, -1, -1) - np.roll(y, 2, -1)) * np.roll(y, 1, -1) - y + forcing

    def run() -> np.ndarray:
        y, frames = y0, []
        for i in range(steps):
            k1 = f(y)
            k2 = f(y + 0.5 * dt * k1)
            k3 = f(y + 0.5 * dt * k2)
            k4 = f(y + dt * k3)
            y = y + (dt / 6) * (k1 + 2 * (k2 + k3) + k4)
            if (i + 1) % every == 0:
                frames.append(y)
        return np.stack(frames)

    return run


def _numpy_verlet_kepler(case: Case) -> Callable[[], Any]:
    """The same velocity-Verlet Kepler rollout in vectorised NumPy (baseline)."""
    q0, v0 = np.asarray(case.inputs["q0"]), np.asarray(case.inputs["v0"])
    dt, mu = q0.dtype.type(case.inputs["dt"]), q0.dtype.type(case.inputs["mu"])
    steps = case.static["num_steps"]

    def acc(q):
        r2 = np.sum(q * q, axis=-1, keepdims=True)
        return -mu * q / (r2 * np.sqrt(r2))

    def run() -> tuple[np.ndarray, np.ndarray]:
        q, v, a = q0, v0, acc(q0)
        for _ in range(steps):
            v = v + 0.5 * dt * a
            q = q + dt * v
            a = acc(q)
            v = v + 0.5 * dt * a
        return q, v

    return run


register_peer("ode.dopri5_lorenz63", Peer("diffrax", "diffrax", _diffrax_dopri5))
register_peer("ode.dopri5_lorenz63", Peer("scipy", "scipy", _scipy_rk45))
register_peer("ode.rk4_lorenz96", Peer("numpy", "numpy", _numpy_rk4_lorenz96))
register_peer("ode.verlet_kepler", Peer("numpy", "numpy", _numpy_verlet_kepler))
