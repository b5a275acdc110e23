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
same. Low-precision inputs (bfloat16, float16) are normalised in float32 and cast back. On CPU,
unsharded float32 and float64 inputs go through a C++ handler that normalises blocks of rows on
every core (:mod:`parallax.kernels.nn._norm_rows`, ``PARALLAX_NORM_ROWS=0`` turns it off).
"""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
from jaxtyping import Array, Float

from parallax.kernels._checks import check_array
from parallax.kernels._platform import cpu_or_default
from parallax.kernels.nn import _norm_rows

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


def _normalise(x: Array, scale: Array, bias: Array | None, eps: float, *, centred: bool) -> Array:
    """The handler on CPU for unsharded float32/float64 ``x``, the equations in XLA's ops
    everywhere else (low precision in float32, cast back)."""

    def xla(x, scale, *bias):
        cdt = _compute_dtype(x.dtype)
        b = bias[0].astype(cdt) if bias else None
        y = _norm_rows.reference(x.astype(cdt), scale.astype(cdt), b, eps, centred)[0]
        return y.astype(x.dtype)

    def handler(x, scale, *bias):
        return _norm_rows.normalise(x, scale, *bias or (None,), eps=eps, centred=centred)

    args = (x, scale) if bias is None else (x, scale, bias)
    use = _norm_rows.applies(x) and _norm_rows.available()
    return cpu_or_default(use, handler, xla, *args)


def layer_norm(
    params: Mapping[str, Float[Array, " features"]],
    x: Float[Array, "*batch features"],
    *,
    eps: float,
) -> Float[Array, "*batch features"]:
    """LayerNorm over the last axis: ``(x - mean) / sqrt(var + eps) * scale + bias``."""
    _check(params, x, ("scale", "bias"))
    return _normalise(x, params["scale"], params.get("bias"), _eps(eps), centred=True)


def rms_norm(
    params: Mapping[str, Float[Array, " features"]],
    x: Float[Array, "*batch features"],
    *,
    eps: float,
) -> Float[Array, "*batch features"]:
    """RMSNorm over the last axis: ``x / sqrt(mean(x^2) + eps) * scale`` (no centring)."""
    _check(params, x, ("scale",))
    return _normalise(x, params["scale"], None, _eps(eps), centred=False)
