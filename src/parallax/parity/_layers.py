"""Activations of every named submodule, recorded on both sides and paired through the rules.

Torch: a forward hook on every module of ``named_modules()``; hooks fire when a module
returns, so records come in completion order (a block after its children).

JAX: flax ``nnx.Module`` trees (submodules from ``nnx.iter_modules``) and equinox modules
(submodules found by walking the dataclass fields, lists, tuples and dicts) alike. Inside
:func:`intercept_calls` the ``__call__`` of each submodule's class is replaced by a wrapper that
records the output of the tracked instances and then restored, whatever happens. The model is
traced once under ``jit`` with the activations as extra outputs; where that fails it runs
eagerly, and a submodule called inside an inner ``jit`` then yields tracers, which are noted as
not recorded. (flax's ``nnx.capture(method_outputs=...)`` does the same for nnx alone, but
only for methods a class defines itself; one mechanism serves both libraries here.)

Pairing: a JAX submodule and a torch submodule are the same layer when the JAX parameters under
the first map, through the rules, onto exactly the torch parameters under the second (ignored
torch keys aside). Where several modules on a side own the same parameters (a wrapper around a
single layer), they pair outermost with outermost. Parameterless modules (activations,
dropout) have nothing to map: pair them with ``layer_map={jax_name: torch_name}``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from parallax.bridge import Rules
from parallax.parity._compare import LeafReport, compare_leaf
from parallax.parity._inputs import is_array, to_numpy

__all__ = [
    "Activation",
    "LayerReport",
    "compare_layers",
    "intercept_calls",
    "jax_submodules",
    "pair_layers",
    "record_jax",
    "record_torch",
]


@dataclass
class Activation:
    """The output leaves of one call (``call``-th, from 0) of the module at ``name``."""

    name: str
    call: int
    leaves: list[tuple[str, np.ndarray]]
    note: str = ""


@dataclass
class LayerReport:
    """One paired layer call at one dtype. ``status`` is ``"pass"``, ``"FAIL"`` (beyond
    tolerance) or ``"skipped"`` (not comparable: see ``note``). For a failing layer
    ``worst_index`` / ``got`` (JAX) / ``want`` (torch) give its worst element."""

    torch_name: str
    jax_name: str
    call: int
    dtype: str
    leaves: list[LeafReport] = field(default_factory=list)
    note: str = ""

    @property
    def status(self) -> str:
        if not self.leaves:
            return "skipped"
        return "pass" if all(r.passed for r in self.leaves) else "FAIL"

    @property
    def diverged(self) -> bool:
        return self.status == "FAIL"

    @property
    def max_abs(self) -> float:
        return max((r.max_abs for r in self.leaves), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((r.max_rel for r in self.leaves), default=0.0)

    def _worst(self) -> LeafReport | None:
        failing = [r for r in self.leaves if not r.passed]
        return failing[0] if failing else None

    @property
    def worst_index(self) -> tuple[int, ...] | None:
        w = self._worst()
        return None if w is None else w.worst_index

    @property
    def got(self) -> complex | None:
        w = self._worst()
        return None if w is None else w.got

    @property
    def want(self) -> complex | None:
        w = self._worst()
        return None if w is None else w.want

    def describe(self) -> str:
        call = f" (call {self.call})" if self.call else ""
        s = (
            f"torch {self.torch_name or '<root>'!r} <-> jax {self.jax_name or '<root>'!r}{call} "
            f"[{self.dtype}]: max abs {self.max_abs:.2e}, max rel {self.max_rel:.2e}"
        )
        if self.worst_index is not None:
            s += f"; worst at {list(self.worst_index)}: jax={self.got!r} torch={self.want!r}"
        if self.note:
            s += f" ({self.note})"
        return s


# --- recording ---------------------------------------------------------------------------------


def _array_leaves(out: Any) -> tuple[list[tuple[str, np.ndarray]], str]:
    flat, _ = jax.tree_util.tree_flatten_with_path(out, is_leaf=is_array)
    leaves, note = [], ""
    for path, leaf in flat:
        if isinstance(leaf, jax.core.Tracer):  # pyright: ignore[reportAttributeAccessIssue]
            note = "traced inside an inner jit: not recorded"
            continue
        if is_array(leaf):
            leaves.append((jax.tree_util.keystr(path) or "out", to_numpy(leaf)))
    return leaves, note


def record_torch(module: Any, run: Callable[[], Any]) -> list[Activation]:
    """Run ``run()`` with a forward hook on every named submodule of ``module``."""
    records: list[Activation] = []
    counts: Counter[str] = Counter()
    handles = []

    def make(name: str) -> Callable[..., None]:
        def hook(_mod: Any, _args: Any, output: Any) -> None:
            leaves, note = _array_leaves(output)
            records.append(Activation(name, counts[name], leaves, note))
            counts[name] += 1

        return hook

    for name, sub in module.named_modules():
        handles.append(sub.register_forward_hook(make(name)))
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return records


def _eqx_walk(obj: Any, path: tuple[Any, ...], out: list[tuple[str, Any]], seen: set[int]) -> None:
    import equinox as eqx

    if isinstance(obj, eqx.Module):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        out.append((".".join(str(p) for p in path), obj))
        for f in dataclasses.fields(obj):
            _eqx_walk(getattr(obj, f.name, None), (*path, f.name), out, seen)
    elif isinstance(obj, list | tuple):
        for i, x in enumerate(obj):
            _eqx_walk(x, (*path, i), out, seen)
    elif isinstance(obj, Mapping):
        for k, x in obj.items():
            _eqx_walk(x, (*path, k), out, seen)


def jax_submodules(model: Any) -> list[tuple[str, Any]]:
    """``(path, module)`` for the model and every submodule (nnx or equinox), outermost first."""
    from parallax.bridge._tree import is_nnx_module

    if is_nnx_module(model):
        from flax import nnx

        found = [(".".join(str(p) for p in path), m) for path, m in nnx.iter_modules(model)]
        return sorted(found, key=lambda item: _depth(item[0]))
    out: list[tuple[str, Any]] = []
    _eqx_walk(model, (), out, set())
    return out or [("", model)]


def _own_call(cls: type) -> Any:
    for klass in cls.__mro__:
        if "__call__" in klass.__dict__:
            return klass.__dict__["__call__"]
    return None


_MISSING = object()


@contextlib.contextmanager
def intercept_calls(
    modules: Sequence[tuple[str, Any]], on_return: Callable[[str, Any], None]
) -> Iterator[None]:
    """Within the block, every call of one of ``modules`` reports ``on_return(name, output)``
    when it returns (completion order). Nested calls of the same instance (``super()``
    chains) report once. The classes' own ``__call__`` attributes are restored on exit."""
    names = {id(m): name for name, m in modules}
    saved: dict[type, tuple[Any, Any]] = {}
    for _, m in modules:
        cls = type(m)
        impl = _own_call(cls)
        if cls not in saved and impl is not None:
            saved[cls] = (cls.__dict__.get("__call__", _MISSING), impl)
    active: list[Any] = []

    def make(impl: Any) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            name = names.get(id(self))
            if name is None or (active and active[-1] is self):
                return impl(self, *args, **kwargs)
            active.append(self)
            try:
                out = impl(self, *args, **kwargs)
            finally:
                active.pop()
            on_return(name, out)
            return out

        return wrapper

    try:
        for cls, (_, impl) in saved.items():
            type.__setattr__(cls, "__call__", make(impl))
        yield
    finally:
        for cls, (own, _) in saved.items():
            if own is _MISSING:
                type.__delattr__(cls, "__call__")
            else:
                type.__setattr__(cls, "__call__", own)


