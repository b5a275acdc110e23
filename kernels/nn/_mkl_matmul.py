r"""Dense matrix products on CPU through MKL: the ``parallax_matmul`` primitive.

``matmul(a, b)`` is ``op(a) @ op(b)`` for rank-2 ``a`` and ``b`` (``op`` transposes when
``transpose_a`` / ``transpose_b`` say so). XLA:CPU's own GEMM reaches 5-15% less of the
machine's throughput than MKL's at the shapes of token-wise layers (``(tokens, d) @ (d, 4d)``);
on CPU this primitive lowers to an XLA FFI handler (``_mkl_matmul.cc``) that cuts the result
into blocks and runs one sequential MKL GEMM per block over XLA's thread pool. Everywhere else
(GPU/TPU, programs XLA partitions or that are being exported, dtypes other than float32 and
float64, without MKL, ``PARALLAX_MKL_MATMUL=0``) it lowers to XLA's ``dot_general``, so the
values are those of ``jnp.matmul`` up to the order of summation.

The product is bilinear: its JVP is ``op(ȧ) op(b) + op(a) op(ḃ)`` and its transposes are again
``matmul`` with the transpose flags flipped (``ā = c̄ op(b)ᵀ``, ``b̄ = op(a)ᵀ c̄`` in the
stored layouts), so ``grad``, ``jvp`` and higher derivatives stay on MKL. Under ``vmap`` a batch
of ``a`` against a shared ``b`` joins ``a``'s rows; other batchings run XLA's batched product.
Built on first use against MKL (the ``cpu-fft`` extra).
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import numpy as np
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir
from jaxtyping import Array

from parallax.kernels import _mkl
from parallax.kernels._native import Handler, handler_may_run
from parallax.kernels._platform import unsharded

__all__ = ["available", "dense", "matmul", "reason"]

TARGET = "parallax_mkl_matmul"

_HANDLER = Handler(
    Path(__file__).with_name("_mkl_matmul.cc"),
    (TARGET,),
    switch="PARALLAX_MKL_MATMUL",
    fallback="dense layers on CPU keep XLA's matrix product",
    flags=lambda: [*_mkl.flags(), "-O2"],
)
available = _HANDLER.available
reason = _HANDLER.reason

matmul_p = Primitive("parallax_matmul")


def matmul(a: Array, b: Array, *, transpose_a: bool = False, transpose_b: bool = False) -> Array:
    """``op(a) @ op(b)`` for rank-2 ``a``, ``b`` of one dtype."""
    return matmul_p.bind(a, b, transpose_a=bool(transpose_a), transpose_b=bool(transpose_b))


def dense(x: Array, w: Array) -> Array:
    """``x (..., k) @ w (k, n)``: the primitive on a flattened ``x`` for unsharded float32 and
    float64 operands, ``jnp.matmul`` otherwise (sharded operands are XLA's to partition)."""
    if x.dtype not in (np.float32, np.float64) or not unsharded(x, w) or x.ndim == 0:
        return jax.numpy.matmul(x, w)
    if x.ndim == 1:
        return matmul(x[None], w)[0]
    y = matmul(x.reshape(-1, x.shape[-1]), w)
    return y.reshape(*x.shape[:-1], w.shape[1])


def _dims(a, b, transpose_a, transpose_b) -> tuple[int, int, int, int]:
    m, k = (a.shape[1], a.shape[0]) if transpose_a else a.shape
    kb, n = (b.shape[1], b.shape[0]) if transpose_b else b.shape
    return m, k, kb, n


def _abstract_eval(a, b, *, transpose_a, transpose_b):
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"matmul: expected rank-2 operands, got shapes {a.shape} and {b.shape}")
    if a.dtype != b.dtype:
        raise TypeError(f"matmul: operands differ in dtype: {a.dtype} and {b.dtype}")
    m, k, kb, n = _dims(a, b, transpose_a, transpose_b)
    if k != kb:
        raise ValueError(
            f"matmul: contracted sizes differ: {k} and {kb} (shapes {a.shape}, {b.shape}, "
            f"transpose_a={transpose_a}, transpose_b={transpose_b})"
        )
    return a.update(shape=(m, n))


@functools.cache
def _compiled(transpose_a: bool, transpose_b: bool):
    return jax.jit(
        functools.partial(matmul_p.bind, transpose_a=transpose_a, transpose_b=transpose_b)
    )


def _impl(a, b, *, transpose_a, transpose_b):
    return _compiled(transpose_a, transpose_b)(a, b)


def _xla(a, b, *, transpose_a, transpose_b):
    dims = (((0 if transpose_a else 1,), (1 if transpose_b else 0,)), ((), ()))
    return lax.dot_general(a, b, dims)


_xla_lowering = mlir.lower_fun(_xla, multiple_results=False)


def _cpu_lowering(ctx, a, b, *, transpose_a, transpose_b):
    dtype = ctx.avals_in[0].dtype
    if dtype not in (np.float32, np.float64) or not handler_may_run(ctx) or not available():
        return _xla_lowering(ctx, a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    rule = jax.ffi.ffi_lowering(TARGET)
    return rule(ctx, a, b, transpose_a=transpose_a, transpose_b=transpose_b)


def _lhs_transpose(ct, a, b, *, transpose_a, transpose_b):
    if transpose_a:  # a stored (k, m): ā = op(b) c̄ᵀ
        return matmul(b, ct, transpose_a=transpose_b, transpose_b=True)
    return matmul(ct, b, transpose_b=not transpose_b)  # ā = c̄ op(b)ᵀ


def _rhs_transpose(ct, a, b, *, transpose_a, transpose_b):
    if transpose_b:  # b stored (n, k): b̄ = c̄ᵀ op(a)
        return matmul(ct, a, transpose_a=True, transpose_b=transpose_a)
    return matmul(a, ct, transpose_a=not transpose_a)  # b̄ = op(a)ᵀ c̄


def _batch(args, dims, *, transpose_a, transpose_b):
    (a, b), (da, db) = args, dims
    if db is None and not transpose_a:
        a = jax.numpy.moveaxis(a, da, 0)
        y = matmul(a.reshape(-1, a.shape[-1]), b, transpose_b=transpose_b)
        return y.reshape(a.shape[0], a.shape[1], y.shape[-1]), 0
    f = functools.partial(_xla, transpose_a=transpose_a, transpose_b=transpose_b)
    return jax.vmap(f, in_axes=(da, db))(a, b), 0


matmul_p.def_impl(_impl)
matmul_p.def_abstract_eval(_abstract_eval)
ad.defbilinear(matmul_p, _lhs_transpose, _rhs_transpose)
batching.primitive_batchers[matmul_p] = _batch
mlir.register_lowering(matmul_p, _xla_lowering)
mlir.register_lowering(matmul_p, _cpu_lowering, platform="cpu")
