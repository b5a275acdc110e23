"""KernelSpec: everything the workbench knows about one kernel."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FAMILIES: tuple[str, ...] = ("pde", "ode", "particles", "sde", "nn")
"""The families of parallax's own kernels; a user package may register others."""
DTYPES: tuple[str, ...] = ("float32", "float64", "bfloat16")

Tolerance = tuple[float, float]
"""``(rtol, atol)``: an element passes when ``|got - want| <= atol + rtol * |want|``."""

__all__ = [
    "DTYPES",
    "FAMILIES",
    "Case",
    "CaseFactory",
    "KernelSpec",
    "Tolerance",
    "resolve",
]


@dataclass(frozen=True)
class Case:
    """One concrete input set: named arrays plus static (hashable) keyword arguments.

    The kernel is called as ``fn(**inputs, **static)``; so is its twin, with tensors. ``steps``
    is how many time steps (or applications) one call performs, so the bench can report a
    per-step time; ``flops`` and ``bytes`` (per call) let it report achieved GFLOP/s and GB/s.
    """

    inputs: Mapping[str, np.ndarray]
    static: Mapping[str, Any] = field(default_factory=dict)
    steps: int = 1
    flops: float | None = None
    bytes: float | None = None


DEFAULT_TWIN = "<default>"
"""``KernelSpec.twin``'s default: :func:`default_twin` of the kernel function."""

CaseFactory = Callable[[np.random.Generator, np.dtype], Case]
"""``make(rng, dtype) -> Case``. ``dtype`` is the floating dtype under test (NumPy dtype, with
``ml_dtypes.bfloat16`` for bfloat16); integer inputs keep their own dtype."""


@dataclass(frozen=True)
class KernelSpec:
    """One registered kernel.

    A catalogue entry: what to call, what to compare it with, on which inputs and to which
    tolerance. Physics validations are tests (tests/physics), timing peers live in
    :mod:`parallax.bench.peers`.

    Attributes:
      name: unique, ``"<family>.<kernel>"`` (``"pde.heat_1d"``); :attr:`family` is its prefix.
      fn: the pure JAX function, called as ``fn(**case.inputs, **case.static)``; returns a
        pytree of arrays.
      twin: ``"module:attribute"`` of the torch function with the same signature and outputs
        (resolved lazily, so the registry never imports torch). By default the function of
        ``fn``'s name in the ``twins`` module of ``fn``'s public package: the twin of
        ``parallax.kernels.pde._x.f`` is ``parallax.kernels.pde.twins:f``. ``None``: no twin.
      cases: named input factories; at least ``test`` (small) and ``bench`` (realistic).
      dtypes: dtypes compared by the parity harness.
      fwd_tol / grad_tol: ``{dtype: (rtol, atol)}`` for forward values and for gradients.
      grad_wrt: input names whose gradients are compared (JAX vjp vs torch autograd) and
        checked against finite differences.
      vmap_axes: inputs batched by the generic vmap test (default: every array input).
      bounds: ``{case: explanation}`` for a case whose JAX time stays below half of the
        roofline ceiling (:data:`parallax.bench.BOUND_FRACTION`): what bounds it instead, as
        measured (per-op profile, threads used, working set against the caches, operation
        counts). The benchmarks page lists it next to the row.
    """

    name: str
    fn: Callable[..., Any]
    cases: Mapping[str, CaseFactory]
    fwd_tol: Mapping[str, Tolerance]
    grad_tol: Mapping[str, Tolerance]
    twin: str | None = DEFAULT_TWIN
    dtypes: tuple[str, ...] = ("float32", "float64")
    grad_wrt: tuple[str, ...] = ()
    vmap_axes: tuple[str, ...] | None = None
    description: str = ""
    bounds: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        family, dot, kernel = self.name.partition(".")
        if not (dot and family.isidentifier() and kernel):
            raise ValueError(
                f"name: expected '<family>.<kernel>' (e.g. 'pde.heat_1d'), got {self.name!r}"
            )
        if not callable(self.fn):
            raise TypeError(f"{self.name}: fn must be callable, got {type(self.fn).__name__}")
        if self.twin == DEFAULT_TWIN:
            object.__setattr__(self, "twin", default_twin(self.fn))
        for required in ("test", "bench"):
            if required not in self.cases:
                raise ValueError(f"{self.name}: cases must include {required!r}")
        for case, why in self.bounds.items():
            if case not in self.cases:
                raise ValueError(
                    f"{self.name}: bounds names case {case!r}; have {sorted(self.cases)}"
                )
            if not why.strip():
                raise ValueError(f"{self.name}: bounds[{case!r}] is empty")
        for d in self.dtypes:
            if d not in DTYPES:
                raise ValueError(f"{self.name}: unknown dtype {d!r}; expected one of {DTYPES}")
            if d not in self.fwd_tol or (self.grad_wrt and d not in self.grad_tol):
                raise ValueError(f"{self.name}: missing tolerance for dtype {d!r}")

    @property
    def family(self) -> str:
        """The name's prefix: ``"pde"`` for ``"pde.heat_1d"``."""
        return self.name.partition(".")[0]

    def make_case(self, case: str = "test", dtype: str = "float32", seed: int = 0) -> Case:
        """Build the named case's inputs at ``dtype`` (deterministic for a given seed)."""
        if case not in self.cases:
            raise KeyError(f"{self.name}: unknown case {case!r}; have {sorted(self.cases)}")
        return self.cases[case](np.random.default_rng(seed), numpy_dtype(dtype))

    def load_twin(self) -> Callable[..., Any]:
        """Import and return the torch twin (raises ``ImportError`` without torch)."""
        if self.twin is None:
            raise LookupError(f"{self.name} has no torch twin")
        return resolve(self.twin)


def default_twin(fn: Callable[..., Any]) -> str:
    """``"<package>.twins:<name>"`` for a function ``<package>._private.<name>`` (private module
    components dropped): where parallax keeps each kernel's torch twin."""
    module, name = getattr(fn, "__module__", None), getattr(fn, "__name__", None)
    if not module or not name or not name.isidentifier():
        raise ValueError(
            f"twin: {fn!r} has no module-level name to find its twin by; pass twin='module:attr'"
            " (or twin=None for a kernel without one)"
        )
    parts = module.split(".")
    while len(parts) > 1 and parts[-1].startswith("_"):
        parts.pop()
    return f"{'.'.join(parts)}.twins:{name}"


def resolve(ref: str) -> Any:
    """Import ``"package.module:attr"``."""
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def numpy_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)
