"""The run: set the process up for the device, then the sections in order under the budget."""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jax

from parallax.gpucheck._record import Recorder, Section, Step, write_json
from parallax.gpucheck._report import render_summary
from parallax.gpucheck._sizes import DRY, GPU, Sizes

__all__ = [
    "IMPLS",
    "JSON_NAME",
    "MD_NAME",
    "SCHEMA",
    "SECTIONS",
    "Options",
    "matches",
    "run_check",
]

SCHEMA = "parallax.gpu-check/1"
JSON_NAME = "gpu_check.json"
MD_NAME = "gpu_check.md"
IMPLS = ("jax", "torch-eager", "torch-compile", "jax-md", "exponax")
"""Implementations the benches time: peers that run on the device (JAX ones), not the NumPy and
SciPy peers, which would time the host."""

# (section, weight): weights share the budget (see parallax.gpucheck._record)
PLAN = (
    ("environment", 0.0),
    ("precision", 0.0),
    ("ceilings", 0.0),
    ("parity", 4.0),
    ("attention", 4.0),
    ("bench.lj_nve", 1.0),
    ("bench.navier_stokes_2d", 1.0),
    ("bench.fd_laplacian_3d", 1.0),
    ("bench.fno_train", 1.0),
    ("bench.transformer_train", 1.0),
)
SECTIONS = tuple(name for name, _ in PLAN)
_KERNEL_BENCHES = {
    "bench.lj_nve": "particles.lj_nve",
    "bench.navier_stokes_2d": "pde.navier_stokes_2d",
    "bench.fd_laplacian_3d": "pde.fd_laplacian_3d",
}


@dataclass(frozen=True)
class Options:
    """``sections``: names or prefixes (``bench``) to run, in plan order (the environment is
    always recorded); ``kernels``: the parity selection (registry names or families)."""

    out_dir: Path
    dry_run: bool = False
    budget_s: float | None = None
    sections: tuple[str, ...] | None = None
    kernels: tuple[str, ...] | None = None
    impls: tuple[str, ...] = IMPLS
    samples: int = 7
    parity_dtypes: tuple[str, ...] = ("float32", "float64")
    sizes: Sizes | None = field(default=None, compare=False)

    def selected(self, name: str) -> bool:
        if name == "environment" or not self.sections:
            return True
        return any(matches(s, name) for s in self.sections)


def matches(selector: str, section: str) -> bool:
    """``selector`` names ``section`` or a prefix of it (``bench`` or ``bench.``)."""
    return section == selector or section.startswith(selector.rstrip(".") + ".")


def _prepare_process(dry_run: bool) -> None:
    """Settings that must precede the first device use: JAX shares the GPU with torch instead
    of taking 75% of it up front; torch's deterministic mode (part of the parity pin) needs a
    fixed cuBLAS workspace; and a GPU run fails rather than falling back to the CPU."""
    if dry_run:
        return
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if not os.environ.get("JAX_PLATFORMS"):
        jax.config.update("jax_platforms", "cuda,cpu")


def _devices(dry_run: bool) -> tuple[Any, Any | None, str | None]:
    """(JAX device under test, a JAX CPU device or None, torch device or None)."""
    try:
        cpu = jax.devices("cpu")[0]
    except RuntimeError:
        cpu = None
    try:
        import torch
    except ImportError:
        torch = None
    if dry_run:
        return jax.devices()[0], cpu, None if torch is None else "cpu"
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        raise RuntimeError(
            f"no GPU visible to JAX (devices: {jax.devices()}); on a CPU machine use --dry-run"
        )
    cuda = torch is not None and torch.cuda.is_available()
    return gpus[0], cpu, "cuda" if cuda else None


