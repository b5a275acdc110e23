"""Benchmarks: each registered kernel under JAX jit vs torch eager vs torch.compile vs peers
(``bench_spec``), or any set of implementations (``time_impls``).

Compile time is reported separately; samples are calibrated (>= 20 ms each), alternated between
implementations, and summarised by median, min and IQR; achieved GFLOP/s and GB/s are reported
against this machine's ceilings measured in the same run. Every run records its environment
(date, machine, versions, threads, CPU FFT backend) and load; numbers taken under load or with a
wide spread are flagged. Timings are never asserted in tests.
"""

from parallax.bench._bounds import BOUND_FRACTION as BOUND_FRACTION
from parallax.bench._bounds import below_half as below_half
from parallax.bench._bounds import explanation as explanation
from parallax.bench._ceilings import Ceilings as Ceilings
from parallax.bench._ceilings import measure_ceilings as measure_ceilings
from parallax.bench._comms import CommsRow as CommsRow
from parallax.bench._comms import comms_rows as comms_rows
from parallax.bench._comms import comms_table as comms_table
from parallax.bench._environment import LOAD_LIMIT as LOAD_LIMIT
from parallax.bench._environment import OTHERS_LIMIT as OTHERS_LIMIT
from parallax.bench._environment import CpuMonitor as CpuMonitor
from parallax.bench._environment import Environment as Environment
from parallax.bench._environment import Load as Load
from parallax.bench._environment import capture_environment as capture_environment
from parallax.bench._environment import load_average as load_average
from parallax.bench._report import format_table as format_table
from parallax.bench._report import trust_warnings as trust_warnings
from parallax.bench._runner import IMPLS as IMPLS
from parallax.bench._runner import SPREAD_LIMIT as SPREAD_LIMIT
from parallax.bench._runner import BenchRecord as BenchRecord
from parallax.bench._runner import bench_spec as bench_spec
from parallax.bench._runner import time_impls as time_impls
from parallax.bench._timing import Stats as Stats
from parallax.bench._timing import Timer as Timer
from parallax.bench._timing import format_seconds as format_seconds
from parallax.bench._timing import sync as sync

__all__ = [
    "BOUND_FRACTION",
    "IMPLS",
    "LOAD_LIMIT",
    "OTHERS_LIMIT",
    "SPREAD_LIMIT",
    "BenchRecord",
    "Ceilings",
    "CommsRow",
    "CpuMonitor",
    "Environment",
    "Load",
    "Stats",
    "Timer",
    "below_half",
    "bench_spec",
    "capture_environment",
    "comms_rows",
    "comms_table",
    "explanation",
    "format_seconds",
    "format_table",
    "load_average",
    "measure_ceilings",
    "sync",
    "time_impls",
    "trust_warnings",
]
