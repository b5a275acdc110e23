"""Side-by-side timing of one registered kernel: JAX (jit) vs torch eager vs torch.compile vs
peers, all in one process, samples alternated between implementations."""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import jax
import jax.numpy as jnp

from parallax.bench._ceilings import Ceilings
from parallax.bench._environment import CpuMonitor
from parallax.bench._timing import Timer, format_seconds, settle
from parallax.bench.peers import load_peer, peers_for
from parallax.registry import Case, KernelSpec

__all__ = [
    "IMPLS",
    "SPREAD_LIMIT",
    "BenchRecord",
    "Made",
    "bench_spec",
    "describe_inputs",
    "progress",
    "time_impls",
]

IMPLS = ("jax", "torch-eager", "torch-compile")
SPREAD_LIMIT = 0.10
"""A record is noisy when its samples' IQR exceeds this fraction of their median."""


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
    compile_cpu_s: float | None = None
    samples: int = 0
    inner: int = 0
    steps: int = 1
    inputs: str = ""
    per_step_us: float | None = None
    flops: float | None = None
    bytes: float | None = None
    gflops: float | None = None
    gbps: float | None = None
    frac_peak_flops: float | None = None
    frac_peak_bw: float | None = None
    ratio_to_jax: float | None = None
    threads: int | None = None
    others_cores: float | None = None
    load_reasons: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def measured(self) -> bool:
        return self.median_us is not None

    @property
    def rel_iqr(self) -> float | None:
        """The samples' IQR as a fraction of their median."""
        if self.median_us is None or self.iqr_us is None or self.median_us <= 0:
            return None
        return self.iqr_us / self.median_us

    @property
    def noisy(self) -> bool:
        return self.rel_iqr is not None and self.rel_iqr > SPREAD_LIMIT

    @property
    def loaded(self) -> bool:
        return bool(self.load_reasons)

    @property
    def roofline(self) -> tuple[float, str] | None:
        """``(fraction, "GFLOP/s" | "GB/s")``: achieved over the ceiling measured in the same
        run, for whichever ceiling binds (the larger fraction)."""
        pairs = ((self.frac_peak_flops, "GFLOP/s"), (self.frac_peak_bw, "GB/s"))
        fracs = [(f, unit) for f, unit in pairs if f is not None]
        return max(fracs) if fracs else None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rel_iqr": self.rel_iqr, "noisy": self.noisy, "loaded": self.loaded}

    @staticmethod
    def from_json(d: dict[str, Any]) -> BenchRecord:
        names = BenchRecord.__dataclass_fields__
        return BenchRecord(**{k: v for k, v in d.items() if k in names})


def describe_inputs(case: Case) -> str:
    """The case's array inputs with more than 3 elements and its step count, e.g.
    ``u0 64×4096, 100 steps``."""
    parts = [f"{k} {'×'.join(map(str, v.shape))}" for k, v in case.inputs.items() if v.size > 3]
    if case.steps > 1:
        parts.append(f"{case.steps} steps")
    return ", ".join(parts)


@contextlib.contextmanager
def progress(label: str, say: Callable[[str], None], every: float = 10.0) -> Iterator[None]:
    """Say ``label`` now and ``... still <label> (N s)`` every ``every`` seconds until the block
    ends (compilations can take minutes), then how long it took."""
    say(f"  {label} ...")
    t0 = time.perf_counter()
    done = threading.Event()

    def tick() -> None:
        while not done.wait(every):
            say(f"  ... still {label} ({time.perf_counter() - t0:.0f} s)")

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
    say(f"  {label}: {format_seconds(time.perf_counter() - t0)}")


@contextlib.contextmanager
def _x64(dtype: str) -> Iterator[None]:
    with jax.enable_x64(dtype == "float64"):
        yield


def _jax_impl(spec: KernelSpec, case: Case, dtype: str) -> tuple[Callable[[], Any], float, float]:
    """The compiled call, and the wall and CPU seconds of tracing + compiling it (CPU time is
    the less load-sensitive of the two on a busy machine)."""
    inputs = {k: jnp.asarray(v) for k, v in case.inputs.items()}
    fn = jax.jit(functools.partial(spec.fn, **case.static))
    t0, c0 = time.perf_counter(), time.process_time()
    compiled = fn.lower(**inputs).compile()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return (lambda: compiled(**inputs)), wall, cpu


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


