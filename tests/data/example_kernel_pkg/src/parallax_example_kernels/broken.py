"""An entry point that fails to import: its dependency is not installed."""

import parallax_example_missing_dependency  # noqa: F401  # pyright: ignore[reportMissingImports]
