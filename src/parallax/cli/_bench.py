"""`parallax bench`: side-by-side timings."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
from pathlib import Path

from parallax.bench import bench_spec, format_table, measure_ceilings
from parallax.cli._common import EXIT_USAGE, select


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="time kernels: JAX vs torch eager vs torch.compile vs peers",
        description=(
            "Time each kernel's case side by side in one process: JAX under jit (compile time "
            "separate), the torch twin eager and under torch.compile, and registered peers. "
            "Reports median/min/IQR per call, per-step time, ratio to JAX, and achieved "
            "GFLOP/s or GB/s against SGEMM and stream-triad ceilings measured in the same run."
        ),
    )
    p.add_argument("names", nargs="*", help="kernel names or families (default: all)")
    p.add_argument("--case", default="bench", help="case to time (default: bench)")
    p.add_argument("--dtype", default="float32", help="dtype (default: float32)")
    p.add_argument("--impl", action="append", help="only these implementations (repeatable)")
    p.add_argument("--samples", type=int, default=7, help="samples per implementation (>= 7)")
    p.add_argument("--json", metavar="FILE", help="also write the records as JSON to FILE")
    p.add_argument("--no-ceilings", action="store_true", help="skip the ceiling measurement")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    p.add_argument(
        "--comms",
        action="store_true",
        help="instead of timings: bytes communicated per device per step by the sharding "
        "presets and the halo/FFT/N-body decompositions, against the analytic minimum "
        "(8 devices; fake CPU devices when no accelerator is present)",
    )
    p.set_defaults(run=run)


def _run_comms(args: argparse.Namespace) -> int:
    import jax

    if jax.config.values.get("jax_platforms") in (None, "", "cpu"):
        # possible only before any device is touched; afterwards use the devices that exist
        with contextlib.suppress(RuntimeError):
            jax.config.update("jax_num_cpu_devices", 8)
    from parallax.sharding import bench as comms

    if len(jax.devices()) < 8:
        print(
            f"parallax bench --comms: needs 8 devices, found {len(jax.devices())}", file=sys.stderr
        )
        return EXIT_USAGE
    rows = comms.run("test" if args.case == "test" else "bench")
    print(comms.table(rows))
    if args.json:
        records = [
            {"case": r.case, "bytes_per_device": r.measured, "minimum_bytes": r.minimum,
             "ratio": r.ratio, "detail": r.detail}
            for r in rows
        ]  # fmt: skip
        Path(args.json).write_text(json.dumps(records, indent=2))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.comms:
        return _run_comms(args)
    chosen = select(args.names)
    if args.samples < 7:
        print("parallax bench: --samples must be >= 7", file=sys.stderr)
        return EXIT_USAGE
    import jax

    print(
        f"# {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cpus, jax {jax.__version__} on {jax.devices()[0].platform}, "
        f"dtype {args.dtype}",
        flush=True,
    )
    torch_device = None if args.device == "cpu" else args.device
    ceilings = None if args.no_ceilings else measure_ceilings(torch_device=torch_device)
    records = []
    for spec in chosen:
        if args.case not in spec.cases:
            print(f"# {spec.name}: no {args.case!r} case, skipped", flush=True)
            continue
        if args.dtype not in spec.dtypes:
            print(f"# {spec.name}: dtype {args.dtype} not registered, skipped", flush=True)
            continue
        recs = bench_spec(
            spec,
            args.case,
            dtype=args.dtype,
            impls=args.impl,
            samples=args.samples,
            ceilings=ceilings,
            device=args.device,
            log=lambda m: print("#" + m, file=sys.stderr, flush=True),
        )
        records.extend(recs)
        print(format_table(recs), flush=True)
    if ceilings is not None:
        print(format_table([], ceilings).splitlines()[0])
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_json() for r in records], indent=2))
        if ceilings is not None:
            Path(args.json).with_suffix(".ceilings.json").write_text(
                json.dumps(ceilings.to_json(), indent=2)
            )
        print(f"# wrote {args.json}")
    return 0
