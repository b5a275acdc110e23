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
"""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
from jaxtyping import Array, Complex, Float

from parallax.kernels._checks import check_array

__all__ = ["spectral_conv_1d", "spectral_conv_2d"]


def _complex_of(dtype: jnp.dtype) -> jnp.dtype:
    if dtype == jnp.float64:
        return jnp.dtype(jnp.complex128)
    if dtype == jnp.float32:
        return jnp.dtype(jnp.complex64)
    raise TypeError(f"x: spectral convolution needs float32 or float64, got {dtype}")


def _check_weight(name: str, w: Array, shape: tuple, cdt: jnp.dtype) -> None:
    check_array(f"params['{name}']", w, shape=shape, kind="complex")
    if w.dtype != cdt:
        raise TypeError(
            f"params['{name}']: expected dtype {cdt} for x of that precision, got {w.dtype}"
        )


def _check_keys(params: Mapping[str, Array], keys: tuple[str, ...]) -> None:
    if set(params) != set(keys):
        raise ValueError(f"params: expected keys {list(keys)}, got {sorted(params)}")


def spectral_conv_1d(
    params: Mapping[str, Complex[Array, "modes c_in c_out"]],
    x: Float[Array, "batch n c_in"],
) -> Float[Array, "batch n c_out"]:
    """1D spectral convolution keeping the ``modes`` lowest rFFT frequencies (``<= n//2+1``)."""
    check_array("x", x, ndim=3)
    _check_keys(params, ("weight",))
    w = params["weight"]
    cdt = _complex_of(x.dtype)
    check_array("params['weight']", w, ndim=3, kind="complex")
    _, n, ci = x.shape
    modes = w.shape[0]
    _check_weight("weight", w, (modes, ci, None), cdt)
    if not 1 <= modes <= n // 2 + 1:
        raise ValueError(f"params['weight']: modes={modes} must lie in [1, n//2+1={n // 2 + 1}]")
    xh = jnp.fft.rfft(x, axis=1)[:, :modes, :]  # (b, modes, ci)
    yh = jnp.einsum("bki,kio->bko", xh, w)
    return jnp.fft.irfft(yh, n=n, axis=1).astype(x.dtype)


def spectral_conv_2d(
    params: Mapping[str, Complex[Array, "m1 m2 c_in c_out"]],
    x: Float[Array, "batch n1 n2 c_in"],
) -> Float[Array, "batch n1 n2 c_out"]:
    """2D spectral convolution keeping frequencies ``|k1| < m1`` (both signs, ``2 m1 <= n1``)
    and ``0 <= k2 < m2`` (``m2 <= n2//2+1``)."""
    check_array("x", x, ndim=4)
    _check_keys(params, ("w_pos", "w_neg"))
    cdt = _complex_of(x.dtype)
    wp, wn = params["w_pos"], params["w_neg"]
    check_array("params['w_pos']", wp, ndim=4, kind="complex")
    b, n1, n2, ci = x.shape
    m1, m2, _, co = wp.shape
    _check_weight("w_pos", wp, (m1, m2, ci, co), cdt)
    _check_weight("w_neg", wn, (m1, m2, ci, co), cdt)
    if not (m1 >= 1 and 2 * m1 <= n1):
        raise ValueError(f"params['w_pos']: m1={m1} must satisfy 1 <= m1 <= n1/2 ({n1}/2)")
    if not 1 <= m2 <= n2 // 2 + 1:
        raise ValueError(f"params['w_pos']: m2={m2} must lie in [1, n2//2+1={n2 // 2 + 1}]")
    xh = jnp.fft.rfft2(x, axes=(1, 2))  # (b, n1, n2//2+1, ci)
    top = jnp.einsum("bxyi,xyio->bxyo", xh[:, :m1, :m2, :], wp)
    bot = jnp.einsum("bxyi,xyio->bxyo", xh[:, n1 - m1 :, :m2, :], wn)
    mid = jnp.zeros((b, n1 - 2 * m1, m2, co), dtype=top.dtype)
    yh = jnp.concatenate([top, mid, bot], axis=1)  # (b, n1, m2, co); irfft zero-pads axis 2
    return jnp.fft.irfft2(yh, s=(n1, n2), axes=(1, 2)).astype(x.dtype)
