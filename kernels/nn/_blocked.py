r"""Blocked attention with an online softmax in plain JAX: exact attention in ``O(seq)`` memory
(Rabe & Staats, 2021, "Self-attention does not need O(n²) memory", arXiv:2112.05682; Dao,
2023, "FlashAttention-2", arXiv:2307.08691).

Queries are processed ``block_q`` rows at a time (all query heads of one kv head together, so
grouped-query heads read each key block once); for each query block the keys and values are
streamed ``block_k`` at a time and only the running row maximum ``m``, normaliser ``l`` and
unnormalised output ``o`` are kept, in float32 for low-precision inputs:

.. math:: s = \text{scale}\; q k_j^\top,\quad m' = \max(m, \max_j s),\quad
          l' = e^{m - m'} l + \textstyle\sum_j e^{s - m'},\quad o' = e^{m - m'} o + e^{s - m'} v_j

The output is ``o / l``; the forward pass also keeps the log-sum-exp ``L = m + log l`` of every
row. The backward pass (a custom VJP) stores only ``q, k, v``, the output and ``L``, and
recomputes the probabilities block by block, ``P = exp(s - L)``, with
``D = rowsum(dO ⊙ O)``:

.. math:: dV_j = \textstyle\sum_i P^\top dO_i,\quad dS = P \odot (dO_i V_j^\top - D_i),\quad
          dQ_i = \text{scale} \textstyle\sum_j dS K_j,\quad dK_j = \text{scale} \sum_i dS^\top Q_i

With ``causal`` a query block visits only the key blocks at or below the diagonal, and only
blocks that straddle it are masked. Masked logits are set to the dtype's lowest finite value
(not ``-inf``), as in the einsum path, so a query row whose every visited key is masked averages
the values of those keys instead of producing NaN (such a row is not meaningful). Sequence
lengths that are not multiples of the block sizes are padded, padded keys masked.

The forward pass copies each query and key/value block straight out of the BTNH inputs and
writes each output block into place, so besides its output it keeps only a few blocks: XLA:CPU
allocates an executable's temporaries afresh on every call, and above glibc's 32 MiB mmap
threshold that costs a page fault per 4 KiB on every call.
"""

from __future__ import annotations

import functools
from typing import cast

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array

__all__ = ["blocked_attention"]


def _acc_dtype(dtype: jnp.dtype) -> jnp.dtype:
    return jnp.dtype(jnp.float32) if jnp.finfo(dtype).bits < 32 else jnp.dtype(dtype)


