"""`parallax parity`: JAX vs torch twin (or vs recorded golden arrays)."""

from __future__ import annotations

import argparse
import json
import sys

from parallax.cli._common import EXIT_USAGE, select
from parallax.parity import (
    GOLDEN_DTYPES,
    ParityResult,
    check_golden,
    record_golden,
    run_parity,
    torch_available,
)
from parallax.registry import DTYPES


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "parity",
        help="compare kernels with their torch twins",
        description=(
            "Run each kernel and its torch twin on identical inputs and compare forward values "
            "and gradients against the registered tolerance tables. Exits 1 on any failure."
        ),
    )
    p.add_argument("names", nargs="*", help="kernel names or families (default: all)")
    p.add_argument("--dtype", choices=DTYPES, action="append", help="dtype(s) (default: all)")
    p.add_argument("--case", action="append", help="case(s) (default: every case named test*)")
    p.add_argument("--device", default="cpu", help="torch device for the twin (cpu, cuda)")
    p.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    p.add_argument(
        "--record", action="store_true", help="store the twin's outputs as golden arrays"
    )
    p.add_argument(
        "--golden", action="store_true", help="compare against golden arrays (no torch needed)"
    )
    p.add_argument("--golden-dir", default="tests/golden", help="golden array folder")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    chosen = select(args.names)
    if (args.record or not args.golden) and not torch_available():
        print(
            "parallax parity: torch is not installed (pip install 'parallax[torch]'); "
            "use --golden to check against recorded arrays",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.record:
        for spec in chosen:
            path = record_golden(spec, args.golden_dir)
            print(f"recorded {spec.name} -> {path}")
        return 0
    results: list[ParityResult] = []
    for spec in chosen:
        cases = args.case or [c for c in spec.cases if c.startswith("test")]
        for case in cases:
            if case not in spec.cases:
                print(f"parallax parity: {spec.name} has no case {case!r}", file=sys.stderr)
                return EXIT_USAGE
            for dtype in args.dtype or spec.dtypes:
                if dtype not in spec.dtypes:
                    continue
                if args.golden:
                    if dtype not in GOLDEN_DTYPES:
                        continue
                    r = check_golden(spec, args.golden_dir, case, dtype)
                else:
                    r = run_parity(spec, case, dtype, device=args.device)
                results.append(r)
                if not args.json:
                    _print_row(r)
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
    failed = [r for r in results if not r.passed]
    if not args.json:
        print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
        for r in failed:
            print(r.message(), file=sys.stderr)
    return 1 if failed else 0


def _print_row(r: ParityResult) -> None:
    status = "ok" if r.passed else ("ERROR" if r.error else "FAIL")
    print(
        f"{r.kernel:<32} {r.case:<12} {r.dtype:<9} fwd abs {r.fwd_max_abs:9.2e} "
        f"rel {r.fwd_max_rel:9.2e}  grad abs {r.grad_max_abs:9.2e} rel {r.grad_max_rel:9.2e}  "
        f"{status}"
    )
