r"""Exact attention on CPU through MKL: an XLA FFI handler pair (``_mkl_attention.cc``).

XLA:CPU runs the small matrix products of a blocked attention loop on about one core, well below
its GEMM throughput on the whole ``(seq, seq)`` logits. Here the forward pass is one custom call
that, per batch, head and block of 64 query rows, computes ``P = softmax(scale · Q Kᵀ)`` over the
keys the rows may see and ``O = P V`` with MKL's GEMMs, reading ``q``, ``k``, ``v`` in place in
their BTNH layout and spreading blocks over XLA's thread pool; it keeps the row log-sum-exp
``L``. The backward pass (a custom VJP) is a second call that recomputes ``P = exp(S - L)`` block
by block (FlashAttention-2's equations, as in :mod:`parallax.kernels.nn._blocked`), one task per
batch and kv head, which owns that head's ``dK`` and ``dV``. Memory besides the outputs: one
``64 x seq_k`` block per thread, ``O(seq)``.

It covers float32 and float64 inputs with ``causal`` or no mask (grouped-query heads included);
other masks and dtypes keep the blocked path. Built on first use against MKL (the ``cpu-fft``
extra); ``PARALLAX_MKL_ATTENTION=0`` turns it off.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import cast

import jax
import numpy as np
from jaxtyping import Array

from parallax.kernels import _mkl
from parallax.kernels._native import Handler

__all__ = ["applies", "available", "mkl_attention", "reason"]

FORWARD, BACKWARD = "parallax_mkl_attention_fwd", "parallax_mkl_attention_bwd"

_HANDLER = Handler(
    Path(__file__).with_name("_mkl_attention.cc"),
    (FORWARD, BACKWARD),
    switch="PARALLAX_MKL_ATTENTION",
    fallback="attention on CPU keeps the blocked path",
    flags=lambda: [*_mkl.flags(), "-O3", "-fopenmp-simd"],
)
available = _HANDLER.available
reason = _HANDLER.reason


def applies(q: Array, k: Array, masked: bool) -> bool:
    """Whether the handler computes this attention: float32/float64, no mask besides
    ``causal``, at least one key."""
    return not masked and q.dtype in (np.float32, np.float64) and k.shape[1] > 0


def _call(target: str, outs, *args, causal: bool, scale: float):
    call = jax.ffi.ffi_call(target, outs, vmap_method="broadcast_all")
    return call(*args, causal=bool(causal), scale=np.float64(scale))


def _forward(q, k, v, causal, scale):
    b, sq, h, _ = q.shape
    o = jax.ShapeDtypeStruct((*q.shape[:3], v.shape[3]), q.dtype)
    lse = jax.ShapeDtypeStruct((b, h, sq), q.dtype)
    return _call(FORWARD, (o, lse), q, k, v, causal=causal, scale=scale)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _attention(q, k, v, causal, scale):
    return _forward(q, k, v, causal, scale)[0]


def _attention_fwd(q, k, v, causal, scale):
    o, lse = _forward(q, k, v, causal, scale)
    return o, (q, k, v, o, lse)


def _attention_bwd(causal, scale, res, do):
    q, k, v, o, lse = res
    outs = tuple(jax.ShapeDtypeStruct(x.shape, x.dtype) for x in (q, k, v))
    return tuple(_call(BACKWARD, outs, q, k, v, o, lse, do, causal=causal, scale=scale))


_attention.defvjp(_attention_fwd, _attention_bwd)


def mkl_attention(q: Array, k: Array, v: Array, *, causal: bool, scale: float) -> Array:
    """Exact attention in BTNH layout (``q (b, sq, h, d)``, ``k (b, sk, kvh, d)``, ``v (b, sk,
    kvh, dv)``), lowered to the MKL handlers (CPU only; :func:`available` and :func:`applies`
    must hold). Inputs are assumed checked by the caller."""
    return cast(Array, _attention(q, k, v, bool(causal), float(scale)))
