"""One device's block of a (distributed) FFT as the spectral operations the equations use.

:class:`BlockOps` implements :class:`parallax.kernels.pde.SpectralOps` on a
:class:`~parallax.sharding.DistributedFFT` (inside ``shard_map``: the spectrum in its
transposed layout, this device's slice of every per-axis table) or a
:class:`~parallax.sharding.LocalFFT`. The tables are the NumPy per-axis rules of
:mod:`parallax.kernels.pde._fourier_np` (derivative with the Nyquist mode zeroed, 2/3 rule),
evaluated per axis and sliced, so no device ever holds a table of the whole spectrum.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from parallax.kernels.pde import complex_dtype
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


class BlockOps:
    """:class:`~parallax.kernels.pde.SpectralOps` of a transform's local block at the real
    ``dtype`` (build it where the block lives: inside ``shard_map`` for a distributed FFT)."""

    def __init__(self, transforms: _Transforms, dtype: Any) -> None:
        self.transforms = transforms
        self.dtype = jnp.dtype(dtype)
        d = len(transforms.shape)
        ell = transforms.length
        self.length = (
            (float(ell),) * d if isinstance(ell, int | float) else tuple(float(x) for x in ell)
        )

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

    def k2(self) -> jax.Array:
        out = None
        for axis, ell in enumerate(self.length):
            k = wavenumber(self.transforms.axis_modes(axis), ell)
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
