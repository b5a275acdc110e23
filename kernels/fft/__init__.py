"""FFTs for parallax's spectral kernels: XLA's on GPU/TPU, MKL's on every CPU core.

XLA:CPU runs an FFT inside a loop body (every rollout is a ``lax.scan``) on one thread. Where
MKL is installed (the ``cpu-fft`` extra, x86-64 Linux), the functions here lower on CPU to an
XLA FFI handler that runs MKL's FFT sequentially on chunks of the batch spread over XLA's own
thread pool; elsewhere, and on GPU/TPU, they lower to XLA's FFT op. The values are the same
transform as :mod:`jax.numpy.fft` (``"backward"`` normalisation: the inverse carries 1/N) to
round-off, and the functions compose with ``jit``, ``vmap``, ``grad``, ``jvp`` and
``jax.export`` like jnp's. Only the leading axes may be a batch: the handler needs the
transformed axes last and contiguous, so other axes are moved there (and back), as jnp does.

``backend()`` says which one CPU programs get and, if XLA's, why.
``PARALLAX_MKL_FFT=0`` turns MKL off (read when a program is first lowered).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike

from parallax.kernels.fft import _mkl
from parallax.kernels.fft._primitive import fft as _fft

__all__ = ["backend", "fftn", "ifftn", "irfftn", "rfftn"]


def backend() -> str:
    """``"mkl"`` when CPU programs take MKL's FFT, else ``"xla (<reason>)"``."""
    return "mkl" if _mkl.available() else f"xla ({_mkl.reason()})"


def _axes(name: str, ndim: int, axes: Sequence[int]) -> tuple[int, ...]:
    axes = tuple(int(a) for a in axes)
    if not 1 <= len(axes) <= ndim:
        raise ValueError(f"axes: expected 1 to {ndim} axes of a rank-{ndim} {name}, got {axes}")
    norm = tuple(a % ndim if -ndim <= a < ndim else None for a in axes)
    if None in norm or len(set(norm)) != len(norm):
        raise ValueError(f"axes: expected distinct axes of a rank-{ndim} {name}, got {axes}")
    return norm  # type: ignore[return-value]


def _over(x: Array, axes: tuple[int, ...], fft_type: lax.FftType, lengths: tuple[int, ...]):
    last = tuple(range(x.ndim - len(axes), x.ndim))
    y = _fft(jnp.moveaxis(x, axes, last), fft_type, lengths)
    return jnp.moveaxis(y, last, axes)


def _real(x: ArrayLike) -> Array:
    x = jnp.asarray(x)
    if jnp.iscomplexobj(x):
        raise TypeError(f"x: expected a real array, got {x.dtype}")
    return x.astype(np.float64 if x.dtype.itemsize == 8 else np.float32)


def _complex(x: ArrayLike) -> Array:
    x = jnp.asarray(x)
    wide = x.dtype.itemsize == (16 if jnp.iscomplexobj(x) else 8)
    return x.astype(np.complex128 if wide else np.complex64)


def rfftn(x: ArrayLike, axes: Sequence[int] = (-1,)) -> Array:
    """Real-to-complex FFT over ``axes``; the last of them keeps ``n // 2 + 1`` modes."""
    x = _real(x)
    axes = _axes("x", x.ndim, axes)
    return _over(x, axes, lax.FftType.RFFT, tuple(x.shape[a] for a in axes))


def irfftn(x: ArrayLike, s: Sequence[int], axes: Sequence[int] = (-1,)) -> Array:
    """Inverse of :func:`rfftn` with real output shape ``s`` over ``axes`` (scaled by 1/N)."""
    x = _complex(x)
    axes = _axes("x", x.ndim, axes)
    s = tuple(int(n) for n in s)
    have = tuple(x.shape[a] for a in axes)
    if len(s) != len(axes) or have != (*s[:-1], s[-1] // 2 + 1):
        raise ValueError(
            f"s: expected {len(axes)} output lengths (one per axis {axes}) that x's sizes "
            f"{have} on those axes match (all but the last equal, the last n // 2 + 1), got {s}"
        )
    return _over(x, axes, lax.FftType.IRFFT, s)


def fftn(x: ArrayLike, axes: Sequence[int] = (-1,)) -> Array:
    """Complex FFT over ``axes``."""
    x = _complex(x)
    axes = _axes("x", x.ndim, axes)
    return _over(x, axes, lax.FftType.FFT, tuple(x.shape[a] for a in axes))


def ifftn(x: ArrayLike, axes: Sequence[int] = (-1,)) -> Array:
    """Inverse complex FFT over ``axes`` (scaled by 1/N)."""
    x = _complex(x)
    axes = _axes("x", x.ndim, axes)
    return _over(x, axes, lax.FftType.IFFT, tuple(x.shape[a] for a in axes))
