"""``compare_modules``: a JAX model (flax nnx or equinox) against a torch module, layer by layer.

1. Weights are copied with :mod:`parallax.bridge` and the ``rules`` table: ``direction=
   "torch_to_jax"`` (default) imports the torch weights into a copy of the JAX model,
   ``"jax_to_torch"`` exports the JAX weights into a copy of the torch module. The caller's
   objects are never modified.
2. At each dtype both sides get the same parameter values (floating ones cast to the dtype,
   complex ones to its complex dtype; torch buffers too) and the same inputs, and the engine
   of :func:`parallax.parity.compare` compares the outputs and the VJP of a fixed random
   cotangent with respect to every floating input (``grad[...]``) and every parameter
   (``param[<torch name>]``: JAX gradients are mapped to torch names and layouts through the
   same rules, in torch's complex convention).
3. With ``layers=True`` the activations of every named submodule are recorded on both sides
   and paired through the rules (:mod:`parallax.parity._layers`); ``report.first_divergence``
   is the first paired layer, in torch's execution order, whose activations exceed the value
   tolerance.

The torch module runs in the mode it is in: call ``.eval()`` first where dropout or batch
statistics would otherwise differ (randomness is removed, not matched).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp
import numpy as np

from parallax.bridge import import_from_torch, named_params, named_to_torch
from parallax.bridge._state_dict import _rules_for
from parallax.kernels import numpy_complex_dtype
from parallax.parity._engine import Outputs, compare_outputs, grad_label, jax_side, torch_side
from parallax.parity._inputs import (
    Inputs,
    check_dtypes,
    numpy_dtype,
    prepare_inputs,
    to_numpy,
    to_torch,
)
from parallax.parity._layers import (
    LayerReport,
    compare_layers,
    jax_submodules,
    pair_layers,
    record_jax,
    record_torch,
)
from parallax.parity._precision import dtype_context, pinned_precision
from parallax.parity._report import ParityReport, format_table
from parallax.parity._tolerance import resolve_tolerances

__all__ = ["ModuleParityReport", "compare_modules", "copy_weights", "torch_dtype_params"]

DIRECTIONS = ("torch_to_jax", "jax_to_torch")


@dataclass(repr=False)
class ModuleParityReport(ParityReport):
    """:class:`ParityReport` of outputs and gradients, plus ``layers[dtype]`` (one
    :class:`LayerReport` per paired layer call, torch's execution order), the layers recorded
    on one side only, and :attr:`first_divergence`."""

    layers: dict[str, list[LayerReport]] = field(default_factory=dict)
    unpaired_torch: list[str] = field(default_factory=list)
    unpaired_jax: list[str] = field(default_factory=list)

    @property
    def first_divergence(self) -> LayerReport | None:
        """The first layer (execution order) beyond tolerance, at the first dtype that has
        one: ``.torch_name``, ``.jax_name``, ``.max_abs``, ``.worst_index``, ``.got``,
        ``.want``."""
        for reports in self.layers.values():
            for r in reports:
                if r.diverged:
                    return r
        return None

    @property
    def passed(self) -> bool:
        return super().passed and self.first_divergence is None

    def table(self) -> str:
        lines = [super().table()]
        first = self.first_divergence
        if first is not None:
            lines.append(f"first divergence: {first.describe()}")
        for dtype, reports in self.layers.items():
            lines.append(f"layers at {dtype} (torch execution order):")
            rows = [
                [
                    r.torch_name or "<root>",
                    r.jax_name or "<root>",
                    f"{r.max_abs:.2e}" if r.leaves else "-",
                    f"{r.max_rel:.2e}" if r.leaves else "-",
                    r.status + (" <- first" if r is first else ""),
                ]
                for r in reports
            ]
            header = ["torch layer", "jax layer", "max abs", "max rel", "result"]
            lines.extend("  " + line for line in format_table(header, rows))
        if self.unpaired_torch:
            lines.append(f"torch layers without a JAX pair: {self.unpaired_torch}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["layers"] = {
            dtype: [
                {
                    "torch_name": r.torch_name,
                    "jax_name": r.jax_name,
                    "call": r.call,
                    "status": r.status,
                    "max_abs": r.max_abs,
                    "max_rel": r.max_rel,
                    "worst_index": r.worst_index,
                    "note": r.note,
                }
                for r in reports
            ]
            for dtype, reports in self.layers.items()
        }
        first = self.first_divergence
        out["first_divergence"] = None if first is None else [first.torch_name, first.jax_name]
        return out


def copy_weights(jax_model: Any, torch_module: Any, rules: Any, direction: str) -> tuple[Any, Any]:
    """``(jax_model, torch_module)`` holding the same weights: new objects, inputs untouched."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction: expected one of {DIRECTIONS}, got {direction!r}")
    from parallax.bridge import export_to_torch

    torch_copy = copy.deepcopy(torch_module)
    if direction == "torch_to_jax":
        return import_from_torch(jax_model, torch_copy, rules=rules), torch_copy
    return jax_model, export_to_torch(jax_model, torch_copy, rules=rules)


