"""Run a registered kernel and its torch twin on identical inputs and compare.

Forward: every output leaf. Backward: the gradient of the scalar
``L = Σ_leaves Σ_elements c ⊙ out`` (fixed random weights ``c``, real and imaginary parts
weighted separately for complex leaves) with respect to ``spec.grad_wrt``, taken with
``jax.grad`` on one side and torch autograd on the other. For complex inputs JAX returns the
conjugate of torch's gradient convention, so JAX's is conjugated before comparing.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from parallax.parity._compare import LeafReport, compare_leaf
from parallax.parity._precision import dtype_context, pinned_precision
from parallax.registry import Case, KernelSpec

__all__ = [
    "ParityResult",
    "cotangents",
    "jax_outputs",
    "run_parity",
    "torch_available",
    "torch_outputs",
]


@dataclass
class ParityResult:
    kernel: str
    case: str
    dtype: str
    fwd: list[LeafReport] = field(default_factory=list)
    grad: list[LeafReport] = field(default_factory=list)
    error: str | None = None
    reference: str = "torch"

    @property
    def passed(self) -> bool:
        return self.error is None and all(r.passed for r in self.fwd + self.grad)

    def _max(self, reports: list[LeafReport], attr: str) -> float:
        return max((getattr(r, attr) for r in reports), default=0.0)

    @property
    def fwd_max_abs(self) -> float:
        return self._max(self.fwd, "max_abs")

    @property
    def fwd_max_rel(self) -> float:
        return self._max(self.fwd, "max_rel")

    @property
    def grad_max_abs(self) -> float:
        return self._max(self.grad, "max_abs")

    @property
    def grad_max_rel(self) -> float:
        return self._max(self.grad, "max_rel")

    def failures(self) -> list[LeafReport]:
        return [r for r in self.fwd + self.grad if not r.passed]

    def message(self) -> str:
        head = f"{self.kernel} [{self.case}, {self.dtype}] vs {self.reference}: "
        if self.error:
            return head + "error: " + self.error
        if self.passed:
            return head + "ok"
        return head + "MISMATCH\n  " + "\n  ".join(r.describe() for r in self.failures())

    def to_json(self) -> dict[str, Any]:
        def clean(r: LeafReport) -> dict[str, Any]:
            d = asdict(r)
            for k in ("got", "want"):
                if isinstance(d[k], complex):
                    d[k] = [d[k].real, d[k].imag]
            return d

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
            "leaves": [clean(r) for r in self.fwd + self.grad],
        }


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _leaves(tree: Any) -> list[tuple[str, Any]]:
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(jax.tree_util.keystr(path) or "out", leaf) for path, leaf in flat]


def cotangents(shapes: Sequence[tuple[int, ...]], seed: int = 1234) -> list[np.ndarray]:
    """Fixed float64 weights ``c`` for each output leaf (real and imaginary parts)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((2, *s)) for s in shapes]


def _compute_dtype(dtype: str) -> str:
    return "float64" if dtype == "float64" else "float32"


# --- JAX side -----------------------------------------------------------------------------------


def _weighted_sum(out: Any, cots: Sequence[Any]) -> Any:
    """``Σ_leaves Σ c ⊙ out`` (real and imaginary parts weighted separately), in the cots' dtype."""
    leaves = [leaf for _, leaf in _leaves(out)]
    total = jnp.zeros((), dtype=cots[0].dtype) if cots else jnp.zeros(())
    for leaf, c in zip(leaves, cots, strict=True):
        total = total + jnp.sum(jnp.real(leaf).astype(c.dtype) * c[0])
        if jnp.iscomplexobj(leaf):
            total = total + jnp.sum(jnp.imag(leaf).astype(c.dtype) * c[1])
    return total


_JITTED: dict[Any, tuple[Callable[..., Any], Callable[..., Any]]] = {}


