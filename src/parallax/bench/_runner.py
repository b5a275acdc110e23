"""Side-by-side timing of one registered kernel: JAX (jit) vs torch eager vs torch.compile vs
peers, all in one process, samples alternated between implementations."""

from __future__ import annotations

import contextlib
import functools
import importlib
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import jax
import jax.numpy as jnp

from parallax.bench._ceilings import Ceilings
from parallax.bench._timing import Timer
from parallax.registry import Case, KernelSpec

__all__ = ["BenchRecord", "Made", "bench_spec", "time_impls"]

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


Made = Callable[[], Any] | tuple[Callable[[], Any], float]
"""What a maker returns: a zero-argument callable, or ``(callable, compile_s)`` when it compiled
ahead of time (the compile time is then reported instead of the first call's)."""


def time_impls(
    kernel: str,
    case: str,
    makers: Mapping[str, Callable[[], Made]],
    *,
    dtype: str = "float32",
    steps: int = 1,
    flops: float | None = None,
    bytes: float | None = None,
    samples: int = 7,
    ceilings: Ceilings | None = None,
    min_sample_s: float = 0.02,
    baseline: str = "jax",
    log: Callable[[str], None] | None = None,
) -> list[BenchRecord]:
    """Time every implementation ``makers[name]()`` builds, one record each, in ``makers`` order.

    Each callable is warmed up and calibrated (:class:`Timer`), then samples are taken in
    rounds, rotating which implementation goes first. A maker or warm-up that raises is
    recorded in ``error`` and the others go on. ``flops`` and ``bytes`` are per call;
    ``ratio_to_jax`` is each median over the ``baseline`` implementation's.
    """
    if samples < 7:
        raise ValueError(f"samples: expected >= 7 for a stable median, got {samples}")
    say = log or (lambda _: None)
    timers: dict[str, Timer] = {}
    records: dict[str, BenchRecord] = {}
    for name, make in makers.items():
        r = BenchRecord(kernel, case, name, dtype, steps=steps, flops=flops, bytes=bytes)
        records[name] = r
        try:
            made = make()
            fn, r.compile_s = made if isinstance(made, tuple) else (made, None)
            say(f"  {kernel}/{case}: warming up {name}")
            t = Timer(fn, min_sample_s=min_sample_s)
            t.warmup()
            if r.compile_s is None:
                r.compile_s = t.first_call_s  # first call: compile (torch.compile, jit peers)
            timers[name] = t
        except Exception as e:  # recorded per implementation; the bench goes on
            r.error = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            say(f"  {name} unavailable: {r.error}")
            if name == baseline:
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
        r.per_step_us = r.median_us / max(steps, 1)
        if flops:
            r.gflops = flops / s.median / 1e9
            if ceilings:
                r.frac_peak_flops = r.gflops / ceilings.sgemm_gflops
        if bytes:
            r.gbps = bytes / s.median / 1e9
            if ceilings:
                r.frac_peak_bw = r.gbps / ceilings.bandwidth_gbps
    base = records[baseline].median_us if baseline in records else None
    for r in records.values():
        if base and r.median_us:
            r.ratio_to_jax = r.median_us / base
    return list(records.values())


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
    complex ops, a peer not installed) are recorded in ``error``, not raised. ``device`` places
    the torch twin's tensors; JAX and JAX peers run on JAX's default device.
    """
    if samples < 7:
        raise ValueError(f"samples: expected >= 7 for a stable median, got {samples}")
    case = spec.make_case(case_name, dtype)
    wanted = list(impls) if impls else [*IMPLS, *(p.name for p in spec.peers)]

    def maker(name: str) -> Callable[[], Made]:
        def make() -> Made:
            if name == "jax":
                return _jax_impl(spec, case, dtype)
            if name in ("torch-eager", "torch-compile"):
                return _torch_impl(spec, case, device, compiled=name == "torch-compile")
            peer = next((p for p in spec.peers if p.name == name), None)
            if peer is None:
                raise LookupError(f"no implementation {name!r} for {spec.name}")
            if case_name not in peer.cases:
                raise LookupError(f"peer {name} is not registered for case {case_name}")
            importlib.import_module(peer.module)
            return peer.make(case)

        return make

    with _x64(dtype):
        records = time_impls(
            spec.name,
            case_name,
            {name: maker(name) for name in wanted},
            dtype=dtype,
            steps=case.steps,
            flops=case.flops,
            bytes=case.bytes,
            samples=samples,
            ceilings=ceilings,
            min_sample_s=min_sample_s,
            log=log,
        )
    threads = _torch_threads()
    for r in records:
        if r.impl.startswith("torch") and r.error is None:
            r.threads = threads
    return records
