r"""The comparison engine: run one side (JAX or torch) on prepared inputs, then compare.

Forward: every output leaf, named by its pytree path (``"out"`` for a single array).

Backward (VJP of a fixed random cotangent): with weights ``c`` drawn once per output leaf from
``numpy.random.default_rng(seed)`` (``c_re``, ``c_im`` of the leaf's shape, float64, cast to
the compute dtype), both sides differentiate the same real scalar

.. math::  L = \sum_\text{leaves} \sum_\text{elements} c_{re} \odot \Re(\text{out})
              + c_{im} \odot \Im(\text{out})

with respect to the selected input leaves (``jax.grad`` on one side, ``torch.autograd.grad`` on
the other), i.e. ``vjp(c)``. For a complex input ``z = x + iy`` torch returns
``∂L/∂x + i ∂L/∂y`` and JAX the conjugate ``∂L/∂x - i ∂L/∂y``; JAX's is conjugated, so every
gradient is reported in torch's convention.

Forward mode (JVP): tangents ``t`` for the selected inputs from ``default_rng([seed, 1])``
(complex inputs get complex tangents), then ``jax.jvp`` vs ``torch.func.jvp``; the pushed-forward
tangents of every floating output leaf are compared. Both frameworks treat a complex tangent as
the perturbation ``δx + i δy``, so no conjugation is needed there.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from parallax.parity._compare import LeafReport, compare_leaf
from parallax.parity._inputs import Inputs, to_numpy, to_torch
from parallax.parity._precision import dtype_context, pinned_precision
from parallax.parity._tolerance import Tolerances

__all__ = [
    "Outputs",
    "compare_outputs",
    "cotangents",
    "grad_label",
    "jax_side",
    "output_leaves",
    "tangents",
    "torch_side",
]


@dataclass
class Outputs:
    """One side's results at one dtype: output leaves by path name, gradients by input label
    (``"grad[x]"``, torch's convention) and, with forward mode, pushed-forward tangents."""

    outputs: list[tuple[str, np.ndarray]] = field(default_factory=list)
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    jvp: list[tuple[str, np.ndarray]] | None = None


def output_leaves(tree: Any) -> list[tuple[str, Any]]:
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(jax.tree_util.keystr(path) or "out", leaf) for path, leaf in flat]


def grad_label(inputs: Inputs, i: int) -> str:
    leaf = inputs.leaves[i]
    return f"grad[{leaf.top}]{leaf.label[len(str(leaf.top)) :]}"


def cotangents(shapes: Sequence[tuple[int, ...]], seed: int = 0) -> list[np.ndarray]:
    """Fixed float64 weights ``(c_re, c_im)`` stacked on a leading axis of 2, one per leaf."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((2, *s)) for s in shapes]


def tangents(values: Sequence[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """Random tangents of each value's shape and dtype (complex values get complex ones)."""
    rng = np.random.default_rng([seed, 1])
    out = []
    for v in values:
        t = rng.standard_normal(v.shape)
        if np.iscomplexobj(v):
            t = t + 1j * rng.standard_normal(v.shape)
        out.append(t.astype(v.dtype))
    return out


def _compute_dtype(dtype: str) -> str:
    return "float64" if dtype == "float64" else "float32"


def _inexact(x: Any) -> bool:
    return bool(jnp.issubdtype(np.asarray(x).dtype, jnp.inexact))


# --- JAX ---------------------------------------------------------------------------------------


def _weighted_sum(out: Any, cots: Sequence[Any]) -> Any:
    """``Σ c_re ⊙ Re(out) + c_im ⊙ Im(out)`` over leaves, in the cotangents' dtype."""
    leaves = [leaf for _, leaf in output_leaves(out)]
    total = jnp.zeros((), dtype=cots[0].dtype) if cots else jnp.zeros(())
    for leaf, c in zip(leaves, cots, strict=True):
        total = total + jnp.sum(jnp.real(leaf).astype(c.dtype) * c[0])
        if jnp.iscomplexobj(leaf):
            total = total + jnp.sum(jnp.imag(leaf).astype(c.dtype) * c[1])
    return total


@dataclass(frozen=True)
class _Programs:
    """``call`` (plain), ``fwd`` (outputs), ``fwd_vjp`` (outputs and the VJP in one program,
    so a comparison with gradients compiles once) and ``jvp``."""

    call: Callable[..., Any]
    fwd: Callable[..., Any]
    fwd_vjp: Callable[..., Any]
    jvp: Callable[..., Any]


