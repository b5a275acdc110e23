"""Torch twins of :mod:`parallax.kernels.nn._attention` and ``_rope`` (JAX's BTNH layout in and
out; parameter dicts with the same names and (in, out) layouts as the JAX kernels — torch's own
``nn.Linear.weight`` would be the transpose)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F


def _mask(q, k, causal, mask, padding_mask):
    """Boolean (b|1, h|1, sq, sk) mask, True = attend (the JAX convention)."""
    sq, sk = q.shape[1], k.shape[1]
    out = mask
    if padding_mask is not None:
        pm = padding_mask[:, None, None, :]
        out = pm if out is None else out & pm
    if causal:
        tri = torch.ones(sq, sk, dtype=torch.bool, device=q.device).tril()[None, None]
        out = tri if out is None else out & tri
    return out


def attention_weights(q, k, *, causal=False, scale=None, mask=None, padding_mask=None):
    h, kvh = q.shape[2], k.shape[2]
    qt = q.transpose(1, 2)
    kt = k.transpose(1, 2).repeat_interleave(h // kvh, dim=1)
    acc = torch.float32 if q.dtype in (torch.bfloat16, torch.float16) else q.dtype
    s = (1.0 / q.shape[-1] ** 0.5) if scale is None else scale
    logits = (qt.to(acc) @ kt.to(acc).transpose(-1, -2)) * s
    m = _mask(q, k, causal, mask, padding_mask)
    if m is not None:
        logits = logits.masked_fill(~m, torch.finfo(acc).min)
    return torch.softmax(logits, dim=-1).to(q.dtype)


def dot_product_attention(
    q, k, v, *, causal=False, scale=None, mask=None, padding_mask=None, implementation="auto"
):
    """``F.scaled_dot_product_attention`` with ``enable_gqa`` (``implementation`` is ignored:
    it only selects the JAX code path)."""
    del implementation
    only_causal = mask is None and padding_mask is None
    m = None if only_causal else _mask(q, k, causal, mask, padding_mask)
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2),
        k.transpose(1, 2),
        v.transpose(1, 2),
        attn_mask=m,
        is_causal=causal and only_causal,  # lets torch pick its fused causal kernel
        scale=scale,
        enable_gqa=q.shape[2] != k.shape[2],
    )
    return out.transpose(1, 2)


def flash_attention(q, k, v, *, causal=False, scale=None, block_q=128, block_k=128, interpret=None):
    del block_q, block_k, interpret
    return dot_product_attention(q, k, v, causal=causal, scale=scale)


def apply_rope(x, positions=None, *, base: float, interleaved: bool):
    b, s, _, d = x.shape
    if positions is None:
        positions = torch.arange(s, device=x.device).expand(b, s)
    cdt = torch.float64 if x.dtype == torch.float64 else torch.float32
    half = d // 2
    exponent = torch.arange(half, dtype=cdt, device=x.device) * (2.0 / d)
    inv_freq = torch.tensor(base, dtype=cdt, device=x.device) ** -exponent
    ang = (positions.to(cdt)[..., None] * inv_freq)[:, :, None, :]
    cos, sin = ang.cos(), ang.sin()
    xc = x.to(cdt)
    if interleaved:
        xa, xb = xc[..., 0::2], xc[..., 1::2]
        out = torch.stack([xa * cos - xb * sin, xb * cos + xa * sin], dim=-1).reshape(xc.shape)
    else:
        xa, xb = xc[..., :half], xc[..., half:]
        out = torch.cat([xa * cos - xb * sin, xb * cos + xa * sin], dim=-1)
    return out.to(x.dtype)


def _proj(x, w, b):
    y = x @ w
    return y if b is None else y + b


def multi_head_attention(
    params: Mapping[str, torch.Tensor],
    x,
    *,
    num_heads: int,
    num_kv_heads: int | None = None,
    causal: bool,
    rope_base: float | None = None,
    rope_interleaved: bool = False,
    positions=None,
    padding_mask=None,
    mask=None,
    context=None,
    scale=None,
    implementation="auto",
):
    kvh = num_heads if num_kv_heads is None else num_kv_heads
    src = x if context is None else context
    b, s, _ = x.shape
    sk = src.shape[1]
    hd = params["wq"].shape[1] // num_heads
    hdv = params["wv"].shape[1] // kvh
    q = _proj(x, params["wq"], params.get("bq")).reshape(b, s, num_heads, hd)
    k = _proj(src, params["wk"], params.get("bk")).reshape(b, sk, kvh, hd)
    v = _proj(src, params["wv"], params.get("bv")).reshape(b, sk, kvh, hdv)
    if rope_base is not None:
        q = apply_rope(q, positions, base=rope_base, interleaved=rope_interleaved)
        k = apply_rope(k, positions, base=rope_base, interleaved=rope_interleaved)
    o = dot_product_attention(
        q, k, v, causal=causal, scale=scale, mask=mask, padding_mask=padding_mask
    )
    return _proj(o.reshape(b, s, num_heads * hdv), params["wo"], params.get("bo"))
