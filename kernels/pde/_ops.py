r"""The spectral operations an equation is written against, and their single-device grid form.

A pseudo-spectral equation ``u_t = L u + N(u)`` needs only a few things from its layout: the
forward and inverse transform over the grid axes, the derivative ``i k_j`` along an axis, ``|k|²``,
the integer modes (for forcing terms given by their Fourier modes) and the 2/3 dealiasing mask.
:class:`SpectralOps` names them; :class:`GridOps` implements them on one device with real FFTs
over a whole :class:`~parallax.kernels.pde.Grid`, and :mod:`parallax.sharding` implements them on
one device's block of a distributed FFT (inside ``shard_map``). The equations
(:mod:`parallax.kernels.pde` ``*_terms``) are written once against this interface and serve
both layouts.

Spectral constants have the rank of the grid (``d``) and broadcast on the spectral block; a
state carries leading batch and channel axes, so the equations prepend singleton axes
explicitly (:func:`~parallax.kernels.pde._spectral.broadcast_to_rank`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import jax.numpy as jnp
from jaxtyping import Array

from parallax.kernels._dtypes import complex_dtype
from parallax.kernels.pde._spectral import Grid, broadcast_to_rank, irfftn, rfftn

__all__ = ["GridOps", "SpectralOps"]


class SpectralOps(Protocol):
    """What a pseudo-spectral equation uses of its layout (one device's spectral block).

    ``shape`` / ``length`` describe the whole periodic grid; ``dtype`` is the real state dtype
    and ``cdtype`` its complex counterpart. Arrays returned have rank ``len(shape)`` and
    broadcast against this block of the spectrum.
    """

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def length(self) -> tuple[float, ...]: ...

    @property
    def dtype(self) -> Any: ...

    @property
    def cdtype(self) -> Any: ...

    def fft(self, u: Array) -> Array:
        """Real field ``(*lead, *block)`` -> its spectrum over the trailing grid axes."""
        ...

    def ifft(self, uh: Array) -> Array:
        """Spectrum -> real field of ``dtype``."""
        ...

    def modes(self, axis: int) -> Array:
        """Integer mode numbers ``m`` along ``axis`` (int32)."""
        ...

    def derivative(self, axis: int) -> Array:
        """``i k_axis`` (complex), zero at the Nyquist mode of an even axis."""
        ...

    def k2(self) -> Array:
        """``|k|²`` (real)."""
        ...

    def dealias(self, uh: Array) -> Array:
        """``uh`` with the modes outside the 2/3 band zeroed."""
        ...


@dataclass(frozen=True)
class GridOps:
    """:class:`SpectralOps` of a whole :class:`~parallax.kernels.pde.Grid` on one device:
    ``rfftn`` / ``irfftn`` over the trailing axes, constants evaluated in float64 and rounded
    once to ``dtype``."""

    grid: Grid
    dtype: Any

    @property
    def shape(self) -> tuple[int, ...]:
        return self.grid.shape

    @property
    def length(self) -> tuple[float, ...]:
        return self.grid.length

    @property
    def cdtype(self) -> Any:
        return complex_dtype(self.dtype)

    def fft(self, u: Array) -> Array:
        return rfftn(u, self.grid)

    def ifft(self, uh: Array) -> Array:
        return irfftn(uh, self.grid, self.dtype)

    def modes(self, axis: int) -> Array:
        return jnp.asarray(self.grid.modes(axis), dtype=jnp.int32)

    def derivative(self, axis: int) -> Array:
        return jnp.asarray(self.grid.derivative_np()[axis], dtype=self.cdtype)

    def k2(self) -> Array:
        return jnp.asarray(-self.grid.laplacian_np(), dtype=self.dtype)

    def dealias(self, uh: Array) -> Array:
        keep = broadcast_to_rank(jnp.asarray(self.grid.dealias_np()), uh.ndim)
        return jnp.where(keep, uh, jnp.zeros((), uh.dtype))