_CACHE: collections.OrderedDict[Any, _Programs] = collections.OrderedDict()
_CACHE_SIZE = 64


def _programs(
    fn: Callable[..., Any], inputs: Inputs, mask: tuple[bool, ...], jit: bool
) -> _Programs:
    """Forward, VJP and JVP of ``fn`` over the array leaves, jitted (and cached per function,
    input structure and static leaves when those are hashable, so repeated comparisons of one
    function share a compilation; jit's own cache keys on shapes, dtypes and the x64 flag)."""
    static = inputs.static_key()
    key = None
    if jit and static is not None:
        try:
            key = (fn, inputs.kind, inputs.treedef, static, mask)
            hash(key)
        except TypeError:
            key = None
    if key is not None and key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    leaves = inputs.leaves
    diff_idx = [i for i, m in enumerate(mask) if m]

    def call(arrays: Sequence[Any]) -> Any:
        values = [a if leaf.array else leaf.value for a, leaf in zip(arrays, leaves, strict=True)]
        return inputs.call(fn, values)

    def merged(diff: Sequence[Any], rest: Sequence[Any]) -> list[Any]:
        arrays = list(rest)
        for i, d in zip(diff_idx, diff, strict=True):
            arrays[i] = d
        return arrays

    def loss(diff: Sequence[Any], rest: Sequence[Any], cots: Sequence[Any]) -> Any:
        out = call(merged(diff, rest))
        return _weighted_sum(out, cots), out

    def push(diff: Sequence[Any], rest: Sequence[Any], tans: Sequence[Any]) -> Any:
        return jax.jvp(lambda d: call(merged(d, rest)), (list(diff),), (list(tans),))[1]

    wrap = jax.jit if jit else (lambda f: f)
    progs = _Programs(call, wrap(call), wrap(jax.grad(loss, has_aux=True)), wrap(push))
    if key is not None:
        _CACHE[key] = progs
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return progs


def jax_side(
    fn: Callable[..., Any],
    inputs: Inputs,
    dtype: str,
    mask: tuple[bool, ...],
    *,
    seed: int = 0,
    jvp: bool = False,
    jit: bool = True,
) -> Outputs:
    """Run ``fn`` on ``inputs`` (already cast to ``dtype``) and differentiate it."""
    progs = _programs(fn, inputs, mask, jit)
    with dtype_context(dtype), pinned_precision(torch_too=False):
        arrays = [jnp.asarray(leaf.value) if leaf.array else None for leaf in inputs.leaves]
        diff_idx = [i for i, m in enumerate(mask) if m]
        if not diff_idx:
            out = output_leaves(progs.fwd(arrays))
            return Outputs(outputs=[(name, to_numpy(x)) for name, x in out])
        diff = [arrays[i] for i in diff_idx]
        shapes = [x.shape for _, x in output_leaves(jax.eval_shape(progs.call, arrays))]
        cdt = _compute_dtype(dtype)
        cots = [jnp.asarray(c, dtype=cdt) for c in cotangents(shapes, seed)]
        grads, raw = progs.fwd_vjp(diff, arrays, cots)
        out = output_leaves(raw)
        result = Outputs(outputs=[(name, to_numpy(x)) for name, x in out])
        for i, g in zip(diff_idx, grads, strict=True):
            result.grads[grad_label(inputs, i)] = np.conj(to_numpy(g))
        if jvp:
            tans = tangents([inputs.leaves[i].value for i in diff_idx], seed)
            pushed = progs.jvp(diff, arrays, [jnp.asarray(t) for t in tans])
            result.jvp = [
                (name, to_numpy(t))
                for (name, t), (_, o) in zip(output_leaves(pushed), out, strict=True)
                if _inexact(o)
            ]
    return result


# --- torch -------------------------------------------------------------------------------------


def _torch_leaf(x: Any) -> np.ndarray:
    return to_numpy(x) if hasattr(x, "detach") else np.asarray(x)


