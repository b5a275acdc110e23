"""The process-wide kernel registry."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable

from parallax.registry._spec import KernelSpec

__all__ = ["UnknownKernelError", "get", "names", "register", "specs"]

# Family modules that register the built-in kernels; imported on first lookup.
_BUILTIN = (
    "parallax.registry.pde",
    "parallax.registry.pde_fd",
    "parallax.registry.ode",
    "parallax.registry.sde",
    "parallax.registry.particles",
    "parallax.registry.nn",
)
_SPECS: dict[str, KernelSpec] = {}
_loaded = False


class UnknownKernelError(LookupError):
    """A kernel name that is not registered; ``matches`` holds close names."""

    def __init__(self, name: str, matches: list[str]):
        self.name = name
        self.matches = matches
        hint = f"; did you mean {', '.join(matches)}?" if matches else ""
        super().__init__(f"unknown kernel {name!r}{hint} (`parallax kernels` lists them)")


def register(spec: KernelSpec) -> KernelSpec:
    """Add ``spec``; a second spec with the same name is an error."""
    if spec.name in _SPECS and _SPECS[spec.name] is not spec:
        raise ValueError(f"kernel {spec.name!r} is already registered")
    _SPECS[spec.name] = spec
    return spec


def _ensure_builtin() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _BUILTIN:
            importlib.import_module(module)


def get(name: str) -> KernelSpec:
    _ensure_builtin()
    try:
        return _SPECS[name]
    except KeyError:
        pool = list(_SPECS) + [n.split(".", 1)[-1] for n in _SPECS]
        close = difflib.get_close_matches(name, pool, n=3, cutoff=0.5)
        full = [n for n in _SPECS if n in close or n.split(".", 1)[-1] in close]
        raise UnknownKernelError(name, full[:3]) from None


def names() -> list[str]:
    _ensure_builtin()
    return sorted(_SPECS)


def specs(selected: Iterable[str] | None = None, *, family: str | None = None) -> list[KernelSpec]:
    """Specs by name (in the order given; unknown names raise) or all, optionally one family.

    A selector may also be a family name (``pde``) or a prefix ending in ``.`` or ``*``.
    """
    _ensure_builtin()
    if selected is None:
        out = [_SPECS[n] for n in sorted(_SPECS)]
    else:
        out = []
        for sel in selected:
            pat = sel.rstrip("*")
            group = [
                s
                for n, s in sorted(_SPECS.items())
                if s.family == sel or (sel.endswith(("*", ".")) and n.startswith(pat))
            ]
            out.extend(group or [get(sel)])
    if family is not None:
        out = [s for s in out if s.family == family]
    return out
