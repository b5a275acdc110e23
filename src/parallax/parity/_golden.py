"""Golden arrays: torch reference outputs stored as ``.npz`` so parity is checkable without torch.

One file per kernel, ``<dir>/<kernel>.npz``, holding for each recorded (case, dtype) the inputs,
the static arguments (JSON), the twin's forward leaves and its gradients. ``check_golden`` runs
the JAX kernel on the stored inputs and compares with the kernel's tolerance tables.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from parallax.parity._harness import ParityResult, compare, jax_outputs, torch_outputs
from parallax.registry import Case, KernelSpec

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
            fwd, grads = torch_outputs(spec, c, dtype)
            for k, v in c.inputs.items():
                arrays[_key(case, dtype, "in", k)] = np.asarray(v)
            for i, (name, v) in enumerate(fwd):
                arrays[_key(case, dtype, "fwd", f"{i:03d}{name}")] = v
            for k, v in grads.items():
                arrays[_key(case, dtype, "grad", k)] = v
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
    case_obj = Case(inputs=inputs, static=fresh.static)
    fwd = sorted((k.split("|", 1)[1], v) for k, v in entries.items() if k.startswith("fwd|"))
    want_fwd = [(name[3:], v) for name, v in fwd]
    want_grad = {k.split("|", 1)[1]: v for k, v in entries.items() if k.startswith("grad|")}
    got = jax_outputs(spec, case_obj, dtype, with_grads=bool(want_grad))
    return compare(spec, case, dtype, got, (want_fwd, want_grad), reference=result.reference)
