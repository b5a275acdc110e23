"""The process-wide kernel registry: parallax's own kernels and those that installed packages
declare in the ``parallax.kernels`` entry-point group, loaded on first lookup."""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import warnings
from collections.abc import Iterable
from types import ModuleType

from parallax.registry._spec import KernelSpec

__all__ = [
    "ENTRY_POINT_GROUP",
    "KernelPluginWarning",
    "UnknownKernelError",
    "get",
    "names",
    "register",
    "specs",
]

ENTRY_POINT_GROUP = "parallax.kernels"
"""Entry points of this group name a module that calls :func:`register` when imported, or a
function that registers its kernels (or returns their specs) when called."""

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


class KernelPluginWarning(UserWarning):
    """An installed package's ``parallax.kernels`` entry point failed; its kernels are left
    out and every other kernel stays available."""


def _load_plugin(ep: importlib.metadata.EntryPoint) -> None:
    obj = ep.load()
    if isinstance(obj, ModuleType) or not callable(obj):
        return  # a module registers its kernels when imported
    returned = obj()
    if returned is None:
        return
    if not isinstance(returned, Iterable):
        raise TypeError(f"expected it to return KernelSpecs or None, got {type(returned).__name__}")
    for spec in returned:
        if not isinstance(spec, KernelSpec):
            raise TypeError(f"expected it to return KernelSpecs, got a {type(spec).__name__}")
        register(spec)


def _load_plugins() -> None:
    """Each package's entry points, all or nothing per entry point: a failure removes what it
    registered and warns with the package, the entry point and the error."""
    seen = set()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if (ep.name, ep.value) in seen:  # one distribution visible twice on sys.path
            continue
        seen.add((ep.name, ep.value))
        before = dict(_SPECS)
        try:
            _load_plugin(ep)
        except Exception as e:  # a broken plugin must not take parallax's own kernels down
            _SPECS.clear()
            _SPECS.update(before)
            package = ep.dist.name if ep.dist is not None else "an unknown distribution"
            warnings.warn(
                f"parallax: skipping the kernels of package {package!r}: its entry point "
                f"{ep.name!r} = {ep.value!r} (group {ENTRY_POINT_GROUP!r}) failed with "
                f"{type(e).__name__}: {e}",
                KernelPluginWarning,
                stacklevel=4,
            )


def _ensure_builtin() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _BUILTIN:
            importlib.import_module(module)
        _load_plugins()


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
