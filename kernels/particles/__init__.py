"""Family ``particles``: see the kernel catalog issue. Torch twins live in ``.twins``."""

__all__: list[str] = []