def torch_side(
    fn: Callable[..., Any],
    inputs: Inputs,
    dtype: str,
    mask: tuple[bool, ...],
    *,
    seed: int = 0,
    jvp: bool = False,
    device: str = "cpu",
) -> Outputs:
    """Run the torch reference on the same values; gradients by ``torch.autograd.grad``."""
    import torch

    with pinned_precision():
        tensors = [
            to_torch(leaf.value, device) if leaf.array else leaf.value for leaf in inputs.leaves
        ]
        diff_idx = [i for i, m in enumerate(mask) if m]
        for i in diff_idx:
            tensors[i] = tensors[i].detach().requires_grad_(True)
        out = output_leaves(inputs.call(fn, tensors))
        result = Outputs(outputs=[(name, _torch_leaf(t)) for name, t in out])
        if not diff_idx:
            return result
        cdt = torch.float64 if dtype == "float64" else torch.float32
        total = torch.zeros((), dtype=cdt, device=device)
        shapes = [tuple(getattr(t, "shape", ())) for _, t in out]
        for (_, leaf), c in zip(out, cotangents(shapes, seed), strict=True):
            if not isinstance(leaf, torch.Tensor):
                continue
            cr = torch.from_numpy(np.ascontiguousarray(c[0])).to(device=device, dtype=cdt)
            total = total + (torch.real(leaf).to(cdt) * cr).sum()
            if torch.is_complex(leaf):
                ci = torch.from_numpy(np.ascontiguousarray(c[1])).to(device=device, dtype=cdt)
                total = total + (torch.imag(leaf).to(cdt) * ci).sum()
        wrt = [tensors[i] for i in diff_idx]
        if total.requires_grad:
            gs = torch.autograd.grad(total, wrt, allow_unused=True)
        else:
            gs = (None,) * len(wrt)
        for i, g in zip(diff_idx, gs, strict=True):
            v = inputs.leaves[i].value
            result.grads[grad_label(inputs, i)] = np.zeros_like(v) if g is None else _torch_leaf(g)
        if jvp:
            tans = tangents([inputs.leaves[i].value for i in diff_idx], seed)

            def pushed(*diff: Any) -> Any:
                values = list(tensors)
                for i, d in zip(diff_idx, diff, strict=True):
                    values[i] = d
                return inputs.call(fn, values)

            primals = tuple(tensors[i].detach() for i in diff_idx)
            pushed_out = torch.func.jvp(pushed, primals, tuple(to_torch(t, device) for t in tans))
            tout = pushed_out[1]
            result.jvp = [
                (name, _torch_leaf(t))
                for (name, t), (_, o) in zip(output_leaves(tout), out, strict=True)
                if _inexact(_torch_leaf(o))
            ]
    return result


# --- comparison --------------------------------------------------------------------------------


def _label(kind: str, name: str) -> str:
    if kind == "out":
        return name if name == "out" else f"out{name}"
    return name if kind != "jvp" else ("jvp" if name == "out" else f"jvp{name}")


def _compare_named(
    kind: str,
    got: Mapping[str, np.ndarray] | Sequence[tuple[str, np.ndarray]],
    want: Mapping[str, np.ndarray] | Sequence[tuple[str, np.ndarray]],
    dtype: str,
    tol: tuple[float, float],
    reference: str,
) -> tuple[list[LeafReport], list[str]]:
    g = dict(got.items() if isinstance(got, Mapping) else got)
    w = dict(want.items() if isinstance(want, Mapping) else want)
    errors = []
    if set(g) != set(w):
        only_g = [k for k in g if k not in w]
        only_w = [k for k in w if k not in g]
        errors.append(
            f"[{dtype}] {kind} structure differs: jax leaves {list(g)} vs {reference} leaves "
            f"{list(w)}"
            + (f"; only in jax: {only_g}" if only_g else "")
            + (f"; only in {reference}: {only_w}" if only_w else "")
        )
    rtol, atol = tol
    reports = [
        compare_leaf(_label(kind, k), g[k], w[k], rtol, atol, dtype=dtype, kind=kind)
        for k in w
        if k in g
    ]
    return reports, errors


def compare_outputs(
    got: Outputs, want: Outputs, dtype: str, tols: Tolerances, reference: str = "torch"
) -> tuple[list[LeafReport], list[str]]:
    """Leaf reports (outputs with the values table, gradients and JVPs with the gradients
    table) and structural errors; leaves are matched by path name, never by position."""
    reports, errors = _compare_named(
        "out", got.outputs, want.outputs, dtype, tols.get(dtype), reference
    )
    if errors or any(r.note.startswith("shape mismatch") for r in reports):
        errors.append(f"[{dtype}] gradients not compared: the outputs differ in structure")
        return reports, errors
    if want.grads or got.grads:
        r, e = _compare_named(
            "grad", got.grads, want.grads, dtype, tols.get(dtype, "grads"), reference
        )
        reports += r
        errors += e
    if want.jvp is not None or got.jvp is not None:
        r, e = _compare_named(
            "jvp", got.jvp or [], want.jvp or [], dtype, tols.get(dtype, "grads"), reference
        )
        reports += r
        errors += e
    return reports, errors
