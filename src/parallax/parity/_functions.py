"""``compare`` / ``assert_parity``: any JAX function against any torch function, in numbers.

    report = compare(jax_fn, torch_fn, {"x": x, "w": w}, grad_wrt=("w",), jvp=True)
    print(report)          # a table: leaf, dtype, max abs, max rel, rtol/atol, result
    assert report.passed

At each dtype in ``dtypes`` both functions get the same input values (see
:mod:`parallax.parity._inputs`), float64 runs inside ``jax.enable_x64`` and precision is pinned
(:func:`parallax.parity.pinned_precision`) and restored afterwards. Outputs may be any pytree;
leaves are matched by path and a difference in structure is reported, not raised. Gradients are
the VJP of a fixed random cotangent (see :mod:`parallax.parity._engine`), JVPs optional.
Exceptions raised by the functions themselves propagate (with a note saying which side and
dtype): they are bugs to see, not mismatches to tabulate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from parallax.parity._engine import Outputs, compare_outputs, jax_side, torch_side
from parallax.parity._inputs import check_dtypes, prepare_inputs
from parallax.parity._report import ParityError, ParityReport
from parallax.parity._tolerance import resolve_tolerances

__all__ = ["Reference", "assert_parity", "compare", "reference_outputs"]

DEFAULT_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Reference:
    """Recorded reference results per dtype (golden arrays, or outputs of a system that has no
    Python callable at hand); usable as ``torch_fn`` in :func:`compare`. Gradients are keyed
    ``"grad[name]"`` and must come from the same cotangent seed the comparison uses."""

    by_dtype: Mapping[str, Outputs] = field(default_factory=dict)
    name: str = "recorded"


def _describe(fn: Any) -> str:
    inner = getattr(fn, "func", fn)  # functools.partial
    return getattr(inner, "__qualname__", None) or type(inner).__name__


def _run(side: str, dtype: str, f: Callable[[], Outputs]) -> Outputs:
    try:
        return f()
    except Exception as e:
        e.add_note(f"parallax.parity: raised by the {side} side at {dtype}")
        raise


def reference_outputs(
    torch_fn: Callable[..., Any],
    inputs: Any,
    *,
    grad_wrt: Any = ...,
    dtypes: Any = DEFAULT_DTYPES,
    jvp: bool = False,
    device: str = "cpu",
    seed: int = 0,
    name: str = "recorded",
) -> Reference:
    """Run the torch side alone and keep its results (to store, or to compare later)."""
    prepared = prepare_inputs(inputs)
    mask = prepared.grad_mask(grad_wrt)
    by_dtype = {}
    for dtype in check_dtypes(dtypes):
        cast = prepared.cast(dtype)
        by_dtype[dtype] = _run(
            "torch",
            dtype,
            lambda c=cast, d=dtype: torch_side(
                torch_fn, c, d, mask, seed=seed, jvp=jvp, device=device
            ),
        )
    return Reference(by_dtype, name)


def compare(
    jax_fn: Callable[..., Any],
    torch_fn: Callable[..., Any] | Reference,
    inputs: Any,
    *,
    grad_wrt: Any = ...,
    dtypes: Any = DEFAULT_DTYPES,
    tol: Any = None,
    jvp: bool = False,
    device: str = "cpu",
    seed: int = 0,
    jit: bool = True,
    title: str | None = None,
) -> ParityReport:
    """Compare ``jax_fn(*inputs)`` / ``jax_fn(**inputs)`` with ``torch_fn`` on the same values.

    Args:
      jax_fn: a JAX function (jitted here unless ``jit=False``).
      torch_fn: the torch reference over tensors, or a :class:`Reference` of recorded results.
      inputs: a dict (keyword arguments), a tuple (positional arguments) or one array; leaves
        are NumPy / JAX / torch arrays (others pass unchanged and are held fixed).
      grad_wrt: top-level inputs to differentiate: names (dict) or positions (tuple); ``...``
        (default) is every floating-point array input; ``None`` or ``()`` skips gradients.
      dtypes: dtypes to compare at (``"float32"``, ``"float64"``, ``"bfloat16"``,
        ``"float16"``); floating inputs are cast to each.
      tol: ``None`` (defaults from each dtype's epsilon, :mod:`parallax.parity._tolerance`),
        ``{dtype: (rtol, atol)}`` for values and gradients, or a :class:`Tolerances`.
      jvp: also compare forward-mode derivatives (``jax.jvp`` vs ``torch.func.jvp``).
      device: torch device of the reference.
      seed: seeds the cotangents (and the tangents).

    Raises ``ValueError`` / ``TypeError`` naming the argument for bad arguments: an unknown
    ``grad_wrt`` name, a non-float input to differentiate, inputs that are neither dict nor
    tuple, an unknown dtype, a tolerance table without an entry for a requested dtype.
    """
    prepared = prepare_inputs(inputs)
    mask = prepared.grad_mask(grad_wrt)
    dtypes = check_dtypes(dtypes)
    tols = resolve_tolerances(tol)
    for d in dtypes:
        tols.get(d)
        if any(mask):
            tols.get(d, "grads")
    if jvp and not any(mask):
        raise ValueError("jvp: forward mode needs inputs to differentiate; grad_wrt selects none")
    recorded = isinstance(torch_fn, Reference)
    reference = torch_fn.name if isinstance(torch_fn, Reference) else "torch"
    report = ParityReport(title or _describe(jax_fn), reference)
    for dtype in dtypes:
        cast = prepared.cast(dtype)
        if isinstance(torch_fn, Reference):
            if dtype not in torch_fn.by_dtype:
                report.errors.append(
                    f"[{dtype}] {torch_fn.name} has no results at {dtype} "
                    f"(recorded: {sorted(torch_fn.by_dtype)})"
                )
                continue
            want = torch_fn.by_dtype[dtype]
            with_jvp = jvp and want.jvp is not None
        else:
            want = _run(
                "torch",
                dtype,
                lambda c=cast, d=dtype, f=torch_fn: torch_side(
                    f, c, d, mask, seed=seed, jvp=jvp, device=device
                ),
            )
            with_jvp = jvp
        got = _run(
            "JAX",
            dtype,
            lambda c=cast, d=dtype, j=with_jvp: jax_side(
                jax_fn, c, d, mask, seed=seed, jvp=j, jit=jit
            ),
        )
        if recorded and not want.grads:
            got.grads = {}
        leaves, errors = compare_outputs(got, want, dtype, tols, reference)
        report.leaves += leaves
        report.errors += errors
    return report


def assert_parity(*args: Any, **kwargs: Any) -> ParityReport:
    """:func:`compare` with the same arguments; raises :class:`ParityError` (an
    ``AssertionError`` whose message is the table and whose ``.report`` is the report) unless
    everything passes. Returns the report when it does."""
    __tracebackhide__ = True  # pytest shows the caller's line and the table, not this frame
    report = compare(*args, **kwargs)
    if not report.passed:
        raise ParityError(report)
    return report
