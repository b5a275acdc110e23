"""Torch twin of the pre-norm transformer (imports torch): a GPT-style layout with a fused
``qkv`` projection (rows ``[q; k; v]``), rotate-half RoPE, grouped-query heads repeated with
``repeat_interleave``, and ``F.scaled_dot_product_attention`` with a boolean mask."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from parallax.models._torch_fno import _act

__all__ = ["TorchTransformer", "rope"]


def rope(x: torch.Tensor, base: float) -> torch.Tensor:
    """Rotate-half RoPE on ``(batch, heads, seq, head_dim)`` (positions ``0 … seq-1``)."""
    s, d = x.shape[-2], x.shape[-1]
    cdt = torch.float64 if x.dtype == torch.float64 else torch.float32
    inv = base ** (-(torch.arange(d // 2, dtype=cdt, device=x.device) * (2.0 / d)))
    ang = torch.arange(s, dtype=cdt, device=x.device)[:, None] * inv[None, :]
    cos, sin = torch.cos(ang), torch.sin(ang)
    xc = x.to(cdt)
    a, b = xc[..., : d // 2], xc[..., d // 2 :]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1).to(x.dtype)


def _norm(c, dtype):
    if c.norm == "layer":
        return nn.LayerNorm(c.embed, eps=c.norm_eps, bias=c.bias, dtype=dtype)
    return nn.RMSNorm(c.embed, eps=c.norm_eps, dtype=dtype)


class _Attention(nn.Module):
    def __init__(self, c, dtype):
        super().__init__()
        self.c = c
        hd = c.head_dim
        self.qkv = nn.Linear(c.embed, (c.heads + 2 * c.num_kv_heads) * hd, bias=c.bias, dtype=dtype)
        self.proj = nn.Linear(c.heads * hd, c.embed, bias=c.bias, dtype=dtype)

    def forward(self, x, allowed):
        c = self.c
        b, s, _ = x.shape
        hd, h, hkv = c.head_dim, c.heads, c.num_kv_heads
        q, k, v = self.qkv(x).split([h * hd, hkv * hd, hkv * hd], dim=-1)
        q = q.view(b, s, h, hd).transpose(1, 2)
        k = k.view(b, s, hkv, hd).transpose(1, 2)
        v = v.view(b, s, hkv, hd).transpose(1, 2)
        if c.rope_base is not None:
            q, k = rope(q, c.rope_base), rope(k, c.rope_base)
        if hkv != h:
            k = k.repeat_interleave(h // hkv, dim=1)
            v = v.repeat_interleave(h // hkv, dim=1)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        return self.proj(o.transpose(1, 2).reshape(b, s, h * hd))


class _MLP(nn.Module):
    def __init__(self, c, dtype):
        super().__init__()
        self.gated = c.gated
        self.act = _act(c.activation)
        if c.gated:
            self.gate = nn.Linear(c.embed, c.mlp_hidden, bias=c.bias, dtype=dtype)
            self.up = nn.Linear(c.embed, c.mlp_hidden, bias=c.bias, dtype=dtype)
            self.down = nn.Linear(c.mlp_hidden, c.embed, bias=c.bias, dtype=dtype)
        else:
            self.fc1 = nn.Linear(c.embed, c.mlp_hidden, bias=c.bias, dtype=dtype)
            self.fc2 = nn.Linear(c.mlp_hidden, c.embed, bias=c.bias, dtype=dtype)

    def forward(self, x):
        if self.gated:
            return self.down(self.act(self.gate(x)) * self.up(x))
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, c, dtype):
        super().__init__()
        self.ln1 = _norm(c, dtype)
        self.attn = _Attention(c, dtype)
        self.ln2 = _norm(c, dtype)
        self.mlp = _MLP(c, dtype)

    def forward(self, x, allowed):
        x = x + self.attn(self.ln1(x), allowed)
        return x + self.mlp(self.ln2(x))


class TorchTransformer(nn.Module):
    """``TorchTransformer(config, dtype)`` for a :class:`parallax.models.TransformerConfig`;
    ``forward(x, padding_mask=None)`` with True marking real tokens (as the JAX model)."""

    def __init__(self, config, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        c = config
        self.config = c
        if c.vocab_size is not None:
            self.tok_emb = nn.Embedding(c.vocab_size, c.embed, dtype=dtype)
        self.layers = nn.ModuleList(_Block(c, dtype) for _ in range(c.depth))
        if c.final_norm:
            self.ln_f = _norm(c, dtype)
        if c.vocab_size is not None:
            self.lm_head = nn.Linear(c.embed, c.vocab_size, bias=c.bias, dtype=dtype)

    def forward(self, x, padding_mask=None):
        c = self.config
        h = self.tok_emb(x) if c.vocab_size is not None else x
        s = h.shape[1]
        allowed = None
        if c.causal:
            allowed = torch.ones(s, s, dtype=torch.bool, device=h.device).tril()[None, None]
        if padding_mask is not None:
            pm = padding_mask[:, None, None, :]
            allowed = pm if allowed is None else allowed & pm
        for layer in self.layers:
            h = layer(h, allowed)
        if c.final_norm:
            h = self.ln_f(h)
        if c.vocab_size is not None:
            h = self.lm_head(h)
        return h