def _cast(x: np.ndarray, dtype: str) -> np.ndarray:
    if not np.issubdtype(x.dtype, np.inexact) and x.dtype != numpy_dtype("bfloat16"):
        return x
    if np.iscomplexobj(x):
        return x.astype(numpy_complex_dtype(dtype))
    return x.astype(numpy_dtype(dtype))


def torch_dtype_params(module: Any, dtype: str) -> dict[str, np.ndarray]:
    """Every parameter and floating buffer of ``module`` as NumPy at ``dtype``.

    ``Module.to(float64)`` would drop the imaginary part of complex parameters, so values are
    cast one by one (complex -> complex of the same precision) and handed to
    ``torch.func.functional_call`` instead."""
    values = {n: _cast(to_numpy(p), dtype) for n, p in module.named_parameters()}
    for n, b in module.named_buffers():
        values[n] = _cast(to_numpy(b), dtype)
    return values


def _functional(
    module: Any, names: list[str], buffers: Mapping[str, np.ndarray], kind: str, device: str
) -> Callable[..., Any]:
    """``f(param_list, inputs)``: the module with these parameters (and buffers) applied."""
    import torch

    def f(plist: list[Any], tree: Any) -> Any:
        state = dict(zip(names, plist, strict=True))
        state.update({k: to_torch(v, device) for k, v in buffers.items()})
        return _call(lambda *a, **k: torch.func.functional_call(module, state, a, k), kind, tree)

    return f


def _call(fn: Callable[..., Any], kind: str, tree: Any) -> Any:
    return fn(**tree) if kind == "kwargs" else fn(*tree)


def _relabel(
    out: Outputs,
    user: Inputs,
    n_params: int,
    param_grads: Callable[[dict[int, Any]], dict[str, np.ndarray]],
) -> Outputs:
    """Engine labels ``grad[0][i]`` (parameter i) and ``grad[1]...`` (user inputs) -> final."""
    raw = list(out.grads.values())
    grads = {f"param[{k}]": v for k, v in param_grads(dict(enumerate(raw[:n_params]))).items()}
    user_idx = [i for i, m in enumerate(user.grad_mask(...)) if m]
    for i, v in zip(user_idx, raw[n_params:], strict=True):
        grads[grad_label(user, i)] = v
    return Outputs(out.outputs, grads, out.jvp)


