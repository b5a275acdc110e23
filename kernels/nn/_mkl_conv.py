r"""2D convolution on CPU through MKL: the ``parallax_conv_2d`` primitives.

``conv_2d(x, kernel, bias)`` is XLA's convolution (``NHWC`` input, ``HWIO`` kernel, window
strides ``s``, padding ``lo``, kernel dilation ``d``, ``feature_group_count`` g) plus a bias:

.. math:: y[n, p, q, o] = b[o] + \sum_{a, b, c'} x[n, s_h p + d_h a - lo_h,
          s_w q + d_w b - lo_w, j c_g + c']\; w[a, b, c', o]

with ``x`` zero outside, ``j`` the group of output feature ``o`` and ``c_g = c_in / g``. On CPU
it lowers to an XLA FFI handler (``_mkl_conv.cc``) that builds the im2col matrix of a block of
output pixels in a cache-sized buffer and multiplies it by the kernel, reshaped to
``(k_h k_w c_g, c_out)``, with one sequential MKL GEMM per block and group over XLA's thread
pool; XLA's own 2D convolution runs on one thread. A 3x3 kernel at stride 1 and dilation 1 with
one group runs Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016) instead: per block
of 2x2 output tiles, the tiles' 4x4 input transforms :math:`B^\top d B` times the kernel's
:math:`G g G^\top` as 16 GEMMs over channels, then :math:`A^\top m A` plus the bias, 16
multiplies per tile and channel pair where im2col takes 36 (the transforms' entries are 0, ±1
and ±1/2, so the values stay within a few ulps of the direct sum). Its gradients are two more
primitives with their own im2col handlers, the exact linear maps whatever the strides:

- ``parallax_conv_2d_input``: :math:`\bar x = \mathrm{col2im}(\bar y\, W^\top)`, the patches
  of one GEMM per block added back where they were read (one task per image);
- ``parallax_conv_2d_weight``: :math:`\bar W = \mathrm{im2col}(x)^\top \bar y`, one GEMM per
  block into an accumulator per task;

and :math:`\bar b = \sum_{n,p,q} \bar y`. The convolution is affine in ``(x, b)`` and linear in
the kernel; each gradient primitive is bilinear, and the transposes of all three are again these
three, so ``grad``, ``jvp`` and higher derivatives stay on the handlers. Under ``vmap`` a batch
of images against a shared kernel joins the image axis; other batchings run XLA's batched
convolution.

Everywhere the handlers do not run (GPU/TPU, programs XLA partitions or that are being
exported, dtypes other than float32 and float64, without MKL, ``PARALLAX_MKL_CONV=0``) the
primitives lower to XLA's ops: on CPU the convolution and its input gradient take the
stacked-rows form of :mod:`parallax.kernels.nn._conv_rows`, which runs on every core; the kernel
gradient is XLA's 2D transpose (the stacked-rows form's is a 1D convolution whose window spans
the image, which XLA:CPU runs about a hundred times slower). Built on first use against MKL
(the ``cpu-fft`` extra).
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

__all__ = ["available", "conv_2d", "output_shape", "reason"]

TARGET = "parallax_mkl_conv_2d"
INPUT_TARGET = "parallax_mkl_conv_2d_input"
WEIGHT_TARGET = "parallax_mkl_conv_2d_weight"

_HANDLER = Handler(
    Path(__file__).with_name("_mkl_conv.cc"),
    (TARGET, INPUT_TARGET, WEIGHT_TARGET),
    switch="PARALLAX_MKL_CONV",
    fallback="2D convolutions on CPU keep XLA's convolution",
    flags=lambda: [*_mkl.flags(), "-O3"],
)
available = _HANDLER.available
reason = _HANDLER.reason

conv_p = Primitive("parallax_conv_2d")  # (x, kernel, bias) -> y
input_p = Primitive("parallax_conv_2d_input")  # (y_bar, kernel) -> x_bar; x_shape
weight_p = Primitive("parallax_conv_2d_weight")  # (x, y_bar) -> kernel_bar; window

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
    ``bias (c_out,)``, all of one dtype; ``padding`` holds ``(lo, hi) >= 0`` per spatial
    axis."""
    return conv_p.bind(
        x,
        kernel,
        bias,
        strides=tuple(map(int, strides)),
        padding=tuple((int(lo), int(hi)) for lo, hi in padding),
        dilation=tuple(map(int, dilation)),
        groups=int(groups),
    )