def _steps(opts: Options, sizes: Sizes, jax_dev: Any, cpu: Any, torch_dev: str | None):
    from parallax.bench import measure_ceilings
    from parallax.gpucheck._attention import attention_section
    from parallax.gpucheck._benches import kernel_bench, train_bench
    from parallax.gpucheck._env import describe_environment
    from parallax.gpucheck._parity import parity_section
    from parallax.gpucheck._precision import precision_probe
    from parallax.gpucheck._train import fno_problem, transformer_problem

    measured: dict[str, Any] = {}

    def environment(sec: Section) -> None:
        sec.result.update(describe_environment(torch_dev or "none"))

    def precision(sec: Section) -> None:
        with jax.default_device(jax_dev):
            sec.result.update(precision_probe(torch_dev, n=sizes.precision_n))

    def ceilings(sec: Section) -> None:
        with jax.default_device(jax_dev):
            c = measure_ceilings(
                sgemm_n=sizes.sgemm_n, stream_mib=sizes.stream_mib, torch_device=torch_dev
            )
        measured["ceilings"] = c
        sec.result.update(c.to_json())

    def parity(sec: Section) -> None:
        if torch_dev is None:
            raise RuntimeError("parity needs torch (with CUDA on a GPU run)")
        parity_section(
            sec,
            kernels=opts.kernels or sizes.parity_kernels,
            dtypes=opts.parity_dtypes,
            torch_device=torch_dev,
            jax_device=jax_dev,
            cpu_device=cpu,
        )

    def attention(sec: Section) -> None:
        with jax.default_device(jax_dev):
            attention_section(
                sec,
                grid=sizes.attention,
                torch_device=torch_dev,
                samples=opts.samples,
                min_sample_s=sizes.min_sample_s,
            )

    common: dict[str, Any] = dict(
        torch_device=torch_dev, samples=opts.samples, min_sample_s=sizes.min_sample_s
    )

    def kernel(name: str, sec: Section) -> None:
        with jax.default_device(jax_dev):
            kernel_bench(
                sec,
                name,
                case=sizes.case,
                impls=opts.impls,
                ceilings=lambda: measured.get("ceilings"),
                **common,
            )

    def train(which: str, sec: Section) -> None:
        if which == "fno":
            problem = functools.partial(fno_problem, sizes.fno, sizes.fno_batch, sizes.fno_grid)
        else:
            problem = functools.partial(transformer_problem, sizes.transformer, *sizes.tokens)
        with jax.default_device(jax_dev):
            train_bench(sec, problem, impls=opts.impls, **common)

    fns = {
        "environment": environment,
        "precision": precision,
        "ceilings": ceilings,
        "parity": parity,
        "attention": attention,
        "bench.fno_train": functools.partial(train, "fno"),
        "bench.transformer_train": functools.partial(train, "transformer"),
        **{s: functools.partial(kernel, k) for s, k in _KERNEL_BENCHES.items()},
    }
    return [
        Step(name, fns[name], w, always=name == "environment")
        for name, w in PLAN
        if opts.selected(name)
    ]


def _writer(out_dir: Path, log) -> Any:
    def write(doc: dict[str, Any]) -> None:
        try:
            write_json(out_dir / JSON_NAME, doc)
            (out_dir / MD_NAME).write_text(render_summary(doc))
        except Exception as e:  # a report that cannot be written must not end the run
            log(f"[gpu-check] could not write the report: {type(e).__name__}: {e}")

    return write


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def run_check(opts: Options, argv: Sequence[str] | None = None) -> int:
    """Run the check; 0 when every section ran completely and no parity row failed."""
    sizes = opts.sizes or (DRY if opts.dry_run else GPU)
    opts.out_dir.mkdir(parents=True, exist_ok=True)

    def log(message: str) -> None:
        print(message, flush=True)

    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "mode": "dry-run" if opts.dry_run else "gpu",
        "status": "running",
        "started_utc": _now(),
        "finished_utc": None,
        "command": list(argv if argv is not None else sys.argv),
        "options": {k: v for k, v in asdict(opts).items() if k not in ("out_dir", "sizes")},
        "sizes": asdict(sizes),
    }
    recorder = Recorder(doc, _writer(opts.out_dir, log), budget_s=opts.budget_s, log=log)
    _prepare_process(opts.dry_run)
    try:
        jax_dev, cpu, torch_dev = _devices(opts.dry_run)
    except RuntimeError as e:
        doc.update(status="no-device", error=str(e), finished_utc=_now())
        recorder.write()
        log(f"parallax gpu-check: {e}")
        return 2
    doc["devices"] = {"jax": str(jax_dev), "torch": torch_dev}
    recorder.run(_steps(opts, sizes, jax_dev, cpu, torch_dev))
    sections = doc["sections"].values()
    parity = doc["sections"].get("parity", {}).get("result", {})
    complete = all(s["status"] == "ok" for s in sections)
    doc.update(status="complete" if complete else "incomplete", finished_utc=_now())
    recorder.write()
    log(f"[gpu-check] {doc['status']}: {opts.out_dir / JSON_NAME}, {opts.out_dir / MD_NAME}")
    return 0 if complete and not parity.get("failed") and not parity.get("errors") else 1