def compare_modules(
    jax_model: Any,
    torch_module: Any,
    inputs: Any,
    *,
    rules: Any = None,
    direction: str = "torch_to_jax",
    dtypes: Any = ("float32", "float64"),
    layers: bool = True,
    tol: Any = None,
    layer_map: Mapping[str, str] | None = None,
    device: str = "cpu",
    seed: int = 0,
    title: str | None = None,
) -> ModuleParityReport:
    """Compare ``jax_model(*inputs)`` with ``torch_module(*inputs)`` after copying the weights
    (module doc). ``rules``: a :class:`parallax.bridge.Rules` (default: the model's own
    ``torch_rules()``); ``tol`` as in :func:`parallax.parity.compare`; ``layer_map``:
    extra ``{jax_name: torch_name}`` layer pairs (parameterless layers)."""

    rules = _rules_for(jax_model, rules)
    jax_model, torch_copy = copy_weights(jax_model, torch_module, rules, direction)
    torch_copy.to(device)
    dtypes = check_dtypes(dtypes)
    tols = resolve_tolerances(tol)
    for d in dtypes:  # a missing table entry fails before anything runs
        tols.get(d)
        tols.get(d, "grads")
    user = prepare_inputs(inputs)
    jparams, rebuild = named_params(jax_model)
    jnames = list(jparams)
    report = ModuleParityReport(title or type(jax_model).__name__, "torch")

    def jax_fn(plist: list[Any], tree: Any) -> Any:
        return _call(rebuild(dict(zip(jnames, plist, strict=True))), user.kind, tree)

    def jax_param_grads(g: dict[int, Any]) -> dict[str, np.ndarray]:
        return named_to_torch({jnames[i]: v for i, v in g.items()}, rules)

    tnames = [n for n, _ in torch_copy.named_parameters()]

    def torch_param_grads(g: dict[int, Any]) -> dict[str, np.ndarray]:
        return {tnames[i]: v for i, v in g.items()}

    for dtype in dtypes:
        cast_user = user.cast(dtype)
        user_values = [leaf.value for leaf in cast_user.leaves]
        jvals = [_cast(np.asarray(jparams[n]), dtype) for n in jnames]
        tvals = torch_dtype_params(torch_copy, dtype)
        buffers = {k: v for k, v in tvals.items() if k not in tnames}
        torch_fn = _functional(torch_copy, tnames, buffers, user.kind, device)
        jin = prepare_inputs(([*jvals], cast_user.rebuild(user_values)))
        tin = prepare_inputs(([tvals[n] for n in tnames], cast_user.rebuild(user_values)))
        got = jax_side(jax_fn, jin, dtype, jin.grad_mask(...), seed=seed)
        want = torch_side(torch_fn, tin, dtype, tin.grad_mask(...), seed=seed, device=device)
        got = _relabel(got, cast_user, len(jnames), jax_param_grads)
        want = _relabel(want, cast_user, len(tnames), torch_param_grads)
        leaves, errors = compare_outputs(got, want, dtype, tols)
        report.leaves += leaves
        report.errors += errors
        if layers:
            ctx = _LayerContext(torch_copy, rebuild, jnames, rules, layer_map, device)
            _layers(report, ctx, jvals, tin, cast_user, torch_fn, dtype, tols.get(dtype))
    return report


@dataclass(frozen=True)
class _LayerContext:
    """What layer recording needs besides the values at one dtype."""

    torch_module: Any
    rebuild: Callable[[Mapping[str, Any]], Any]
    jnames: list[str]
    rules: Any
    layer_map: Mapping[str, str] | None
    device: str


def _layers(
    report: ModuleParityReport,
    ctx: _LayerContext,
    jvals: list[np.ndarray],
    tin: Inputs,
    user: Inputs,
    torch_fn: Callable[..., Any],
    dtype: str,
    tol: tuple[float, float],
) -> None:
    """Record both sides' activations at ``dtype``, pair and compare them into ``report``."""
    torch_copy = ctx.torch_module
    values = [to_torch(leaf.value, ctx.device) if leaf.array else leaf.value for leaf in tin.leaves]
    for i in range(len(values) - len(user.leaves)):  # grad enabled: no inference fast paths
        values[i] = values[i].requires_grad_(True)  # that skip submodules (MHA, encoder)
    with pinned_precision():
        torch_records = record_torch(torch_copy, lambda: torch_fn(*tin.rebuild(values)))

    def run(model: Any, arrays: list[Any]) -> Any:
        args = [
            a if leaf.array else leaf.value for a, leaf in zip(arrays, user.leaves, strict=True)
        ]
        return _call(model, user.kind, user.rebuild(args))

    def build(flat: list[Any]) -> Any:
        return ctx.rebuild(dict(zip(ctx.jnames, flat, strict=True)))

    with dtype_context(dtype), pinned_precision(torch_too=False):
        params = [jnp.asarray(v) for v in jvals]
        args = [jnp.asarray(leaf.value) if leaf.array else None for leaf in user.leaves]
        jax_records = record_jax(build, params, args, run)
        jax_mods = [name for name, _ in jax_submodules(build(params))]
    torch_mods = [name for name, _ in torch_copy.named_modules()]
    torch_params = [n for n, _ in torch_copy.named_parameters()]
    pairs = pair_layers(jax_mods, ctx.jnames, torch_mods, torch_params, ctx.rules, ctx.layer_map)
    report.layers[dtype] = compare_layers(torch_records, jax_records, pairs, dtype, tol)
    seen = {a.name for a in torch_records}
    report.unpaired_torch = [t for t in torch_mods if t in seen and t not in pairs]
    report.unpaired_jax = [j for j in jax_mods if j not in pairs.values()]
