r"""Attention on the device: parallax's Pallas flash kernel against ``jax.nn`` (XLA and cuDNN),
parallax's default path and torch SDPA (flash backend and torch's own choice), forward and
forward+backward, for each (seq, head_dim, causal, dtype) of an :class:`AttentionGrid`.

Parity: every implementation against one float64 reference of the same inputs (``softmax(q kᵀ
/ √d) v`` written out, its gradients by ``jax.vjp``), as ``max |out - ref|`` and ``‖out - ref‖
/ ‖ref‖``. Inputs and the cotangent are drawn bfloat16-representable, so the bfloat16 and the
float32 runs see exactly the reference's inputs. ``ok`` compares the relative error with
:data:`REL_L2_OK` (IEEE float32 lands near 1e-7, TF32 near 3e-4, bfloat16 near 3e-3).

Time: :func:`parallax.bench.time_impls` (warm-up, calibrated samples alternating between
implementations, median). ``flops`` count ``4 B H S² D`` per forward (half with ``causal``)
and 2.5x that for the backward (FlashAttention's convention). JAX code is lowered under
``highest`` matmul precision and torch runs with TF32 off; float32 also times the flash kernel
lowered at JAX's default precision (``parallax-flash@default``: TF32 dots on a GPU).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

from parallax.bench import time_impls
from parallax.bridge import torch_to_jax
from parallax.gpucheck._precision import timing_precision
from parallax.gpucheck._record import Section
from parallax.kernels import nn

__all__ = ["REL_L2_OK", "AttentionGrid", "attention_section"]

REL_L2_OK = {"float32": (1e-5, 1e-4), "bfloat16": (1e-2, 2e-2)}
"""``(forward, gradient)`` bounds on ``‖out - ref‖ / ‖ref‖`` for ``ok``."""

JAX_IMPLS = ("parallax-flash", "parallax-auto", "jax-xla", "jax-cudnn")
TORCH_IMPLS = ("torch-sdpa-flash", "torch-sdpa")


@dataclass(frozen=True)
class AttentionGrid:
    batch: int
    heads: int
    seqs: tuple[int, ...]
    dims: tuple[int, ...]
    causal: tuple[bool, ...] = (False, True)
    dtypes: tuple[str, ...] = ("bfloat16", "float32")

    def configs(self) -> list[tuple[int, int, bool]]:
        """(seq, dim, causal), smallest shape first, then the largest, then the rest: under a
        budget cut the two ends of the grid are measured first."""
        pairs = [(s, d) for s in self.seqs for d in self.dims]
        if len(pairs) > 2:
            pairs = [pairs[0], pairs[-1], *pairs[1:-1]]
        return [(s, d, c) for s, d in pairs for c in self.causal]


def _draw(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape).astype(ml_dtypes.bfloat16).astype(np.float32)


def _reference(causal: bool) -> Callable[..., Any]:
    def attn(q, k, v):
        s = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(q.shape[-1])
        if causal:
            n = q.shape[1]
            s = jnp.where(jnp.tril(jnp.ones((n, n), dtype=bool)), s, -jnp.inf)
        return jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(s, axis=-1), v)

    def run(q, k, v, cot):
        out, vjp = jax.vjp(attn, q, k, v)
        return out, vjp(cot)

    return jax.jit(run)


@jax.jit
def _errors(got: jax.Array, ref: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    d = got.astype(ref.dtype) - ref
    return jnp.max(jnp.abs(d)), jnp.linalg.norm(d) / jnp.linalg.norm(ref), jnp.isnan(d).any()


def _measure(outs: Any, refs: Any, bound: float) -> dict[str, Any]:
    """Worst ``max_abs`` and ``rel_l2`` over the leaves of ``outs`` against ``refs``."""
    worst = {"max_abs": 0.0, "rel_l2": 0.0, "nan": False}
    with jax.enable_x64(True):
        for got, ref in zip(jax.tree.leaves(outs), jax.tree.leaves(refs), strict=True):
            m, r, n = (x.item() for x in _errors(got, ref))
            worst = {
                "max_abs": max(worst["max_abs"], m),
                "rel_l2": max(worst["rel_l2"], r),
                "nan": worst["nan"] or bool(n),
            }
    return {**worst, "ok": not worst["nan"] and worst["rel_l2"] <= bound}


def _jax_attention(impl: str, causal: bool) -> Callable[..., Any]:
    def attn(q, k, v):
        # jax.nn mixes float32 into bfloat16 inputs; standard promotion is what users run
        with jax.numpy_dtype_promotion("standard"):
            if impl.startswith("parallax-"):
                kind = "flash" if impl.startswith("parallax-flash") else "auto"
                return nn.dot_product_attention(q, k, v, causal=causal, implementation=kind)
            backend = "cudnn" if impl == "jax-cudnn" else "xla"
            return jax.nn.dot_product_attention(q, k, v, is_causal=causal, implementation=backend)

    return attn


def _compiled(fn: Callable[..., Any], *args: Any) -> tuple[Callable[[], Any], float]:
    """``fn`` compiled for ``args`` (arguments, not constants baked into the program)."""
    t0 = time.perf_counter()
    exe = jax.jit(fn).lower(*args).compile()
    return (lambda: exe(*args)), time.perf_counter() - t0


def _jax_fns(impl: str, causal: bool, q, k, v, cot) -> tuple[Any, Any]:
    attn = _jax_attention(impl, causal)

    def grads(q, k, v, cot):
        loss = lambda q, k, v: jnp.sum(attn(q, k, v).astype(jnp.float32) * cot)  # noqa: E731
        return jax.grad(loss, argnums=(0, 1, 2))(q, k, v)

    pin = (
        contextlib.nullcontext()
        if impl.endswith("@default")
        else jax.default_matmul_precision("highest")
    )
    with pin:
        return _compiled(attn, q, k, v), _compiled(grads, q, k, v, cot)


def _torch_fns(impl: str, causal: bool, q, k, v, cot) -> tuple[Any, Any]:
    """Forward and forward+backward on torch's BHSD layout (``_to_jax_btnh`` converts)."""
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def backend() -> contextlib.AbstractContextManager[Any]:
        if impl == "torch-sdpa-flash":
            return sdpa_kernel(SDPBackend.FLASH_ATTENTION)
        return contextlib.nullcontext()

    def fwd() -> Any:
        with torch.no_grad(), backend():
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    def bwd() -> Any:
        leaves = [t.detach().requires_grad_(True) for t in (q, k, v)]
        with backend():
            out = F.scaled_dot_product_attention(*leaves, is_causal=causal)
        return torch.autograd.grad(out, leaves, grad_outputs=cot)

    return fwd, bwd


