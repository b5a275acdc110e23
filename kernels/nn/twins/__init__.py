"""PyTorch twins of the model kernels (imports torch).

Same names, signatures, parameter dicts and (JAX-side) layouts as :mod:`parallax.kernels.nn`;
each twin converts to torch's native layout internally.
"""

from parallax.kernels.nn.twins._attention import apply_rope as apply_rope
from parallax.kernels.nn.twins._attention import attention_weights as attention_weights
from parallax.kernels.nn.twins._attention import dot_product_attention as dot_product_attention
from parallax.kernels.nn.twins._attention import flash_attention as flash_attention
from parallax.kernels.nn.twins._attention import multi_head_attention as multi_head_attention
from parallax.kernels.nn.twins._conv import conv_1d as conv_1d
from parallax.kernels.nn.twins._conv import conv_2d as conv_2d
from parallax.kernels.nn.twins._fno import spectral_conv_1d as spectral_conv_1d
from parallax.kernels.nn.twins._fno import spectral_conv_2d as spectral_conv_2d
from parallax.kernels.nn.twins._mlp import ACTIVATIONS as ACTIVATIONS
from parallax.kernels.nn.twins._mlp import gated_mlp as gated_mlp
from parallax.kernels.nn.twins._mlp import linear as linear
from parallax.kernels.nn.twins._mlp import mlp as mlp
from parallax.kernels.nn.twins._norms import layer_norm as layer_norm
from parallax.kernels.nn.twins._norms import rms_norm as rms_norm

__all__ = [
    "ACTIVATIONS",
    "apply_rope",
    "attention_weights",
    "conv_1d",
    "conv_2d",
    "dot_product_attention",
    "flash_attention",
    "gated_mlp",
    "layer_norm",
    "linear",
    "mlp",
    "multi_head_attention",
    "rms_norm",
    "spectral_conv_1d",
    "spectral_conv_2d",
]
