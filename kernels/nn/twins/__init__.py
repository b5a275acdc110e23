"""PyTorch twins of the model kernels (imports torch)."""

from parallax.kernels.nn.twins._attention import dot_product_attention as dot_product_attention

__all__ = ["dot_product_attention"]
