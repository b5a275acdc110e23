"""The ``parallax`` command: ``kernels``, ``parity``, ``bench``, ``gpu-check`` and ``run``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from parallax import __version__
from parallax.cli import _bench, _gpu_check, _kernels, _parity, _run
from parallax.kernels import configure_host_allocator

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parallax",
        description="parallax: JAX kernels with torch twins, parity checks and benchmarks.",
    )
    parser.add_argument("--version", action="version", version=f"parallax {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (_kernels, _parity, _bench, _gpu_check, _run):
        module.add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # before any JAX computation, so that every buffer XLA allocates follows the policy
    configure_host_allocator()
    parser = build_parser()
    args = parser.parse_args(_run.resume_argv(list(sys.argv[1:] if argv is None else argv)))
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