Made = Callable[[], Any] | tuple[Callable[[], Any], float] | tuple[Callable[[], Any], float, float]
"""What a maker returns: a zero-argument callable, or ``(callable, compile_s)`` when it compiled
ahead of time (the compile time is then reported instead of the first call's), optionally with
the compile's CPU seconds: ``(callable, compile_s, compile_cpu_s)``."""


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
    inputs: str = "",
    progress_every: float = 10.0,
) -> list[BenchRecord]:
    """Time every implementation ``makers[name]()`` builds, one record each, in ``makers`` order.

    Each callable is warmed up and calibrated (:class:`Timer`), then samples are taken in
    rounds, rotating which implementation goes first. A maker or warm-up that raises is
    recorded in ``error`` and the others go on. ``flops`` and ``bytes`` are per call;
    ``ratio_to_jax`` is each median over the ``baseline`` implementation's. Building
    (compiling) and warming up are reported through ``log`` while they run (every
    ``progress_every`` seconds); each sample starts once the process's other threads are idle
    (:func:`~parallax.bench._timing.settle`); the CPU other processes used while the samples
    were taken is recorded in each record (``others_cores``, ``load_reasons``).
    """
    if samples < 7:
        raise ValueError(f"samples: expected >= 7 for a stable median, got {samples}")
    say = log or (lambda _: None)
    timers: dict[str, Timer] = {}
    records: dict[str, BenchRecord] = {}
    for name, make in makers.items():
        r = BenchRecord(
            kernel, case, name, dtype, steps=steps, flops=flops, bytes=bytes, inputs=inputs
        )
        records[name] = r
        try:
            # Objects left by earlier cases (torch.compile's graphs above all) are frozen out of
            # the cyclic collector, so that its passes over them are not timed as compilation.
            gc.collect()
            gc.freeze()
            with progress(f"{kernel}/{case}: building {name}", say, progress_every):
                made = make()
            if isinstance(made, tuple):
                fn, r.compile_s, *cpu = made
                r.compile_cpu_s = cpu[0] if cpu else None
            else:
                fn = made
            t = Timer(fn, min_sample_s=min_sample_s)
            # a lazily compiled implementation (torch.compile, jit peers) compiles on its first call
            what = "warming up" if r.compile_s is not None else "first call (compiles) + warm-up of"
            with progress(f"{kernel}/{case}: {what} {name}", say, progress_every):
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
    with CpuMonitor() as monitor:
        for i in range(samples):
            k = i % max(len(order), 1)
            for name in order[k:] + order[:k]:  # rotate who goes first in each round
                settle()  # the previous sample's spinning threads do not run during this one
                timers[name].sample()
    load = monitor.load

    for name, t in timers.items():
        s = t.stats()
        r = records[name]
        r.median_us, r.min_us, r.iqr_us = s.median * 1e6, s.min * 1e6, s.iqr * 1e6
        r.samples, r.inner = s.samples, s.inner
        if load is not None:
            r.others_cores, r.load_reasons = load.others_cores, load.reasons
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
    peers = {p.name: p for p in peers_for(spec.name)}
    wanted = list(impls) if impls else [*IMPLS, *peers]

    def maker(name: str) -> Callable[[], Made]:
        def make() -> Made:
            if name == "jax":
                return _jax_impl(spec, case, dtype)
            if name in ("torch-eager", "torch-compile"):
                return _torch_impl(spec, case, device, compiled=name == "torch-compile")
            peer = peers.get(name)
            if peer is None:
                raise LookupError(f"no implementation {name!r} for {spec.name}")
            if case_name not in peer.cases:
                raise LookupError(f"peer {name} is not registered for case {case_name}")
            return load_peer(peer, case)

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
            inputs=describe_inputs(case),
        )
    threads = _torch_threads()
    for r in records:
        if r.impl.startswith("torch") and r.error is None:
            r.threads = threads
    return records
