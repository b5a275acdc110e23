r"""Exact attention on CPU through MKL: an XLA FFI handler pair (``_mkl_attention.cc``).

XLA:CPU runs the small matrix products of a blocked attention loop on about one core, well below
its GEMM throughput on the whole ``(seq, seq)`` logits. Here the forward pass is one custom call
that, per batch, head and block of 128 query rows, computes ``P = softmax(scale · Q Kᵀ)`` over
the keys the rows may see and ``O = P V`` with MKL's GEMMs, reading ``q``, ``k``, ``v`` in their
BTNH layout (without ``causal``, ``scale · Kᵀ`` is packed once per kv head in MKL's GEMM layout
and shared by its query blocks) and spreading blocks over XLA's thread pool; it keeps the row
log-sum-exp ``L``. The backward pass (a custom VJP) is a second call that recomputes
``P = exp(S - L)`` block by block (FlashAttention-2's equations, as in
:mod:`parallax.kernels.nn._blocked`), one task per batch and kv head, which owns that head's
``dK`` and ``dV``. Memory besides the outputs, all ``O(seq)``: one ``128 x seq_k`` block per
thread (two of ``256 x seq_k`` in the backward pass), and the packed ``K``.

It covers float32 and float64 inputs with ``causal`` or no mask (grouped-query heads included);
other masks and dtypes keep the blocked path. In programs that are exported or that XLA
partitions the calls lower to the same equations in XLA's ops, on whole rows of logits
(:func:`parallax.kernels._native.call`). Built on first use against MKL (the ``cpu-fft``
extra); ``PARALLAX_MKL_ATTENTION=0`` turns it off.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from parallax.kernels import _mkl, _native
from parallax.kernels._native import Handler

__all__ = ["applies", "available", "mkl_attention", "reason"]

FORWARD, BACKWARD = "parallax_mkl_attention_fwd", "parallax_mkl_attention_bwd"

_HANDLER = Handler(
    Path(__file__).with_name("_mkl_attention.cc"),
    (FORWARD, BACKWARD),
    switch="PARALLAX_MKL_ATTENTION",
    fallback="attention on CPU keeps the blocked path",
    flags=lambda: [*_mkl.flags(), "-O3"],
)
available = _HANDLER.available
reason = _HANDLER.reason


def applies(q: Array, k: Array, masked: bool) -> bool:
    """Whether the handler computes this attention: float32/float64, no mask besides
    ``causal``, at least one key."""
    return not masked and q.dtype in (np.float32, np.float64) and k.shape[1] > 0


def _reference(q, k, v, causal: bool, scale: float):
    """``(o, lse)`` as the forward handler computes them, with XLA's ops on whole rows of
    logits (the lowering where the handler may not run: exported and partitioned programs)."""
    acc = np.float64 if q.dtype == np.float64 else np.float32
    b, sq, h, d = q.shape
    sk, kvh = k.shape[1], k.shape[2]
    qg = q.reshape(b, sq, kvh, h // kvh, d).astype(acc)
    s = jnp.einsum("bqngd,bknd->bngqk", qg, k.astype(acc)) * scale
    if causal:
        s = jnp.where(jnp.arange(sk)[None, :] <= jnp.arange(sq)[:, None], s, -jnp.inf)
    lse = jax.nn.logsumexp(s, axis=-1)
    o = jnp.einsum("bngqk,bknd->bqngd", jnp.exp(s - lse[..., None]), v.astype(acc))
    return o.reshape(b, sq, h, -1).astype(q.dtype), lse.reshape(b, h, sq).astype(q.dtype)


def _forward(q, k, v, causal, scale):
    def fallback(q, k, v):
        return _reference(q, k, v, causal, scale)

    return _native.call(FORWARD, fallback, q, k, v, causal=bool(causal), scale=np.float64(scale))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _attention(q, k, v, causal, scale):
    return _forward(q, k, v, causal, scale)[0]


def _attention_fwd(q, k, v, causal, scale):
    o, lse = _forward(q, k, v, causal, scale)
    return o, (q, k, v, o, lse)


def _attention_bwd(causal, scale, res, do):
    def fallback(q, k, v, o, lse, do):
        del o, lse
        _, vjp = jax.vjp(lambda q, k, v: _reference(q, k, v, causal, scale)[0], q, k, v)
        return vjp(do)

    args = (*res, do)
    return tuple(
        _native.call(BACKWARD, fallback, *args, causal=bool(causal), scale=np.float64(scale))
    )


_attention.defvjp(_attention_fwd, _attention_bwd)


def mkl_attention(q: Array, k: Array, v: Array, *, causal: bool, scale: float) -> Array:
    """Exact attention in BTNH layout (``q (b, sq, h, d)``, ``k (b, sk, kvh, d)``, ``v (b, sk,
    kvh, dv)``), lowered to the MKL handlers (CPU only; :func:`available` and :func:`applies`
    must hold). Inputs are assumed checked by the caller."""
    return cast(Array, _attention(q, k, v, bool(causal), float(scale)))
