r"""Token-wise MLPs on CPU in one pass: the ``parallax_token_mlp`` primitive.

``token_mlp(x, params, reference=f)`` is ``f(x, *params)`` for an MLP ``f`` over the rows of
``x (tokens, d_in)``: ``φ(x W_1 + b_1) W_2 + b_2`` (``params = (W_1, b_1, W_2, b_2)``) or
the gated ``(φ(x W_g + b_g) ⊙ (x W_u + b_u)) W_d + b_d`` (``params = (W_g, b_g, W_u, b_u,
W_d, b_d)``). One MKL product per layer spends time between the products streaming the
``(tokens, d_hidden)`` activations through memory and waiting at each product's end for the
slowest thread; on CPU this primitive lowers instead to an XLA FFI handler (``_mkl_mlp.cc``)
that gives each thread whole blocks of 128 tokens and runs every layer of a block, biases and
activation included, on buffers that stay in its cache, against weights packed once per call in
MKL's GEMM layout.

The handler computes the primal only. The primitive's JVP is ``jax.jvp`` of ``reference`` (the
same function in JAX's ops, which a caller chooses), so ``grad``, ``jvp``, ``vmap`` of either
and higher derivatives are those of ``reference``; under ``vmap`` with shared weights the batch
joins the tokens. Everywhere the handler may not run (GPU/TPU, exported or partitioned
programs, without MKL, ``PARALLAX_MKL_MLP=0``) the primitive lowers to ``reference``. Built on
first use against MKL (the ``cpu-fft`` extra).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir
from jaxtyping import Array

from parallax.kernels import _mkl
from parallax.kernels._native import Handler, handler_may_run

__all__ = ["ACTIVATIONS", "applies", "available", "reason", "token_mlp"]

MLP, GLU = "parallax_mkl_mlp", "parallax_mkl_glu"

ACTIVATIONS = {"identity": 0, "relu": 1, "silu": 2, "gelu_exact": 3, "gelu_tanh": 4, "tanh": 5}
"""The handler's activation codes (``Activation`` in ``_mkl_mlp.cc``)."""

_HANDLER = Handler(
    Path(__file__).with_name("_mkl_mlp.cc"),
    (MLP, GLU),
    switch="PARALLAX_MKL_MLP",
    fallback="MLPs on CPU run one matrix product per layer",
    flags=lambda: [*_mkl.flags(), "-O3"],
)
available = _HANDLER.available
reason = _HANDLER.reason

token_mlp_p = Primitive("parallax_token_mlp")

Reference = Callable[..., Array]


def applies(x: Array, activation: str) -> bool:
    """Whether the handler computes this MLP: float32/float64 and a known activation (the
    caller checks that the operands are unsharded and :func:`available`)."""
    return x.dtype in (np.float32, np.float64) and activation in ACTIVATIONS


def token_mlp(x: Array, params: Sequence[Array], *, activation: str, reference: Reference) -> Array:
    """The MLP over the rows of ``x (tokens, d_in)`` with ``params`` (4 arrays: plain, 6:
    gated; biases present, zeros where a layer has none), ``activation`` one of
    :data:`ACTIVATIONS`. ``reference(x, *params)`` must compute the same function with JAX's
    ops: its derivatives are the primitive's, and it runs wherever the handler may not. Pass
    the same ``reference`` object on every call (it keys compilation caches)."""
    if len(params) not in (4, 6):
        raise ValueError(f"params: expected 4 (plain) or 6 (gated) arrays, got {len(params)}")
    return token_mlp_p.bind(x, *params, activation=activation, reference=reference)


def _abstract_eval(x, *params, activation, reference):
    del activation, reference
    return x.update(shape=(x.shape[0], params[-2].shape[1]))


@functools.cache
def _compiled(activation: str, reference: Reference):
    return jax.jit(
        lambda x, *p: token_mlp_p.bind(x, *p, activation=activation, reference=reference)
    )


def _impl(x, *params, activation, reference):
    return _compiled(activation, reference)(x, *params)


def _reference_lowering(ctx, *args, activation, reference):
    del activation
    return mlir.lower_fun(reference, multiple_results=False)(ctx, *args)


def _cpu_lowering(ctx, x, *params, activation, reference):
    if (
        ctx.avals_in[0].dtype not in (np.float32, np.float64)
        or not handler_may_run(ctx)
        or not available()
    ):
        return _reference_lowering(ctx, x, *params, activation=activation, reference=reference)
    target = GLU if len(params) == 6 else MLP
    rule = jax.ffi.ffi_lowering(target)
    return rule(ctx, x, *params, activation=np.int32(ACTIVATIONS[activation]))


def _jvp(primals, tangents, *, activation, reference):
    del activation
    tangents = [ad.instantiate_zeros(t) for t in tangents]
    return jax.jvp(reference, tuple(primals), tuple(tangents))


def _batch(args, dims, *, activation, reference):
    (x, *params), (dx, *dparams) = args, dims
    if all(d is None for d in dparams):
        x = jax.numpy.moveaxis(x, dx, 0)
        y = token_mlp(
            x.reshape(-1, x.shape[-1]), params, activation=activation, reference=reference
        )
        return y.reshape(x.shape[0], x.shape[1], y.shape[-1]), 0
    return jax.vmap(reference, in_axes=tuple(dims))(*args), 0


token_mlp_p.def_impl(_impl)
token_mlp_p.def_abstract_eval(_abstract_eval)
ad.primitive_jvps[token_mlp_p] = _jvp
batching.primitive_batchers[token_mlp_p] = _batch
mlir.register_lowering(token_mlp_p, _reference_lowering)
mlir.register_lowering(token_mlp_p, _cpu_lowering, platform="cpu")