def _q_blocks(x: Array, kvh: int, bq: int) -> Array:
    """``(b, sq, h, d)`` -> ``(nq, b * kvh, g * bq, d)``: the rows of a block are the ``bq``
    positions of each of the ``g`` query heads that read one kv head (query head ``j g + i`` is
    group ``j``'s ``i``-th, as in :func:`parallax.kernels.nn._attention._heads_major`)."""
    b, sq, h, d = x.shape
    g = h // kvh
    x = x.reshape(b, sq // bq, bq, kvh, g, d).transpose(1, 0, 3, 4, 2, 5)
    return x.reshape(sq // bq, b * kvh, g * bq, d)


def _from_q_blocks(x: Array, b: int, bq: int) -> Array:
    """Inverse of :func:`_q_blocks`."""
    nq, n, rows, d = x.shape
    kvh, g = n // b, rows // bq
    x = x.reshape(nq, b, kvh, g, bq, d).transpose(1, 0, 4, 2, 3, 5)
    return x.reshape(b, nq * bq, kvh * g, d)


def _kv_heads_major(x: Array) -> Array:
    """``(b, sk, kvh, d)`` -> ``(b * kvh, sk, d)``."""
    b, sk, kvh, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b * kvh, sk, d)


def _mask_block(mask: Array, i: Array, j: Array, bq: int, bk: int, b: int, n: int, rows: int):
    """Block ``(i, j)`` of a ``(b | 1, kvh | 1, g | 1, sq | 1, sk)`` mask, shaped to broadcast
    against ``(n, rows, bk)`` logits (``n = b * kvh``, ``rows = g * bq``)."""
    mb, mk, mg, mq, _ = mask.shape
    blk = lax.dynamic_slice_in_dim(mask, j * bk, bk, axis=4)
    if mq > 1:
        blk = lax.dynamic_slice_in_dim(blk, i * bq, bq, axis=3)
    lead = (b, n // b) if mb * mk > 1 else (1, 1)
    if mg * blk.shape[3] > 1:
        blk = jnp.broadcast_to(blk, (*lead, rows // bq, bq, bk))
    else:
        blk = jnp.broadcast_to(blk, (*lead, 1, 1, bk))
    return blk.reshape(lead[0] * lead[1], -1, bk)


def _causal_block(i: Array, j: Array, bq: int, bk: int, rows: int) -> Array:
    """``(1, rows, bk)``: row ``r`` (position ``i bq + r mod bq``) may attend key ``j bk + c`` iff
    the key's position is not after the query's."""
    pos = i * bq + lax.broadcasted_iota(jnp.int32, (rows, bk), 0) % bq
    cols = j * bk + lax.broadcasted_iota(jnp.int32, (rows, bk), 1)
    return (cols <= pos)[None]


def _scaled(q: Array, scale: float) -> Array:
    """``scale q``, rounded once to ``q``'s dtype: the logits ``(scale q) kᵀ`` then need no pass
    of their own over the ``(rows, block_k)`` block."""
    acc = _acc_dtype(q.dtype)
    return (q.astype(acc) * jnp.asarray(scale, acc)).astype(q.dtype)


def _transposed(x: Array) -> Array:
    """``x`` with its last two axes swapped, materialised: every block product is then written
    as ``(m, k) @ (k, n)``, the form XLA:CPU's GEMM library (YNNPACK) runs fastest (``a @ bᵀ``
    is markedly slower for the ``(256, 64) @ (64, 128)`` logits block; a left operand contracted
    over its first axis goes to a slow generic dot that also rejects bfloat16 -> float32). The
    barrier keeps XLA from folding the transpose back into the product."""
    return lax.optimization_barrier(jnp.swapaxes(x, -1, -2))


def _logits(a, b_t, i, j, mask, batch, causal_block, bq, bk, transposed=False):
    """Masked logits of (scaled) query block ``i`` against key block ``j``: ``a @ b_t`` with
    ``a = q_i (n, rows, d)``, ``b_t = k_jᵀ (n, d, bk)`` giving ``(n, rows, bk)``, or with
    ``transposed``, ``a = k_j``, ``b_t = q_iᵀ`` giving the transpose ``(n, bk, rows)``."""
    acc = _acc_dtype(a.dtype)
    s = jnp.einsum("nad,ndb->nab", a, b_t, preferred_element_type=acc)
    n, rows = s.shape[0], s.shape[2] if transposed else s.shape[1]
    allowed = None if mask is None else _mask_block(mask, i, j, bq, bk, batch, n, rows)
    if causal_block:
        c = _causal_block(i, j, bq, bk, rows)
        allowed = c if allowed is None else jnp.logical_and(allowed, c)
    if allowed is not None:
        allowed = jnp.swapaxes(allowed, 1, 2) if transposed else allowed
        s = jnp.where(allowed, s, jnp.asarray(jnp.finfo(acc).min, acc))
    return s


def _key_ranges(i, causal: bool, nk: int, bq: int, bk: int):
    """Key blocks of query block ``i``: ``[0, full)`` need no causal mask, ``[full, end)`` do."""
    if not causal:
        return 0, nk, nk
    full = jnp.minimum((i * bq + 1) // bk, nk)
    end = jnp.minimum(((i + 1) * bq + bk - 1) // bk, nk)
    return 0, full, end


def _query_ranges(j, causal: bool, nq: int, bq: int, bk: int):
    """Query blocks that see key block ``j``: ``[start, full)`` need the causal mask,
    ``[full, nq)`` do not."""
    if not causal:
        return 0, 0, nq
    start = jnp.minimum((j * bk) // bq, nq)
    full = jnp.minimum((j * bk + bk - 1 + bq - 1) // bq, nq)
    return start, full, nq


def _k_block_t(k: Array, j, bk: int) -> Array:
    """Key block ``j`` of ``k (b, sk, kvh, d)`` as ``kᵀ (b · kvh, d, bk)``, sliced and transposed
    in one copy (no whole transposed copy of ``k``)."""
    b, _, kvh, d = k.shape
    blk = lax.dynamic_slice_in_dim(k, j * bk, bk, axis=1)
    return lax.optimization_barrier(blk.transpose(0, 2, 3, 1).reshape(b * kvh, d, bk))


def _v_block(v: Array, j, bk: int) -> Array:
    """Value block ``j`` of ``v (b, sk, kvh, dv)`` as ``(b · kvh, bk, dv)``."""
    b, _, kvh, dv = v.shape
    blk = lax.dynamic_slice_in_dim(v, j * bk, bk, axis=1)
    return blk.transpose(0, 2, 1, 3).reshape(b * kvh, bk, dv)


def _forward(q, k, v, mask, causal, scale, bq, bk):
    """Blocked forward pass: the output in q's layout ``(b, sq, h, dv)`` and the log-sum-exp
    ``(nq, n, rows)`` of every row (accumulation dtype)."""
    acc = _acc_dtype(q.dtype)
    b, sq, h, _ = q.shape
    kvh, dv = k.shape[2], v.shape[3]
    n, nk = b * kvh, k.shape[1] // bk
    nq, rows = sq // bq, (h // kvh) * bq
    lowest = jnp.asarray(jnp.finfo(acc).min, acc)

    def query_block(i, outs):
        out, lse = outs
        qi = _q_blocks(_scaled(lax.dynamic_slice_in_dim(q, i * bq, bq, axis=1), scale), kvh, bq)[0]

        def step(masked):
            def body(j, carry):
                m, den, o = carry
                vj = _v_block(v, j, bk)
                s = _logits(qi, _k_block_t(k, j, bk), i, j, mask, b, masked, bq, bk)
                m_new = jnp.maximum(m, jnp.max(s, axis=-1))
                p = jnp.exp(s - m_new[..., None])
                alpha = jnp.exp(m - m_new)
                den_new = alpha * den + jnp.sum(p, axis=-1)
                pv = jnp.einsum("nrk,nkd->nrd", p.astype(v.dtype), vj, preferred_element_type=acc)
                return m_new, den_new, alpha[..., None] * o + pv

            return body

        carry = (
            jnp.full((n, rows), lowest, acc),
            jnp.zeros((n, rows), acc),
            jnp.zeros((n, rows, dv), acc),
        )
        start, full, end = _key_ranges(i, causal, nk, bq, bk)
        carry = lax.fori_loop(start, full, step(False), carry)
        if causal:
            carry = lax.fori_loop(full, end, step(True), carry)
        m, den, o = carry
        oi = _from_q_blocks((o / den[..., None]).astype(q.dtype)[None], b, bq)
        out = lax.dynamic_update_slice_in_dim(out, oi, i * bq, axis=1)
        return out, lse.at[i].set(m + jnp.log(den))

    init = (jnp.zeros((b, sq, h, dv), q.dtype), jnp.zeros((nq, n, rows), acc))
    return lax.fori_loop(0, nq, query_block, init)


def _backward(q, k, v, mask, o, lse, do, causal, scale, bq, bk):
    """Gradients ``(dq, dk, dv)`` by recomputation (FlashAttention-2, Algorithm 2): one pass
    over key blocks, each visiting the query blocks that see it.

    The block products are written with the logits transposed, ``(n, bk, rows)``, and every
    right operand pre-transposed (:func:`_transposed`), so that all five are ``(m, k) @ (k, n)``
    products; ``dq`` is accumulated transposed."""
    acc = _acc_dtype(q.dtype)
    b, kvh = q.shape[0], k.shape[2]
    qb, dob = _q_blocks(_scaled(q, scale), kvh, bq), _q_blocks(do.astype(q.dtype), kvh, bq)
    qb_t, dob_t = _transposed(qb), _transposed(dob)
    big_d = _to_rows(jnp.sum(o.astype(acc) * do.astype(acc), axis=-1), kvh, bq)
    kh, vh = _kv_heads_major(k), _kv_heads_major(v)
    kh_t = _transposed(kh)
    nq, n, rows, d = qb.shape
    nk = kh.shape[1] // bk

    def key_block(dq_t, j):
        kj = lax.dynamic_slice_in_dim(kh, j * bk, bk, axis=1)
        vj = lax.dynamic_slice_in_dim(vh, j * bk, bk, axis=1)
        kj_t = lax.dynamic_slice_in_dim(kh_t, j * bk, bk, axis=2)

        def step(masked):
            def body(i, carry):
                dq_t, dk, dv = carry
                s_t = _logits(kj, qb_t[i], i, j, mask, b, masked, bq, bk, transposed=True)
                p_t = jnp.exp(s_t - lse[i][:, None, :])  # (n, bk, rows)
                dv = dv + jnp.einsum(
                    "nkr,nrd->nkd", p_t.astype(q.dtype), dob[i], preferred_element_type=acc
                )
                dp_t = jnp.einsum("nkd,ndr->nkr", vj, dob_t[i], preferred_element_type=acc)
                ds_t = (p_t * (dp_t - big_d[i][:, None, :])).astype(q.dtype)
                dk = dk + jnp.einsum("nkr,nrd->nkd", ds_t, qb[i], preferred_element_type=acc)
                dq_ti = jnp.einsum("ndk,nkr->ndr", kj_t, ds_t, preferred_element_type=acc)
                return dq_t.at[i].add(dq_ti), dk, dv

            return body

        carry = (dq_t, jnp.zeros((n, bk, d), acc), jnp.zeros((n, bk, vj.shape[2]), acc))
        start, full, end = _query_ranges(j, causal, nq, bq, bk)
        if causal:
            carry = lax.fori_loop(start, full, step(True), carry)
        carry = lax.fori_loop(full, end, step(False), carry)
        dq_t, dk, dv = carry
        return dq_t, (dk, dv)

    dq_t0 = jnp.zeros((nq, n, d, rows), acc)
    dq_t, (dk, dv) = lax.scan(key_block, dq_t0, jnp.arange(nk, dtype=jnp.int32))
    dq = _from_q_blocks(jnp.swapaxes(dq_t, 2, 3) * jnp.asarray(scale, acc), b, bq)

    def unblock(x):  # (nk, n, bk, d) -> (b, sk, kvh, d)
        return x.transpose(1, 0, 2, 3).reshape(b, kvh, nk * bk, -1).transpose(0, 2, 1, 3)

    return dq.astype(q.dtype), unblock(dk).astype(k.dtype), unblock(dv).astype(v.dtype)


def _to_rows(x: Array, kvh: int, bq: int) -> Array:
    """``(b, sq, h)`` -> ``(nq, b * kvh, g * bq)`` (per-row statistics in the block layout)."""
    return _q_blocks(x[..., None], kvh, bq)[..., 0]


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6, 7))
def _attention(q, k, v, mask, causal, scale, bq, bk):
    return _forward(q, k, v, mask, causal, scale, bq, bk)[0]


def _attention_fwd(q, k, v, mask, causal, scale, bq, bk):
    out, lse = _forward(q, k, v, mask, causal, scale, bq, bk)
    return out, (q, k, v, mask, out, lse)


def _attention_bwd(causal, scale, bq, bk, res, g):
    q, k, v, mask, out, lse = res
    dq, dk, dv = _backward(q, k, v, mask, out, lse, g, causal, scale, bq, bk)
    return dq, dk, dv, None


_attention.defvjp(_attention_fwd, _attention_bwd)


def _pad_axis(x: Array, axis: int, to: int, value: bool | float = 0) -> Array:
    if x.shape[axis] == to:
        return x
    pads = [(0, 0)] * x.ndim
    pads[axis] = (0, to - x.shape[axis])
    return jnp.pad(x, pads, constant_values=value)


def blocked_attention(
    q: Array,
    k: Array,
    v: Array,
    mask: Array | None,
    *,
    causal: bool,
    scale: float,
    block_q: int,
    block_k: int,
) -> Array:
    """Exact attention in BTNH layout (``q (b, sq, h, d)``, ``k (b, sk, kvh, d)``, ``v (b, sk,
    kvh, dv)``), computed blockwise; ``mask`` is boolean ``(b | 1, h | 1, sq | 1, sk)`` (True =
    may attend) or None. Inputs are assumed checked by the caller."""
    sq, h = q.shape[1], q.shape[2]
    sk, kvh = k.shape[1], k.shape[2]
    g = h // kvh
    bq, bk = min(block_q, sq), min(block_k, sk)
    sq_pad, sk_pad = -(-sq // bq) * bq, -(-sk // bk) * bk
    m5 = None
    if mask is not None:  # heads (kvh, g) as in the block layout
        mb, mh, mq, _ = mask.shape
        m5 = mask.reshape(mb, kvh, g, mq, sk) if mh == h else mask.reshape(mb, 1, 1, mq, sk)
        if mq > 1:
            m5 = _pad_axis(m5, 3, sq_pad, True)
    if sk_pad != sk:
        valid = (jnp.arange(sk_pad) < sk).reshape(1, 1, 1, 1, sk_pad)
        m5 = valid if m5 is None else jnp.logical_and(_pad_axis(m5, 4, sk_pad, False), valid)
    out = _attention(  # custom_vjp erases the return type
        _pad_axis(q, 1, sq_pad),
        _pad_axis(k, 1, sk_pad),
        _pad_axis(v, 1, sk_pad),
        m5,
        bool(causal),
        float(scale),
        bq,
        bk,
    )
    return cast(Array, out)[:, :sq]
