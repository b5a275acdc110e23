"""One device's block of a (distributed) FFT as the spectral operations the equations use.

:class:`BlockOps` implements :class:`parallax.kernels.pde.SpectralOps` on a
:class:`~parallax.sharding.DistributedFFT` (inside ``shard_map``: the spectrum in its
transposed layout, this device's slice of every per-axis table) or a
:class:`~parallax.sharding.LocalFFT`. The tables are the NumPy per-axis rules of
:mod:`parallax.kernels.pde._fourier_np` (derivative with the Nyquist mode zeroed, 2/3 rule),
evaluated per axis and sliced, so no device ever holds a table of the whole spectrum.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from parallax.kernels import complex_dtype
from parallax.kernels.pde._fourier_np import dealias_keep, derivative_factor, wavenumber
from parallax.kernels.pde._spectral import broadcast_to_rank

__all__ = ["BlockOps"]


class _Transforms(Protocol):
    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def length(self) -> float | tuple[float, ...]: ...

    def fft_local(self, x: jax.Array) -> jax.Array: ...

    def ifft_local(self, x: jax.Array) -> jax.Array: ...

    def axis_modes(self, axis: int) -> np.ndarray: ...

    def local_table(self, axis: int, table: np.ndarray, dtype: Any) -> jax.Array: ...


def _lengths(length: float | Sequence[float], d: int) -> tuple[float, ...]:
    if isinstance(length, int | float):
        return (float(length),) * d
    if len(length) != d:
        raise ValueError(f"length: expected {d} values, got {len(length)}")
    return tuple(float(x) for x in length)


class BlockOps:
    """:class:`~parallax.kernels.pde.SpectralOps` of a transform's local block at the real
    ``dtype`` (build it where the block lives: inside ``shard_map`` for a distributed FFT)."""

    def __init__(self, transforms: _Transforms, dtype: Any) -> None:
        self.transforms = transforms
        self.dtype = jnp.dtype(dtype)
        self.length = _lengths(transforms.length, len(transforms.shape))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.transforms.shape

    @property
    def cdtype(self) -> Any:
        return complex_dtype(self.dtype)

    def fft(self, u: jax.Array) -> jax.Array:
        return self.transforms.fft_local(u)

    def ifft(self, uh: jax.Array) -> jax.Array:
        return jnp.real(self.transforms.ifft_local(uh)).astype(self.dtype)

    def _table(self, axis: int, table: np.ndarray, dtype: Any) -> jax.Array:
        return self.transforms.local_table(axis, table, dtype)

    def modes(self, axis: int) -> jax.Array:
        return self._table(axis, self.transforms.axis_modes(axis), jnp.int32)

    def derivative(self, axis: int) -> jax.Array:
        m, n = self.transforms.axis_modes(axis), self.shape[axis]
        return self._table(axis, derivative_factor(m, n, self.length[axis]), self.cdtype)

    def wavenumbers(self) -> tuple[jax.Array, ...]:
        """``k_j = 2π m_j / L_j`` per axis (real)."""
        return tuple(self._table(j, self._k(j), self.dtype) for j in range(len(self.shape)))

    def _k(self, axis: int) -> np.ndarray:
        return wavenumber(self.transforms.axis_modes(axis), self.length[axis])

    def k2(self) -> jax.Array:
        out = None
        for axis in range(len(self.shape)):
            k = self._k(axis)
            k2 = self._table(axis, k * k, self.dtype)
            out = k2 if out is None else out + k2
        assert out is not None
        return out

    def dealias(self, uh: jax.Array) -> jax.Array:
        keep = None
        for axis, n in enumerate(self.shape):
            ok = self._table(axis, dealias_keep(self.transforms.axis_modes(axis), n), jnp.bool_)
            keep = ok if keep is None else keep & ok
        assert keep is not None
        return jnp.where(broadcast_to_rank(keep, uh.ndim), uh, jnp.zeros((), uh.dtype))
