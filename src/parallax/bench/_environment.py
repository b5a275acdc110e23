"""What a benchmark number depends on besides the code: machine, versions, threads, FFT, load.

Every run records an :class:`Environment` (date, host, CPU model, cores, library versions,
torch and XLA thread settings, the FFT that CPU programs lower to, load average before and
after) and every kernel's sampling window is watched by a :class:`CpuMonitor`, which measures how
much CPU *other* processes used meanwhile: the busy time of this process's CPUs in
``/proc/stat`` minus this process's own CPU time (its threads and the children it waited for).
A number is **loaded** (untrustworthy) when

* the 1-minute load average at the start of the run exceeds ``LOAD_LIMIT`` x cores (later the
  load average includes the run's own work, so it is checked only there), or
* other processes kept more than ``OTHERS_LIMIT`` x cores busy during the kernel's sampling
  window (where ``/proc/stat`` is missing: the 1-minute load rose by more than ``LOAD_LIMIT`` x
  cores beyond this process's own use). Over a whole run this share is recorded but not
  judged: compilations start helper processes of their own.

Oversubscribed cores slow torch's OpenMP threads far more than XLA's (2-6x at load 4-10 on 2
cores), so loaded ratios are refused for the benchmarks page unless forced.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from parallax.kernels import host_allocator

__all__ = [
    "LOAD_LIMIT",
    "OTHERS_LIMIT",
    "CpuMonitor",
    "Environment",
    "Load",
    "capture_environment",
    "cores",
    "load_average",
    "load_reasons",
]

LOAD_LIMIT = 0.5
OTHERS_LIMIT = 0.25
_PACKAGES = ("jax", "jaxlib", "numpy", "scipy", "torch", "diffrax", "exponax", "jax-md")
_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "XLA_FLAGS",
    "TF_NUM_INTEROP_THREADS",
    "TF_NUM_INTRAOP_THREADS",
)


def cores() -> int:
    """CPUs this process may run on (its affinity set; ``os.cpu_count()`` where unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_average() -> tuple[float, float, float] | None:
    """The 1-, 5- and 15-minute load averages (``None`` where the OS has none)."""
    try:
        return os.getloadavg()
    except OSError:
        return None


def _busy_seconds(cpus: set[int]) -> float | None:
    """Busy (non-idle, non-iowait) time of ``cpus`` since boot, from ``/proc/stat``."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    busy = 0
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
        busy += sum(ticks) - ticks[3] - ticks[4]
    return busy / hz


@dataclass(frozen=True)
class Load:
    """Load during one measured window.

    ``others_cores``: average number of this process's cores kept busy by other processes
    (``None`` without ``/proc/stat``); ``own_cores``: the same for this process;
    ``start_of_run``: the window is a whole run, judged by the load average before it.
    """

    cores: int
    load_before: tuple[float, float, float] | None
    load_after: tuple[float, float, float] | None
    others_cores: float | None
    own_cores: float
    seconds: float
    start_of_run: bool = False

    @property
    def reasons(self) -> list[str]:
        return load_reasons(self)

    @property
    def loaded(self) -> bool:
        return bool(self.reasons)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "loaded": self.loaded, "reasons": self.reasons}


def load_reasons(load: Load) -> list[str]:
    """Why numbers taken under ``load`` cannot be trusted (empty: they can)."""
    n, out = load.cores, []
    if load.start_of_run:
        if load.load_before and load.load_before[0] > LOAD_LIMIT * n:
            out.append(
                f"1-min load {load.load_before[0]:.2f} before the run (> {LOAD_LIMIT} x {n} cores)"
            )
        return out
    if load.others_cores is not None:
        if load.others_cores > OTHERS_LIMIT * n:
            out.append(
                f"other processes kept {load.others_cores:.2f} of {n} cores busy during the run "
                f"(> {OTHERS_LIMIT} x {n})"
            )
    elif load.load_before and load.load_after:
        rise = load.load_after[0] - load.load_before[0] - load.own_cores
        if rise > LOAD_LIMIT * n:
            out.append(f"1-min load rose by {rise:.2f} beyond this process during the run")
    return out


def _own_cpu_seconds() -> float:
    """CPU time of this process's threads and of the children it has waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class CpuMonitor:
    """Measures the load around a window: ``with CpuMonitor() as m: ...; m.load``."""

    def __init__(self, *, start_of_run: bool = False) -> None:
        self._start = start_of_run
        try:
            self._cpus = set(os.sched_getaffinity(0))
        except AttributeError:
            self._cpus = set(range(os.cpu_count() or 1))
        self.load: Load | None = None

    def __enter__(self) -> CpuMonitor:
        self._before = load_average()
        self._busy0 = _busy_seconds(self._cpus)
        self._own0 = _own_cpu_seconds()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = max(time.perf_counter() - self._t0, 1e-9)
        own = _own_cpu_seconds() - self._own0
        busy1 = _busy_seconds(self._cpus)
        others = None
        if self._busy0 is not None and busy1 is not None:
            others = max(0.0, (busy1 - self._busy0 - own) / wall)
        self.load = Load(
            len(self._cpus), self._before, load_average(), others, own / wall, wall, self._start
        )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(here), *args], capture_output=True, text=True, timeout=5, check=True
        )

    try:
        out = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _fft() -> dict[str, str | None]:
    """The FFT that CPU programs lower to (:func:`parallax.kernels.fft.backend`: ``"mkl"``, or
    ``"xla (<why not MKL>)"``) and the installed MKL's version (``None`` without it)."""
    from parallax.kernels import fft

    return {"backend": fft.backend(), "mkl": _version("mkl")}


def _handlers() -> dict[str, str]:
    """parallax's C++ handlers on CPU (:func:`parallax.kernels.cpu_handlers`): ``""`` for each
    that programs call, else why not. Asking builds any not cached yet, so a kernel's first-call
    time in the run never includes a handler's one-time build."""
    from parallax.kernels import cpu_handlers

    return cpu_handlers()


def _threads() -> dict[str, Any]:
    """torch's intra-/inter-op threads (when torch is importable), XLA's CPU devices and the
    environment variables that set thread counts (XLA:CPU's intra-op pool has one thread per
    core unless ``XLA_FLAGS`` says otherwise)."""
    out: dict[str, Any] = {k: os.environ.get(k) for k in _THREAD_VARS}
    try:
        import torch

        out["torch_intra_op"] = torch.get_num_threads()
        out["torch_inter_op"] = torch.get_num_interop_threads()
    except ImportError:
        out["torch_intra_op"] = out["torch_inter_op"] = None
    import jax

    out["jax_devices"] = [str(d) for d in jax.devices()]
    return out


@dataclass
class Environment:
    """Everything a run's numbers depend on besides the code under test and the load (a run
    records its :class:`Load` next to this)."""

    date: str
    host: str
    cpu: str
    cores: int
    platform: str
    python: str
    parallax: str | None
    versions: dict[str, str | None]
    threads: dict[str, Any]
    fft: dict[str, str | None]
    handlers: dict[str, str] = field(default_factory=dict)
    allocator: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def capture_environment() -> Environment:
    from parallax import __version__

    commit = _git_commit()
    return Environment(
        date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        host=platform.node(),
        cpu=_cpu_model(),
        cores=cores(),
        platform=platform.platform(),
        python=platform.python_version(),
        parallax=__version__ + (f" ({commit})" if commit else ""),
        versions={p: _version(p) for p in _PACKAGES},
        threads=_threads(),
        fft=_fft(),
        handlers=_handlers(),
        allocator=host_allocator().to_json(),
    )
