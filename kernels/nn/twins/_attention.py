"""Torch twin of :mod:`parallax.kernels.nn._attention` (inputs in JAX's BTNH layout)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    scale: float | None = None,
) -> torch.Tensor:
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal, scale=scale
    )
    return out.transpose(1, 2)
