"""`parallax bench`: side-by-side timings, their environment, and the benchmarks page."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from parallax.bench import (
    IMPLS,
    LOAD_LIMIT,
    BenchRecord,
    CpuMonitor,
    Load,
    bench_spec,
    capture_environment,
    format_table,
    load_average,
    measure_ceilings,
    trust_warnings,
)
from parallax.bench.peers import peers_for
from parallax.cli._common import EXIT_USAGE, select
from parallax.registry import DTYPES, KernelSpec

EXIT_FAILED = 1


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="time kernels: JAX vs torch eager vs torch.compile vs peers",
        description=(
            "Time each kernel's case side by side in one process: JAX under jit (compile time "
            "separate), the torch twin eager and under torch.compile, and registered peers. "
            "Reports median/min/IQR per call, per-step time, ratio to JAX, and achieved "
            "GFLOP/s or GB/s against SGEMM and stream-triad ceilings measured in the same run. "
            "Every run records its date, machine, versions, thread settings and load; numbers "
            "taken under load are flagged (L) and refused by --report unless --force."
        ),
    )
    p.add_argument("names", nargs="*", help="kernel names or families (default: all)")
    p.add_argument("--case", default="bench", help="case to time (default: bench)")
    p.add_argument("--dtype", default="float32", choices=DTYPES, help="dtype (default: float32)")
    p.add_argument(
        "--impl",
        action="append",
        help=f"only these implementations (repeatable): {', '.join(IMPLS)} or a peer's name",
    )
    p.add_argument("--samples", type=int, default=7, help="samples per implementation (>= 7)")
    p.add_argument(
        "--json",
        metavar="FILE",
        help="also write the run (records, environment, "
        "load, ceilings) as JSON to FILE, e.g. benchmarks/cpu/bench.json",
    )
    p.add_argument("--no-ceilings", action="store_true", help="skip the ceiling measurement")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    p.add_argument(
        "--comms",
        action="store_true",
        help="instead of timings: bytes communicated per device per step by the sharding "
        "presets and the halo/FFT/N-body decompositions, against the analytic minimum "
        "(8 devices; fake CPU devices when no accelerator is present)",
    )
    p.add_argument(
        "--memory",
        action="store_true",
        help="instead of timings: peak memory and time of gradients through long rollouts, "
        "plain scan vs checkpointed (names the configurations; default: all; --case test "
        "for small ones)",
    )
    p.add_argument(
        "--report",
        nargs="+",
        metavar="RUN_JSON",
        help="instead of timing: write the benchmarks page (Markdown) from the JSON of "
        "`parallax bench --json` and `--memory --json` runs",
    )
    p.add_argument("--output", "-o", metavar="FILE", help="--report: write the page to FILE")
    p.add_argument(
        "--force", action="store_true", help="--report: accept runs taken under load (marked)"
    )
    p.set_defaults(run=run)


def usage_error(message: str) -> int:
    print(f"parallax bench: {message}", file=sys.stderr)
    return EXIT_USAGE


def check_output_path(flag: str, path: str | None) -> str | None:
    """Why ``path`` cannot be written (``None``: it can), checked before any work starts."""
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        return f"{flag}: expected a file path, got the directory {path!r}"
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        return f"{flag}: expected a file in an existing directory, {str(parent)!r} does not exist"
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        return f"{flag}: expected a writable path, got {path!r}"
    return None


def write_json(path: str, payload: Any) -> None:
    """Write atomically (a crash mid-write leaves the previous file, not half of one)."""
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)


def plan(chosen: list[KernelSpec], args: argparse.Namespace) -> tuple[list, str | None]:
    """``[(spec, impls)]`` to time, or a usage error naming the flag and what was expected."""
    with_dtype = [s for s in chosen if args.dtype in s.dtypes]
    if not with_dtype:
        have = sorted({d for s in chosen for d in s.dtypes})
        return [], f"--dtype: expected one of {have} for the selected kernels, got {args.dtype!r}"
    with_case = [s for s in with_dtype if args.case in s.cases]
    if not with_case:
        have = sorted({c for s in with_dtype for c in s.cases})
        return [], f"--case: expected one of {have} for the selected kernels, got {args.case!r}"

    def available(spec: KernelSpec) -> list[str]:
        return [*IMPLS, *(p.name for p in peers_for(spec.name) if args.case in p.cases)]

    if args.impl:
        known = {i for s in with_case for i in available(s)}
        unknown = [i for i in args.impl if i not in known]
        if unknown:
            return [], (
                f"--impl: expected one of {sorted(known)} for the selected kernels and case "
                f"{args.case!r}, got {', '.join(map(repr, unknown))}"
            )
    out = []
    for spec in chosen:
        if spec not in with_case:
            why = f"dtype {args.dtype}" if spec not in with_dtype else f"case {args.case!r}"
            print(f"# {spec.name}: skipped (no {why})", file=sys.stderr)
            continue
        impls = [i for i in (args.impl or available(spec)) if i in available(spec)]
        if impls:
            out.append((spec, impls))
        else:
            print(
                f"# {spec.name}: skipped (none of --impl {', '.join(args.impl)})", file=sys.stderr
            )
    return out, None


def run_load(monitor: CpuMonitor) -> Load | None:
    return monitor.load


def _argv(args: argparse.Namespace) -> list[str]:
    out = [*args.names, "--case", args.case, "--dtype", args.dtype]
    for i in args.impl or []:
        out += ["--impl", i]
    out += ["--samples", str(args.samples)] + (["--no-ceilings"] if args.no_ceilings else [])
    return out + (["--device", args.device] if args.device != "cpu" else [])


def _warn(lines: list[str]) -> None:
    for line in lines:
        print(f"WARNING: {line}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    for flag, path in (("--json", args.json), ("--output", args.output)):
        if (err := check_output_path(flag, path)) is not None:
            return usage_error(err)
    if args.report:
        from parallax.cli._bench_page import run_report

        return run_report(args)
    if args.samples < 7:
        return usage_error(f"--samples: expected >= 7, got {args.samples}")
    if args.memory:
        from parallax.cli._bench_page import run_memory

        return run_memory(args)
    if args.comms:
        return _run_comms(args)
    todo, err = plan(select(args.names), args)
    if err is not None:
        return usage_error(err)
    return _run_timings(args, todo)


def _run_timings(args: argparse.Namespace, todo: list[tuple[KernelSpec, list[str]]]) -> int:
    env = capture_environment()
    say = lambda m: print("#" + m, file=sys.stderr, flush=True)  # noqa: E731
    print(
        f"# {env.date} {env.host}: {env.cpu}, {env.cores} cores, jax {env.versions['jax']}, "
        f"torch {env.versions['torch']} ({env.threads['torch_intra_op']} threads), "
        f"CPU FFT {env.fft['backend']}, dtype {args.dtype}, case {args.case}",
        flush=True,
    )
    records: list[BenchRecord] = []
    ceilings = None
    payload: dict[str, Any] = {
        "kind": "bench",
        "schema": 1,
        "argv": _argv(args),
        "case": args.case,
        "dtype": args.dtype,
    }

    def save(complete: bool, load: Load | None) -> None:
        if not args.json:
            return
        warnings = ([] if load is None else load.reasons) + trust_warnings(records)
        payload.update(
            complete=complete,
            environment=env.to_json(),
            load=None if load is None else load.to_json(),
            loaded=bool(load is not None and load.loaded) or any(r.loaded for r in records),
            ceilings=None if ceilings is None else ceilings.to_json(),
            records=[r.to_json() for r in records],
            warnings=warnings,
        )
        write_json(args.json, payload)

    with CpuMonitor(start_of_run=True) as monitor:
        before = load_average()
        if before and before[0] > LOAD_LIMIT * env.cores:
            _warn(
                [
                    f"1-min load {before[0]:.2f} on {env.cores} cores before the run: the "
                    "numbers will be flagged as taken under load"
                ]
            )
        if not args.no_ceilings:
            torch_device = None if args.device == "cpu" else args.device
            ceilings = measure_ceilings(torch_device=torch_device)
        for spec, impls in todo:
            recs = bench_spec(
                spec,
                args.case,
                dtype=args.dtype,
                impls=impls,
                samples=args.samples,
                ceilings=ceilings,
                device=args.device,
                log=say,
            )
            records.extend(recs)
            print(format_table(recs), flush=True)
            save(False, None)
    load = run_load(monitor)
    if ceilings is not None:
        print(format_table([], ceilings).splitlines()[0])
    save(True, load)
    if args.json:
        print(f"# wrote {args.json}")
    _warn(
        ([] if load is None else [f"the run: {r}" for r in load.reasons]) + trust_warnings(records)
    )
    if not any(r.measured for r in records):
        failures = "; ".join(f"{r.kernel}/{r.impl}: {r.error}" for r in records if r.error)
        print(f"parallax bench: nothing was measured ({failures})", file=sys.stderr)
        return EXIT_FAILED
    jax_failed = [r for r in records if r.impl == "jax" and r.error]
    if jax_failed:
        names = ", ".join(r.kernel for r in jax_failed)
        print(f"parallax bench: the JAX implementation failed for {names}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _run_comms(args: argparse.Namespace) -> int:
    import jax

    if jax.config.values.get("jax_platforms") in (None, "", "cpu"):
        # possible only before any device is touched; afterwards use the devices that exist
        with contextlib.suppress(RuntimeError):
            jax.config.update("jax_num_cpu_devices", 8)
    from parallax.bench import comms_rows, comms_table

    if len(jax.devices()) < 8:
        return usage_error(f"--comms: needs 8 devices, found {len(jax.devices())}")
    rows = comms_rows("test" if args.case == "test" else "bench")
    print(comms_table(rows))
    if args.json:
        records = [
            {
                "case": r.case,
                "bytes_per_device": r.measured,
                "minimum_bytes": r.minimum,
                "ratio": r.ratio,
                "detail": r.detail,
            }
            for r in rows
        ]
        write_json(args.json, records)
    return 0
