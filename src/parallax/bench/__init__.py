"""Benchmarks: each registered kernel under JAX jit vs torch eager vs torch.compile vs peers
(``bench_spec``), or any set of implementations (``time_impls``).

Compile time is reported separately; samples are calibrated (>= 20 ms each), alternated between
implementations, and summarised by median, min and IQR; achieved GFLOP/s and GB/s are reported
against this machine's ceilings measured in the same run. Timings are never asserted in tests.
"""

from parallax.bench._ceilings import Ceilings as Ceilings
from parallax.bench._ceilings import measure_ceilings as measure_ceilings
from parallax.bench._report import format_table as format_table
from parallax.bench._runner import IMPLS as IMPLS
from parallax.bench._runner import BenchRecord as BenchRecord
from parallax.bench._runner import bench_spec as bench_spec
from parallax.bench._runner import time_impls as time_impls
from parallax.bench._timing import Stats as Stats
from parallax.bench._timing import Timer as Timer
from parallax.bench._timing import sync as sync

__all__ = [
    "IMPLS",
    "BenchRecord",
    "Ceilings",
    "Stats",
    "Timer",
    "bench_spec",
    "format_table",
    "measure_ceilings",
    "sync",
    "time_impls",
]
