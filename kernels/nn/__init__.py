"""Model kernels (family ``nn``): pure functions over explicit parameter pytrees.

Every kernel takes its parameters as a flat dict of arrays (layouts documented per module:
dense weights ``(in, out)`` like flax, convolution kernels ``HWIO``, spectral weights complex)
and its options as keyword-only arguments without silent defaults where libraries disagree
(GELU form, normalisation eps). Torch twins live in :mod:`parallax.kernels.nn.twins`.
"""

from parallax.kernels.nn._attention import attention_weights as attention_weights
from parallax.kernels.nn._attention import dot_product_attention as dot_product_attention
from parallax.kernels.nn._attention import multi_head_attention as multi_head_attention
from parallax.kernels.nn._conv import conv_1d as conv_1d
from parallax.kernels.nn._conv import conv_2d as conv_2d
from parallax.kernels.nn._conv import conv_padding as conv_padding
from parallax.kernels.nn._flash import flash_attention as flash_attention
from parallax.kernels.nn._fno import spectral_conv_1d as spectral_conv_1d
from parallax.kernels.nn._fno import spectral_conv_2d as spectral_conv_2d
from parallax.kernels.nn._mlp import ACTIVATIONS as ACTIVATIONS
from parallax.kernels.nn._mlp import gated_mlp as gated_mlp
from parallax.kernels.nn._mlp import get_activation as get_activation
from parallax.kernels.nn._mlp import linear as linear
from parallax.kernels.nn._mlp import mlp as mlp
from parallax.kernels.nn._norms import layer_norm as layer_norm
from parallax.kernels.nn._norms import rms_norm as rms_norm
from parallax.kernels.nn._rope import apply_rope as apply_rope
from parallax.kernels.nn._rope import rope_angles as rope_angles

__all__ = [
    "ACTIVATIONS",
    "apply_rope",
    "attention_weights",
    "conv_1d",
    "conv_2d",
    "conv_padding",
    "dot_product_attention",
    "flash_attention",
    "gated_mlp",
    "get_activation",
    "layer_norm",
    "linear",
    "mlp",
    "multi_head_attention",
    "rms_norm",
    "rope_angles",
    "spectral_conv_1d",
    "spectral_conv_2d",
]