def _to_jax_btnh(t: Any) -> jax.Array:
    return torch_to_jax(t.transpose(1, 2).contiguous())


Fns = dict[str, "tuple[Any, Any] | Exception"]
"""Per implementation: (forward, forward+backward) makers' results, or why it cannot run."""


def _build(dtype: str, causal: bool, arrays: list[np.ndarray], torch_device: str | None) -> Fns:
    q, k, v, cot = arrays
    jdt = jnp.bfloat16 if dtype == "bfloat16" else jnp.float32
    jq, jk, jv = (jnp.asarray(a, dtype=jdt) for a in (q, k, v))
    fns: Fns = {}
    impls = list(JAX_IMPLS) + (["parallax-flash@default"] if dtype == "float32" else [])
    for impl in impls:
        try:
            fns[impl] = _jax_fns(impl, causal, jq, jk, jv, jnp.asarray(cot))
        except Exception as e:  # e.g. cuDNN without a GPU, or not for float32: recorded
            fns[impl] = e
    if torch_device is not None:
        import torch

        tdt = torch.bfloat16 if dtype == "bfloat16" else torch.float32
        tq, tk, tv, tcot = (
            torch.from_numpy(a).to(torch_device, tdt).transpose(1, 2).contiguous() for a in arrays
        )
        for impl in TORCH_IMPLS:
            fns[impl] = _torch_fns(impl, causal, tq, tk, tv, tcot)
    return fns


