r"""Layer normalisation (Ba et al., 2016) and RMS normalisation (Zhang & Sennrich, 2019).

.. math::
    \operatorname{LN}(x) = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} \odot \gamma + \beta, \qquad
    \operatorname{RMS}(x) = \frac{x}{\sqrt{\overline{x^2} + \epsilon}} \odot \gamma

over the last axis (``features``), with the biased variance (as torch and flax). ``eps`` has no
default on purpose: torch uses 1e-5, flax 1e-6; a port that relies on either default silently
changes the numbers.

Parameter pytrees (flat dicts)::

    layer_norm: {"scale": (features,), "bias": (features,)}   # "bias" optional
    rms_norm:   {"scale": (features,)}

torch names the scale ``weight`` (``nn.LayerNorm.weight``/``nn.RMSNorm.weight``); the layout is the
same. Low-precision inputs (bfloat16, float16) are normalised in float32 and cast back.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from parallax.kernels._checks import check_array

__all__ = ["layer_norm", "rms_norm"]


def _check(params: Mapping[str, Array], x: Array, allowed: tuple[str, ...]) -> int:
    check_array("x", x, min_ndim=1)
    unknown = set(params) - set(allowed)
    if unknown:
        raise ValueError(f"params: unexpected keys {sorted(unknown)}; expected {allowed}")
    if "scale" not in params:
        raise ValueError("params: missing key 'scale'")
    d = x.shape[-1]
    for k, v in params.items():
        check_array(f"params['{k}']", v, shape=(d,))
        if v.dtype != x.dtype:
            raise TypeError(f"params['{k}']: expected dtype {x.dtype} (as x), got {v.dtype}")
    return d


def _eps(eps: float) -> float:
    if not isinstance(eps, int | float) or isinstance(eps, bool) or not eps > 0:
        raise ValueError(f"eps: expected a Python float > 0, got {eps!r}")
    return float(eps)


def _compute_dtype(dtype: jnp.dtype) -> jnp.dtype:
    return jnp.dtype(jnp.float32) if jnp.finfo(dtype).bits < 32 else jnp.dtype(dtype)


def layer_norm(
    params: Mapping[str, Float[Array, " features"]],
    x: Float[Array, "*batch features"],
    *,
    eps: float,
) -> Float[Array, "*batch features"]:
    """LayerNorm over the last axis: ``(x - mean) / sqrt(var + eps) * scale + bias``."""
    _check(params, x, ("scale", "bias"))
    eps = _eps(eps)
    cdt = _compute_dtype(x.dtype)
    xc = x.astype(cdt)
    mean = jnp.mean(xc, axis=-1, keepdims=True)
    centred = xc - mean
    var = jnp.mean(jnp.square(centred), axis=-1, keepdims=True)
    y = centred * jax.lax.rsqrt(var + jnp.asarray(eps, cdt))
    shape = (1,) * (x.ndim - 1) + (x.shape[-1],)
    y = y * params["scale"].astype(cdt).reshape(shape)
    if "bias" in params:
        y = y + params["bias"].astype(cdt).reshape(shape)
    return y.astype(x.dtype)


def rms_norm(
    params: Mapping[str, Float[Array, " features"]],
    x: Float[Array, "*batch features"],
    *,
    eps: float,
) -> Float[Array, "*batch features"]:
    """RMSNorm over the last axis: ``x / sqrt(mean(x^2) + eps) * scale`` (no centring)."""
    _check(params, x, ("scale",))
    eps = _eps(eps)
    cdt = _compute_dtype(x.dtype)
    xc = x.astype(cdt)
    ms = jnp.mean(jnp.square(xc), axis=-1, keepdims=True)
    shape = (1,) * (x.ndim - 1) + (x.shape[-1],)
    y = xc * jax.lax.rsqrt(ms + jnp.asarray(eps, cdt)) * params["scale"].astype(cdt).reshape(shape)
    return y.astype(x.dtype)
