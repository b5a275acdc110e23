"""Torch twins of :mod:`parallax.kernels.nn._mlp` (parameter dicts in the JAX (in, out)
layout; ``F.linear`` takes torch's (out, in), so the twin transposes)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

ACTIVATIONS = {
    "gelu_exact": lambda x: F.gelu(x, approximate="none"),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "tanh": torch.tanh,
    "identity": lambda x: x,
}


def _linear(x, w, b):
    return F.linear(x, w.T, b)  # torch layout: weight (out, in)


def linear(params: Mapping[str, torch.Tensor], x):
    return _linear(x, params["kernel"], params.get("bias"))


def mlp(params: Mapping[str, torch.Tensor], x, *, activation: str):
    h = ACTIVATIONS[activation](_linear(x, params["w1"], params.get("b1")))
    return _linear(h, params["w2"], params.get("b2"))


def gated_mlp(params: Mapping[str, torch.Tensor], x, *, activation: str):
    g = ACTIVATIONS[activation](_linear(x, params["w_gate"], params.get("b_gate")))
    u = _linear(x, params["w_up"], params.get("b_up"))
    return _linear(g * u, params["w_down"], params.get("b_down"))
