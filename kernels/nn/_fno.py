r"""Fourier-neural-operator spectral convolution (Li et al., 2021, "Fourier neural operator for
parametric partial differential equations", ICLR; arXiv:2010.08895, eq. (4)-(5)).

.. math:: (\mathcal K v)(x) = \mathcal F^{-1}\big(R \cdot (\mathcal F v)\big)(x)

``F`` is the real FFT over the spatial axes; only the lowest ``modes`` frequencies are kept and
mixed across channels by complex weights ``R``; all higher modes are zeroed. In 2D the rFFT keeps
only non-negative frequencies on the last axis, so both the positive (``0 … m1-1``) and the
negative (``-m1 … -1``) frequency blocks of the first spatial axis are kept, each with its own
weights, as in the reference implementation of Li et al. (``weights1`` / ``weights2``).

Layout is channels-last, like the rest of parallax's JAX kernels (the reference torch code is
channels-first; the twin converts)::

    spectral_conv_1d:  x (batch, n, c_in)            params {"weight": (modes, c_in, c_out)}
    spectral_conv_2d:  x (batch, n1, n2, c_in)       params {"w_pos": (m1, m2, c_in, c_out),
                                                            "w_neg": (m1, m2, c_in, c_out)}

Weights are complex (complex64 for float32 inputs, complex128 for float64); the reference torch
layout is ``(c_in, c_out, modes)`` / ``(c_in, c_out, m1, m2)`` with ``weights1 = w_pos`` and
``weights2 = w_neg``. The product over channels is ``out[k, o] = Σ_i x̂[k, i] R[k, i, o]``.

On CPU, when few modes are kept, the transforms are computed as truncated DFT matrix products
(:mod:`parallax.kernels.nn._dft`) instead of FFTs: an FFT computes every mode and transposes
channels-last data before and after it, while the thin matrix products run on every core
straight on the channels-last layout and skip the modes that are thrown away. The choice is
made per shape (:func:`_use_dft`) and per platform
(:func:`parallax.kernels._platform.cpu_or_default`: GPU, TPU and sharded inputs keep the FFT);
both forms give the same values to round-off.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Complex, Float

from parallax.kernels import fft
from parallax.kernels._checks import check_array, check_keys
from parallax.kernels._dtypes import complex_dtype
from parallax.kernels._platform import cpu_or_default
from parallax.kernels.nn._dft import cos_sin_dft, cos_sin_idft, real_dft, real_idft

__all__ = ["spectral_conv_1d", "spectral_conv_2d"]


def _complex_of(dtype: jnp.dtype) -> jnp.dtype:
    if dtype not in (jnp.float32, jnp.float64):
        raise TypeError(f"x: spectral convolution needs float32 or float64, got {dtype}")
    return complex_dtype(dtype)


def _check_weight(name: str, w: Array, shape: tuple, cdt: jnp.dtype) -> None:
    check_array(f"params['{name}']", w, shape=shape, kind="complex")
    if w.dtype != cdt:
        raise TypeError(
            f"params['{name}']: expected dtype {cdt} for x of that precision, got {w.dtype}"
        )


GEMM_FLOPS_PER_FFT_FLOP = 6.0
"""How many GEMM flops cost as much time as one FFT flop on CPU, for the DFT/FFT choice: the
FFT computes every mode to keep a few and needs a transpose of channels-last data on each side
(and, without MKL, runs on one thread inside loops); the thin matrix products read the data in
place on every core. The value is the crossover measured on the 1D and 2D bench shapes (float32)
against XLA's FFT; against MKL's FFT the matrix products measured no slower on either."""

MAX_DFT_ENTRIES = 1 << 22
"""Largest DFT matrix (entries) built as a constant; larger transforms use the FFT."""


def _use_dft(dft_flops: float, fft_flops: float, entries: int) -> bool:
    """The DFT-matrix form for known sizes within the limits; the FFT for symbolic sizes (an
    exported shape-polymorphic program), whose cost cannot be compared when tracing."""
    if not all(isinstance(v, int | float) for v in (dft_flops, fft_flops, entries)):
        return False
    return entries <= MAX_DFT_ENTRIES and dft_flops <= GEMM_FLOPS_PER_FFT_FLOP * fft_flops


MAX_STORED_BYTES = 1 << 22
"""Largest repeated DFT matrix (bytes) stored whole in the program; larger ones are broadcast
on every call."""


def _const(a: np.ndarray, dtype: jnp.dtype, batch: int) -> Array:
    """A NumPy matrix as a ``dtype`` constant repeated over ``batch``: batched products then
    read channels-last data in place (an unbatched matrix makes XLA transpose the data).

    Up to :data:`MAX_STORED_BYTES` the repeated matrix is a stored constant, since XLA:CPU
    writes a broadcast operand of a product out in full on every call (a symbolic ``batch``,
    in an exported shape-polymorphic program, is broadcast). The optimization barrier
    keeps XLA from constant-folding products of it with other constants (the backward pass of
    a linear loss), which takes seconds of compile time for no gain."""
    a = np.asarray(a, dtype)
    if not isinstance(batch, int) or a.nbytes * batch > MAX_STORED_BYTES:
        return jnp.broadcast_to(jnp.asarray(a), (batch, *a.shape))
    return lax.optimization_barrier(jnp.asarray(np.broadcast_to(a, (batch, *a.shape)).copy()))


def _mm(a: Array, b: Array) -> Array:
    """Batched ``a @ b`` at full precision (a DFT at bfloat16 passes would be far less accurate
    than the FFT it replaces)."""
    return jnp.einsum("bij,bjk->bik", a, b, precision=lax.Precision.HIGHEST)


def _apply(a: np.ndarray, y: Array) -> Array:
    """``a @ y[i]`` for every ``i`` of a batch ``y``, with ``a`` a NumPy matrix."""
    batch = y.shape[0]
    return _apply_const(_const(a, y.dtype, batch), _const(a.T, y.dtype, batch), y)


@jax.custom_jvp
def _apply_const(a: Array, at: Array, y: Array) -> Array:
    """``a @ y`` batched, for constant ``a`` and its stored transpose ``at``. The tangent is
    written as a product with ``at`` so that its transpose, the backward pass, multiplies by
    ``at`` directly: XLA:CPU runs a product whose constant operand is contracted over its
    rows on a slower path."""
    del at
    return _mm(a, y)


@_apply_const.defjvp
def _apply_const_jvp(primals: tuple, tangents: tuple) -> tuple[Array, Array]:
    a, at, y = primals
    dy = jnp.einsum("bji,bjk->bik", at, tangents[2], precision=lax.Precision.HIGHEST)
    return _mm(a, y), dy


def _real_weights(*ws: Array) -> Array:
    """``[Re w; Im w]`` per mode of each complex ``w (…, c_in, c_out)`` (all of one shape),
    stacked in order: ``(modes, [re, im] × c_in, c_out)``. Written as one select, which XLA:CPU
    runs several times faster than the equivalent concatenates."""
    ci, co = ws[0].shape[-2:]
    shape = (len(ws),) + (1,) * (ws[0].ndim - 2) + (2, 1, 1)
    which = lax.broadcasted_iota(jnp.int32, shape, 0)
    re_im = lax.broadcasted_iota(jnp.int32, shape, len(shape) - 3)
    w = ws[0][None, ..., None, :, :]
    for k, wk in enumerate(ws[1:], 1):
        w = jnp.where(which == k, wk[None, ..., None, :, :], w)
    return jnp.where(re_im == 0, jnp.real(w), jnp.imag(w)).reshape(-1, 2 * ci, co)


def _mix(rows: Array, w: Array) -> Array:
    """Complex channel mixing per mode as one real batched product: ``rows (modes, [re, im] ×
    b, [re, im] × c_in)`` from :func:`_block_rows` times ``w`` from :func:`_real_weights`;
    returns ``[Re; Im]`` of the product, ``(modes, [re, im] × b, c_out)``."""
    return jnp.einsum("mri,mio->mro", rows, w)


def _block_rows(re: Array, im: Array) -> Array:
    """The rows ``[[re, -im], [im, re]]`` of a spectrum ``re + i im`` (each ``(…, c)``), so
    that ``rows @ [Re w; Im w]`` is ``[Re; Im]`` of its product with ``w``: the 2×2 complex
    structure goes on the spectrum, which is smaller than the weights. Shape
    ``([re, im], …, [re, im], c)``; callers move the modes first."""
    return jnp.stack([jnp.stack([re, -im], axis=-2), jnp.stack([im, re], axis=-2)])


def _dft_1d(x: Array, w: Array) -> Array:
    b, n, ci = x.shape
    modes, _, co = w.shape
    xh = _apply(real_dft(n, modes), x)  # (b, [re, im] × modes, ci)
    xh = xh.reshape(b, 2, modes, ci)
    rows = _block_rows(xh[:, 0], xh[:, 1]).transpose(2, 0, 1, 3, 4)
    y = _mix(rows.reshape(modes, 2 * b, 2 * ci), _real_weights(w)).reshape(modes, 2, b, co)
    y = y.transpose(2, 1, 0, 3).reshape(b, 2 * modes, co)
    return _apply(real_idft(n, modes), y)


def _fft_1d(x: Array, w: Array) -> Array:
    n, modes = x.shape[1], w.shape[0]
    xh = fft.rfftn(x, (1,))[:, :modes, :]  # (b, modes, ci)
    yh = jnp.einsum("bki,kio->bko", xh, w)
    yh = jnp.pad(yh, ((0, 0), (0, n // 2 + 1 - modes), (0, 0)))  # the modes dropped are zero
    return fft.irfftn(yh, (n,), (1,)).astype(x.dtype)


def spectral_conv_1d(
    params: Mapping[str, Complex[Array, "modes c_in c_out"]],
    x: Float[Array, "batch n c_in"],
) -> Float[Array, "batch n c_out"]:
    """1D spectral convolution keeping the ``modes`` lowest rFFT frequencies (``<= n//2+1``)."""
    check_array("x", x, ndim=3)
    check_keys(params, ("weight",))
    w = params["weight"]
    cdt = _complex_of(x.dtype)
    check_array("params['weight']", w, ndim=3, kind="complex")
    _, n, ci = x.shape
    modes = w.shape[0]
    _check_weight("weight", w, (modes, ci, None), cdt)
    if not 1 <= modes <= n // 2 + 1:
        raise ValueError(f"params['weight']: modes={modes} must lie in [1, n//2+1={n // 2 + 1}]")
    co = w.shape[2]
    use = _use_dft(
        dft_flops=4.0 * modes * n * (ci + co),  # per batch element, as both scale with it
        fft_flops=2.5 * n * math.log2(n) * (ci + co),
        entries=2 * modes * n,
    )
    return cpu_or_default(use, _dft_1d, _fft_1d, x, w)


def _split_signs(q: Array, m1: int) -> Array:
    """The kept modes ``k1 = ±j`` from the cos/sin rows of the first axis, as mixing rows.

    ``q (b, 2 m1 + 1, [re, im], m2, c)`` holds ``A_j`` (``j = 0 … m1``, the ``cos`` rows) then
    ``S_j`` (``j = 1 … m1``, the ``sin`` rows), each transformed over the last axis; the
    spectrum is ``X_{+j} = A_j - i S_j`` and ``X_{-j} = A_j + i S_j``. Returns its
    :func:`_block_rows`, ``(2 m1 m2, [re, im] × b, [re, im] × c)``, with modes over
    ``w_pos``'s rows (``j = 0 … m1-1``), then ``w_neg``'s (``k1 = -m1 … -1``, so
    ``j = m1 … 1``), then ``k2``."""
    b, _, _, m2, c = q.shape
    a, s = q[:, : m1 + 1], jnp.pad(q[:, m1 + 1 :], ((0, 0), (1, 0), (0, 0), (0, 0), (0, 0)))
    ar, ai, sr, si = a[:, :, 0], a[:, :, 1], s[:, :, 0], s[:, :, 1]
    re = jnp.stack([(ar + si)[:, :m1], (ar - si)[:, :0:-1]], axis=1)  # (b, ±, m1, m2, c)
    im = jnp.stack([(ai - sr)[:, :m1], (ai + sr)[:, :0:-1]], axis=1)
    rows = _block_rows(re, im).transpose(2, 3, 4, 0, 1, 5, 6)
    return rows.reshape(2 * m1 * m2, 2 * b, 2 * c)


def _join_signs(y: Array, b: int, m1: int, m2: int) -> Array:
    """The inverse of :func:`_split_signs`'s layout for the output spectrum: ``y (2 m1 m2,
    [re, im] × b, c)`` in its mode order to the rows that :func:`cos_sin_idft` expects,
    ``(b, 2 m1 + 1, [re, im], m2, c)``: ``U_j = Y_{+j} + Y_{-j}`` (``j = 0 … m1``), then
    ``i V_j = i (Y_{+j} - Y_{-j})`` (``j = 1 … m1``), with ``Y_{+m1} = Y_{-0} = 0``."""
    c = y.shape[-1]
    y = y.reshape(2, m1, m2, 2, b, c)
    pos = jnp.pad(y[0], ((0, 1), (0, 0), (0, 0), (0, 0), (0, 0)))  # j = 0 … m1
    neg = jnp.pad(y[1, ::-1], ((1, 0), (0, 0), (0, 0), (0, 0), (0, 0)))
    u, v = pos + neg, (pos - neg)[1:]
    iv = jnp.stack([-v[:, :, 1], v[:, :, 0]], axis=2)
    return jnp.concatenate([u, iv]).transpose(3, 0, 2, 1, 4)


def _dft_2d(x: Array, wp: Array, wn: Array) -> Array:
    b, n1, n2, ci = x.shape
    m1, m2, _, co = wp.shape
    j = 2 * m1 + 1
    # first axis, real: the cos/sin rows of both frequency signs at once, (b, j, n2 ci)
    p = _apply(cos_sin_dft(n1, m1), x.reshape(b, n1, n2 * ci))
    # last axis: real -> complex, (b j, [re, im] × m2, ci)
    q = _apply(real_dft(n2, m2), p.reshape(b * j, n2, ci))
    y = _mix(_split_signs(q.reshape(b, j, 2, m2, ci), m1), _real_weights(wp, wn))
    r = _join_signs(y, b, m1, m2).reshape(b * j, 2 * m2, co)
    h = _apply(real_idft(n2, m2), r)  # (b j, n2, co)
    out = _apply(cos_sin_idft(n1, m1), h.reshape(b, j, n2 * co))
    return out.reshape(b, n1, n2, co)


def _fft_2d(x: Array, wp: Array, wn: Array) -> Array:
    b, n1, n2, _ = x.shape
    m1, m2, _, co = wp.shape
    xh = fft.rfftn(x, (1, 2))  # (b, n1, n2//2+1, ci)
    top = jnp.einsum("bxyi,xyio->bxyo", xh[:, :m1, :m2, :], wp)
    bot = jnp.einsum("bxyi,xyio->bxyo", xh[:, n1 - m1 :, :m2, :], wn)
    mid = jnp.zeros((b, n1 - 2 * m1, m2, co), dtype=top.dtype)
    yh = jnp.concatenate([top, mid, bot], axis=1)  # (b, n1, m2, co)
    yh = jnp.pad(yh, ((0, 0), (0, 0), (0, n2 // 2 + 1 - m2), (0, 0)))  # the modes dropped are zero
    return fft.irfftn(yh, (n1, n2), (1, 2)).astype(x.dtype)


def spectral_conv_2d(
    params: Mapping[str, Complex[Array, "m1 m2 c_in c_out"]],
    x: Float[Array, "batch n1 n2 c_in"],
) -> Float[Array, "batch n1 n2 c_out"]:
    """2D spectral convolution keeping frequencies ``|k1| < m1`` (both signs, ``2 m1 <= n1``)
    and ``0 <= k2 < m2`` (``m2 <= n2//2+1``)."""
    check_array("x", x, ndim=4)
    check_keys(params, ("w_pos", "w_neg"))
    cdt = _complex_of(x.dtype)
    wp, wn = params["w_pos"], params["w_neg"]
    check_array("params['w_pos']", wp, ndim=4, kind="complex")
    _, n1, n2, ci = x.shape
    m1, m2, _, co = wp.shape
    _check_weight("w_pos", wp, (m1, m2, ci, co), cdt)
    _check_weight("w_neg", wn, (m1, m2, ci, co), cdt)
    if not (m1 >= 1 and 2 * m1 <= n1):
        raise ValueError(f"params['w_pos']: m1={m1} must satisfy 1 <= m1 <= n1/2 ({n1}/2)")
    if not 1 <= m2 <= n2 // 2 + 1:
        raise ValueError(f"params['w_pos']: m2={m2} must lie in [1, n2//2+1={n2 // 2 + 1}]")
    c = ci + co
    use = _use_dft(
        # per batch element, as both scale with it: 2 m1 + 1 rows over n1, then 2 m2 over n2
        dft_flops=2.0 * (2 * m1 + 1) * n2 * (n1 + 2 * m2) * c,
        fft_flops=2.5 * n1 * n2 * math.log2(n1 * n2) * c,
        entries=max(2 * m2 * n2, (2 * m1 + 1) * n1),
    )
    return cpu_or_default(use, _dft_2d, _fft_2d, x, wp, wn)