def _jitted(
    spec: KernelSpec, static: Mapping[str, Any]
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The jitted forward and gradient of ``spec.fn`` at these static arguments, made once.

    Parity and golden checks of the same kernel then share one compilation per input
    signature (jit's own cache keys on shapes, dtypes and the x64 flag).
    """
    try:
        key: Any = (spec.fn, tuple(sorted(static.items())))
        hash(key)
    except TypeError:  # unhashable static arguments: no sharing, still correct
        key = None
    if key is not None and key in _JITTED:
        return _JITTED[key]
    fn = functools.partial(spec.fn, **static)
    fwd = jax.jit(lambda inputs: fn(**inputs))

    def loss(diff: Mapping[str, Any], rest: Mapping[str, Any], cots: Sequence[Any]) -> Any:
        return _weighted_sum(fn(**rest, **diff), cots)

    pair = (fwd, jax.jit(jax.grad(loss)))
    if key is not None:
        _JITTED[key] = pair
    return pair


def jax_outputs(
    spec: KernelSpec, case: Case, dtype: str, *, with_grads: bool = True
) -> tuple[list[tuple[str, np.ndarray]], dict[str, np.ndarray]]:
    """Forward leaves and gradients (w.r.t. ``spec.grad_wrt``) of the jitted JAX kernel."""
    fwd_fn, grad_fn = _jitted(spec, case.static)
    with dtype_context(dtype), pinned_precision(torch_too=False):
        inputs = {k: jnp.asarray(v) for k, v in case.inputs.items()}
        out = _leaves(fwd_fn(inputs))
        fwd = [(name, _to_numpy(x)) for name, x in out]
        grads: dict[str, np.ndarray] = {}
        if with_grads and spec.grad_wrt:
            cdt = _compute_dtype(dtype)
            cots = [jnp.asarray(c, dtype=cdt) for c in cotangents([x.shape for _, x in out])]
            diff = {k: inputs[k] for k in spec.grad_wrt}
            rest = {k: v for k, v in inputs.items() if k not in diff}
            g = grad_fn(diff, rest, cots)
            grads = {k: np.conj(_to_numpy(v)) for k, v in g.items()}
    return fwd, grads


def _to_numpy(x: Any) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.name == "bfloat16":
        a = a.astype(np.float32)
    return a


# --- torch side ---------------------------------------------------------------------------------


def _to_torch(x: np.ndarray, dtype: str, device: str) -> Any:
    import torch

    if x.dtype.name == "bfloat16":
        return torch.from_numpy(x.astype(np.float32)).to(device=device, dtype=torch.bfloat16)
    return torch.from_numpy(np.array(x, copy=True, order="C")).to(device)


def _torch_numpy(t: Any) -> np.ndarray:
    import torch

    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy()


def torch_outputs(
    spec: KernelSpec, case: Case, dtype: str, *, device: str = "cpu", with_grads: bool = True
) -> tuple[list[tuple[str, np.ndarray]], dict[str, np.ndarray]]:
    """Forward leaves and autograd gradients of the torch twin on the same inputs."""
    import torch

    twin = spec.load_twin()
    with pinned_precision():
        tensors = {k: _to_torch(v, dtype, device) for k, v in case.inputs.items()}
        wrt = spec.grad_wrt if with_grads else ()
        for k in wrt:
            tensors[k] = tensors[k].detach().requires_grad_(True)
        out = _leaves(twin(**tensors, **case.static))
        fwd = [(name, _torch_numpy(t)) for name, t in out]
        grads: dict[str, np.ndarray] = {}
        if wrt:
            cdt = torch.float64 if dtype == "float64" else torch.float32
            cots = cotangents([tuple(t.shape) for _, t in out])
            total = torch.zeros((), dtype=cdt, device=device)
            for (_, leaf), c in zip(out, cots, strict=True):
                cr = torch.from_numpy(np.asarray(c[0])).to(device=device, dtype=cdt)
                total = total + (torch.real(leaf).to(cdt) * cr).sum()
                if torch.is_complex(leaf):
                    ci = torch.from_numpy(np.asarray(c[1])).to(device=device, dtype=cdt)
                    total = total + (torch.imag(leaf).to(cdt) * ci).sum()
            gs = torch.autograd.grad(total, [tensors[k] for k in wrt], allow_unused=True)
            for k, g in zip(wrt, gs, strict=True):
                grads[k] = (
                    np.zeros(case.inputs[k].shape, dtype=np.float64)
                    if g is None
                    else _torch_numpy(g)
                )
    return fwd, grads


# --- comparison ---------------------------------------------------------------------------------


def compare(
    spec: KernelSpec,
    case_name: str,
    dtype: str,
    got: tuple[list[tuple[str, np.ndarray]], dict[str, np.ndarray]],
    want: tuple[list[tuple[str, np.ndarray]], dict[str, np.ndarray]],
    reference: str = "torch",
) -> ParityResult:
    result = ParityResult(spec.name, case_name, dtype, reference=reference)
    (gf, gg), (wf, wg) = got, want
    if [n for n, _ in gf] != [n for n, _ in wf]:
        result.error = (
            f"output structure differs: jax leaves {[n for n, _ in gf]} vs "
            f"{reference} leaves {[n for n, _ in wf]}"
        )
        return result
    rtol, atol = spec.fwd_tol[dtype]
    for (name, g), (_, w) in zip(gf, wf, strict=True):
        result.fwd.append(compare_leaf(f"out{name}" if name != "out" else name, g, w, rtol, atol))
    if spec.grad_wrt and gg and wg:
        rtol, atol = spec.grad_tol[dtype]
        for k in spec.grad_wrt:
            result.grad.append(compare_leaf(f"grad[{k}]", gg[k], wg[k], rtol, atol))
    return result


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
        got = jax_outputs(spec, c, dtype, with_grads=with_grads)
        want = torch_outputs(spec, c, dtype, device=device, with_grads=with_grads)
    except Exception as e:  # reported, not swallowed: the result fails with the traceback
        tb = traceback.format_exc(limit=6)
        return ParityResult(spec.name, case, dtype, error=f"{type(e).__name__}: {e}\n{tb}")
    return compare(spec, case, dtype, got, want)
