"""Shared CLI helpers."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from parallax.registry import KernelSpec, UnknownKernelError, specs

EXIT_USAGE = 2


def select(names: Sequence[str]) -> list[KernelSpec]:
    """Specs named on the command line (all when none); unknown names exit with status 2."""
    try:
        return specs(names or None)
    except UnknownKernelError as e:
        print(f"parallax: {e}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