def record_jax(
    build: Callable[[Any], Any], params: Any, args: Any, run: Callable[[Any, Any], Any]
) -> list[Activation]:
    """Outputs of every submodule of ``build(params)`` while ``run(model, args)`` runs.

    The model runs once under ``jax.jit`` with the activations returned as extra outputs (one
    compilation instead of one per operation); a model that cannot run that way (a submodule
    called inside its own inner ``jit``, non-array outputs) runs again eagerly."""
    names: list[tuple[str, list[str]]] = []

    def traced(params: Any, args: Any) -> list[list[Any]]:
        names.clear()
        arrays: list[list[Any]] = []

        def on_return(name: str, out: Any) -> None:
            flat, _ = jax.tree_util.tree_flatten_with_path(out)
            kept = [(p, x) for p, x in flat if isinstance(x, jax.Array)]
            names.append((name, [jax.tree_util.keystr(p) or "out" for p, _ in kept]))
            arrays.append([x for _, x in kept])

        model = build(params)
        with intercept_calls(jax_submodules(model), on_return):
            run(model, args)
        return arrays

    try:
        outs = jax.jit(traced)(params, args)
    except Exception:  # an inner jit or a non-array output: record eagerly instead
        return _record_eager(build(params), lambda m: run(m, args))
    records: list[Activation] = []
    counts: Counter[str] = Counter()
    for (name, leaf_names), arrays in zip(names, outs, strict=True):
        leaves = [(n, to_numpy(a)) for n, a in zip(leaf_names, arrays, strict=True)]
        records.append(Activation(name, counts[name], leaves))
        counts[name] += 1
    return records


