"""PyTorch twins of the ``particles`` kernels (imports torch)."""

__all__: list[str] = []
