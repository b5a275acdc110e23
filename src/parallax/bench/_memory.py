"""Peak memory and time of gradients through long rollouts: plain scan vs checkpointed.

Each configuration (a rollout, a loss on its final state, the gradient w.r.t. the initial state
and a parameter) runs in its own subprocess, once per scheme (``None``, ``"sqrt"``,
``"binomial"``; see :func:`parallax.kernels.rollout`), so that the peak resident set size
(``ru_maxrss``) belongs to that configuration alone. Each child reports XLA's
``memory_analysis()`` of the compiled gradient (temporaries, arguments, outputs), its compile
time, the peak RSS and the RSS before the first call, and the median time of a few calls. A
configuration whose compiled buffers exceed ``MEMORY_FRACTION`` of the memory available is not
run (that is how an out-of-memory case is shown without allocating it); the others are
compared with the plain scan's gradient (or the first scheme that ran).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from parallax.bench._environment import CpuMonitor
from parallax.bench._timing import format_seconds

__all__ = [
    "MEMORY_CASES",
    "MEMORY_FRACTION",
    "SCHEMES",
    "MemoryRecord",
    "memory_table",
    "run_memory_bench",
]

SCHEMES: tuple[str | None, ...] = (None, "sqrt", "binomial")
MEMORY_FRACTION = 0.5
_SAMPLES = 3


@dataclass(frozen=True)
class MemoryCase:
    """``build()`` returns ``(loss, args)``; ``loss(*args, checkpoint=...)`` is differentiated
    w.r.t. every argument."""

    description: str
    steps: int
    build: Callable[[], tuple[Callable[..., Any], tuple[Any, ...]]]


def _ks_1d(batch: int, n: int, steps: int) -> Callable[[], tuple[Callable[..., Any], tuple]]:
    """KS on [0, 64π) with dt = 1e-3: 10,000 steps reach t = 10. Much longer horizons of this
    chaotic flow make the float32 gradient itself round-off noise (at t = 100 two equal
    computations differ by 5%), which would hide what the comparison checks."""

    def build() -> tuple[Callable[..., Any], tuple]:
        import jax.numpy as jnp

        from parallax.kernels import pde

        x = np.linspace(0, 64 * np.pi, n, endpoint=False)
        phase = np.random.default_rng(0).uniform(0, 2 * np.pi, (batch, 1))
        u0 = jnp.asarray(np.cos(x / 16 + phase) * (1 + np.sin(x / 16)), jnp.float32)

        def loss(u0: Any, dt: Any, checkpoint: str | None = None) -> Any:
            final, _ = pde.ks_1d_rollout(
                u0, dt, num_steps=steps, save_every=steps, length=64 * np.pi, checkpoint=checkpoint
            )
            return jnp.mean(final**2)

        return loss, (u0, jnp.float32(1e-3))

    return build


def _ns_2d(batch: int, n: int, steps: int) -> Callable[[], tuple[Callable[..., Any], tuple]]:
    def build() -> tuple[Callable[..., Any], tuple]:
        import jax.numpy as jnp

        from parallax.kernels import pde

        rng = np.random.default_rng(0)
        x = np.linspace(0, 2 * np.pi, n, endpoint=False)
        w0 = np.sin(4 * x)[None, :, None] + 0.1 * rng.standard_normal((batch, n, n))
        f32 = jnp.float32

        def loss(w0: Any, nu: Any, checkpoint: str | None = None) -> Any:
            final, _ = pde.navier_stokes_2d_rollout(
                w0,
                f32(0.01),
                nu,
                f32(0.1),
                f32(1.0),
                num_steps=steps,
                save_every=steps,
                checkpoint=checkpoint,
            )
            return jnp.mean(final**2)

        return loss, (jnp.asarray(w0, jnp.float32), f32(1e-3))

    return build


MEMORY_CASES: dict[str, dict[str, MemoryCase]] = {
    "bench": {
        "ks_1d": MemoryCase(
            "KS 1D, 64×256 float32, 10,000 ETDRK4 steps (t = 10)", 10_000, _ks_1d(64, 256, 10_000)
        ),
        "ns_2d": MemoryCase(
            "NS 2D, 256² float32, 1,000 ETDRK4 steps (t = 10)", 1_000, _ns_2d(1, 256, 1_000)
        ),
        "ks_1d_oom": MemoryCase(
            "KS 1D, 256×256 float32, 10,000 ETDRK4 steps (t = 10)", 10_000, _ks_1d(256, 256, 10_000)
        ),
    },
    "test": {
        "ks_1d": MemoryCase("KS 1D, 4×32 float32, 200 steps", 200, _ks_1d(4, 32, 200)),
        "ns_2d": MemoryCase("NS 2D, 16² float32, 50 steps", 50, _ns_2d(1, 16, 50)),
    },
}


@dataclass
class MemoryRecord:
    """One configuration under one scheme (``scheme`` ``None``: plain ``lax.scan``)."""

    name: str
    description: str
    scheme: str | None
    steps: int
    temp_bytes: int | None = None
    argument_bytes: int | None = None
    output_bytes: int | None = None
    compile_s: float | None = None
    available_bytes: int | None = None
    ran: bool = False
    skipped: str | None = None
    rss_before_bytes: int | None = None
    peak_rss_bytes: int | None = None
    median_s: float | None = None
    samples: int = 0
    others_cores: float | None = None
    load_reasons: list[str] = field(default_factory=list)
    grad_max_rel_diff: float | None = None
    grad_reference: str | None = None
    error: str | None = None

    @property
    def compiled_bytes(self) -> int | None:
        """Temporaries + arguments + outputs of the compiled gradient."""
        parts = (self.temp_bytes, self.argument_bytes, self.output_bytes)
        return None if any(p is None for p in parts) else sum(p or 0 for p in parts)

    @property
    def loaded(self) -> bool:
        return bool(self.load_reasons)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "compiled_bytes": self.compiled_bytes, "loaded": self.loaded}

    @staticmethod
    def from_json(d: dict[str, Any]) -> MemoryRecord:
        names = MemoryRecord.__dataclass_fields__
        return MemoryRecord(**{k: v for k, v in d.items() if k in names})


def _meminfo(key: str) -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _rss_bytes() -> int | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _child(case_set: str, name: str, scheme: str | None, outdir: str) -> MemoryRecord:
    """Compile (and, if it fits, run) one configuration in this process."""
    import jax

    case = MEMORY_CASES[case_set][name]
    rec = MemoryRecord(name, case.description, scheme, case.steps)
    loss, args = case.build()
    grad = jax.jit(jax.grad(lambda *a: loss(*a, checkpoint=scheme), argnums=range(len(args))))
    t0 = time.perf_counter()
    compiled = grad.lower(*args).compile()
    rec.compile_s = time.perf_counter() - t0
    mem = compiled.memory_analysis()
    if mem is not None:
        rec.temp_bytes = int(mem.temp_size_in_bytes)
        rec.argument_bytes = int(mem.argument_size_in_bytes)
        rec.output_bytes = int(mem.output_size_in_bytes)
    rec.available_bytes = _meminfo("MemAvailable")
    need = rec.compiled_bytes
    if need is not None and rec.available_bytes and need > MEMORY_FRACTION * rec.available_bytes:
        rec.skipped = (
            f"needs {need / 2**30:.1f} GiB, more than {MEMORY_FRACTION:g} of the "
            f"{rec.available_bytes / 2**30:.1f} GiB available"
        )
        return rec
    rec.rss_before_bytes = _rss_bytes()
    out = jax.block_until_ready(compiled(*args))  # the first call allocates
    times = []
    with CpuMonitor() as monitor:
        for _ in range(_SAMPLES):
            t0 = time.perf_counter()
            out = jax.block_until_ready(compiled(*args))
            times.append(time.perf_counter() - t0)
    if monitor.load is not None:
        rec.others_cores, rec.load_reasons = monitor.load.others_cores, monitor.load.reasons
    rec.ran, rec.samples, rec.median_s = True, len(times), float(np.median(times))
    rec.peak_rss_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    np.savez(Path(outdir) / f"{name}-{scheme}.npz", *[np.asarray(g) for g in out])
    return rec


def _max_rel_diff(a: Path, b: Path) -> float:
    with np.load(a) as x, np.load(b) as y:
        worst = 0.0
        for k in x.files:
            ref = np.asarray(y[k], np.float64)
            scale = max(float(np.max(np.abs(ref))), np.finfo(np.float64).tiny)
            worst = max(worst, float(np.max(np.abs(np.asarray(x[k], np.float64) - ref))) / scale)
    return worst


def run_memory_bench(
    names: Sequence[str] | None = None,
    case_set: str = "bench",
    *,
    log: Callable[[str], None] | None = None,
) -> list[MemoryRecord]:
    """Every scheme of every named configuration (default: all of ``case_set``), one subprocess
    each; gradients compared with the plain scan's (max |difference| over max |reference|)."""
    say = log or (lambda _: None)
    chosen = list(names or MEMORY_CASES[case_set])
    records: list[MemoryRecord] = []
    with tempfile.TemporaryDirectory() as outdir:
        for name in chosen:
            done: list[MemoryRecord] = []
            for scheme in SCHEMES:
                say(f"  {name} checkpoint={scheme}: compiling and running in a subprocess ...")
                cmd = [
                    sys.executable,
                    "-m",
                    "parallax.bench._memory",
                    case_set,
                    name,
                    str(scheme),
                    outdir,
                ]
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode != 0:
                    case = MEMORY_CASES[case_set][name]
                    tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
                    rec = MemoryRecord(
                        name,
                        case.description,
                        scheme,
                        case.steps,
                        error=f"exit {p.returncode}: {tail[:300]}",
                    )
                else:
                    rec = MemoryRecord.from_json(json.loads(p.stdout.strip().splitlines()[-1]))
                ref = next((r for r in done if r.ran), None)
                if rec.ran and ref is not None:
                    rec.grad_reference = "plain" if ref.scheme is None else ref.scheme
                    rec.grad_max_rel_diff = _max_rel_diff(
                        Path(outdir) / f"{name}-{scheme}.npz",
                        Path(outdir) / f"{name}-{ref.scheme}.npz",
                    )
                say(f"  {name} checkpoint={scheme}: {_summary(rec)}")
                done.append(rec)
            records.extend(done)
    return records


