r"""A 2D convolution computed as a 1D one over stacked input rows, a few images at a time.

XLA:CPU runs its 2D convolution on one thread and its 1D convolution on all of them, so where
parallax's MKL convolution (:mod:`parallax.kernels.nn._mkl_conv`) does not run on CPU (grouped
convolutions, other dtypes, programs being exported, the handler turned off or unbuilt) a 2D
convolution runs in this form.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array

__all__ = ["CHUNK_BYTES", "conv_2d_by_rows", "images_per_chunk"]


def _conv_2d_as_1d(
    x: Array,
    w: Array,
    strides: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    dil: tuple[int, ...],
    groups: int,
) -> Array:
    r"""A 2D convolution computed as a 1D one over ``w``.

    Output row ``p`` reads the padded input rows ``s_h p + d_h i`` for the kernel rows
    ``i < k_h``. Stacking those rows along the channel axis gives ``x_s`` of shape
    ``(batch · h_out, w_pad, k_h · c_in)``, and

    .. math::
        y[n, p, q, o] = \sum_{j, (i, c)} x_s[(n, p), s_w q + d_w j, (i, c)]\; w_s[j, (i, c), o]

    with ``w_s[j, (i, c), o] = w[i, j, c, o]``: a 1D convolution over ``w`` with ``k_h`` times the
    input features. Within a group the stacked features are ordered ``(i, c)``, so groups stay
    contiguous as ``feature_group_count`` requires. The stacked input is ``k_h / s_h`` times the
    size of ``x``; the arithmetic is the same."""
    b, _, _, ci = x.shape
    kh, kw, cg, co = w.shape
    (sh, sw), (dh, dw) = strides, dil
    xp = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    h_out = (xp.shape[1] - (kh - 1) * dh - 1) // sh + 1
    rows = [
        lax.slice_in_dim(xp, i * dh, i * dh + (h_out - 1) * sh + 1, sh, axis=1) for i in range(kh)
    ]
    xs = jnp.stack(rows, axis=3).reshape(b, h_out, xp.shape[2], kh, groups, ci // groups)
    xs = xs.swapaxes(3, 4).reshape(b * h_out, xp.shape[2], kh * ci)
    ws = w.transpose(1, 0, 2, 3).reshape(kw, kh * cg, co)
    y = lax.conv_general_dilated(
        xs,
        ws,
        window_strides=(sw,),
        padding="VALID",
        rhs_dilation=(dw,),
        dimension_numbers=("NWC", "WIO", "NWC"),
        feature_group_count=groups,
    )
    return y.reshape(b, h_out, y.shape[1], co)


CHUNK_BYTES = 16 * 2**20
"""Bytes of stacked input and output per chunk of images (:func:`images_per_chunk`)."""


def images_per_chunk(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    out: Sequence[int],
    pads: Sequence[tuple[int, int]],
    itemsize: int,
) -> int:
    """The largest divisor of the batch whose stacked rows and output fit in
    :data:`CHUNK_BYTES` (at least one image).

    XLA:CPU allocates a program's temporaries afresh on every call; above glibc's 32 MiB mmap
    threshold every 4 KiB page of them faults on first touch, which costs as much as the
    convolution. Per chunk the stacked rows (``k_h`` times a padded image) and the output stay
    a few MB and are reused from one chunk to the next (``lax.map``)."""
    n, _, w_in, c = x_shape
    kh, co = w_shape[0], w_shape[-1]
    per_image = itemsize * out[0] * ((w_in + sum(pads[1])) * kh * c + out[1] * co)
    fits = max(1, CHUNK_BYTES // max(per_image, 1))
    return max(d for d in range(1, n + 1) if n % d == 0 and d <= fits)


def conv_2d_by_rows(
    x: Array,
    w: Array,
    bias: Array | None,
    strides: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    dil: tuple[int, ...],
    groups: int,
) -> Array:
    """``conv_2d`` of ``x`` (NHWC) with ``w`` (HWIO) plus ``bias``, :func:`images_per_chunk`
    images at a time, each chunk as :func:`_conv_2d_as_1d`. Pads are ``(lo, hi) >= 0`` and the
    output is not empty."""
    out = [
        (n + lo + hi - (k - 1) * d - 1) // s + 1
        for n, (lo, hi), k, d, s in zip(x.shape[1:3], pads, w.shape[:2], dil, strides, strict=True)
    ]
    chunk = images_per_chunk(x.shape, w.shape, out, pads, x.dtype.itemsize)

    def images(x: Array) -> Array:
        y = _conv_2d_as_1d(x, w, strides, pads, dil, groups)
        return y if bias is None else y + bias.astype(y.dtype).reshape(1, 1, 1, -1)

    if chunk == x.shape[0]:
        return images(x)
    y = lax.map(images, x.reshape(x.shape[0] // chunk, chunk, *x.shape[1:]))
    return y.reshape(x.shape[0], *y.shape[2:])
