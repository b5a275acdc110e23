r"""2D convolution on CPU through MKL: the ``parallax_conv_2d`` primitives.

``conv_2d(x, kernel, bias)`` is XLA's convolution (``NHWC`` input, ``HWIO`` kernel,
``feature_group_count`` g) plus a bias:

.. math:: y[n, p, q, o] = b[o] + \sum_{a, b, c'} \tilde x[n, s_h p + d_h a - lo_h,
          s_w q + d_w b - lo_w, j c_g + c']\; w[a, b, c', o]

where :math:`\tilde x` is ``x`` dilated by ``lhs_dilation`` and zero outside, ``j`` the group of
output feature ``o`` and ``c_g = c_in / g``. On CPU it lowers to an XLA FFI handler
(``_mkl_conv.cc``) that builds the im2col matrix of a block of output pixels in a cache-sized
buffer and multiplies it by the kernel, reshaped to ``(k_h k_w c_g, c_out)``, with one
sequential MKL GEMM per block and group over XLA's thread pool; XLA's own 2D convolution runs
on one thread. The kernel gradient is a second primitive, ``parallax_conv_2d_weight``:
:math:`\bar w = \mathrm{im2col}(x)^\top \bar y`, one GEMM per block into an accumulator per
task of the pool.

The convolution is affine in ``(x, b)`` for a fixed kernel and linear in the kernel for fixed
``x``. Its transposes are again these primitives, as for XLA's convolution: :math:`\bar x` is
the convolution of :math:`\bar y` with the flipped kernel, its input and output features
swapped within each group, window strides and input dilation exchanged; :math:`\bar w` is the
weight primitive; :math:`\bar b = \sum_{n,p,q} \bar y`. The weight primitive is bilinear in
``(x, ȳ)`` with both transposes convolutions, so ``grad``, ``jvp`` and higher derivatives stay
on the handler. Under ``vmap`` a batch of ``x`` against a shared kernel and bias joins the
image axis; other batchings run XLA's batched convolution.

Everywhere the handler does not run (GPU/TPU, programs XLA partitions or that are being
exported, dtypes other than float32 and float64, without MKL, ``PARALLAX_MKL_CONV=0``) the
primitives lower to XLA's ops: on CPU the stacked-rows form of
:mod:`parallax.kernels.nn._conv_rows` where it applies, XLA's convolution otherwise. Built on
first use against MKL (the ``cpu-fft`` extra).
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir
from jaxtyping import Array

from parallax.kernels import _mkl
from parallax.kernels._native import Handler, handler_may_run
from parallax.kernels.nn._conv_rows import conv_2d_by_rows

__all__ = ["available", "conv_2d", "reason"]

TARGET = "parallax_mkl_conv_2d"
WEIGHT_TARGET = "parallax_mkl_conv_2d_weight"

_HANDLER = Handler(
    Path(__file__).with_name("_mkl_conv.cc"),
    (TARGET, WEIGHT_TARGET),
    switch="PARALLAX_MKL_CONV",
    fallback="2D convolutions on CPU keep XLA's convolution",
    flags=lambda: [*_mkl.flags(), "-O3"],
)
available = _HANDLER.available
reason = _HANDLER.reason

conv_p = Primitive("parallax_conv_2d")
weight_p = Primitive("parallax_conv_2d_weight")

_SPEC = ("NHWC", "HWIO", "NHWC")
Pairs = tuple[tuple[int, int], ...]


def conv_2d(
    x: Array,
    kernel: Array,
    bias: Array,
    *,
    strides: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
    groups: int = 1,
) -> Array:
    """``x (n, h, w, c_in)`` convolved with ``kernel (k_h, k_w, c_in / groups, c_out)`` plus
    ``bias (c_out,)``, all of one dtype; ``padding`` holds ``(lo, hi)`` per spatial axis."""
    return conv_p.bind(
        x,
        kernel,
        bias,
        strides=tuple(map(int, strides)),
        padding=tuple((int(lo), int(hi)) for lo, hi in padding),
        lhs_dilation=(1, 1),
        rhs_dilation=tuple(map(int, dilation)),
        groups=int(groups),
    )


def _dilate(n: int, d: int) -> int:
    return 0 if n == 0 else 1 + d * (n - 1)


def _out_shape(x_shape, k_shape, strides, padding, lhs_dilation, rhs_dilation, groups=1):
    sizes = []
    for n, k, s, (lo, hi), ld, rd in zip(
        x_shape[1:3], k_shape[:2], strides, padding, lhs_dilation, rhs_dilation, strict=True
    ):
        span = _dilate(n, ld) + lo + hi - _dilate(k, rd)
        sizes.append(span // s + 1 if span >= 0 else 0)
    return (x_shape[0], *sizes, k_shape[3])


def _conv_abstract(x, k, b, *, groups, **p):
    if (
        x.ndim != 4
        or k.ndim != 4
        or b.shape != (k.shape[3],)
        or k.shape[2] * groups != x.shape[3]
        or k.shape[3] % groups
    ):
        raise ValueError(
            f"conv_2d: expected x (n, h, w, c), kernel (k_h, k_w, c / {groups}, o) and bias "
            f"(o,) with o a multiple of {groups}, got shapes {x.shape}, {k.shape} and {b.shape}"
        )
    if not x.dtype == k.dtype == b.dtype:
        raise TypeError(f"conv_2d: operands differ in dtype: {x.dtype}, {k.dtype}, {b.dtype}")
    return x.update(shape=_out_shape(x.shape, k.shape, **p))


def _weight_abstract(x, dy, *, window, groups, **p):
    k_shape = (*window, x.shape[3] // groups, dy.shape[3])
    if x.shape[3] % groups or dy.shape[3] % groups or _out_shape(x.shape, k_shape, **p) != dy.shape:
        raise ValueError(f"conv_2d weight: output cotangent shape {dy.shape} does not match")
    if x.dtype != dy.dtype:
        raise TypeError(f"conv_2d weight: operands differ in dtype: {x.dtype}, {dy.dtype}")
    return x.update(shape=k_shape)


def _xla(x, k, b, *, strides, padding, lhs_dilation, rhs_dilation, groups):
    y = lax.conv_general_dilated(
        x,
        k,
        window_strides=strides,
        padding=padding,
        lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation,
        dimension_numbers=_SPEC,
        feature_group_count=groups,
    )
    return y + b.reshape(1, 1, 1, -1)


def _xla_cpu(x, k, b, *, strides, padding, lhs_dilation, rhs_dilation, groups):
    """XLA's ops on CPU: the stacked-rows form where it applies (a single-threaded 2D
    convolution otherwise)."""
    p = {"strides": strides, "padding": padding, "lhs_dilation": lhs_dilation}
    out = _out_shape(x.shape, k.shape, rhs_dilation=rhs_dilation, **p)
    plain = lhs_dilation == (1, 1) and min(p for pair in padding for p in pair) >= 0
    if plain and min(out[1:3]) >= 1:
        return conv_2d_by_rows(x, k, b, strides, padding, rhs_dilation, groups)
    return _xla(x, k, b, rhs_dilation=rhs_dilation, groups=groups, **p)


def _weight_xla(x, dy, *, window, groups, **p):
    """The kernel gradient as the transpose of XLA's 2D convolution in the kernel (on every
    platform: the transpose of the stacked-rows form is a 1D convolution whose window spans
    the image, which XLA:CPU runs about a hundred times slower)."""
    k = jax.ShapeDtypeStruct((*window, x.shape[3] // groups, dy.shape[3]), x.dtype)
    zero = jnp.zeros((dy.shape[3],), x.dtype)
    return jax.linear_transpose(lambda k: _xla(x, k, zero, groups=groups, **p), k)(dy)[0]


_weight_xla_lowering = mlir.lower_fun(_weight_xla, multiple_results=False)


def _attrs(strides, padding, lhs_dilation, rhs_dilation, groups) -> dict[str, np.int64]:
    names = {
        "stride": strides,
        "pad": (padding[0][0], padding[1][0]),
        "lhs_dilation": lhs_dilation,
        "rhs_dilation": rhs_dilation,
    }
    attrs = {f"{k}_{a}": np.int64(v[i]) for k, v in names.items() for i, a in enumerate("hw")}
    return {**attrs, "groups": np.int64(groups)}


def _runs(ctx) -> bool:
    return (
        ctx.avals_in[0].dtype in (np.float32, np.float64) and handler_may_run(ctx) and available()
    )


def _conv_cpu_lowering(ctx, x, k, b, **p):
    if not _runs(ctx):
        return mlir.lower_fun(_xla_cpu, multiple_results=False)(ctx, x, k, b, **p)
    return jax.ffi.ffi_lowering(TARGET)(ctx, x, k, b, **_attrs(**p))


def _weight_cpu_lowering(ctx, x, dy, *, window, **p):
    if not _runs(ctx):
        return _weight_xla_lowering(ctx, x, dy, window=window, **p)
    return jax.ffi.ffi_lowering(WEIGHT_TARGET)(ctx, x, dy, **_attrs(**p))


@functools.cache
def _compiled(primitive: Primitive, params: tuple):
    return jax.jit(functools.partial(primitive.bind, **dict(params)))


def _impl(primitive: Primitive):
    return lambda *args, **p: _compiled(primitive, tuple(p.items()))(*args)


# --- derivatives ----------------------------------------------------------------------------


def _input_transpose(dy, k, x_shape, *, strides, padding, lhs_dilation, rhs_dilation, groups):
    """x̄ for y = conv(x, k): ȳ convolved with the flipped kernel (input and output features
    swapped within each group), strides and input dilation exchanged, padded so that the
    result has ``x_shape`` (XLA's rule for its convolution)."""
    pads = []
    for n, kn, out, s, (lo, _), ld, rd in zip(
        x_shape[1:3],
        k.shape[:2],
        dy.shape[1:3],
        strides,
        padding,
        lhs_dilation,
        rhs_dilation,
        strict=True,
    ):
        before = _dilate(kn, rd) - lo - 1
        after = _dilate(n, ld) + _dilate(kn, rd) - 1 - _dilate(out, s) - before
        pads.append((before, after))
    kh, kw, cg, o = k.shape
    flipped = k[::-1, ::-1].reshape(kh, kw, cg, groups, o // groups)
    flipped = flipped.transpose(0, 1, 4, 3, 2).reshape(kh, kw, o // groups, groups * cg)
    zero = jnp.zeros((x_shape[3],), dy.dtype)
    return conv_p.bind(
        dy,
        flipped,
        zero,
        strides=lhs_dilation,
        padding=tuple(pads),
        lhs_dilation=strides,
        rhs_dilation=rhs_dilation,
        groups=groups,
    )


def _conv_jvp(primals, tangents, **p):
    x, k, b = primals
    tx, tk, tb = tangents
    y = conv_p.bind(x, k, b, **p)
    parts = []
    if type(tx) is not ad.Zero:
        parts.append(conv_p.bind(tx, k, ad.instantiate_zeros(tb), **p))
    elif type(tb) is not ad.Zero:
        parts.append(jnp.broadcast_to(tb, y.shape))
    if type(tk) is not ad.Zero:
        parts.append(conv_p.bind(x, tk, jnp.zeros_like(b), **p))
    return y, functools.reduce(jnp.add, parts)


def _conv_transpose(dy, x, k, b, **p):
    x_in, k_in, b_in = (ad.is_undefined_primal(v) for v in (x, k, b))
    if k_in and x_in:
        raise ValueError("conv_2d: not linear in x and the kernel together")
    if type(dy) is ad.Zero:
        return [None, None, None]
    dx = _input_transpose(dy, k, x.aval.shape, **p) if x_in else None
    dk = weight_p.bind(x, dy, window=k.aval.shape[:2], **p) if k_in else None
    db = jnp.sum(dy, axis=(0, 1, 2)) if b_in else None
    return [dx, dk, db]


def _weight_x_transpose(g, x, dy, *, window, **p):
    return _input_transpose(dy, g, x.aval.shape, **p)


def _weight_dy_transpose(g, x, dy, *, window, **p):
    return conv_p.bind(x, g, jnp.zeros((g.shape[3],), g.dtype), **p)


# --- vmap ------------------------------------------------------------------------------------


def _conv_batch(args, dims, **p):
    (x, k, b), (dx, dk, db) = args, dims
    if dk is None and db is None:
        x = jnp.moveaxis(x, dx, 0)
        y = conv_p.bind(x.reshape(-1, *x.shape[2:]), k, b, **p)
        return y.reshape(x.shape[0], x.shape[1], *y.shape[1:]), 0
    return jax.vmap(functools.partial(_xla, **p), in_axes=dims)(x, k, b), 0


def _weight_batch(args, dims, **p):
    return jax.vmap(functools.partial(_weight_xla, **p), in_axes=dims)(*args), 0


for _p, _abstract, _default, _cpu in (
    (conv_p, _conv_abstract, mlir.lower_fun(_xla, multiple_results=False), _conv_cpu_lowering),
    (weight_p, _weight_abstract, _weight_xla_lowering, _weight_cpu_lowering),
):
    _p.def_impl(_impl(_p))
    _p.def_abstract_eval(_abstract)
    mlir.register_lowering(_p, _default)
    mlir.register_lowering(_p, _cpu, platform="cpu")
ad.primitive_jvps[conv_p] = _conv_jvp
ad.primitive_transposes[conv_p] = _conv_transpose
ad.defbilinear(weight_p, _weight_x_transpose, _weight_dy_transpose)
batching.primitive_batchers[conv_p] = _conv_batch
batching.primitive_batchers[weight_p] = _weight_batch
