"""The ``parallax_fft`` primitive: XLA's FFT op, lowered to MKL on CPU.

It takes the same parameters as :func:`jax.lax.fft` (``fft_type``, ``fft_lengths`` over the
trailing axes) and has the same rules: linear, so its JVP applies it to the tangent; its
transpose is again an FFT (``fft``/``ifft`` are symmetric matrices; ``rfft``/``irfft`` need a
mask for the modes stored once for two conjugate ones); under ``vmap`` the batch axis joins the
leading ones. Only the lowering differs: on CPU it is the MKL custom call where
:func:`parallax.kernels.fft._mkl.available`, XLA's FFT op everywhere else, and in
programs XLA partitions or that are being exported
(:func:`parallax.kernels._native.handler_may_run`).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from parallax.kernels._native import handler_may_run
from parallax.kernels.fft import _mkl

__all__ = ["fft"]

FftType = lax.FftType

fft_p = Primitive("parallax_fft")


def fft(x: jax.Array, fft_type: lax.FftType, fft_lengths: tuple[int, ...]) -> jax.Array:
    """:func:`jax.lax.fft` with parallax's CPU lowering (``x`` of the dtype ``fft_type`` takes)."""
    return fft_p.bind(x, fft_type=FftType(fft_type), fft_lengths=tuple(fft_lengths))


@functools.cache
def _compiled(fft_type: lax.FftType, fft_lengths: tuple[int, ...]):
    return jax.jit(functools.partial(fft_p.bind, fft_type=fft_type, fft_lengths=fft_lengths))


def _impl(x, *, fft_type, fft_lengths):
    return _compiled(fft_type, fft_lengths)(x)


def _abstract_eval(x, *, fft_type, fft_lengths):
    rank = len(fft_lengths)
    complex_dtype = np.result_type(x.dtype, np.complex64)
    real_dtype = np.finfo(x.dtype).dtype
    if fft_type == FftType.IRFFT:
        if x.shape[-rank:-1] != fft_lengths[:-1] or x.shape[-1] != fft_lengths[-1] // 2 + 1:
            raise ValueError(f"irfft: input shape {x.shape} does not match lengths {fft_lengths}")
        return x.update(shape=x.shape[:-rank] + fft_lengths, dtype=real_dtype)
    if x.shape[-rank:] != fft_lengths:
        raise ValueError(f"{fft_type.name.lower()}: input shape {x.shape} != lengths {fft_lengths}")
    if fft_type == FftType.RFFT:
        shape = (*x.shape[:-1], fft_lengths[-1] // 2 + 1)
        return x.update(shape=shape, dtype=complex_dtype)
    return x.update(shape=x.shape, dtype=complex_dtype)


def _hermitian_weights(like: jax.Array, n: int) -> jax.Array:
    """Weight 1 for the modes a real transform of length ``n`` stores once (zero, and Nyquist
    for even ``n``), 2 for those standing for a conjugate pair, along ``like``'s last axis
    (``n // 2 + 1`` entries), in ``like``'s rank and dtype."""
    w = np.full(like.shape[-1], 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return jnp.asarray(w.reshape((1,) * (like.ndim - 1) + w.shape), like.dtype)


def _transpose(t, x, *, fft_type, fft_lengths):
    del x
    if fft_type == FftType.RFFT:
        w = _hermitian_weights(t, fft_lengths[-1])
        out = math.prod(fft_lengths) * fft(jnp.conj(t) / w, FftType.IRFFT, fft_lengths)
    elif fft_type == FftType.IRFFT:
        spectrum = fft(t, FftType.RFFT, fft_lengths)
        w = _hermitian_weights(spectrum, fft_lengths[-1])
        out = jnp.conj(spectrum * (w / math.prod(fft_lengths)))
    else:
        out = fft(t, fft_type, fft_lengths)
    return (out,)


def _batch(args, dims, *, fft_type, fft_lengths):
    (x,), (d,) = args, dims
    return fft(jnp.moveaxis(x, d, 0), fft_type, fft_lengths), 0


def _xla(x, *, fft_type, fft_lengths):
    return lax.fft(x, fft_type, fft_lengths)


_xla_lowering = mlir.lower_fun(_xla, multiple_results=False)


def _cpu_lowering(ctx, x, *, fft_type, fft_lengths):
    if len(fft_lengths) > 3 or not handler_may_run(ctx) or not _mkl.available():
        return _xla_lowering(ctx, x, fft_type=fft_type, fft_lengths=fft_lengths)
    rule = jax.ffi.ffi_lowering(_mkl.TARGET)
    # the handler's `kind` numbers the transforms as lax.FftType does
    return rule(ctx, x, rank=np.int64(len(fft_lengths)), kind=np.int64(int(fft_type)))


fft_p.def_impl(_impl)
fft_p.def_abstract_eval(_abstract_eval)
ad.deflinear2(fft_p, _transpose)
batching.primitive_batchers[fft_p] = _batch
mlir.register_lowering(fft_p, _xla_lowering)
mlir.register_lowering(fft_p, _cpu_lowering, platform="cpu")
