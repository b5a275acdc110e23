"""Flat-argument adapters of the nn torch twins, for the registry (imports torch when resolved).

The kernels take a parameter dict; a registry case holds flat named arrays. These adapters
regroup the parameter names into the dict, exactly as :mod:`parallax.registry.nn` does for the
JAX side, so the kernel and its twin see identical inputs.
"""

from __future__ import annotations

from parallax.kernels.nn import twins as _t
from parallax.registry._nn_flat import flat, value_and_grad_twin

layer_norm = flat(_t.layer_norm, ("scale", "bias"))
rms_norm = flat(_t.rms_norm, ("scale",))
mlp = flat(_t.mlp, ("w1", "b1", "w2", "b2"))
gated_mlp = flat(_t.gated_mlp, ("w_gate", "w_up", "w_down", "b_gate", "b_up", "b_down"))
multi_head_attention = flat(
    _t.multi_head_attention, ("wq", "wk", "wv", "wo", "bq", "bk", "bv", "bo")
)
spectral_conv_1d = flat(_t.spectral_conv_1d, ("weight",))
spectral_conv_2d = flat(_t.spectral_conv_2d, ("w_pos", "w_neg"))
conv_1d = flat(_t.conv_1d, ("kernel", "bias"))
conv_2d = flat(_t.conv_2d, ("kernel", "bias"))
dot_product_attention_fwd_bwd = value_and_grad_twin(_t.dot_product_attention, ("q", "k", "v"))
