"""Shared CLI helpers."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

from parallax.registry import KernelPluginWarning, KernelSpec, UnknownKernelError, specs

EXIT_USAGE = 2


def select(names: Sequence[str]) -> list[KernelSpec]:
    """Specs named on the command line (all when none); unknown names exit with status 2. A
    package whose kernels failed to load is one line on stderr; the command goes on."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", KernelPluginWarning)
        try:
            chosen = specs(names or None)
        except UnknownKernelError as e:
            print(f"parallax: {e}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE) from None
        finally:
            plugin = [w for w in caught if issubclass(w.category, KernelPluginWarning)]
            others = [w for w in caught if w not in plugin]
    for w in plugin:
        print(w.message, file=sys.stderr)
    for w in others:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return chosen
