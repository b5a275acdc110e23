"""`parallax run`: run an experiment script (the default demo without one)."""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

from parallax.cli._common import EXIT_USAGE

DEFAULT_EXPERIMENT = "ks_emulator"


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run an experiment script",
        description=(
            "Run experiments/NAME.py (or a path to a .py file) with its own command-line "
            f"overrides. Without a name, runs the default demo ({DEFAULT_EXPERIMENT})."
        ),
        add_help=True,
    )
    p.add_argument("experiment", nargs="?", default=None, help="experiment name or .py path")
    p.add_argument("overrides", nargs=argparse.REMAINDER, help="passed to the experiment")
    p.set_defaults(run=run)


def find_experiment(name: str | None) -> Path:
    """``experiments/NAME.py`` searched from the working directory upwards, or a path."""
    name = name or DEFAULT_EXPERIMENT
    candidate = Path(name)
    if candidate.suffix == ".py" and candidate.exists():
        return candidate
    stem = candidate.stem if candidate.suffix == ".py" else name
    for base in [Path.cwd(), *Path.cwd().parents]:
        p = base / "experiments" / f"{stem}.py"
        if p.exists():
            return p
    raise FileNotFoundError(stem)


def run(args: argparse.Namespace) -> int:
    try:
        path = find_experiment(args.experiment)
    except FileNotFoundError as e:
        print(
            f"parallax run: no experiment {e.args[0]!r} (looked for experiments/{e.args[0]}.py)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    sys.argv = [str(path), *args.overrides]
    runpy.run_path(str(path), run_name="__main__")
    return 0
