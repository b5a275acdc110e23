"""Registered kernels through the public engine: ``run_parity(spec, case, dtype)`` is
:func:`parallax.parity.compare` of ``spec.fn`` and its twin on the case's inputs, with the
kernel's tolerance tables, wrapped in a :class:`ParityResult` that names the kernel and case.

Errors while building the case or running either side are reported in the result (with the
traceback) rather than raised, so ``parallax parity`` goes on to the next kernel.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from parallax.parity import _engine
from parallax.parity._compare import LeafReport
from parallax.parity._functions import compare
from parallax.parity._inputs import prepare_inputs
from parallax.parity._report import ParityReport, leaf_json
from parallax.parity._tolerance import Tolerances
from parallax.registry import Case, KernelSpec

__all__ = [
    "COTANGENT_SEED",
    "ParityResult",
    "bound_kernel",
    "cotangents",
    "jax_outputs",
    "kernel_tolerances",
    "run_parity",
    "torch_available",
    "torch_outputs",
]

COTANGENT_SEED = 1234
"""The seed of the registry's cotangents (golden gradients were recorded with it)."""


def cotangents(shapes: Sequence[tuple[int, ...]], seed: int = COTANGENT_SEED) -> list[np.ndarray]:
    return _engine.cotangents(shapes, seed)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class ParityResult:
    """One registered (kernel, case, dtype) comparison: the engine's report plus its name."""

    kernel: str
    case: str
    dtype: str
    report: ParityReport = field(default_factory=ParityReport)
    error: str | None = None
    reference: str = "torch"

    def __post_init__(self) -> None:
        if self.error is None and self.report.errors:
            self.error = "; ".join(self.report.errors)

    @property
    def fwd(self) -> list[LeafReport]:
        return self.report.select(kind="out")

    @property
    def grad(self) -> list[LeafReport]:
        return self.report.select(kind="grad")

    @property
    def passed(self) -> bool:
        return self.error is None and self.report.passed

    @property
    def fwd_max_abs(self) -> float:
        return self.report.max_error("max_abs", kind="out")

    @property
    def fwd_max_rel(self) -> float:
        return self.report.max_error("max_rel", kind="out")

    @property
    def grad_max_abs(self) -> float:
        return self.report.max_error("max_abs", kind="grad")

    @property
    def grad_max_rel(self) -> float:
        return self.report.max_error("max_rel", kind="grad")

    def failures(self) -> list[LeafReport]:
        return self.report.failures()

    def message(self) -> str:
        head = f"{self.kernel} [{self.case}, {self.dtype}] vs {self.reference}: "
        if self.error:
            return head + "error: " + self.error
        if self.passed:
            return head + "ok"
        return head + "MISMATCH\n  " + "\n  ".join(r.describe() for r in self.failures())

    def to_json(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel,
            "case": self.case,
            "dtype": self.dtype,
            "reference": self.reference,
            "fwd_max_abs": self.fwd_max_abs,
            "fwd_max_rel": self.fwd_max_rel,
            "grad_max_abs": self.grad_max_abs,
            "grad_max_rel": self.grad_max_rel,
            "passed": self.passed,
            "error": self.error,
            "leaves": [leaf_json(r) for r in self.report.leaves],
        }


@functools.lru_cache(maxsize=512)
def _bound(fn: Callable[..., Any], static: tuple[tuple[str, Any], ...]) -> Callable[..., Any]:
    return functools.partial(fn, **dict(static))


def bound_kernel(spec: KernelSpec, static: Mapping[str, Any]) -> Callable[..., Any]:
    """``spec.fn`` with the case's static arguments bound; the same object for equal static
    arguments, so the engine compiles each kernel once per input signature."""
    items = tuple(sorted(static.items()))
    try:
        hash(items)
    except TypeError:
        return functools.partial(spec.fn, **static)
    return _bound(spec.fn, items)


def kernel_tolerances(spec: KernelSpec) -> Tolerances:
    return Tolerances(values=spec.fwd_tol, grads=spec.grad_tol)


def run_parity(
    spec: KernelSpec,
    case: str = "test",
    dtype: str = "float32",
    *,
    device: str = "cpu",
    with_grads: bool = True,
) -> ParityResult:
    """Compare ``spec``'s JAX kernel with its torch twin on one case at one dtype."""
    if dtype not in spec.dtypes:
        return ParityResult(spec.name, case, dtype, error=f"dtype {dtype} not registered")
    try:
        c = spec.make_case(case, dtype)
        twin = functools.partial(spec.load_twin(), **c.static)
        report = compare(
            bound_kernel(spec, c.static),
            twin,
            dict(c.inputs),
            grad_wrt=spec.grad_wrt if with_grads else None,
            dtypes=(dtype,),
            tol=kernel_tolerances(spec),
            device=device,
            seed=COTANGENT_SEED,
            title=spec.name,
        )
    except Exception as e:  # reported, not swallowed: the result fails with the traceback
        tb = traceback.format_exc(limit=6)
        return ParityResult(spec.name, case, dtype, error=f"{type(e).__name__}: {e}\n{tb}")
    return ParityResult(spec.name, case, dtype, report)


def _sides(
    side: Callable[..., _engine.Outputs], fn: Callable[..., Any], case: Case, dtype: str, **kw: Any
) -> tuple[list[tuple[str, np.ndarray]], dict[str, np.ndarray]]:
    inputs = prepare_inputs(dict(case.inputs)).cast(dtype)
    grad_wrt = kw.pop("grad_wrt")
    out = side(fn, inputs, dtype, inputs.grad_mask(grad_wrt), seed=COTANGENT_SEED, **kw)
    return out.outputs, {k[len("grad[") : -1]: v for k, v in out.grads.items()}


def jax_outputs(
    spec: KernelSpec, case: Case, dtype: str, *, with_grads: bool = True
) -> tuple[list[tuple[str, np.ndarray]], dict[str, np.ndarray]]:
    """Forward leaves and gradients (torch's convention, keyed by input name) of the kernel."""
    grad_wrt = spec.grad_wrt if with_grads else None
    return _sides(_engine.jax_side, bound_kernel(spec, case.static), case, dtype, grad_wrt=grad_wrt)


def torch_outputs(
    spec: KernelSpec, case: Case, dtype: str, *, device: str = "cpu", with_grads: bool = True
) -> tuple[list[tuple[str, np.ndarray]], dict[str, np.ndarray]]:
    """Forward leaves and autograd gradients of the torch twin on the same inputs."""
    twin = functools.partial(spec.load_twin(), **case.static)
    grad_wrt = spec.grad_wrt if with_grads else None
    return _sides(_engine.torch_side, twin, case, dtype, grad_wrt=grad_wrt, device=device)
