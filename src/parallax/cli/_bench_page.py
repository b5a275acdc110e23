"""`parallax bench --report` (the benchmarks page) and `parallax bench --memory`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from parallax.bench import CpuMonitor, capture_environment, load_average
from parallax.bench._memory import MEMORY_CASES, memory_table, run_memory_bench
from parallax.bench._page import PageRefused, load_run, render_page
from parallax.cli._bench import EXIT_FAILED, usage_error, write_json


def run_report(args: argparse.Namespace) -> int:
    runs = []
    for path in args.report:
        try:
            runs.append((path, load_run(path)))
        except ValueError as e:
            return usage_error(f"--report: {e}")
    command = "parallax bench --report " + " ".join(args.report)
    if args.output:
        command += f" --output {args.output}"
    try:
        page = render_page(runs, command=command, force=args.force)
    except PageRefused as e:
        print(f"parallax bench: refused: {e}", file=sys.stderr)
        return EXIT_FAILED
    if args.output:
        Path(args.output).write_text(page)
        print(f"# wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(page)
    return 0


def run_memory(args: argparse.Namespace) -> int:
    case_set = "test" if args.case == "test" else "bench"
    known = MEMORY_CASES[case_set]
    unknown = [n for n in args.names if n not in known]
    if unknown:
        return usage_error(
            f"--memory: expected configurations among {sorted(known)}, got "
            f"{', '.join(map(repr, unknown))}"
        )
    env = capture_environment()
    say = lambda m: print("#" + m, file=sys.stderr, flush=True)  # noqa: E731
    before = load_average()
    if before and before[0] > 0.5 * env.cores:
        print(
            f"WARNING: 1-min load {before[0]:.2f} on {env.cores} cores before the run: times "
            "will be flagged as taken under load",
            file=sys.stderr,
        )
    with CpuMonitor(start_of_run=True) as monitor:
        records = run_memory_bench(args.names or None, case_set, log=say)
    rows = memory_table(records)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    load = monitor.load
    if args.json:
        payload: dict[str, Any] = {
            "kind": "memory",
            "schema": 1,
            "argv": ["--memory", *args.names, "--case", case_set],
            "complete": True,
            "environment": env.to_json(),
            "load": None if load is None else load.to_json(),
            "loaded": bool(load and load.loaded) or any(r.loaded for r in records),
            "records": [r.to_json() for r in records],
        }
        write_json(args.json, payload)
        print(f"# wrote {args.json}")
    warnings = [] if load is None else [f"the run: {r}" for r in load.reasons]
    warnings += [f"{r.name}/{r.scheme}: timed under load" for r in records if r.loaded]
    for w in warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    if not any(r.temp_bytes is not None for r in records):
        print("parallax bench: nothing was measured", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED if any(r.error for r in records) else 0
