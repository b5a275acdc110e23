"""Registers ``example.logistic`` with parallax (entry point ``parallax.kernels``) and a NumPy
peer for ``parallax bench``. The twin is found by convention: ``parallax_example_kernels.twins``
has a function of the kernel's name."""

from __future__ import annotations

import numpy as np

from parallax.bench.peers import Peer, register_peer
from parallax.registry import Case, KernelSpec, register
from parallax_example_kernels import logistic_rollout


def logistic_case(*, batch: int, steps: int):
    def make(rng: np.random.Generator, dtype: np.dtype) -> Case:
        return Case(
            inputs={
                "u0": rng.uniform(0.1, 0.9, batch).astype(dtype),
                "rate": np.asarray(1.5, dtype),
                "capacity": np.asarray(2.0, dtype),
                "dt": np.asarray(0.05, dtype),
            },
            static={"num_steps": steps},
            steps=steps,
        )

    return make


def _numpy_logistic(case: Case):
    c = case.inputs

    def run():
        u = c["u0"]
        for _ in range(case.static["num_steps"]):
            u = u + c["dt"] * c["rate"] * u * (1 - u / c["capacity"])
        return u

    return run


register(
    KernelSpec(
        name="example.logistic",
        fn=logistic_rollout,
        cases={
            "test": logistic_case(batch=4, steps=20),
            "bench": logistic_case(batch=1024, steps=200),
        },
        fwd_tol={"float32": (1e-6, 1e-6), "float64": (1e-13, 1e-13)},
        grad_tol={"float32": (1e-5, 1e-5), "float64": (1e-12, 1e-12)},
        grad_wrt=("u0", "rate", "capacity"),
        description="logistic growth u' = r u (1 - u/K), explicit Euler (example package)",
    )
)
register_peer("example.logistic", Peer("numpy", "numpy", _numpy_logistic, cases=("test", "bench")))
