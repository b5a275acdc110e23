"""Torch twins of :mod:`parallax.kernels.nn._conv`: NWC/NHWC inputs and WIO/HWIO kernels are
permuted to torch's NCW/NCHW and OIW/OIHW; padding is applied explicitly with ``F.pad`` (torch's
``padding='same'`` exists only for stride 1)."""

from __future__ import annotations

import math

import torch.nn.functional as F


def _explicit_pads(padding, spatial, window, stride, dilation):
    """``(lo, hi)`` per spatial axis; ``"SAME"`` gives output ``ceil(n / s)`` with the odd
    element of the total padding at the end (TensorFlow's and ``jax.lax``'s rule)."""
    nd = len(spatial)
    if isinstance(padding, int):
        return [(padding, padding)] * nd
    if not isinstance(padding, str):
        return [tuple(p) for p in padding]
    if padding.upper() == "VALID":
        return [(0, 0)] * nd
    pads = []
    for n, k, s, d in zip(spatial, window, stride, dilation, strict=True):
        total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def _conv(params, x, nd, stride, padding, dilation, groups):
    w = params["kernel"]
    st = (stride,) * nd if isinstance(stride, int) else tuple(stride)
    dl = (dilation,) * nd if isinstance(dilation, int) else tuple(dilation)
    pads = _explicit_pads(padding, tuple(x.shape[1:-1]), tuple(w.shape[:nd]), st, dl)
    if nd == 1:
        xt, wt = x.permute(0, 2, 1), w.permute(2, 1, 0)  # NWC -> NCW, WIO -> OIW
        flat = [p for pair in reversed(pads) for p in pair]
        y = F.conv1d(F.pad(xt, flat), wt, params.get("bias"), st, 0, dl, groups)
        return y.permute(0, 2, 1)
    xt, wt = x.permute(0, 3, 1, 2), w.permute(3, 2, 0, 1)  # NHWC -> NCHW, HWIO -> OIHW
    flat = [p for pair in reversed(pads) for p in pair]  # F.pad: last axis first
    y = F.conv2d(F.pad(xt, flat), wt, params.get("bias"), st, 0, dl, groups)
    return y.permute(0, 2, 3, 1)


def conv_1d(params, x, *, stride=1, padding, dilation=1, groups=1):
    return _conv(params, x, 1, stride, padding, dilation, groups)


def conv_2d(params, x, *, stride=1, padding, dilation=1, groups=1):
    return _conv(params, x, 2, stride, padding, dilation, groups)
