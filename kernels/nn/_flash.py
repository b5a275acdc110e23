r"""Flash attention as a Pallas kernel (Dao et al., 2022, "FlashAttention: fast and
memory-efficient exact attention with IO-awareness", arXiv:2205.14135).

The forward pass tiles queries into blocks of ``block_q`` rows; each program streams the keys
and values of its (batch, head) in blocks of ``block_k`` and keeps the online-softmax statistics
(running max ``m``, normaliser ``l`` and the unnormalised output) in float32 (float64 for
float64 inputs), so the ``seq_q x seq_k`` score matrix is never materialised:

.. math:: m' = \max(m, \max_j s_j),\quad l' = e^{m - m'} l + \sum_j e^{s_j - m'},\quad
          o' = e^{m - m'} o + \sum_j e^{s_j - m'} v_j

With ``causal`` a query block skips key blocks entirely above the diagonal. Grouped-query heads
are read through the BlockSpec index map (no repeat). The backward pass recomputes attention
with the reference einsum path under ``jax.vjp`` (exact, but not memory-efficient: a Pallas
backward kernel is future work).

The kernel is written for GPU (Triton lowering). On CPU it runs in Pallas interpret mode
(``interpret=None`` picks it automatically), which is slow and only meant for tests.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plt
from jaxtyping import Array, Float

__all__ = ["flash_attention"]


def _kernel(q_ref, k_ref, v_ref, o_ref, *, scale, causal, block_q, block_k, seq_k):
    acc_t = jnp.float64 if q_ref.dtype == jnp.float64 else jnp.float32
    q = q_ref[...].astype(acc_t) * jnp.asarray(scale, acc_t)  # (block_q, d)
    qi = pl.program_id(2)
    dv = v_ref.shape[-1]
    m0 = jnp.full((block_q,), -jnp.inf, acc_t)
    s0 = jnp.zeros((block_q,), acc_t)
    a0 = jnp.zeros((block_q, dv), acc_t)

    def body(j, carry):
        m, denom, acc = carry
        k = k_ref[pl.ds(j * block_k, block_k), :].astype(acc_t)
        v = v_ref[pl.ds(j * block_k, block_k), :].astype(acc_t)
        s = jnp.dot(q, k.T, preferred_element_type=acc_t)  # (block_q, block_k)
        if causal:
            rows = qi * block_q + jax.lax.broadcasted_iota(jnp.int32, s.shape, 0)
            cols = j * block_k + jax.lax.broadcasted_iota(jnp.int32, s.shape, 1)
            s = jnp.where(cols <= rows, s, -jnp.inf)
        m_new = jnp.maximum(m, jnp.max(s, axis=1))
        p = jnp.exp(s - m_new[:, None])
        alpha = jnp.exp(m - m_new)
        l_new = alpha * denom + jnp.sum(p, axis=1)
        acc_new = alpha[:, None] * acc + jnp.dot(p, v, preferred_element_type=acc_t)
        return m_new, l_new, acc_new

    n_blocks = seq_k // block_k
    if causal:
        n_blocks = jnp.minimum(n_blocks, ((qi + 1) * block_q + block_k - 1) // block_k)
    _, denom, acc = jax.lax.fori_loop(0, n_blocks, body, (m0, s0, a0))
    o_ref[...] = (acc / denom[:, None]).astype(o_ref.dtype)


def _forward(q, k, v, *, causal, scale, block_q, block_k, interpret):
    b, sq, h, d = q.shape
    sk, kvh, dv = k.shape[1], k.shape[2], v.shape[3]
    g = h // kvh
    qt, kt, vt = (a.transpose(0, 2, 1, 3) for a in (q, k, v))  # BHSD
    kernel = functools.partial(
        _kernel, scale=scale, causal=causal, block_q=block_q, block_k=block_k, seq_k=sk
    )
    out = pl.pallas_call(
        kernel,
        out_shape=jax.ShapeDtypeStruct((b, h, sq, dv), q.dtype),
        grid=(b, h, sq // block_q),
        in_specs=[
            pl.BlockSpec((None, None, block_q, d), lambda bi, hi, qi: (bi, hi, qi, 0)),
            pl.BlockSpec((None, None, sk, d), lambda bi, hi, qi: (bi, hi // g, 0, 0)),
            pl.BlockSpec((None, None, sk, dv), lambda bi, hi, qi: (bi, hi // g, 0, 0)),
        ],
        out_specs=pl.BlockSpec((None, None, block_q, dv), lambda bi, hi, qi: (bi, hi, qi, 0)),
        interpret=interpret,
        compiler_params=plt.CompilerParams(),
    )(qt, kt, vt)
    return out.transpose(0, 2, 1, 3)


def _reference(q, k, v, causal, scale):
    from parallax.kernels.nn._attention import dot_product_attention

    return dot_product_attention(q, k, v, causal=causal, scale=scale, implementation="einsum")


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5, 6, 7))
def _flash(q, k, v, causal, scale, block_q, block_k, interpret):
    return _forward(
        q, k, v, causal=causal, scale=scale, block_q=block_q, block_k=block_k, interpret=interpret
    )


def _flash_fwd(q, k, v, causal, scale, block_q, block_k, interpret):
    out = _flash(q, k, v, causal, scale, block_q, block_k, interpret)
    return out, (q, k, v)


def _flash_bwd(causal, scale, block_q, block_k, interpret, res, g):
    q, k, v = res
    _, vjp = jax.vjp(lambda q, k, v: _reference(q, k, v, causal, scale), q, k, v)
    return vjp(g)


_flash.defvjp(_flash_fwd, _flash_bwd)


def _block(name: str, want: int, n: int) -> int:
    blk = min(want, n)
    if n % blk:
        raise ValueError(f"{name}: sequence length {n} is not a multiple of the block size {blk}")
    return blk


def flash_attention(
    q: Float[Array, "batch seq_q heads head_dim"],
    k: Float[Array, "batch seq_k kv_heads head_dim"],
    v: Float[Array, "batch seq_k kv_heads head_dim_v"],
    *,
    causal: bool = False,
    scale: float | None = None,
    block_q: int = 128,
    block_k: int = 128,
    interpret: bool | None = None,
) -> Float[Array, "batch seq_q heads head_dim_v"]:
    """Exact attention, BTNH layout, computed blockwise by a Pallas kernel.

    Sequence lengths must be multiples of the (clipped) block sizes. ``interpret=None`` runs the
    kernel in interpret mode on CPU and compiled elsewhere.
    """
    from parallax.kernels.nn._attention import _check_qkv

    _check_qkv(q, k, v)
    if causal and q.shape[1] != k.shape[1]:
        raise ValueError("k: causal flash attention needs seq_k == seq_q")
    bq = _block("q", block_q, q.shape[1])
    bk = _block("k", block_k, k.shape[1])
    s = (1.0 / q.shape[-1] ** 0.5) if scale is None else float(scale)
    if interpret is None:
        interpret = jax.default_backend() == "cpu"
    return _flash(q, k, v, bool(causal), s, bq, bk, bool(interpret))
