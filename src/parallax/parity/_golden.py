"""Golden arrays: torch reference outputs stored as ``.npz`` so parity is checkable without torch.

One file per kernel, ``<dir>/<kernel>.npz``, holding for each recorded (case, dtype) the inputs,
the static arguments (JSON), the twin's forward leaves and its gradients (recorded with
:func:`parallax.parity.reference_outputs`). ``check_golden`` loads them as a
:class:`parallax.parity.Reference` and runs :func:`parallax.parity.compare` of the JAX kernel
against it, with the kernel's tolerance tables.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from parallax.parity._engine import Outputs
from parallax.parity._functions import Reference, compare, reference_outputs
from parallax.parity._harness import (
    COTANGENT_SEED,
    ParityResult,
    bound_kernel,
    kernel_tolerances,
)
from parallax.registry import KernelSpec

__all__ = ["GOLDEN_DTYPES", "check_golden", "golden_path", "record_golden"]

GOLDEN_DTYPES = ("float32", "float64")  # NumPy's .npz cannot hold bfloat16


def golden_path(directory: str | Path, spec: KernelSpec) -> Path:
    return Path(directory) / f"{spec.name}.npz"


def _key(case: str, dtype: str, kind: str, name: str) -> str:
    return f"{case}|{dtype}|{kind}|{name}"


def record_golden(
    spec: KernelSpec, directory: str | Path, *, cases: tuple[str, ...] | None = None
) -> Path:
    """Run the torch twin on each test case and dtype and write the reference arrays."""
    cases = cases or tuple(c for c in spec.cases if c.startswith("test"))
    arrays: dict[str, np.ndarray] = {}
    for case in cases:
        for dtype in (d for d in spec.dtypes if d in GOLDEN_DTYPES):
            c = spec.make_case(case, dtype)
            ref = reference_outputs(
                functools.partial(spec.load_twin(), **c.static),
                dict(c.inputs),
                grad_wrt=spec.grad_wrt or None,
                dtypes=(dtype,),
                seed=COTANGENT_SEED,
            ).by_dtype[dtype]
            for k, v in c.inputs.items():
                arrays[_key(case, dtype, "in", k)] = np.asarray(v)
            for i, (name, v) in enumerate(ref.outputs):
                arrays[_key(case, dtype, "fwd", f"{i:03d}{name}")] = v
            for label, v in ref.grads.items():
                arrays[_key(case, dtype, "grad", label[len("grad[") : -1])] = v
            arrays[_key(case, dtype, "static", "json")] = np.asarray(
                json.dumps(dict(c.static), sort_keys=True, default=str)
            )
    path = golden_path(directory, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
    return path


def check_golden(spec: KernelSpec, directory: str | Path, case: str, dtype: str) -> ParityResult:
    """Compare the JAX kernel with the recorded torch outputs for (case, dtype)."""
    path = golden_path(directory, spec)
    result = ParityResult(spec.name, case, dtype, reference=f"golden:{path.name}")
    if not path.exists():
        result.error = f"no golden file {path}; run `parallax parity {spec.name} --record`"
        return result
    with np.load(path) as data:
        prefix = f"{case}|{dtype}|"
        entries = {k[len(prefix) :]: data[k] for k in data.files if k.startswith(prefix)}
    if not entries:
        result.error = f"{path} has no entry for case {case!r} at {dtype}; re-record it"
        return result
    fresh = spec.make_case(case, dtype)
    static = json.loads(str(entries["static|json"]))
    if static != json.loads(json.dumps(dict(fresh.static), sort_keys=True, default=str)):
        result.error = f"{path}: static arguments changed since recording ({static}); re-record"
        return result
    inputs = {k.split("|", 1)[1]: v for k, v in entries.items() if k.startswith("in|")}
    fwd = sorted((k.split("|", 1)[1], v) for k, v in entries.items() if k.startswith("fwd|"))
    grads = {f"grad[{k.split('|', 1)[1]}]": v for k, v in entries.items() if k.startswith("grad|")}
    want = Outputs(outputs=[(name[3:], v) for name, v in fwd], grads=grads)
    report = compare(
        bound_kernel(spec, fresh.static),
        Reference({dtype: want}, name=result.reference),
        inputs,
        grad_wrt=spec.grad_wrt if grads else None,
        dtypes=(dtype,),
        tol=kernel_tolerances(spec),
        seed=COTANGENT_SEED,
        title=spec.name,
    )
    return ParityResult(spec.name, case, dtype, report, reference=result.reference)
