r"""Periodic pseudo-spectral grids: real FFTs over the trailing axes, wavenumbers, 2/3 dealiasing.

A :class:`Grid` is the box :math:`[0, L_1) \times \dots \times [0, L_d)` with ``n_i`` equispaced
points per axis (``d`` = 1, 2 or 3). Fields have shape ``(*batch, *channels, *grid.shape)``; the
spatial axes are always the trailing ``d`` axes and the last one is halved by ``rfftn``
(``n_d // 2 + 1`` modes).

Dealiasing follows Orszag's 2/3 rule (Orszag 1971, J. Atmos. Sci. 28:1074): a mode ``m`` on an
axis of ``n`` points is kept when ``3 |m| < n``. A product of two such fields aliases only into
modes that are zeroed again, so quadratic nonlinearities are evaluated alias-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from parallax.kernels import fft
from parallax.kernels._checks import check_array
from parallax.kernels.pde._fourier_np import (
    axis_modes,
    dealias_keep,
    derivative_factor,
    wavenumber,
)

__all__ = ["Grid", "broadcast_to_rank", "irfftn", "make_grid", "rfftn"]


@dataclass(frozen=True)
class Grid:
    """A periodic box: ``shape`` points per axis, side lengths ``length`` (static, hashable)."""

    shape: tuple[int, ...]
    length: tuple[float, ...]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def axes(self) -> tuple[int, ...]:
        """The spatial axes, counted from the end (``(-d, ..., -1)``)."""
        return tuple(range(-self.ndim, 0))

    @property
    def spectral_shape(self) -> tuple[int, ...]:
        return (*self.shape[:-1], self.shape[-1] // 2 + 1)

    @property
    def spacing(self) -> tuple[float, ...]:
        return tuple(ell / n for n, ell in zip(self.shape, self.length, strict=True))

    def points(self, dtype=jnp.float32) -> tuple[Float[Array, "*shape"], ...]:
        """Coordinates ``x_j = j L / n`` per axis, ``ij``-indexed, each of shape ``self.shape``."""
        axes = [np.arange(n) * (ell / n) for n, ell in zip(self.shape, self.length, strict=True)]
        return tuple(jnp.asarray(a, dtype=dtype) for a in np.meshgrid(*axes, indexing="ij"))

    def wavenumbers_np(self) -> list[np.ndarray]:
        """Angular wavenumbers ``2π m / L`` per axis (float64 NumPy), each of rank ``d``,
        broadcastable against the ``rfftn`` spectrum."""
        return [wavenumber(self.modes(axis), ell) for axis, ell in enumerate(self.length)]

    def modes(self, axis: int) -> np.ndarray:
        """Integer mode numbers of ``axis``, shaped to broadcast on the spectral grid."""
        m = axis_modes(self.shape[axis], half=axis == self.ndim - 1)
        shape = [1] * self.ndim
        shape[axis] = m.size
        return m.reshape(shape)

    def laplacian_np(self) -> np.ndarray:
        """``-|k|^2`` on the spectral grid (float64, shape ``spectral_shape``)."""
        k2 = sum(np.broadcast_to(k**2, self.spectral_shape) for k in self.wavenumbers_np())
        return -np.asarray(k2, dtype=np.float64)

    def derivative_np(self) -> list[np.ndarray]:
        """``i k_j`` per axis (complex128, broadcast to ``spectral_shape``): ``∂_j`` in Fourier
        space, the Nyquist mode of an even axis zeroed (:func:`derivative_factor`)."""
        return [
            np.broadcast_to(derivative_factor(self.modes(j), n, ell), self.spectral_shape).copy()
            for j, (n, ell) in enumerate(zip(self.shape, self.length, strict=True))
        ]

    def dealias_np(self) -> np.ndarray:
        """2/3-rule mask on the spectral grid: ``True`` where ``3 |m_j| < n_j`` on every axis."""
        keep = np.ones(self.spectral_shape, dtype=bool)
        for axis, n in enumerate(self.shape):
            keep = keep & dealias_keep(self.modes(axis), n)
        return keep

    def check_field(self, name: str, u, channels: tuple[int, ...] = ()) -> None:
        """Trace-time check that ``u`` has trailing shape ``(*channels, *self.shape)``."""
        check_array(name, u, trailing=(*channels, *self.shape))

    def check_spectral(self, name: str, uh, channels: tuple[int, ...] = ()) -> None:
        check_array(name, uh, trailing=(*channels, *self.spectral_shape), kind="complex")


def make_grid(
    shape: int | tuple[int, ...], length: float | tuple[float, ...] = 2 * math.pi
) -> Grid:
    """A :class:`Grid` with ``shape`` points (int for 1D) and side ``length`` (one or per axis)."""
    shape = (shape,) if isinstance(shape, int | np.integer) else tuple(int(n) for n in shape)
    if not 1 <= len(shape) <= 3:
        raise ValueError(f"shape: expected 1 to 3 grid axes, got {shape}")
    if any(n < 4 for n in shape):
        raise ValueError(f"shape: expected at least 4 points per axis, got {shape}")
    lengths = (length,) * len(shape) if isinstance(length, int | float) else tuple(length)
    if len(lengths) != len(shape):
        raise ValueError(
            f"length: expected {len(shape)} side lengths for grid shape {shape}, got {lengths}"
        )
    if any(not (ell > 0 and math.isfinite(ell)) for ell in lengths):
        raise ValueError(f"length: expected positive finite side lengths, got {lengths}")
    return Grid(shape, tuple(float(ell) for ell in lengths))


def rfftn(u: Float[Array, "*shape"], grid: Grid) -> Complex[Array, "*shape"]:
    """Real FFT over the grid's trailing axes."""
    return fft.rfftn(u, grid.axes)


def irfftn(uh: Complex[Array, "*shape"], grid: Grid, dtype) -> Float[Array, "*shape"]:
    """Inverse real FFT over the grid's trailing axes, cast to the real ``dtype``."""
    return fft.irfftn(uh, grid.shape, grid.axes).astype(dtype)


def broadcast_to_rank(x: Array, ndim: int) -> Array:
    """Prepend singleton axes so ``x`` has rank ``ndim`` (rank promotion is explicit here)."""
    return x.reshape((1,) * (ndim - x.ndim) + x.shape)
