r"""Layer and RMS normalisation on CPU through an XLA FFI handler (``_norm_rows.cc``).

Per row of ``x (..., d)``, with ``c = x - mean(x)`` (LayerNorm) or ``c = x`` (RMSNorm):

.. math::
    r = \bigl(\overline{c^2} + \epsilon\bigr)^{-1/2}, \qquad \hat x = c\, r, \qquad
    y = \hat x \odot \gamma + \beta

(biased variance; RMSNorm has no ``β``). XLA:CPU fuses these equations into one row-reduction
loop that keeps two threads busy for longer than a single thread running the rows one at a time:
the handler takes blocks of rows over XLA's thread pool and makes two vectorised passes over
each row, the second from L1: moments about the row's first element (the shifted sums of Chan,
Golub & LeVeque, 1983, taken again about the mean when that element lies far from it, so rows
whose mean is far larger than their spread keep their variance), then ``y``. It returns ``y``
and each row's ``mean`` and ``rstd = r``.

Derivatives come from a ``jax.custom_jvp`` whose rule calls the handler for ``(y, mean, rstd)``
and forms the tangent with XLA's ops from those statistics:

.. math::
    \dot{\hat x} = r\,\bigl(\dot x - \overline{\dot x} - \hat x\,\overline{\hat x \dot x}\bigr),
    \qquad \dot y = \dot{\hat x} \odot \gamma + \hat x \odot \dot\gamma + \dot\beta,
    \qquad \dot{\bar x} = \overline{\dot x}, \qquad \dot r = -r^2\,\overline{\hat x \dot x}

(RMSNorm drops the ``\overline{\dot x}`` terms). The tangent is linear in ``(ẋ, γ̇, β̇)``, so
JAX transposes it for ``grad``; the statistics' own tangents make the rule differentiable again,
so higher derivatives work. The forward pass is the handler's; reverse mode runs in XLA's ops.

The handler covers float32 and float64 (accumulating in the input's precision); in programs
that are exported or that XLA partitions the call lowers to :func:`reference`
(:func:`parallax.kernels._native.call`). Plain C++, no library: built on first use with the C++
compiler; ``PARALLAX_NORM_ROWS=0`` turns it off.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array

from parallax.kernels import _native
from parallax.kernels._native import Handler

__all__ = ["applies", "available", "normalise", "reason", "reference"]

TARGET = "parallax_norm_rows"

_HANDLER = Handler(
    Path(__file__).with_name("_norm_rows.cc"),
    (TARGET,),
    switch="PARALLAX_NORM_ROWS",
    fallback="layer and RMS norms on CPU keep XLA's fused reduction",
    flags=lambda: ["-O3"],
)
available = _HANDLER.available
reason = _HANDLER.reason


def applies(x: Array) -> bool:
    """Whether the handler computes this norm: float32/float64 ``x`` with at least one element."""
    return x.dtype in (np.float32, np.float64) and x.size > 0


def _along_rows(v: Array, ndim: int) -> Array:
    """A ``(d,)`` parameter shaped to broadcast against ``x`` of rank ``ndim``."""
    return v.reshape((1,) * (ndim - 1) + v.shape)


def reference(
    x: Array, scale: Array, bias: Array | None, eps: float, centred: bool
) -> tuple[Array, Array, Array]:
    """``(y, mean, rstd)`` from the equations above in XLA's ops, in ``x``'s dtype; ``mean`` is
    zero without ``centred``."""
    if centred:
        mean = jnp.mean(x, axis=-1)
        c = x - mean[..., None]
    else:
        mean = jnp.zeros(x.shape[:-1], x.dtype)
        c = x
    rstd = lax.rsqrt(jnp.mean(jnp.square(c), axis=-1) + jnp.asarray(eps, x.dtype))
    y = c * rstd[..., None] * _along_rows(scale, x.ndim)
    if bias is not None:
        y = y + _along_rows(bias, x.ndim)
    return y, mean, rstd


@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4))
def _rows(x, scale, bias, eps: float, centred: bool):
    def fallback(x, scale, bias):
        return reference(x, scale, bias, eps, centred)

    outs = _native.call(
        TARGET, fallback, x, scale, bias, eps=np.float64(eps), centred=bool(centred)
    )
    return tuple(outs)


@_rows.defjvp
def _rows_jvp(eps, centred, primals, tangents):
    x, scale, bias = primals
    dx, dscale, dbias = tangents
    y, mean, rstd = _rows(x, scale, bias, eps, centred)
    r = rstd[..., None]
    xhat = (x - mean[..., None]) * r
    proj = jnp.mean(xhat * dx, axis=-1, keepdims=True)
    if centred:
        dmean = jnp.mean(dx, axis=-1, keepdims=True)
        dxhat = r * (dx - dmean - xhat * proj)
    else:
        dmean = jnp.zeros_like(proj)
        dxhat = r * (dx - xhat * proj)
    n = x.ndim
    dy = dxhat * _along_rows(scale, n) + xhat * _along_rows(dscale, n) + _along_rows(dbias, n)
    return (y, mean, rstd), (dy, dmean[..., 0], -(rstd * rstd) * proj[..., 0])


def normalise(x: Array, scale: Array, bias: Array | None, *, eps: float, centred: bool) -> Array:
    """``y`` of LayerNorm (``centred``) or RMSNorm over the last axis of ``x``, through the
    handler on CPU (:func:`available` and :func:`applies` must hold). ``scale`` and ``bias``
    are ``(d,)`` in ``x``'s dtype; inputs are assumed checked by the caller."""
    if bias is None:
        bias = jnp.zeros_like(scale)
    return _rows(x, scale, bias, float(eps), bool(centred))[0]
