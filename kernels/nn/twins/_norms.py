"""Torch twins of :mod:`parallax.kernels.nn._norms` (``scale`` is torch's ``weight``)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F


def layer_norm(params: Mapping[str, torch.Tensor], x, *, eps: float):
    cdt = torch.float32 if x.dtype in (torch.bfloat16, torch.float16) else x.dtype
    bias = params.get("bias")
    y = F.layer_norm(
        x.to(cdt),
        (x.shape[-1],),
        params["scale"].to(cdt),
        None if bias is None else bias.to(cdt),
        eps=eps,
    )
    return y.to(x.dtype)


def rms_norm(params: Mapping[str, torch.Tensor], x, *, eps: float):
    cdt = torch.float32 if x.dtype in (torch.bfloat16, torch.float16) else x.dtype
    y = F.rms_norm(x.to(cdt), (x.shape[-1],), params["scale"].to(cdt), eps=eps)
    return y.to(x.dtype)