def format_bytes(x: float | None) -> str:
    """Bytes in binary units with 3 significant digits: ``812 KiB``, ``6.75 GiB``."""
    if x is None:
        return "-"
    for scale, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if x >= scale:
            v = x / scale
            return f"{v:.{max(0, 2 - len(str(int(v))) + 1)}f} {unit}"
    return f"{int(x)} B"


def _summary(r: MemoryRecord) -> str:
    if r.error:
        return f"failed: {r.error}"
    ran = (
        f"peak RSS {format_bytes(r.peak_rss_bytes)}, {format_seconds(r.median_s)}"
        if r.ran
        else (f"not run: {r.skipped}")
    )
    return f"compiled temporaries {format_bytes(r.temp_bytes)}; {ran}"


def memory_table(records: Sequence[MemoryRecord]) -> list[list[str]]:
    """Rows ``[configuration, scheme, compiled temps, peak RSS, RSS before, time, x plain,
    grad diff, note]`` (header first); times relative to the plain scan of the same run."""
    rows = [
        [
            "configuration",
            "checkpoint",
            "compiled temporaries",
            "peak RSS",
            "RSS before the call",
            "gradient time",
            "time / plain",
            "gradient vs plain",
            "note",
        ]
    ]
    plain = {r.name: r for r in records if r.scheme is None and r.ran}
    for r in records:
        base = plain.get(r.name)
        ratio = (
            f"{r.median_s / base.median_s:.2f}" if r.median_s and base and base.median_s else "-"
        )
        diff = (
            "-"
            if r.grad_max_rel_diff is None
            else f"{r.grad_max_rel_diff:.1e} (vs {r.grad_reference})"
        )
        note = r.error or ("" if r.ran else f"not run: {r.skipped}")
        if r.loaded:
            note = (note + "; " if note else "") + "loaded: " + "; ".join(r.load_reasons)
        rows.append(
            [
                r.description,
                "plain scan" if r.scheme is None else str(r.scheme),
                format_bytes(r.temp_bytes),
                format_bytes(r.peak_rss_bytes),
                format_bytes(r.rss_before_bytes),
                format_seconds(r.median_s),
                ratio,
                diff,
                note,
            ]
        )
    return rows


def _main(argv: Sequence[str]) -> int:
    case_set, name, scheme, outdir = argv
    rec = _child(case_set, name, None if scheme == "None" else scheme, outdir)
    print(json.dumps(rec.to_json()))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
