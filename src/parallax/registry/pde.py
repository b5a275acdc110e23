"""Registered PDE kernels (family ``pde``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from parallax.kernels import pde
from parallax.registry._cases import normal, scalar
from parallax.registry._registry import register
from parallax.registry._spec import Case, KernelSpec, Peer, PhysicsCheck

# --- heat_1d: exact spectral exponential integrator -------------------------------------------


def _heat_case(batch: int, n: int, steps: int, save_every: int) -> Callable[..., Case]:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        itemsize = 2 * np.dtype(dtype).itemsize  # complex state
        modes = batch * (n // 2 + 1)
        return Case(
            inputs={
                "u0": normal(rng, (batch, n), dtype),
                "dt": scalar(1e-3, dtype),
                "nu": scalar(0.5, dtype),
            },
            static={"num_steps": steps, "save_every": save_every},
            steps=steps,
            flops=6.0 * modes * steps,
            bytes=2.0 * itemsize * modes * steps,
        )

    return make


def _heat_mode_decay(dtype: str) -> dict[str, float]:
    """Each Fourier mode decays as ``exp(-nu k^2 t)`` (``L = 3``, modes 1..5, t = 0.05)."""
    with jax.enable_x64(dtype == "float64"):
        n, length, nu, dt, steps = 64, 3.0, 0.7, 1e-3, 50
        x = np.arange(n) * length / n
        rng = np.random.default_rng(1)
        amps = rng.standard_normal(5)
        ks = 2 * np.pi * np.arange(1, 6) / length
        u0 = sum(a * np.sin(k * x) for a, k in zip(amps, ks, strict=True))
        t = dt * steps
        exact = sum(
            a * np.exp(-nu * k**2 * t) * np.sin(k * x) for a, k in zip(amps, ks, strict=True)
        )
        final, _ = pde.heat_1d_rollout(
            jnp.asarray(u0, dtype=dtype),
            jnp.asarray(dt, dtype=dtype),
            jnp.asarray(nu, dtype=dtype),
            num_steps=steps,
            save_every=steps,
            length=length,
        )
        err = float(np.max(np.abs(np.asarray(final) - exact)))
    tol = 1e-12 if dtype == "float64" else 1e-5
    assert err < tol, f"heat_1d mode decay: max error {err:.3e} >= {tol:.0e}"
    return {"max_abs_error": err}


def _scipy_heat(case: Case) -> Callable[[], Any]:
    import scipy.fft as sfft

    u0 = np.asarray(case.inputs["u0"])
    dt, nu = float(case.inputs["dt"]), float(case.inputs["nu"])
    steps, n = case.static["num_steps"], u0.shape[-1]
    length = case.static.get("length", 2 * np.pi)
    k = 2 * np.pi * np.fft.rfftfreq(n, d=1.0 / n) / length
    decay = np.exp(-nu * dt * k**2).astype(u0.dtype)

    def run() -> np.ndarray:
        uh = sfft.rfft(u0, workers=-1)
        for _ in range(steps):
            uh = decay * uh
        return sfft.irfft(uh, n=n, workers=-1)

    return run


register(
    KernelSpec(
        name="pde.heat_1d",
        family="pde",
        fn=pde.heat_1d_rollout,
        twin="parallax.kernels.pde.twins:heat_1d_rollout",
        cases={
            "test": _heat_case(batch=3, n=32, steps=10, save_every=5),
            "bench": _heat_case(batch=64, n=4096, steps=100, save_every=100),
        },
        fwd_tol={"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-13)},
        grad_tol={"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-13)},
        grad_wrt=("u0", "dt", "nu"),
        physics=(PhysicsCheck("mode_decay", _heat_mode_decay, ("float32", "float64")),),
        peers=(Peer("scipy", "scipy.fft", _scipy_heat),),
        description="1D heat u_t = nu u_xx, exact spectral step, periodic (rollout on lax.scan)",
    )
)
