"""Side-by-side timing of one registered kernel: JAX (jit) vs torch eager vs torch.compile vs
peers, all in one process, samples alternated between implementations."""

from __future__ import annotations

import contextlib
import functools
import importlib
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import jax
import jax.numpy as jnp

from parallax.bench._ceilings import Ceilings
from parallax.bench._timing import Timer
from parallax.registry import Case, KernelSpec

__all__ = ["BenchRecord", "bench_spec"]

IMPLS = ("jax", "torch-eager", "torch-compile")


@dataclass
class BenchRecord:
    """One implementation of one kernel case; times are per call (``steps`` steps)."""

    kernel: str
    case: str
    impl: str
    dtype: str
    median_us: float | None = None
    min_us: float | None = None
    iqr_us: float | None = None
    compile_s: float | None = None
    samples: int = 0
    inner: int = 0
    steps: int = 1
    per_step_us: float | None = None
    flops: float | None = None
    bytes: float | None = None
    gflops: float | None = None
    gbps: float | None = None
    frac_peak_flops: float | None = None
    frac_peak_bw: float | None = None
    ratio_to_jax: float | None = None
    threads: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def _x64(dtype: str) -> Iterator[None]:
    with jax.enable_x64(dtype == "float64"):
        yield


def _jax_impl(spec: KernelSpec, case: Case, dtype: str) -> tuple[Callable[[], Any], float]:
    inputs = {k: jnp.asarray(v) for k, v in case.inputs.items()}
    fn = jax.jit(functools.partial(spec.fn, **case.static))
    t0 = time.perf_counter()
    compiled = fn.lower(**inputs).compile()
    compile_s = time.perf_counter() - t0
    return (lambda: compiled(**inputs)), compile_s


def _torch_inputs(case: Case, device: str) -> dict[str, Any]:
    import torch

    return {k: torch.from_numpy(v.copy()).to(device) for k, v in case.inputs.items()}


def _torch_impl(spec: KernelSpec, case: Case, device: str, compiled: bool) -> Callable[[], Any]:
    import torch

    twin = functools.partial(spec.load_twin(), **case.static)
    if compiled:
        twin = torch.compile(twin)
    tensors = _torch_inputs(case, device)

    def call() -> Any:
        with torch.no_grad():
            return twin(**tensors)

    return call


def _torch_threads() -> int | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.get_num_threads()


def bench_spec(
    spec: KernelSpec,
    case_name: str = "bench",
    *,
    dtype: str = "float32",
    impls: Sequence[str] | None = None,
    samples: int = 7,
    ceilings: Ceilings | None = None,
    device: str = "cpu",
    min_sample_s: float = 0.02,
    log: Callable[[str], None] | None = None,
) -> list[BenchRecord]:
    """Time every implementation of ``spec`` on ``case_name`` and return one record each.

    ``impls`` selects among ``jax``, ``torch-eager``, ``torch-compile`` and peer names (default:
    all). Failures of a non-JAX implementation (torch missing, torch.compile unable to handle
    complex ops, a peer not installed) are recorded in ``error``, not raised.
    """
    if samples < 7:
        raise ValueError(f"samples: expected >= 7 for a stable median, got {samples}")
    say = log or (lambda _: None)
    case = spec.make_case(case_name, dtype)
    wanted = list(impls) if impls else [*IMPLS, *(p.name for p in spec.peers)]
    timers: dict[str, Timer] = {}
    records: dict[str, BenchRecord] = {}

    def record(name: str) -> BenchRecord:
        r = BenchRecord(spec.name, case_name, name, dtype, steps=case.steps)
        r.flops, r.bytes = case.flops, case.bytes
        records[name] = r
        return r

    with _x64(dtype):
        for name in wanted:
            r = record(name)
            try:
                if name == "jax":
                    fn, r.compile_s = _jax_impl(spec, case, dtype)
                    r.threads = None
                elif name in ("torch-eager", "torch-compile"):
                    fn = _torch_impl(spec, case, device, compiled=name == "torch-compile")
                    r.threads = _torch_threads()
                else:
                    peer = next((p for p in spec.peers if p.name == name), None)
                    if peer is None:
                        raise LookupError(f"no implementation {name!r} for {spec.name}")
                    if case_name not in peer.cases:
                        raise LookupError(f"peer {name} is not registered for case {case_name}")
                    importlib.import_module(peer.module)
                    fn = peer.make(case)
                say(f"  {spec.name}/{case_name}: warming up {name}")
                t = Timer(fn, min_sample_s=min_sample_s)
                t.warmup()
                if name != "jax":
                    r.compile_s = t.first_call_s  # first call: compile (torch.compile, jit peers)
                timers[name] = t
            except Exception as e:  # recorded per implementation; the bench goes on
                r.error = f"{type(e).__name__}: {e}".splitlines()[0][:300]
                say(f"  {name} unavailable: {r.error}")
                if name == "jax":
                    say(traceback.format_exc(limit=4))

        order = list(timers)
        for i in range(samples):
            k = i % max(len(order), 1)
            for name in order[k:] + order[:k]:  # rotate who goes first in each round
                timers[name].sample()

    for name, t in timers.items():
        s = t.stats()
        r = records[name]
        r.median_us, r.min_us, r.iqr_us = s.median * 1e6, s.min * 1e6, s.iqr * 1e6
        r.samples, r.inner = s.samples, s.inner
        r.per_step_us = r.median_us / max(case.steps, 1)
        if case.flops:
            r.gflops = case.flops / s.median / 1e9
            if ceilings:
                r.frac_peak_flops = r.gflops / ceilings.sgemm_gflops
        if case.bytes:
            r.gbps = case.bytes / s.median / 1e9
            if ceilings:
                r.frac_peak_bw = r.gbps / ceilings.stream_gbps
    jax_median = records["jax"].median_us if "jax" in records else None
    for r in records.values():
        if jax_median and r.median_us:
            r.ratio_to_jax = r.median_us / jax_median
    return [records[n] for n in wanted]