def _parity(fns: Fns, refs: tuple[Any, Any], bounds: tuple[float, float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for impl, made in fns.items():
        if isinstance(made, Exception):
            out[impl] = {"error": f"{type(made).__name__}: {made}"[:300]}
            continue
        try:
            with timing_precision():
                o, grads = (f[0]() if isinstance(f, tuple) else f() for f in made)
            if impl.startswith("torch"):
                o, grads = _to_jax_btnh(o), [_to_jax_btnh(g) for g in grads]
            out[impl] = {
                "fwd": _measure(o, refs[0], bounds[0]),
                "grad": _measure(list(grads), list(refs[1]), bounds[1]),
            }
        except Exception as e:  # the implementation cannot run this case: recorded
            out[impl] = {"error": f"{type(e).__name__}: {e}"[:300]}
            fns[impl] = e
    return out


def _makers(fns: Fns, which: int) -> dict[str, Callable[[], Any]]:
    def make(made: Any) -> Callable[[], Any]:
        def build() -> Any:
            if isinstance(made, Exception):
                raise made
            return made[which]

        return build

    return {impl: make(made) for impl, made in fns.items()}


def _one(
    sec: Section,
    grid: AttentionGrid,
    seq: int,
    dim: int,
    causal: bool,
    torch_device: str | None,
    samples: int,
    min_sample_s: float,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    shape = (grid.batch, seq, grid.heads, dim)
    arrays = [_draw(rng, shape) for _ in range(4)]  # q, k, v, cotangent
    with jax.enable_x64(True):
        refs = _reference(causal)(*(jnp.asarray(a, dtype=jnp.float64) for a in arrays))
    fwd_flops = 4.0 * grid.batch * grid.heads * seq * seq * dim * (0.5 if causal else 1.0)
    rows = []
    for dtype in grid.dtypes:
        fns = _build(dtype, causal, arrays, torch_device)
        row: dict[str, Any] = {
            "seq": seq,
            "dim": dim,
            "causal": causal,
            "dtype": dtype,
            "batch": grid.batch,
            "heads": grid.heads,
            "parity": _parity(fns, refs, REL_L2_OK[dtype]),
        }
        label = f"S{seq} D{dim}{' causal' if causal else ''} {dtype}"
        with timing_precision():
            for key, which, flops in (("fwd", 0, fwd_flops), ("fwd_bwd", 1, 3.5 * fwd_flops)):
                recs = time_impls(
                    "attention." + key,
                    label,
                    _makers(fns, which),
                    dtype=dtype,
                    flops=flops,
                    samples=samples,
                    min_sample_s=min_sample_s,
                    baseline="parallax-flash",
                )
                row[key] = [r.to_json() for r in recs]
        rows.append(row)
        sec.log(label + ": " + ", ".join(_status(impl, p) for impl, p in row["parity"].items()))
    return rows


def _status(impl: str, p: dict[str, Any]) -> str:
    if "error" in p:
        return f"{impl} error"
    ok = p["fwd"]["ok"] and p["grad"]["ok"]
    return f"{impl} {'ok' if ok else 'OFF'} ({p['fwd']['rel_l2']:.1e}/{p['grad']['rel_l2']:.1e})"


def attention_section(
    sec: Section,
    *,
    grid: AttentionGrid,
    torch_device: str | None,
    samples: int,
    min_sample_s: float,
) -> None:
    rows: list[dict[str, Any]] = []
    sec.result.update(grid=asdict(grid), rows=rows, bounds=REL_L2_OK)
    rng = np.random.default_rng(0)
    for seq, dim, causal in grid.configs():
        if sec.out_of_time():
            sec.skip(f"S{seq} D{dim} causal={causal}")
            continue
        rows.extend(_one(sec, grid, seq, dim, causal, torch_device, samples, min_sample_s, rng))
        sec.save()
        if torch_device is not None and torch_device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()  # the next, larger configuration needs JAX's share back
