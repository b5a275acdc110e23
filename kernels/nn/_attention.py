r"""Scaled dot-product and multi-head attention (Vaswani et al., 2017, "Attention is all you
need"), with grouped-query heads (Ainslie et al., 2023, "GQA"), masks and rotary embeddings.

.. math:: \operatorname{attn}(Q, K, V) = \operatorname{softmax}\!\big(s\, Q K^\top + M\big) V,
          \qquad s = 1/\sqrt{d}

Layout is JAX's ``(batch, seq, heads, head_dim)`` ("BTNH"), not torch's ``(B, H, S, D)``; the
twin transposes. With grouped-query attention ``k`` and ``v`` carry ``kv_heads`` heads, which
must divide the ``heads`` of ``q``; query head ``h`` reads key/value head ``h // (heads //
kv_heads)`` (torch's ``repeat_interleave`` and ``enable_gqa`` convention).

Masks are boolean with **True = may attend** (jax convention; torch's ``key_padding_mask`` is
the opposite, the twin inverts it):

* ``causal``: query ``i`` attends to keys ``j <= i`` (positions aligned at the start, as torch);
* ``padding_mask``: ``(batch, seq_k)``, False marks padded keys;
* ``mask``: ``(batch | 1, heads | 1, seq_q | 1, seq_k)``, any other pattern.

A query row with no allowed key is not meaningful (torch returns NaN there); here it averages
all values, as ``jax.nn.dot_product_attention`` does. Low-precision inputs (bfloat16, float16)
accumulate logits and the softmax in float32.

``implementation`` picks the code path: ``"xla"`` is ``jax.nn.dot_product_attention``,
``"einsum"`` the explicit two-matmul form in a heads-major layout, ``"chunked"`` the same over
blocks of query rows (``lax.map``), ``"blocked"`` the flash-style online-softmax attention in
plain JAX of :mod:`parallax.kernels.nn._blocked` (``O(seq)`` memory forward and backward),
``"flash"`` the Pallas kernel of :mod:`parallax.kernels.nn._flash` (GPU; interpret mode on
CPU), ``"mkl"`` the CPU custom calls of :mod:`parallax.kernels.nn._mkl_attention` (MKL GEMMs
over XLA's thread pool; float32/float64, no masks besides ``causal``). ``"auto"`` chooses per
platform when the program is lowered (``lax.platform_dependent``, so one jitted function lowers
right for each): on CPU ``"mkl"`` where it applies and MKL is installed, else ``"blocked"``; the
Pallas kernel on CUDA when it applies (no masks besides ``causal``, block-divisible lengths);
else the einsum path (chunked for long sequences). Sharded programs (a mesh active or a sharded
input) take the einsum path on every platform.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from parallax.kernels._checks import check_array, check_keys, check_same_dtype
from parallax.kernels._platform import cpu_or_default, unsharded
from parallax.kernels.nn import _mkl_attention
from parallax.kernels.nn._blocked import blocked_attention
from parallax.kernels.nn._mkl_matmul import dense
from parallax.kernels.nn._mlp import project
from parallax.kernels.nn._rope import apply_rope

__all__ = ["attention_weights", "dot_product_attention", "multi_head_attention"]

Implementation = Literal["auto", "xla", "einsum", "chunked", "blocked", "flash", "mkl"]


def _check_qkv(q: Array, k: Array, v: Array | None = None) -> None:
    check_array("q", q, ndim=4)
    check_array("k", k, ndim=4)
    b, _, h, d = q.shape
    if k.shape[0] != b or k.shape[3] != d:
        raise ValueError(
            f"k: expected shape ({b}, seq_k, kv_heads, {d}) to match q {tuple(q.shape)}, "
            f"got {tuple(k.shape)}"
        )
    if h % k.shape[2]:
        raise ValueError(
            f"k: kv_heads={k.shape[2]} must divide the {h} heads of q (grouped-query attention)"
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


def _combined_mask(
    q: Array,
    k: Array,
    causal: bool,
    mask: Array | None,
    padding_mask: Array | None,
) -> Array | None:
    """One boolean ``(batch | 1, heads | 1, seq_q, seq_k)`` mask, or None when nothing masks."""
    b, sq, h, _ = q.shape
    sk = k.shape[1]
    out = None
    if mask is not None:
        check_array("mask", mask, ndim=4, kind="bool")
        ok = (
            mask.shape[0] in (1, b)
            and mask.shape[1] in (1, h)
            and mask.shape[2] in (1, sq)
            and mask.shape[3] == sk
        )
        if not ok:
            raise ValueError(
                f"mask: expected shape ({b} or 1, {h} or 1, {sq} or 1, {sk}), "
                f"got {tuple(mask.shape)}"
            )
        out = mask
    if padding_mask is not None:
        check_array("padding_mask", padding_mask, shape=(b, sk), kind="bool")
        pm = padding_mask[:, None, None, :]
        out = pm if out is None else jnp.logical_and(out, pm)
    if causal:
        tri = jnp.tril(jnp.ones((sq, sk), dtype=bool))[None, None]
        out = tri if out is None else jnp.logical_and(out, tri)
    return out


def _scale(d: int, scale: float | None) -> float:
    return (1.0 / d**0.5) if scale is None else float(scale)


def _acc_dtype(dtype: jnp.dtype) -> jnp.dtype:
    return jnp.dtype(jnp.float32) if jnp.finfo(dtype).bits < 32 else jnp.dtype(dtype)


def _heads_major(q: Array, k: Array, v: Array | None, m: Array | None):
    """Move to ``(batch, kv_heads, rows, ·)`` with the query groups folded into the rows.

    Query head ``h = j * g + i`` (``g = heads // kv_heads``) reads kv head ``j``; its rows are
    ``i * seq_q … (i+1) * seq_q - 1``. Every contraction is then a plain batched matmul over
    ``(batch, kv_heads)`` in row-major layout; on XLA:CPU a 5-D grouped einsum makes XLA
    transpose the whole ``seq_q x seq_k`` logits tensor twice.
    """
    b, sq, h, d = q.shape
    kvh = k.shape[2]
    g = h // kvh
    qt = q.reshape(b, sq, kvh, g, d).transpose(0, 2, 3, 1, 4).reshape(b, kvh, g * sq, d)
    kt = k.transpose(0, 2, 1, 3)
    vt = None if v is None else v.transpose(0, 2, 1, 3)
    mt = None
    if m is not None:
        mb, mh, mq, sk = m.shape
        if mh == h:  # per-head mask: heads (kvh, g) -> rows
            mt = jnp.broadcast_to(m, (mb, h, sq, sk)).reshape(mb, kvh, g * sq, sk)
        elif mq == 1 or g == 1:  # broadcasts over the folded rows as it is
            mt = m
        else:
            mt = jnp.tile(m, (1, 1, g, 1))
    return qt, kt, vt, mt


def _probs_heads_major(qt: Array, kt: Array, mt: Array | None, scale: float) -> Array:
    """Softmax probabilities ``(batch, kv_heads, g * seq_q, seq_k)`` (accumulation dtype)."""
    acc = _acc_dtype(qt.dtype)
    logits = jnp.einsum("bhqd,bhkd->bhqk", qt, kt, preferred_element_type=acc)
    logits = logits * jnp.asarray(scale, dtype=acc)
    if mt is not None:
        logits = jnp.where(mt, logits, jnp.asarray(jnp.finfo(acc).min, acc))
    return jax.nn.softmax(logits, axis=-1)


CHUNK_ROWS = 128
"""Query rows per chunk of the ``"chunked"`` path (``parallax bench`` picks it among powers of
two: enough rows per matmul, a logits block that stays in cache)."""


@functools.partial(jax.jit, static_argnames=("scale", "chunk"))
def _einsum_attention(
    q: Array, k: Array, v: Array, m: Array | None, scale: float, chunk: int | None = None
) -> Array:
    """Attention in the heads-major layout; with ``chunk``, query rows are processed
    ``chunk`` at a time under ``lax.map`` so each chunk's logits stay cache-sized instead of
    materialising the whole ``(batch, heads, seq_q, seq_k)`` tensor. (Jitted: inside an outer
    jit this is free; called eagerly it is one compiled program instead of dozens of ops.)"""
    b, sq, h, _ = q.shape
    kvh, dv = k.shape[2], v.shape[3]
    qt, kt, vt, mt = _heads_major(q, k, v, m)
    assert vt is not None

    def attend(qi: Array, mi: Array | None) -> Array:
        p = _probs_heads_major(qi, kt, mi, scale).astype(v.dtype)
        return jnp.einsum("bhqk,bhkd->bhqd", p, vt)

    rows = qt.shape[2]
    if chunk is None or rows <= chunk or rows % chunk:
        out = attend(qt, mt)  # (b, kvh, g * sq, dv)
    else:
        n = rows // chunk
        qc = jnp.moveaxis(qt.reshape(b, kvh, n, chunk, qt.shape[3]), 2, 0)
        if mt is None:
            oc = jax.lax.map(lambda qi: attend(qi, None), qc)
        else:
            mr = (
                mt
                if mt.shape[2] == rows
                else jnp.broadcast_to(mt, (*mt.shape[:2], rows, mt.shape[3]))
            )
            mc = jnp.moveaxis(mr.reshape(*mr.shape[:2], n, chunk, mr.shape[3]), 2, 0)
            oc = jax.lax.map(lambda a: attend(a[0], a[1]), (qc, mc))
        out = jnp.moveaxis(oc, 0, 2).reshape(b, kvh, rows, dv)
    return out.reshape(b, kvh, h // kvh, sq, dv).transpose(0, 3, 1, 2, 4).reshape(b, sq, h, dv)


def attention_weights(
    q: Float[Array, "batch seq_q heads head_dim"],
    k: Float[Array, "batch seq_k kv_heads head_dim"],
    *,
    causal: bool = False,
    scale: float | None = None,
    mask: Bool[Array, "batch heads seq_q seq_k"] | None = None,
    padding_mask: Bool[Array, "batch seq_k"] | None = None,
) -> Float[Array, "batch heads seq_q seq_k"]:
    """Softmax attention probabilities; each row sums to one."""
    _check_qkv(q, k)
    m = _combined_mask(q, k, causal, mask, padding_mask)
    qt, kt, _, mt = _heads_major(q, k, None, m)
    p = _probs_heads_major(qt, kt, mt, _scale(q.shape[-1], scale))
    b, sq, h, _ = q.shape
    return p.reshape(b, h, sq, k.shape[1]).astype(q.dtype)


BLOCK_Q, BLOCK_K = 256, 128
"""Query rows and keys per block of the ``"blocked"`` path: forward and backward times vary little
with the block shape (``parallax bench`` compares them), and the
``(batch · kv heads, g · BLOCK_Q, BLOCK_K)`` logits block stays a few MB."""


def _einsum_default(q: Array, k: Array, v: Array, m: Array | None, scale: float) -> Array:
    """The einsum path, chunked over query rows for long sequences (each chunk's logits stay
    bounded instead of materialising the whole ``(batch, heads, seq_q, seq_k)`` tensor)."""
    rows = q.shape[1] * q.shape[2]
    if q.shape[1] >= 4 * CHUNK_ROWS and rows % CHUNK_ROWS == 0:
        return _einsum_attention(q, k, v, m, scale, chunk=CHUNK_ROWS)
    return _einsum_attention(q, k, v, m, scale)


def _pallas_applies(q: Array, k: Array, causal: bool, masked: bool) -> bool:
    sq, sk = q.shape[1], k.shape[1]
    divisible = sq % min(128, sq) == 0 and sk % min(128, sk) == 0
    return not masked and divisible and (sq == sk or not causal)


def _auto(q, k, v, causal, mask, padding_mask, scale) -> Array:
    """``implementation="auto"``: one branch per platform, chosen when the program is lowered.

    On CPU the MKL handlers run the block products over every core where they apply; else the
    blocked path keeps each logits block cache-sized and skips the key blocks above the
    diagonal; the einsum path (even chunked) round-trips whole rows of logits through memory and
    stores the probabilities for the backward pass."""

    masked = mask is not None or padding_mask is not None

    def cpu(q, k, v, mask, padding_mask):
        if _mkl_attention.applies(q, k, masked) and _mkl_attention.available():
            return _mkl_attention.mkl_attention(q, k, v, causal=causal, scale=scale)
        m = _combined_mask(q, k, False, mask, padding_mask)
        return blocked_attention(
            q, k, v, m, causal=causal, scale=scale, block_q=BLOCK_Q, block_k=BLOCK_K
        )

    def default(q, k, v, mask, padding_mask):
        return _einsum_default(q, k, v, _combined_mask(q, k, causal, mask, padding_mask), scale)

    args = (q, k, v, mask, padding_mask)
    if not unsharded(*(a for a in args if a is not None)):
        return default(*args)
    branches = {"cpu": cpu}
    if _pallas_applies(q, k, causal, masked):
        from parallax.kernels.nn._flash import flash_attention

        def cuda(q, k, v, mask, padding_mask):
            del mask, padding_mask
            return flash_attention(q, k, v, causal=causal, scale=scale, interpret=False)

        branches["cuda"] = cuda
    return jax.lax.platform_dependent(*args, default=default, **branches)


def dot_product_attention(
    q: Float[Array, "batch seq_q heads head_dim"],
    k: Float[Array, "batch seq_k kv_heads head_dim"],
    v: Float[Array, "batch seq_k kv_heads head_dim_v"],
    *,
    causal: bool = False,
    scale: float | None = None,
    mask: Bool[Array, "batch heads seq_q seq_k"] | None = None,
    padding_mask: Bool[Array, "batch seq_k"] | None = None,
    implementation: Implementation = "auto",
) -> Float[Array, "batch seq_q heads head_dim_v"]:
    """``softmax(scale · q kᵀ + mask) v`` per batch and head (grouped-query when ``k`` and
    ``v`` have fewer heads than ``q``)."""
    _check_qkv(q, k, v)
    s = _scale(q.shape[-1], scale)
    impl = implementation
    if impl == "auto":
        return _auto(q, k, v, causal, mask, padding_mask, s)
    if impl == "blocked":
        m = _combined_mask(q, k, False, mask, padding_mask)
        return blocked_attention(
            q, k, v, m, causal=causal, scale=s, block_q=BLOCK_Q, block_k=BLOCK_K
        )
    m = _combined_mask(q, k, causal, mask, padding_mask)
    if impl == "xla":
        if q.shape[-1] != v.shape[-1]:
            raise ValueError("v: implementation='xla' needs head_dim_v == head_dim")
        # jax.nn promotes the logits dtype with float32 internally, which strict dtype promotion
        # rejects for float64 inputs; the promotion is the intended one, so allow it here.
        with jax.numpy_dtype_promotion("standard"):
            return jax.nn.dot_product_attention(q, k, v, mask=m, scale=s, implementation="xla")
    if impl == "einsum":
        return _einsum_attention(q, k, v, m, s)
    if impl == "chunked":
        return _einsum_attention(q, k, v, m, s, chunk=CHUNK_ROWS)
    if impl == "mkl":
        masked = mask is not None or padding_mask is not None
        if not _mkl_attention.applies(q, k, masked):
            raise ValueError(
                "implementation: 'mkl' takes float32/float64 inputs with no mask besides causal, "
                f"got {q.dtype} {'with' if masked else 'without'} a mask"
            )
        if not _mkl_attention.available():
            raise ValueError(
                f"implementation: 'mkl' is unavailable here ({_mkl_attention.reason()})"
            )
        return _mkl_attention.mkl_attention(q, k, v, causal=causal, scale=s)
    if impl == "flash":
        from parallax.kernels.nn._flash import flash_attention

        if mask is not None or padding_mask is not None:
            raise ValueError("mask: implementation='flash' supports only causal masking")
        return flash_attention(q, k, v, causal=causal, scale=s)
    raise ValueError(
        "implementation: expected 'auto', 'xla', 'einsum', 'chunked', 'blocked', 'flash' or 'mkl', "
        f"got {implementation!r}"
    )


_MHA_REQUIRED = ("wq", "wk", "wv", "wo")
_MHA_OPTIONAL = ("bq", "bk", "bv", "bo")


def _check_weight(x: Array, w: Array, b: Array | None, name: str, out_features: int | None) -> None:
    check_array(f"params['w{name}']", w, ndim=2)
    if w.shape[0] != x.shape[-1] or (out_features is not None and w.shape[1] != out_features):
        want = "d_out" if out_features is None else str(out_features)
        raise ValueError(
            f"params['w{name}']: expected shape ({x.shape[-1]}, {want}) (layout (in, out)), "
            f"got {tuple(w.shape)}"
        )
    if w.dtype != x.dtype:
        raise TypeError(f"params['w{name}']: expected dtype {x.dtype} (as x), got {w.dtype}")
    if b is not None:
        check_array(f"params['b{name}']", b, shape=(w.shape[1],))


def _add_bias(y: Array, b: Array | None) -> Array:
    if b is None:
        return y
    return y + b.astype(y.dtype).reshape((1,) * (y.ndim - b.ndim) + b.shape)


def _project(x: Array, w: Array, b: Array | None, name: str, out_features: int | None) -> Array:
    _check_weight(x, w, b, name, out_features)
    return _add_bias(project(x, w), b)


def _grouped_projection(x: Array, ws: list[Array], groups: int) -> list[Array]:
    """``[x @ w for w in ws]`` as ONE contraction, each result as ``(batch, seq, groups, c_i)``.

    Every ``(d_in, groups * c_i)`` weight is viewed as ``(d_in, groups, c_i)`` (group-major
    columns: kv head ``j``'s columns, and query heads ``j g … j g + g - 1`` reading it, are
    contiguous), the views are concatenated along ``c`` and contracted with ``x`` once. Values
    equal the separate products; what changes is the backward: the input gradient
    ``dx = Σ_i dy_i W_iᵀ`` is one contraction over ``(groups, c)``, so under tensor
    parallelism (``groups`` sharded over a ``model`` axis) it is one all-reduce instead of one
    per projection (XLA:CPU combines three separate input-gradient all-reduces into one tuple
    all-reduce of three arrays, three times the bytes: it does not add before reducing). The
    concatenation is along the unsharded ``c`` axis, so it is local on every device
    (Megatron-LM fuses its QKV weight the same way, per head group).

    Unsharded on CPU the products stay separate: each result is then an MKL GEMM's own dense
    output, which the attention call reads as it is, whereas slices of one stacked product are
    copied out of it (a pass over every result, and one over the weights to stack them).
    """
    widths = [w.shape[1] // groups for w in ws]

    def stacked_product(x: Array, *ws: Array) -> list[Array]:
        views = [w.reshape(w.shape[0], groups, c) for w, c in zip(ws, widths, strict=True)]
        stacked = views[0] if len(views) == 1 else jnp.concatenate(views, axis=2)
        if unsharded(x, stacked):
            y = dense(x, stacked.reshape(stacked.shape[0], -1)).reshape(
                *x.shape[:2], *stacked.shape[1:]
            )
        else:
            y = jnp.einsum("bse,ekc->bskc", x, stacked)
        cuts = [sum(widths[: i + 1]) for i in range(len(widths) - 1)]
        return jnp.split(y, cuts, axis=3) if cuts else [y]

    def products(x: Array, *ws: Array) -> list[Array]:
        return [
            dense(x, w).reshape(*x.shape[:2], groups, c) for w, c in zip(ws, widths, strict=True)
        ]

    return cpu_or_default(len(ws) > 1, products, stacked_product, x, *ws)


def multi_head_attention(
    params: Mapping[str, Array],
    x: Float[Array, "batch seq d_model"],
    *,
    num_heads: int,
    num_kv_heads: int | None = None,
    causal: bool,
    rope_base: float | None = None,
    rope_interleaved: bool = False,
    positions: Int[Array, "batch seq"] | None = None,
    padding_mask: Bool[Array, "batch seq_k"] | None = None,
    mask: Bool[Array, "batch heads seq seq_k"] | None = None,
    context: Float[Array, "batch seq_k d_context"] | None = None,
    scale: float | None = None,
    implementation: Implementation = "auto",
) -> Float[Array, "batch seq d_out"]:
    """Multi-head (grouped-query) attention with projections from ``params``.

    ``Q = x Wq + bq``, ``K = c Wk + bk``, ``V = c Wv + bv`` with ``c = context`` (cross
    attention) or ``x`` (self attention); heads are split from the feature axis head-major
    (feature ``h * head_dim + i`` is element ``i`` of head ``h``, as torch's reshape); with
    ``rope_base`` set, ``Q`` and ``K`` are rotated by :func:`apply_rope` (self attention only);
    the heads are attended and merged, ``out = attn Wo + bo``.

    Parameter pytree (flat dict; weights ``(in, out)`` like flax — torch's ``nn.Linear`` and
    ``nn.MultiheadAttention.in_proj_weight`` are ``(out, in)``, the latter with q, k, v stacked
    along ``out``)::

        {"wq": (d_model, num_heads * head_dim),  "bq": (num_heads * head_dim,),
         "wk": (d_context, num_kv_heads * head_dim), "bk": (num_kv_heads * head_dim,),
         "wv": (d_context, num_kv_heads * head_dim_v), "bv": (num_kv_heads * head_dim_v,),
         "wo": (num_heads * head_dim_v, d_out),   "bo": (d_out,)}        # biases optional
    """
    check_array("x", x, ndim=3)
    check_keys(params, _MHA_REQUIRED, _MHA_OPTIONAL)
    if not isinstance(num_heads, int) or num_heads < 1:
        raise ValueError(f"num_heads: expected a positive int, got {num_heads!r}")
    kv_heads = num_heads if num_kv_heads is None else num_kv_heads
    if not isinstance(kv_heads, int) or kv_heads < 1 or num_heads % kv_heads:
        raise ValueError(
            f"num_kv_heads: expected a positive int dividing num_heads={num_heads}, "
            f"got {num_kv_heads!r}"
        )
    wq = params["wq"]
    check_array("params['wq']", wq, ndim=2)
    if wq.shape[1] % num_heads:
        raise ValueError(
            f"params['wq']: output features {wq.shape[1]} not divisible by num_heads={num_heads}"
        )
    hd = wq.shape[1] // num_heads
    src = x
    if context is not None:
        check_array("context", context, ndim=3)
        if context.shape[0] != x.shape[0]:
            raise ValueError(
                f"context: expected batch {x.shape[0]} (as x), got shape {tuple(context.shape)}"
            )
        if rope_base is not None:
            raise ValueError("rope_base: rotary embeddings are for self attention (context=None)")
        src = context
    wv = params["wv"]
    check_array("params['wv']", wv, ndim=2)
    if wv.shape[1] % kv_heads:
        raise ValueError(
            f"params['wv']: output features {wv.shape[1]} not divisible by num_kv_heads={kv_heads}"
        )
    hdv = wv.shape[1] // kv_heads
    b, s, _ = x.shape
    g = num_heads // kv_heads
    bq, bk, bv = params.get("bq"), params.get("bk"), params.get("bv")
    _check_weight(x, wq, bq, "q", num_heads * hd)
    _check_weight(src, params["wk"], bk, "k", kv_heads * hd)
    _check_weight(src, wv, bv, "v", kv_heads * hdv)
    if context is None and kv_heads > 1:  # q, k, v in one contraction (_grouped_projection)
        q, k, v = _grouped_projection(x, [wq, params["wk"], wv], kv_heads)
    else:
        # cross attention: q from x, k and v (one contraction) from the context. Multi-query
        # (one kv head): k and v cannot be sharded by heads, so q (head-sharded) is kept apart:
        # concatenated with replicated k/v columns it makes XLA re-lay the stack out with
        # all-to-alls, which move more bytes than the separate projections.
        q = _grouped_projection(x, [wq], kv_heads)[0]
        k, v = _grouped_projection(src, [params["wk"], wv], kv_heads)
    # (b, s, kv_heads, g * hd) -> (b, s, kv_heads, g, hd) -> (b, s, heads, hd): query head
    # j g + i is group j's i-th (two reshapes, each splitting or merging behind a sharded axis)
    q = q.reshape(b, s, kv_heads, g, hd).reshape(b, s, num_heads, hd)
    q = _add_bias(q, None if bq is None else bq.reshape(num_heads, hd))
    k = _add_bias(k, None if bk is None else bk.reshape(kv_heads, hd))
    v = _add_bias(v, None if bv is None else bv.reshape(kv_heads, hdv))
    if rope_base is not None:
        q = apply_rope(q, positions, base=rope_base, interleaved=rope_interleaved)
        k = apply_rope(k, positions, base=rope_base, interleaved=rope_interleaved)
    elif positions is not None:
        raise ValueError("positions: given without rope_base (they are only used by RoPE)")
    o = dot_product_attention(
        q,
        k,
        v,
        causal=causal,
        scale=scale,
        mask=mask,
        padding_mask=padding_mask,
        implementation=implementation,
    )
    return _project(o.reshape(b, s, num_heads * hdv), params["wo"], params.get("bo"), "o", None)
