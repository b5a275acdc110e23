"""Registered ``sde`` kernels: Euler–Maruyama and Milstein on Ornstein–Uhlenbeck and geometric
Brownian motion, fed explicit Brownian increments (randomness is an input, so the torch twin
sees the same path)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from parallax.kernels import sde
from parallax.registry._cases import normal, scalar, uniform
from parallax.registry._registry import register
from parallax.registry._spec import Case, KernelSpec


def _paths_case(
    *, system: str, paths: int, steps: int, save_every: int, dt: float
) -> Callable[[np.random.Generator, np.dtype], Case]:
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        if system == "ou":
            x0 = normal(rng, (paths,), dtype)
            params = {"theta": scalar(1.5, dtype), "mu": scalar(0.5, dtype)}
            params["sigma"] = scalar(0.8, dtype)
        else:
            x0 = uniform(rng, (paths,), dtype, 0.5, 1.5)
            params = {"mu": scalar(0.4, dtype), "sigma": scalar(0.9, dtype)}
        dW = (np.sqrt(dt) * rng.standard_normal((steps, paths))).astype(dtype)
        item = np.dtype(dtype).itemsize
        return Case(
            inputs={"x0": x0, **params, "dt": scalar(dt, dtype), "dW": dW},
            static={"save_every": save_every},
            steps=steps,
            flops=8.0 * paths * steps,
            bytes=float(item * paths * steps),  # the increments are read once
        )

    return make


# --- Ornstein–Uhlenbeck: stationary statistics ----------------------------------------------


# --- geometric Brownian motion: strong order ------------------------------------------------


# Contractive (OU) or mildly multiplicative (GBM, ~e^{±1} over the test horizon) recursions:
# float32 rounding differences of ~eps per step accumulate to ~100 eps over 100 steps.
_TOL = {"float32": (2e-5, 2e-5), "float64": (1e-12, 1e-12)}
_GRAD_TOL = {"float32": (1e-4, 1e-4), "float64": (1e-10, 1e-10)}
_TEST = {"paths": 8, "steps": 100, "save_every": 50, "dt": 0.01}
_BENCH = {"paths": 10_000, "steps": 1000, "save_every": 1000, "dt": 1e-3}

register(
    KernelSpec(
        name="sde.ou_euler_maruyama",
        fn=sde.ou_euler_maruyama,
        cases={
            "test": _paths_case(system="ou", **_TEST),
            "bench": _paths_case(system="ou", **_BENCH),
        },
        fwd_tol=_TOL,
        grad_tol=_GRAD_TOL,
        grad_wrt=("x0", "theta", "mu", "sigma", "dt"),
        description="Ornstein–Uhlenbeck dX = theta (mu - X) dt + sigma dW by Euler–Maruyama on "
        "given increments dW (paths x steps), lax.scan rollout",
    )
)

register(
    KernelSpec(
        name="sde.gbm_euler_maruyama",
        fn=sde.gbm_euler_maruyama,
        cases={
            "test": _paths_case(system="gbm", **_TEST),
            "bench": _paths_case(system="gbm", **_BENCH),
        },
        fwd_tol=_TOL,
        grad_tol=_GRAD_TOL,
        grad_wrt=("x0", "mu", "sigma", "dt"),
        description="Geometric Brownian motion dX = mu X dt + sigma X dW by Euler–Maruyama "
        "(strong order 1/2) on given increments",
    )
)


register(
    KernelSpec(
        name="sde.gbm_milstein",
        fn=sde.gbm_milstein,
        cases={
            "test": _paths_case(system="gbm", **_TEST),
            "bench": _paths_case(system="gbm", **_BENCH),
        },
        fwd_tol=_TOL,
        grad_tol=_GRAD_TOL,
        grad_wrt=("x0", "mu", "sigma", "dt"),
        description="Geometric Brownian motion by Milstein (scalar noise, strong order 1; "
        "correction from jvp of the diffusion) on given increments",
    )
)
