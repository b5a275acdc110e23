"""The complex dtype that pairs with a real one, in NumPy only: JAX kernels, parity inputs and
case builders derive theirs from it, and NumPy-only twins may import it."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["numpy_complex_dtype"]


def numpy_complex_dtype(real_dtype: Any) -> np.dtype:
    """``complex128`` for ``float64``, ``complex64`` for ``float32`` and narrower floats.

    ``real_dtype`` is a dtype, a scalar type or a dtype name (``"bfloat16"`` included, which
    NumPy alone cannot parse).
    """
    name = real_dtype if isinstance(real_dtype, str) else np.dtype(real_dtype).name
    return np.dtype(np.complex128 if name == "float64" else np.complex64)
