"""Parity of every registered kernel on the device: JAX on the accelerator against the torch twin
on the accelerator, with the registered tolerance tables (:func:`parallax.parity.run_parity`).

Rows run dtype by dtype (every kernel at float32 first), so a budget cut still leaves every
kernel checked at the first dtype. A row that fails on numbers (not on an error) is diagnosed
by two more runs, each with one side moved to the CPU: which side's device result moved, and
by how much the tolerance would have to grow (``factor``: error over allowance at the worst
element, per failing leaf).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from parallax.gpucheck._record import Section
from parallax.parity import LeafReport, ParityResult, run_parity
from parallax.registry import specs

__all__ = ["parity_section"]


def _factor(leaf: LeafReport) -> float | None:
    if leaf.got is None or leaf.want is None:
        return None
    allowance = leaf.atol + leaf.rtol * abs(leaf.want)
    return abs(leaf.got - leaf.want) / allowance if allowance > 0 else float("inf")


def _needs(result: ParityResult) -> list[dict[str, Any]]:
    return [
        {
            "leaf": leaf.name,
            "max_abs": leaf.max_abs,
            "max_rel": leaf.max_rel,
            "rtol": leaf.rtol,
            "atol": leaf.atol,
            "factor": _factor(leaf),
        }
        for leaf in result.failures()
    ]


def _brief(result: ParityResult) -> dict[str, Any]:
    return {
        "passed": result.passed,
        "error": result.error.splitlines()[0] if result.error else None,
        "fwd_max_abs": result.fwd_max_abs,
        "grad_max_abs": result.grad_max_abs,
        "needs": _needs(result),
    }


def _verdict(jax_on_cpu: ParityResult, torch_on_cpu: ParityResult) -> str:
    if jax_on_cpu.passed and not torch_on_cpu.passed:
        return "JAX's device result moved: it fails against torch on the CPU too"
    if torch_on_cpu.passed and not jax_on_cpu.passed:
        return "torch's device result moved: it fails against JAX on the CPU too"
    if jax_on_cpu.passed and torch_on_cpu.passed:
        return "each device result passes against the other framework on the CPU"
    return "both device results fail against the other framework on the CPU"


def _diagnose(spec, case: str, dtype: str, torch_device: str, cpu: Any) -> dict[str, Any]:
    with jax.default_device(cpu):
        jax_on_cpu = run_parity(spec, case, dtype, device=torch_device)
    torch_on_cpu = run_parity(spec, case, dtype, device="cpu")
    return {
        "jax_cpu_vs_torch_device": _brief(jax_on_cpu),
        "jax_device_vs_torch_cpu": _brief(torch_on_cpu),
        "verdict": _verdict(jax_on_cpu, torch_on_cpu),
    }


def parity_section(
    sec: Section,
    *,
    kernels: Sequence[str] | None,
    dtypes: Sequence[str],
    torch_device: str,
    jax_device: Any,
    cpu_device: Any | None,
) -> None:
    """Fill ``sec.result`` with one row per (kernel, test case, dtype)."""
    chosen = specs(list(kernels) if kernels else None)
    plan = [
        (dtype, spec, case)
        for dtype in dtypes
        for spec in chosen
        if dtype in spec.dtypes
        for case in spec.cases
        if case.startswith("test")
    ]
    rows: list[dict[str, Any]] = []
    sec.result.update(planned=len(plan), rows=rows, torch_device=torch_device, dtypes=list(dtypes))
    with jax.default_device(jax_device):
        # where uncommitted arrays (what the harness makes with jnp.asarray) land
        sec.result["jax_device"] = str(next(iter(jnp.zeros(()).devices())))
        for dtype, spec, case in plan:
            label = f"{spec.name}/{case}/{dtype}"
            if sec.out_of_time():
                sec.skip(label)
                continue
            t0 = time.perf_counter()
            r = run_parity(spec, case, dtype, device=torch_device)
            row = r.to_json()
            row["elapsed_s"] = round(time.perf_counter() - t0, 2)
            row["needs"] = _needs(r)
            if not r.passed and r.error is None and cpu_device is not None:
                row["diagnosis"] = _diagnose(spec, case, dtype, torch_device, cpu_device)
            rows.append(row)
            status = "ok" if r.passed else ("ERROR" if r.error else "FAIL")
            sec.log(f"{label}: {status} ({row['elapsed_s']} s)")
            sec.save()
    sec.result["passed"] = sum(r["passed"] for r in rows)
    sec.result["failed"] = sum(not r["passed"] and r["error"] is None for r in rows)
    sec.result["errors"] = sum(r["error"] is not None for r in rows)