def output_shape(x_shape, k_shape, *, strides, padding, dilation, groups):
    """The NHWC output shape of a convolution of ``x_shape`` by the HWIO ``k_shape`` (an empty
    spatial axis where the padded input is shorter than the dilated kernel)."""
    sizes = []
    for n, k, s, (lo, hi), d in zip(
        x_shape[1:3], k_shape[:2], strides, padding, dilation, strict=True
    ):
        span = n + lo + hi - (k - 1) * d - 1
        sizes.append(span // s + 1 if span >= 0 else 0)
    return (x_shape[0], *sizes, k_shape[3])


def _check(name, x_shape, k_shape, dy_shape, dtypes, groups, p):
    if (
        len(x_shape) != 4
        or len(k_shape) != 4
        or k_shape[2] * groups != x_shape[3]
        or k_shape[3] % groups
    ):
        raise ValueError(
            f"{name}: expected x (n, h, w, c) and kernel (k_h, k_w, c / {groups}, o) with o a "
            f"multiple of {groups}, got shapes {x_shape} and {k_shape}"
        )
    if dy_shape is not None and dy_shape != output_shape(x_shape, k_shape, groups=groups, **p):
        raise ValueError(f"{name}: output cotangent shape {dy_shape} does not match")
    if len(set(dtypes)) != 1:
        raise TypeError(f"{name}: operands differ in dtype: {dtypes}")


def _conv_abstract(x, k, b, *, groups, **p):
    _check("conv_2d", x.shape, k.shape, None, (x.dtype, k.dtype, b.dtype), groups, p)
    if b.shape != (k.shape[3],):
        raise ValueError(f"conv_2d: expected a bias of shape {(k.shape[3],)}, got {b.shape}")
    return x.update(shape=output_shape(x.shape, k.shape, groups=groups, **p))


def _input_abstract(dy, k, *, x_shape, groups, **p):
    _check("conv_2d input", x_shape, k.shape, dy.shape, (dy.dtype, k.dtype), groups, p)
    return dy.update(shape=x_shape)


def _weight_abstract(x, dy, *, window, groups, **p):
    k_shape = (*window, x.shape[3] // groups, dy.shape[3])
    _check("conv_2d weight", x.shape, k_shape, dy.shape, (x.dtype, dy.dtype), groups, p)
    return x.update(shape=k_shape)


# --- XLA's forms -----------------------------------------------------------------------------


def _xla(x, k, b, *, strides, padding, dilation, groups):
    y = lax.conv_general_dilated(
        x,
        k,
        window_strides=strides,
        padding=padding,
        rhs_dilation=dilation,
        dimension_numbers=_SPEC,
        feature_group_count=groups,
    )
    return y + b.reshape(1, 1, 1, -1)


def _xla_cpu(x, k, b, *, strides, padding, dilation, groups):
    """XLA's ops on CPU: the stacked-rows form (XLA's 2D convolution for an empty output)."""
    if (
        min(
            output_shape(
                x.shape, k.shape, strides=strides, padding=padding, dilation=dilation, groups=groups
            )[1:3]
        )
        < 1
    ):
        return _xla(x, k, b, strides=strides, padding=padding, dilation=dilation, groups=groups)
    return conv_2d_by_rows(x, k, b, strides, padding, dilation, groups)


def _input_xla(forward, dy, k, *, x_shape, **p):
    """x̄ as the transpose of ``forward`` (an XLA form) in ``x``."""
    zero = jnp.zeros((k.shape[3],), k.dtype)
    x = jax.ShapeDtypeStruct(x_shape, dy.dtype)
    return jax.linear_transpose(lambda x: forward(x, k, zero, **p), x)(dy)[0]


def _weight_xla(x, dy, *, window, groups, **p):
    """The kernel gradient as the transpose of XLA's 2D convolution in the kernel (on every
    platform: see the module's docstring)."""
    k = jax.ShapeDtypeStruct((*window, x.shape[3] // groups, dy.shape[3]), x.dtype)
    zero = jnp.zeros((dy.shape[3],), x.dtype)
    return jax.linear_transpose(lambda k: _xla(x, k, zero, groups=groups, **p), k)(dy)[0]


# --- lowering --------------------------------------------------------------------------------


def _attrs(*, strides, padding, dilation, groups) -> dict[str, np.int64]:
    pairs = {"stride": strides, "pad": tuple(lo for lo, _ in padding), "dilation": dilation}
    attrs = {f"{k}_{a}": np.int64(v[i]) for k, v in pairs.items() for i, a in enumerate("hw")}
    return {**attrs, "groups": np.int64(groups)}


def _cpu_rule(target: str, fallback, **fixed):
    """The CPU lowering: the handler ``target`` where it may run, else ``fallback``."""
    xla = mlir.lower_fun(fallback, multiple_results=False)

    def rule(ctx, *args, **p):
        if (
            ctx.avals_in[0].dtype in (np.float32, np.float64)
            and handler_may_run(ctx)
            and available()
        ):
            conv = {k: p[k] for k in ("strides", "padding", "dilation", "groups")}
            return jax.ffi.ffi_lowering(target)(ctx, *args, **_attrs(**conv))
        return xla(ctx, *args, **p)

    return rule


@functools.cache
def _compiled(primitive: Primitive, params: tuple):
    return jax.jit(functools.partial(primitive.bind, **dict(params)))


def _impl(primitive: Primitive):
    return lambda *args, **p: _compiled(primitive, tuple(p.items()))(*args)


# --- derivatives ----------------------------------------------------------------------------


def _zero_bias(n: int, dtype) -> Array:
    return jnp.zeros((n,), dtype)


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
    dx = input_p.bind(dy, k, x_shape=x.aval.shape, **p) if x_in else None
    dk = weight_p.bind(x, dy, window=k.aval.shape[:2], **p) if k_in else None
    db = jnp.sum(dy, axis=(0, 1, 2)) if b_in else None
    return [dx, dk, db]


def _input_dy_transpose(g, dy, k, *, x_shape, **p):  # x̄ = A(k) ȳ, so ȳ̄ = conv(ḡ, k)
    return conv_p.bind(g, k, _zero_bias(k.shape[3], g.dtype), **p)


def _input_k_transpose(g, dy, k, *, x_shape, **p):
    return weight_p.bind(g, dy, window=k.aval.shape[:2], **p)


def _weight_x_transpose(g, x, dy, *, window, **p):
    return input_p.bind(dy, g, x_shape=x.aval.shape, **p)


def _weight_dy_transpose(g, x, dy, *, window, **p):
    return conv_p.bind(x, g, _zero_bias(g.shape[3], g.dtype), **p)


# --- vmap ------------------------------------------------------------------------------------


def _fold(args, dims, shared: tuple[int, ...]):
    """The batched argument at index 0 with its batch joined to the image axis, when only it
    is batched (``shared`` are the indices that must be unbatched); else None."""
    if any(dims[i] is not None for i in shared):
        return None
    a = jnp.moveaxis(args[0], dims[0], 0)
    return a.reshape(-1, *a.shape[2:]), a.shape[0]


def _conv_batch(args, dims, **p):
    if (folded := _fold(args, dims, (1, 2))) is not None:
        (x, size), (_, k, b) = folded, args
        y = conv_p.bind(x, k, b, **p)
        return y.reshape(size, -1, *y.shape[1:]), 0
    return jax.vmap(functools.partial(_xla, **p), in_axes=dims)(*args), 0


def _input_batch(args, dims, *, x_shape, **p):
    if (folded := _fold(args, dims, (1,))) is not None:
        (dy, size), k = folded, args[1]
        dx = input_p.bind(dy, k, x_shape=(size * x_shape[0], *x_shape[1:]), **p)
        return dx.reshape(size, *x_shape), 0
    f = functools.partial(_input_xla, _xla, x_shape=x_shape, **p)
    return jax.vmap(f, in_axes=dims)(*args), 0


def _weight_batch(args, dims, **p):
    return jax.vmap(functools.partial(_weight_xla, **p), in_axes=dims)(*args), 0


_RULES = (
    (conv_p, _conv_abstract, _xla, _cpu_rule(TARGET, _xla_cpu), _conv_batch),
    (
        input_p,
        _input_abstract,
        functools.partial(_input_xla, _xla),
        _cpu_rule(INPUT_TARGET, functools.partial(_input_xla, _xla_cpu)),
        _input_batch,
    ),
    (weight_p, _weight_abstract, _weight_xla, _cpu_rule(WEIGHT_TARGET, _weight_xla), _weight_batch),
)
for _p, _abstract, _default, _cpu, _batch in _RULES:
    _p.def_impl(_impl(_p))
    _p.def_abstract_eval(_abstract)
    batching.primitive_batchers[_p] = _batch
    mlir.register_lowering(_p, mlir.lower_fun(_default, multiple_results=False))
    mlir.register_lowering(_p, _cpu, platform="cpu")
ad.primitive_jvps[conv_p] = _conv_jvp
ad.primitive_transposes[conv_p] = _conv_transpose
ad.defbilinear(input_p, _input_dy_transpose, _input_k_transpose)
ad.defbilinear(weight_p, _weight_x_transpose, _weight_dy_transpose)
