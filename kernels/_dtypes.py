"""The complex dtype that pairs with a real one, for spectral factors and FFT outputs."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from parallax.kernels._dtypes_np import numpy_complex_dtype

__all__ = ["complex_dtype"]


def complex_dtype(real_dtype: Any) -> jnp.dtype:
    """``complex128`` for ``float64``, ``complex64`` for ``float32`` and narrower floats.

    Strict dtype promotion forbids ``real * complex``: a real coefficient that multiplies a
    spectrum is cast to this dtype first.
    """
    return jnp.dtype(numpy_complex_dtype(jnp.dtype(real_dtype)))