def _record_eager(model: Any, run: Callable[[Any], Any]) -> list[Activation]:
    records: list[Activation] = []
    counts: Counter[str] = Counter()

    def on_return(name: str, out: Any) -> None:
        leaves, note = _array_leaves(out)
        records.append(Activation(name, counts[name], leaves, note))
        counts[name] += 1

    with intercept_calls(jax_submodules(model), on_return):
        run(model)
    return records


# --- pairing and comparison --------------------------------------------------------------------


def _depth(name: str) -> int:
    return 0 if name == "" else name.count(".") + 1


def _owned(names: Sequence[str], prefix: str) -> list[str]:
    return [n for n in names if prefix == "" or n.startswith(prefix + ".")]


def pair_layers(
    jax_modules: Sequence[str],
    jax_params: Sequence[str],
    torch_modules: Sequence[str],
    torch_params: Sequence[str],
    rules: Rules,
    layer_map: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``{torch_name: jax_name}`` of the layers that own the same parameters (module doc)."""
    torch_keys = [k for k in torch_params if not rules.ignored(k)]
    by_keys_jax: dict[frozenset[str], list[str]] = {}
    for p in jax_modules:
        found = (rules.find(n) for n in _owned(jax_params, p))
        keys = frozenset(f[1] for f in found if f is not None)
        if keys:
            by_keys_jax.setdefault(keys, []).append(p)
    by_keys_torch: dict[frozenset[str], list[str]] = {}
    for t in torch_modules:
        keys = frozenset(_owned(torch_keys, t))
        if keys:
            by_keys_torch.setdefault(keys, []).append(t)
    pairs: dict[str, str] = {}
    for keys, js in by_keys_jax.items():
        ts = by_keys_torch.get(keys, [])
        for j, t in zip(sorted(js, key=_depth), sorted(ts, key=_depth), strict=False):
            pairs[t] = j
    for j, t in (layer_map or {}).items():
        pairs = {tt: jj for tt, jj in pairs.items() if tt != t and jj != j}
        pairs[t] = j
    return pairs


def _align(got: np.ndarray, want: np.ndarray) -> tuple[np.ndarray, str]:
    """Torch activations are often channels-first where JAX ones are channels-last: when only
    moving torch's axis 1 to the end makes the shapes agree, compare that way. When both
    layouts fit (channels == last axis), the closer one is compared, and the note says so."""
    if want.ndim < 3:
        return want, ""
    moved = np.moveaxis(want, 1, -1)
    if moved.shape != got.shape:
        return want, ""
    if got.shape != want.shape:
        return moved, "torch channels-first compared channels-last"
    if np.array_equal(moved, want):
        return want, ""

    def err(w: np.ndarray) -> float:
        with np.errstate(invalid="ignore"):
            return float(np.nanmax(np.abs(got.astype(np.complex128) - w)))

    if err(moved) < err(want):
        return moved, "channels == last axis: compared channels-last, the closer layout"
    return want, ""


def compare_layers(
    torch_records: Sequence[Activation],
    jax_records: Sequence[Activation],
    pairs: Mapping[str, str],
    dtype: str,
    tol: tuple[float, float],
) -> list[LayerReport]:
    """One report per recorded torch call of a paired layer, in torch's completion order."""
    jax_by = {(a.name, a.call): a for a in jax_records}
    rtol, atol = tol
    out = []
    for t in torch_records:
        if t.name not in pairs:
            continue
        jname = pairs[t.name]
        rep = LayerReport(t.name, jname, t.call, dtype)
        j = jax_by.get((jname, t.call))
        if j is None:
            rep.note = f"call {t.call} of {jname!r} was not seen on the JAX side"
        elif not j.leaves or not t.leaves:
            rep.note = j.note or t.note or "no array output"
        else:
            notes = []
            if len(j.leaves) != len(t.leaves):
                notes.append(f"torch returned {len(t.leaves)} arrays, jax {len(j.leaves)}")
            for (name, g), (_, w) in zip(j.leaves, t.leaves, strict=False):
                w, how = _align(g, w)
                if how and how not in notes:
                    notes.append(how)
                r = compare_leaf(name, g, w, rtol, atol, dtype=dtype, kind="layer")
                if r.note.startswith("shape mismatch"):
                    notes.append(r.note)
                    continue
                rep.leaves.append(r)
            rep.note = "; ".join(notes)
        out.append(rep)
    return out
