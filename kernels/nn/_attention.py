r"""Scaled dot-product attention (Vaswani et al., 2017, "Attention is all you need").

.. math:: \operatorname{attn}(Q, K, V) = \operatorname{softmax}\!\big(s\, Q K^\top + M\big) V,
          \qquad s = 1/\sqrt{d}

Layout is JAX's ``(batch, seq, heads, head_dim)`` ("BTNH"), not torch's ``(B, H, S, D)``; the
twin transposes. ``M`` is ``-inf`` above the diagonal when ``causal``. Low-precision inputs
(bfloat16, float16) accumulate the softmax in float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from parallax.kernels._checks import check_array, check_same_dtype

__all__ = ["attention_weights", "dot_product_attention"]


def _check_qkv(q: Array, k: Array, v: Array | None = None) -> None:
    check_array("q", q, ndim=4)
    check_array("k", k, ndim=4)
    b, _, h, d = q.shape
    if k.shape[0] != b or k.shape[2] != h or k.shape[3] != d:
        raise ValueError(
            f"k: expected shape ({b}, seq_k, {h}, {d}) to match q {tuple(q.shape)}, "
            f"got {tuple(k.shape)}"
        )
    if v is not None:
        check_array("v", v, ndim=4)
        if v.shape[:3] != k.shape[:3]:
            raise ValueError(
                f"v: expected shape ({k.shape[0]}, {k.shape[1]}, {k.shape[2]}, head_dim_v) "
                f"to match k {tuple(k.shape)}, got {tuple(v.shape)}"
            )
        check_same_dtype(q=q, k=k, v=v)
    else:
        check_same_dtype(q=q, k=k)


def attention_weights(
    q: Float[Array, "batch seq_q heads head_dim"],
    k: Float[Array, "batch seq_k heads head_dim"],
    *,
    causal: bool = False,
    scale: float | None = None,
) -> Float[Array, "batch heads seq_q seq_k"]:
    """Softmax attention probabilities; each row sums to one.

    With ``causal`` the query at position ``i`` attends to keys ``j <= i`` (query and key
    positions aligned at the start, as torch does).
    """
    _check_qkv(q, k)
    d = q.shape[-1]
    s = (1.0 / d**0.5) if scale is None else scale
    acc = jnp.float32 if jnp.finfo(q.dtype).bits < 32 else q.dtype
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k, preferred_element_type=acc) * jnp.asarray(
        s, dtype=acc
    )
    if causal:
        sq, sk = q.shape[1], k.shape[1]
        allowed = jnp.tril(jnp.ones((sq, sk), dtype=bool))
        logits = jnp.where(allowed, logits, -jnp.inf)
    return jax.nn.softmax(logits, axis=-1).astype(q.dtype)


def dot_product_attention(
    q: Float[Array, "batch seq_q heads head_dim"],
    k: Float[Array, "batch seq_k heads head_dim"],
    v: Float[Array, "batch seq_k heads head_dim_v"],
    *,
    causal: bool = False,
    scale: float | None = None,
) -> Float[Array, "batch seq_q heads head_dim_v"]:
    """``softmax(scale · q kᵀ + mask) v`` per batch and head."""
    _check_qkv(q, k, v)
    p = attention_weights(q, k, causal=causal, scale=scale)
    return jnp.einsum("bhqk,bkhd->bqhd", p, v)
