r"""1D and 2D convolution (cross-correlation, as in every deep-learning library).

.. math:: y[n, p, o] = b[o] + \sum_{k, i} x[n, s p + d k - \text{pad}_{lo}, i]\; w[k, i, o]

Layout is channels-last: inputs ``NWC`` / ``NHWC`` with kernels ``WIO`` / ``HWIO`` (XLA's and
flax's native layout). torch uses ``NCW`` / ``NCHW`` inputs and ``OIW`` / ``OIHW`` weights; the
twin permutes. With ``groups = g`` the input channels split into ``g`` groups and the kernel's
``I`` axis is ``c_in / g`` (torch's ``groups``, XLA's ``feature_group_count``).

On CPU an unsharded 2D convolution runs through MKL's GEMM on im2col blocks over every core
(:mod:`parallax.kernels.nn._mkl_conv`), forward and backward, the forward of a 3x3 kernel at
stride 1 as Winograd's F(2x2, 3x3); XLA:CPU's own 2D convolution runs on one thread.

``padding`` is ``"VALID"``, ``"SAME"`` (output length ``ceil(n / stride)``; an odd total
padding puts the extra element at the end, as TensorFlow and ``jax.lax`` do — torch's
``padding='same'`` exists only for stride 1), an int (same padding both sides), or explicit
``(lo, hi)`` pairs per spatial axis.

Parameter pytree (flat dict)::

    conv_1d: {"kernel": (w, c_in // groups, c_out), "bias": (c_out,)}       # bias optional
    conv_2d: {"kernel": (h, w, c_in // groups, c_out), "bias": (c_out,)}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

from parallax.kernels._checks import check_array
from parallax.kernels._platform import unsharded
from parallax.kernels.nn import _mkl_conv

__all__ = ["conv_1d", "conv_2d", "conv_padding"]

Padding = str | int | Sequence[tuple[int, int]]


def _tuple(name: str, v: int | Sequence[int], nd: int) -> tuple[int, ...]:
    t = (v,) * nd if isinstance(v, int) else tuple(v)
    if len(t) != nd or not all(isinstance(i, int) and i >= 1 for i in t):
        raise ValueError(f"{name}: expected a positive int or {nd} positive ints, got {v!r}")
    return t


def conv_padding(
    padding: Padding,
    spatial: Sequence[int],
    window: Sequence[int],
    strides: Sequence[int],
    dilation: Sequence[int],
) -> tuple[tuple[int, int], ...]:
    """Explicit ``(lo, hi)`` pads per spatial axis (shared by the kernel and its twin)."""
    nd = len(spatial)
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return ((0, 0),) * nd
        if mode == "SAME":
            pads = []
            for n, k, s, d in zip(spatial, window, strides, dilation, strict=True):
                eff = (k - 1) * d + 1
                out = -(-n // s)
                total = max((out - 1) * s + eff - n, 0)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(f"padding: expected 'SAME', 'VALID', an int or pairs, got {padding!r}")
    if isinstance(padding, int):
        if padding < 0:
            raise ValueError(f"padding: expected >= 0, got {padding}")
        return ((padding, padding),) * nd
    pairs = tuple(tuple(p) for p in padding)
    if len(pairs) != nd or not all(len(p) == 2 and min(p) >= 0 for p in pairs):
        raise ValueError(f"padding: expected {nd} (lo, hi) pairs of ints >= 0, got {padding!r}")
    return pairs  # type: ignore[return-value]


def _conv(
    params: Mapping[str, Array],
    x: Array,
    nd: int,
    stride: int | Sequence[int],
    padding: Padding,
    dilation: int | Sequence[int],
    groups: int,
) -> Array:
    check_array("x", x, ndim=nd + 2)
    unknown = sorted(set(params) - {"kernel", "bias"})
    if "kernel" not in params or unknown:
        raise ValueError(f"params: expected 'kernel' and optionally 'bias', got {sorted(params)}")
    w = params["kernel"]
    ci = x.shape[-1]
    layout = "(w, c_in/groups, c_out)" if nd == 1 else "(h, w, c_in/groups, c_out)"
    check_array("params['kernel']", w, ndim=nd + 2)
    if not isinstance(groups, int) or groups < 1 or ci % groups or w.shape[-1] % groups:
        raise ValueError(
            f"groups: expected a positive int dividing c_in={ci} and c_out={w.shape[-1]}, "
            f"got {groups!r}"
        )
    if w.shape[-2] != ci // groups:
        raise ValueError(
            f"params['kernel']: expected layout {layout} with c_in/groups={ci // groups}, "
            f"got shape {tuple(w.shape)}"
        )
    if w.dtype != x.dtype:
        raise TypeError(f"params['kernel']: expected dtype {x.dtype} (as x), got {w.dtype}")
    strides = _tuple("stride", stride, nd)
    dil = _tuple("dilation", dilation, nd)
    pads = conv_padding(padding, x.shape[1:-1], w.shape[:nd], strides, dil)
    spec = ("NWC", "WIO", "NWC") if nd == 1 else ("NHWC", "HWIO", "NHWC")

    bias = params.get("bias")
    if bias is not None:
        check_array("params['bias']", bias, shape=(w.shape[-1],))

    def add_bias(y: Array) -> Array:
        if bias is None:
            return y
        return y + bias.astype(y.dtype).reshape((1,) * (nd + 1) + (bias.shape[0],))

    def direct(x: Array, w: Array) -> Array:
        y = lax.conv_general_dilated(
            x,
            w,
            window_strides=strides,
            padding=pads,
            rhs_dilation=dil,
            dimension_numbers=spec,
            feature_group_count=groups,
        )
        return add_bias(y)

    if nd == 1 or not unsharded(x, w, *([] if bias is None else [bias])):
        return direct(x, w)  # sharded operands are XLA's to partition
    opts = {"strides": strides, "padding": pads, "dilation": dil, "groups": groups}
    if min(_mkl_conv.output_shape(x.shape, w.shape, **opts)[1:3]) < 1:
        return direct(x, w)
    b = jnp.zeros(w.shape[-1], x.dtype) if bias is None else bias.astype(x.dtype)
    return _mkl_conv.conv_2d(x, w, b, **opts)


def conv_1d(
    params: Mapping[str, Array],
    x: Float[Array, "batch n c_in"],
    *,
    stride: int | Sequence[int] = 1,
    padding: Padding,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> Float[Array, "batch n_out c_out"]:
    """1D convolution, ``NWC`` input, ``WIO`` kernel."""
    return _conv(params, x, 1, stride, padding, dilation, groups)


def conv_2d(
    params: Mapping[str, Array],
    x: Float[Array, "batch h w c_in"],
    *,
    stride: int | Sequence[int] = 1,
    padding: Padding,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> Float[Array, "batch h_out w_out c_out"]:
    """2D convolution, ``NHWC`` input, ``HWIO`` kernel."""
    return _conv(params, x, 2, stride, padding, dilation, groups)
