"""PyTorch twins of the ``sde`` kernels (imports torch)."""

__all__: list[str] = []
