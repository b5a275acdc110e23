r"""Fourier neural operator (Li et al., 2021, "Fourier neural operator for parametric partial
differential equations", ICLR; arXiv:2010.08895), 1D and 2D, as pure ``init`` / ``apply``.

.. math::
    v_0 = P x, \qquad
    v_{l+1} = \sigma\big(\mathcal K_l v_l + W_l v_l + b_l\big)\ (l < L-1), \qquad
    u = Q(v_L)

``P`` lifts the input channels to ``width`` (pointwise linear), ``K_l`` is the spectral
convolution of :func:`parallax.kernels.nn.spectral_conv_1d` / ``_2d`` (complex weights on the
``modes`` lowest frequencies), ``W_l`` a pointwise linear (a kernel-size-1 convolution in the
reference code), ``σ`` GELU (no activation after the last layer, as the reference), and ``Q`` a
two-layer MLP back to ``out_channels``. Layout is channels-last: ``x`` is ``(batch, n, c)`` or
``(batch, n1, n2, c)``. The reference's extra grid-coordinate input channels are the caller's
choice (concatenate them to ``x``).

Parameter pytree (nested dict; weights ``(in, out)``)::

    lift:   {kernel: (c_in, width), bias: (width,)}
    layers: [{spectral: {weight: (modes, width, width)}            # 1D, complex
                     or {w_pos, w_neg: (m1, m2, width, width)},    # 2D, complex
              pointwise: {kernel: (width, width), bias: (width,)}}, ...]
    proj:   {w1: (width, hidden), b1, w2: (hidden, c_out), b2}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from parallax import bridge as R
from parallax.kernels import complex_dtype, nn
from parallax.models._init import Draw, draw_init

__all__ = ["FNO_AXES", "FNOConfig", "fno_apply", "fno_init", "fno_torch_rules"]


@dataclass(frozen=True)
class FNOConfig:
    """``modes`` has one entry per spatial dimension (its length sets 1D or 2D)."""

    in_channels: int
    out_channels: int
    modes: tuple[int, ...] = (8,)
    width: int = 32
    depth: int = 2
    proj_hidden: int = 64
    activation: str = "gelu_exact"

    @property
    def ndim(self) -> int:
        return len(self.modes)

    def __post_init__(self) -> None:
        if len(self.modes) not in (1, 2):
            raise ValueError(f"modes: expected 1 or 2 entries (1D or 2D), got {self.modes!r}")
        nn.get_activation(self.activation)


FNO_AXES: Sequence[tuple[str, tuple[str | None, ...]]] = (
    ("lift.kernel", (None, "embed")),
    ("lift.bias", ("embed",)),
    ("layers.{i}.spectral.weight", (None, "embed", "mlp")),
    ("layers.{i}.spectral.{w}", (None, None, "embed", "mlp")),
    ("layers.{i}.pointwise.kernel", ("embed", "mlp")),
    ("layers.{i}.pointwise.bias", ("mlp",)),
    ("proj.w1", ("embed", "mlp")),
    ("proj.b1", ("mlp",)),
    ("proj.w2", ("mlp", None)),
    ("proj.b2", (None,)),
)


def fno_init(config: FNOConfig, key: Array, dtype: Any = jnp.float32) -> dict[str, Any]:
    """Random parameters: torch-default uniform fans for the linear maps, and the reference's
    ``scale * U[0,1)`` (real and imaginary parts) with ``scale = 1/(width^2)`` for the modes."""
    c, w, h = config, config.width, config.proj_hidden
    cdt = complex_dtype(dtype)

    def build(d: Draw) -> dict[str, Any]:
        layers = []
        for _ in range(c.depth):
            shape = (*c.modes, w, w)
            scale = 1.0 / (w * w)

            def spec(shape: tuple[int, ...] = shape, scale: float = scale) -> Array:
                re = d.uniform(shape, 0.0, scale, dtype)
                im = d.uniform(shape, 0.0, scale, dtype)
                return jax.lax.complex(re, im).astype(cdt)

            spectral = {"weight": spec()} if c.ndim == 1 else {"w_pos": spec(), "w_neg": spec()}
            pointwise = {"kernel": d.fan_in((w, w), w, dtype), "bias": d.fan_in((w,), w, dtype)}
            layers.append({"spectral": spectral, "pointwise": pointwise})
        ci = c.in_channels
        return {
            "lift": {"kernel": d.fan_in((ci, w), ci, dtype), "bias": d.fan_in((w,), ci, dtype)},
            "layers": layers,
            "proj": {
                "w1": d.fan_in((w, h), w, dtype),
                "b1": d.fan_in((h,), w, dtype),
                "w2": d.fan_in((h, c.out_channels), h, dtype),
                "b2": d.fan_in((c.out_channels,), h, dtype),
            },
        }

    return draw_init(build, key, dtype)


def fno_apply(
    config: FNOConfig, params: dict[str, Any], x: Float[Array, "batch *spatial c_in"]
) -> Float[Array, "batch *spatial c_out"]:
    """The FNO forward pass on channels-last ``x`` (spatial rank = ``len(config.modes)``)."""
    if x.ndim != config.ndim + 2:
        raise ValueError(
            f"x: expected shape (batch, {'n' if config.ndim == 1 else 'n1, n2'}, "
            f"{config.in_channels}) for a {config.ndim}D FNO, got {tuple(x.shape)}"
        )
    spectral = nn.spectral_conv_1d if config.ndim == 1 else nn.spectral_conv_2d
    act = nn.get_activation(config.activation)
    v = nn.linear(params["lift"], x)
    for i, layer in enumerate(params["layers"]):
        v = spectral(layer["spectral"], v) + nn.linear(layer["pointwise"], v)
        if i < len(params["layers"]) - 1:
            v = act(v)
    return nn.mlp(params["proj"], v, activation=config.activation)  # type: ignore[arg-type]


def fno_torch_rules(config: FNOConfig, *, spectral_as_real: bool = False) -> R.Rules:
    """Rules to the reference-style torch FNO (:class:`parallax.models.TorchFNO`):
    ``fc0`` (Linear), ``convs.{i}.weights1/2`` (complex ``(c_in, c_out, *modes)``),
    ``ws.{i}`` (Conv1d/2d with kernel size 1), ``fc1``, ``fc2`` (Linear)."""
    nd = config.ndim
    spec_perm = (1, 2, 0) if nd == 1 else (2, 3, 0, 1)

    def spectral(j: str, t: str) -> R.Rule:
        return R.Rule(j, t, perm=spec_perm, complex_as_real=spectral_as_real)

    spectral_rules = (
        [spectral("layers.{i}.spectral.weight", "convs.{i}.weights1")]
        if nd == 1
        else [
            spectral("layers.{i}.spectral.w_pos", "convs.{i}.weights1"),
            spectral("layers.{i}.spectral.w_neg", "convs.{i}.weights2"),
        ]
    )
    return R.Rules.of(
        R.linear("lift.kernel", "fc0.weight"),
        R.same("lift.bias", "fc0.bias"),
        spectral_rules,
        R.pointwise_conv("layers.{i}.pointwise.kernel", "ws.{i}.weight", nd),
        R.same("layers.{i}.pointwise.bias", "ws.{i}.bias"),
        R.linear("proj.w1", "fc1.weight"),
        R.same("proj.b1", "fc1.bias"),
        R.linear("proj.w2", "fc2.weight"),
        R.same("proj.b2", "fc2.bias"),
    )
