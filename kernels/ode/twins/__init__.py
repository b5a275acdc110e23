"""PyTorch twins of the ``ode`` kernels (imports torch)."""

__all__: list[str] = []
