"""`parallax gpu-check`: the prepared GPU run (parity, attention, benchmarks) into a folder."""

from __future__ import annotations

import argparse
from pathlib import Path


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gpu-check",
        help="parity, Pallas attention and benchmarks on a GPU, into OUT_DIR",
        description=(
            "On a GPU, in one process: parity of every registered kernel (JAX on the GPU vs "
            "the torch twin on CUDA, float32 and float64), the Pallas flash attention against "
            "jax.nn (XLA, cuDNN) and torch SDPA, and the headline benchmarks (LJ NVE, NS 2D, "
            "FD 3D Laplacian, FNO and transformer train steps) against ceilings measured in "
            "the same run. Writes OUT_DIR/gpu_check.json after every item and "
            "OUT_DIR/gpu_check.md. Each section is isolated; --budget-s shares a time budget "
            "between them and skips what does not fit. Exit status 0: everything ran and "
            "parity passed; 1: something failed or was skipped; 2: no GPU."
        ),
    )
    p.add_argument("out_dir", type=Path, help="folder for gpu_check.json and gpu_check.md")
    p.add_argument(
        "--dry-run", action="store_true", help="tiny sizes on the CPU (checks the script itself)"
    )
    p.add_argument("--budget-s", type=float, help="seconds for the whole run (default: none)")
    p.add_argument(
        "--section",
        action="append",
        help="only this section or prefix (repeatable; e.g. parity, bench); default: all",
    )
    p.add_argument(
        "--kernel", action="append", help="parity: only this kernel or family (repeatable)"
    )
    p.add_argument(
        "--impl",
        action="append",
        help="benchmarks: only this implementation (repeatable; jax, torch-eager, "
        "torch-compile, jax-md, exponax)",
    )
    p.add_argument("--samples", type=int, default=7, help="timed samples per implementation")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from parallax.gpucheck import SECTIONS, Options, run_check
    from parallax.gpucheck._check import IMPLS, matches

    unknown = [s for s in args.section or [] if not any(matches(s, n) for n in SECTIONS)]
    if unknown:
        raise SystemExit(f"parallax gpu-check: unknown section {unknown}; sections: {SECTIONS}")
    if args.samples < 7:
        raise SystemExit("parallax gpu-check: --samples must be >= 7")
    opts = Options(
        out_dir=args.out_dir,
        dry_run=args.dry_run,
        budget_s=args.budget_s,
        sections=tuple(args.section) if args.section else None,
        kernels=tuple(args.kernel) if args.kernel else None,
        impls=tuple(args.impl) if args.impl else IMPLS,
        samples=args.samples,
    )
    return run_check(opts)
