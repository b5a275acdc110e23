"""`parallax run`: run an experiment script (the default demo without one)."""

from __future__ import annotations

import argparse
import json
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
            f"overrides. Without a name, runs the default demo ({DEFAULT_EXPERIMENT}). "
            "--resume DIR continues the run in DIR (its experiment and config come from DIR; "
            "overrides change what may change on resume, e.g. --steps)."
        ),
        add_help=True,
    )
    p.add_argument("--resume", metavar="DIR", help="continue the run in this run directory")
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


def _experiment_of(workdir: str) -> str:
    """The experiment name saved in a run directory's config.json (a local or cloud path)."""
    from etils import epath

    config = epath.Path(workdir) / "config.json"
    try:
        return json.loads(config.read_text())["experiment"]
    except (OSError, ValueError, KeyError) as e:
        raise FileNotFoundError(f"--resume {workdir}: no run there ({config}: {e})") from None


def resume_argv(argv: list[str]) -> list[str]:
    """``run --resume DIR [overrides]`` -> ``run NAME --resume DIR [overrides]`` with NAME read
    from DIR (the experiment's own command line handles ``--resume``)."""
    if len(argv) < 2 or argv[0] != "run" or not argv[1].startswith("--resume"):
        return argv
    if argv[1] == "--resume" and len(argv) > 2:
        where, rest = argv[2], argv[3:]
    elif argv[1].startswith("--resume="):
        where, rest = argv[1].split("=", 1)[1], argv[2:]
    else:
        return argv
    try:
        name = _experiment_of(where)
    except FileNotFoundError:
        return argv  # run() reports it
    return ["run", name, "--resume", where, *rest]


def run(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    name = args.experiment
    if args.resume is not None:
        try:
            _experiment_of(args.resume)
        except FileNotFoundError as e:
            print(f"parallax run: {e}", file=sys.stderr)
            return EXIT_USAGE
    try:
        path = find_experiment(name)
    except FileNotFoundError as e:
        print(
            f"parallax run: no experiment {e.args[0]!r} (looked for experiments/{e.args[0]}.py)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    sys.argv = [str(path), *overrides]
    runpy.run_path(str(path), run_name="__main__")
    return 0
