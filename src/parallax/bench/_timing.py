"""Timing primitives: warm-up, synchronisation, calibrated samples, robust statistics."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Stats", "Timer", "format_seconds", "settle", "sync"]

_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))


def format_seconds(seconds: float | None, digits: int = 3) -> str:
    """A duration with a unit chosen so the number lies in [1, 1000) (seconds and above stay
    in s) and ``digits`` significant digits: ``1.23 ms``, ``456 µs``, ``12.0 s``."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    for scale, unit in _UNITS:
        if abs(seconds) >= scale or unit == "ns":
            v = seconds / scale
            decimals = max(0, digits - 1 - math.floor(math.log10(abs(v))) if v else 0)
            text = f"{v:.{decimals}f}"
            if float(text) >= 1000 and unit != "s":  # rounding crossed into the next unit
                return format_seconds(seconds * 1.0005, digits)
            return f"{text} {unit}"
    raise AssertionError("unreachable")


def sync(result: Any) -> None:
    """Wait for asynchronous work behind ``result`` (JAX arrays, CUDA tensors) to finish."""
    import jax

    for leaf in jax.tree.leaves(result):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
        elif type(leaf).__module__.startswith("torch") and getattr(leaf, "is_cuda", False):
            import torch

            torch.cuda.synchronize(leaf.device)


def settle(*, poll_s: float = 0.002, quiet: float = 0.1, limit_s: float = 0.1) -> float:
    """Wait until this process's other threads are idle, for at most ``limit_s``; returns the
    seconds waited.

    After a parallel region libgomp's workers (torch's intra-op threads) keep spinning for
    several milliseconds before they sleep. A sample that starts then shares the cores with
    them, so every implementation that follows a torch one would pay for torch's spin. Idle
    means the process used less than ``quiet`` of one core over a ``poll_s`` sleep of the
    calling thread.
    """
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        cpu = time.process_time()
        time.sleep(poll_s)
        if time.process_time() - cpu < quiet * poll_s:
            break
    return time.perf_counter() - start


@dataclass(frozen=True)
class Stats:
    """Per-call statistics in seconds over ``samples`` samples of ``inner`` calls each."""

    median: float
    min: float
    iqr: float
    samples: int
    inner: int

    @staticmethod
    def of(per_call: list[float], inner: int) -> Stats:
        a = np.asarray(per_call)
        q1, q3 = np.percentile(a, [25, 75])
        return Stats(float(np.median(a)), float(a.min()), float(q3 - q1), len(a), inner)


class Timer:
    """Times one implementation; samples are taken one at a time so that a caller can
    alternate implementations between samples (drift on a shared machine then hits all alike).

    ``warmup()`` runs the callable once (compilation for lazily compiled implementations is
    reported as ``first_call_s``) and calibrates ``inner`` so one sample lasts at least
    ``min_sample_s``.
    """

    def __init__(self, fn: Callable[[], Any], *, min_sample_s: float = 0.02, max_inner: int = 1000):
        self.fn = fn
        self.min_sample_s = min_sample_s
        self.max_inner = max_inner
        self.inner = 1
        self.first_call_s = math.nan
        self.per_call: list[float] = []

    def _run(self, n: int) -> float:
        t0 = time.perf_counter()
        r = None
        for _ in range(n):
            r = self.fn()
        sync(r)
        return time.perf_counter() - t0

    def warmup(self) -> None:
        self.first_call_s = self._run(1)
        single = self._run(1)
        self.inner = int(
            min(self.max_inner, max(1, math.ceil(self.min_sample_s / max(single, 1e-9))))
        )
        self._run(self.inner)

    def sample(self) -> None:
        self.per_call.append(self._run(self.inner) / self.inner)

    def stats(self) -> Stats:
        return Stats.of(self.per_call, self.inner)
