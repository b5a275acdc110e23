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


# Contractive (OU) or mildly multiplicative (GBM, ~e^{±1} over the test horizon) recursions:
# float32 rounding differences of ~eps per step accumulate to ~100 eps over 100 steps.
_TOL = {"float32": (2e-5, 2e-5), "float64": (1e-12, 1e-12)}
_GRAD_TOL = {"float32": (1e-4, 1e-4), "float64": (1e-10, 1e-10)}
_TEST = {"paths": 8, "steps": 100, "save_every": 50, "dt": 0.01}
_BENCH = {"paths": 10_000, "steps": 1000, "save_every": 1000, "dt": 1e-3}

# (kernel, system, parameters with a gradient besides x0 and dt, description)
_SPECS = (
    (
        sde.ou_euler_maruyama,
        "ou",
        ("theta", "mu", "sigma"),
        "Ornstein–Uhlenbeck dX = theta (mu - X) dt + sigma dW by Euler–Maruyama on given "
        "increments dW (paths x steps), lax.scan rollout",
    ),
    (
        sde.gbm_euler_maruyama,
        "gbm",
        ("mu", "sigma"),
        "Geometric Brownian motion dX = mu X dt + sigma X dW by Euler–Maruyama (strong order "
        "1/2) on given increments",
    ),
    (
        sde.gbm_milstein,
        "gbm",
        ("mu", "sigma"),
        "Geometric Brownian motion by Milstein (scalar noise, strong order 1; correction from "
        "jvp of the diffusion) on given increments",
    ),
)

# What bounds a bench case below half its roofline ceiling (KernelSpec.bounds).
_EULER_BOUND = (
    "1,000 sequential steps over 10,000 paths: each step reads one 40 KB row of increments and "
    "updates a 40 KB state that stays in L1/L2, so a step costs its latency (one small fusion, "
    "the scan's carry copy and counter) rather than DRAM bandwidth; the model counts only the "
    "increments' bytes. Between idle runs on this VM the step time moved by 2-3x for every "
    "implementation alike (numpy and torch included), which moves this row across 50%."
)

_BOUNDS = {
    "gbm_euler_maruyama": _EULER_BOUND,
    "ou_euler_maruyama": _EULER_BOUND,
    "gbm_milstein": "1,000 sequential steps of ~3.7 us: the 80 KB state stays in L1/L2 and the "
    "step's one fusion runs on one thread (the trace shows one; XLA does not split a fusion "
    "this small), with the loop's own carry copy and counter add ~20% of the op time: the "
    "latency of a step, not DRAM bandwidth.",
}

for _fn, _system, _params, _description in _SPECS:
    register(
        KernelSpec(
            name=f"sde.{_fn.__name__}",
            fn=_fn,
            cases={
                "test": _paths_case(system=_system, **_TEST),
                "bench": _paths_case(system=_system, **_BENCH),
            },
            fwd_tol=_TOL,
            grad_tol=_GRAD_TOL,
            grad_wrt=("x0", *_params, "dt"),
            description=_description,
            bounds={"bench": _BOUNDS[_fn.__name__]} if _fn.__name__ in _BOUNDS else {},
        )
    )
