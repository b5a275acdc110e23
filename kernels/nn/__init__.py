"""Model kernels (family ``nn``): pure functions over explicit parameter pytrees.

Torch twins live in :mod:`parallax.kernels.nn.twins` (imports torch).
"""

from parallax.kernels.nn._attention import attention_weights as attention_weights
from parallax.kernels.nn._attention import dot_product_attention as dot_product_attention

__all__ = ["attention_weights", "dot_product_attention"]
