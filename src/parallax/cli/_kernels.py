"""`parallax kernels`: list the registry."""

from __future__ import annotations

import argparse
import json

from parallax.bench.peers import peers_for
from parallax.cli._common import select


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "kernels",
        help="list registered kernels",
        description="List every registered kernel with its family, dtypes, cases and peers.",
    )
    p.add_argument("names", nargs="*", help="kernel names or families (default: all)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    rows = [
        {
            "name": s.name,
            "family": s.family,
            "dtypes": list(s.dtypes),
            "cases": list(s.cases),
            "grad_wrt": list(s.grad_wrt),
            "twin": s.twin,
            "peers": [p.name for p in peers_for(s.name)],
            "description": s.description,
        }
        for s in select(args.names)
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<32} {'family':<10} {'dtypes':<26} {'cases':<28} peers")
    for r in rows:
        print(
            f"{r['name']:<32} {r['family']:<10} {','.join(r['dtypes']):<26} "
            f"{','.join(r['cases']):<28} {','.join(r['peers']) or '-'}"
        )
    print(f"{len(rows)} kernels")
    return 0
