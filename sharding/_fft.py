"""Distributed FFT: slab and pencil decompositions with ``lax.all_to_all`` transposes.

A ``D``-dimensional grid (the last ``D`` array dimensions; leading dimensions are batch) is split
over one mesh axis (slab) or two (pencil); local FFTs alternate with global transposes, and the
spectrum stays in the transposed layout. ``real=True`` starts with an ``rfft`` and drops the
last-axis Nyquist mode: half the bytes, exact for fields without that mode. The layouts, the
projection that makes r2c exact and why the dealiased steppers lose nothing are in the Sharding
guide (``docs/guides/sharding.md``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.core import Tracer
from jax.sharding import Mesh, PartitionSpec

from parallax.kernels import complex_dtype, fft
from parallax.kernels.pde._fourier_np import axis_modes
from parallax.sharding._block_ops import BlockOps
from parallax.sharding._halo import check_decomposition, conform

__all__ = [
    "DistributedFFT",
    "LocalFFT",
    "check_nyquist_free",
    "distributed_fft",
    "nyquist_mode",
]


def _along(x: jax.Array, axis: int, ndim: int) -> jax.Array:
    """A 1D table of spectral axis ``axis`` as a rank-``ndim`` array broadcasting along it."""
    shape = [1] * ndim
    shape[axis] = x.shape[0]
    return x.reshape(shape)


def _alternating(n: int, ndim: int, dtype: Any) -> jax.Array:
    """``(-1)^j``, ``j < n``, along the last of ``ndim`` dimensions (full rank: strict rank
    promotion)."""
    alt = np.where(np.arange(n) % 2 == 0, 1.0, -1.0).reshape((1,) * (ndim - 1) + (n,))
    return jnp.asarray(alt, dtype=dtype)


def nyquist_mode(u: jax.Array) -> jax.Array:
    """``N = sum_j (-1)^j u_j`` along the last dimension (shape ``u.shape[:-1]``): the (real)
    coefficient of the last-axis Nyquist mode, ``rfft(u)[..., n/2]`` for even ``n``. Local: the
    last dimension is whole in the physical layout."""
    return jnp.sum(u * _alternating(u.shape[-1], u.ndim, u.dtype), axis=-1)


def _project(u: jax.Array) -> jax.Array:
    n = u.shape[-1]
    return u - (nyquist_mode(u) / n)[..., None] * _alternating(n, u.ndim, u.dtype)


def check_nyquist_free(u: jax.Array, name: str = "u") -> None:
    """Raise ``ValueError`` when the concrete field ``u`` has a last-axis Nyquist mode above
    round-off (``max |N| > 64 eps max_lines sum_j |u_j|``), i.e. when the real-to-complex
    layout, which drops that mode, would not represent ``u`` exactly. A host-side check: ``u``
    must be concrete (call it outside ``jit``); a value check compiled into a sharded program
    (``equinox.error_if``) can stall the other devices at their next collective."""
    if isinstance(u, Tracer):
        raise TypeError(
            f"{name}: check_nyquist needs a concrete array; check outside jit "
            "(check_nyquist_free(u)) or pass check_nyquist=False"
        )
    mag = float(jnp.max(jnp.abs(nyquist_mode(u))))
    scale = float(jnp.max(jnp.sum(jnp.abs(u), axis=-1)))
    tol = 64 * float(jnp.finfo(u.dtype).eps) * scale
    if mag > tol:
        raise ValueError(
            f"{name}: last-axis Nyquist mode max |sum_j (-1)^j u_j| = {mag:.3g} > {tol:.3g} "
            "(64 eps x line sum); the real-to-complex layout drops this mode, so the inverse "
            "would return project(u), not u. Project the field first "
            "(DistributedFFT.project) or use real=False"
        )


@dataclasses.dataclass(frozen=True)
class LocalFFT:
    """Single-device transforms with the same interface as :class:`DistributedFFT`.

    Use it to run a spectral stepper (:meth:`spectral_ops`) unsharded that is otherwise run
    sharded on a :class:`DistributedFFT`. ``real=True`` uses ``rfftn`` /
    ``irfftn`` with all ``n/2 + 1`` modes of the last dimension (one device needs no
    divisibility, so nothing is dropped and :meth:`project` is the identity).
    """

    shape: tuple[int, ...]
    length: float | tuple[float, ...] = 2 * math.pi
    real: bool = False

    def _axes(self, x: jax.Array) -> tuple[int, ...]:
        d = len(self.shape)
        return tuple(range(x.ndim - d, x.ndim))

    def with_real(self, real: bool) -> LocalFFT:
        return dataclasses.replace(self, real=real)

    def fft_local(self, x: jax.Array) -> jax.Array:
        if self.real:
            return fft.rfftn(x, self._axes(x))
        return fft.fftn(x, self._axes(x))

    def ifft_local(self, x: jax.Array) -> jax.Array:
        if self.real:
            return fft.irfftn(x, self.shape, self._axes(x))
        return fft.ifftn(x, self._axes(x))

    def project(self, u: jax.Array) -> jax.Array:
        """The identity (the single-device r2c transform keeps every mode)."""
        return u

    def axis_modes(self, axis: int) -> np.ndarray:
        """Integer modes of spectral axis ``axis`` (1D; ``rfftfreq`` on the last if ``real``)."""
        return axis_modes(self.shape[axis], half=self.real and axis == len(self.shape) - 1)

    def local_table(self, axis: int, table: np.ndarray, dtype: Any) -> jax.Array:
        """A per-mode table of spectral axis ``axis`` (1D, in :meth:`axis_modes` order) as a
        rank-``d`` array of ``dtype`` (one device holds the whole spectrum)."""
        return _along(jnp.asarray(table, dtype=dtype), axis, len(self.shape))

    def local_wavenumbers(self, dtype: Any = jnp.float32) -> tuple[jax.Array, ...]:
        return self.spectral_ops(dtype).wavenumbers()

    def spectral_ops(self, dtype: Any) -> BlockOps:
        """The :class:`~parallax.kernels.pde.SpectralOps` of these transforms at ``dtype``."""
        return BlockOps(self, dtype)

    def spmd(self, f: Callable[..., Any], **_: Any) -> Callable[..., Any]:
        """The identity wrapper (a single device needs no ``shard_map``)."""
        return f


@dataclasses.dataclass(frozen=True)
class DistributedFFT:
    """Slab (``axes=(a,)``) or pencil (``axes=(a, b)``) FFT of a grid of ``shape`` on ``mesh``.

    Inside ``shard_map`` use :meth:`fft_local` / :meth:`ifft_local` on blocks;
    outside, :meth:`fft` / :meth:`ifft` are the global (``shard_map``-wrapped) transforms.
    ``real=False``: complex-to-complex, spectrum of ``shape``. ``real=True``: real-to-complex
    with the last-axis Nyquist mode dropped, spectrum of :attr:`spectral_shape`
    ``(*shape[:-1], shape[-1] // 2)``, half the bytes per transpose (``docs/guides/sharding.md``
    gives the precondition and why it holds for the dealiased steppers).
    """

    mesh: Mesh
    shape: tuple[int, ...]
    axes: tuple[str, ...]
    length: float | tuple[float, ...] = 2 * math.pi
    real: bool = False

    def __post_init__(self) -> None:
        d, k = len(self.shape), len(self.axes)
        if d not in (2, 3):
            raise ValueError(f"shape {self.shape}: distributed FFT supports 2D and 3D grids")
        if k not in (1, 2) or k >= d:
            raise ValueError(
                f"axes {self.axes}: expected one mesh axis (slab) or two (pencil, 3D grids only) "
                f"for a {d}D grid"
            )
        if self.real and self.shape[-1] % 2:
            raise ValueError(
                f"real=True: grid dimension {d - 1} has {self.shape[-1]} points; the "
                "real-to-complex layout needs an even last dimension (it keeps n/2 modes)"
            )
        check_decomposition(self.shape, self.mesh, self.physical_spec_grid, name="grid")
        check_decomposition(
            self.spectral_shape,
            self.mesh,
            self.spectral_spec_grid,
            name="spectrum (r2c: last dimension halved, Nyquist mode dropped)"
            if self.real
            else "spectrum",
        )

    def with_real(self, real: bool) -> DistributedFFT:
        """The same decomposition with ``real`` switched (r2c or c2c)."""
        return self if real == self.real else dataclasses.replace(self, real=real)

    # -- layouts ---------------------------------------------------------------------------
    @property
    def spectral_shape(self) -> tuple[int, ...]:
        """Global spectrum shape: ``shape``, or ``(*shape[:-1], shape[-1] // 2)`` if ``real``."""
        if self.real:
            return (*self.shape[:-1], self.shape[-1] // 2)
        return self.shape

    @property
    def physical_spec_grid(self) -> PartitionSpec:
        d = len(self.shape)
        return PartitionSpec(*self.axes, *([None] * (d - len(self.axes))))

    @property
    def spectral_spec_grid(self) -> PartitionSpec:
        d = len(self.shape)
        return PartitionSpec(None, *self.axes, *([None] * (d - 1 - len(self.axes))))

    def physical_spec(self, batch_dims: int = 0) -> PartitionSpec:
        return PartitionSpec(*([None] * batch_dims), *self.physical_spec_grid)

    def spectral_spec(self, batch_dims: int = 0) -> PartitionSpec:
        return PartitionSpec(*([None] * batch_dims), *self.spectral_spec_grid)

    # -- local (inside shard_map) --------------------------------------------------------
    def _first(self, x: jax.Array, axes: tuple[int, ...]) -> jax.Array:
        """The local FFTs before the first transpose (``axes`` end with the last dimension)."""
        if not self.real:
            if not jnp.iscomplexobj(x):
                x = x.astype(complex_dtype(x.dtype))
            return fft.fftn(x, axes)
        if jnp.iscomplexobj(x):
            raise TypeError(f"real=True: expected a real input block, got {x.dtype}")
        n = self.shape[-1]
        x = lax.slice_in_dim(fft.rfftn(x, (-1,)), 0, n // 2, axis=x.ndim - 1)
        return fft.fftn(x, axes[:-1]) if len(axes) > 1 else x

    def _last_inverse(self, x: jax.Array, axes: tuple[int, ...]) -> jax.Array:
        """The local inverse FFTs after the last transpose (``axes`` end with the last dim)."""
        if not self.real:
            return fft.ifftn(x, axes)
        if len(axes) > 1:
            x = fft.ifftn(x, axes[:-1])
        pad = [(0, 0, 0)] * (x.ndim - 1) + [(0, 1, 0)]  # the zero Nyquist mode
        x = lax.pad(x, jnp.zeros((), x.dtype), pad)
        return fft.irfftn(x, (self.shape[-1],), (-1,))

    def fft_local(self, x: jax.Array) -> jax.Array:
        """Physical block -> spectral block (forward transform)."""
        o = x.ndim - len(self.shape)
        if len(self.axes) == 1:
            (a,) = self.axes
            x = self._first(x, tuple(range(o + 1, x.ndim)))
            x = lax.all_to_all(x, a, split_axis=o + 1, concat_axis=o, tiled=True)
            return fft.fftn(x, (o,))
        a, b = self.axes
        x = self._first(x, (o + 2,))
        x = lax.all_to_all(x, b, split_axis=o + 2, concat_axis=o + 1, tiled=True)
        x = fft.fftn(x, (o + 1,))
        x = lax.all_to_all(x, a, split_axis=o + 1, concat_axis=o, tiled=True)
        return fft.fftn(x, (o,))

    def ifft_local(self, x: jax.Array) -> jax.Array:
        """Spectral block -> physical block (inverse transform; complex, or real if ``real``)."""
        o = x.ndim - len(self.shape)
        if len(self.axes) == 1:
            (a,) = self.axes
            x = fft.ifftn(x, (o,))
            x = lax.all_to_all(x, a, split_axis=o, concat_axis=o + 1, tiled=True)
            return self._last_inverse(x, tuple(range(o + 1, x.ndim)))
        a, b = self.axes
        x = fft.ifftn(x, (o,))
        x = lax.all_to_all(x, a, split_axis=o, concat_axis=o + 1, tiled=True)
        x = fft.ifftn(x, (o + 1,))
        x = lax.all_to_all(x, b, split_axis=o + 1, concat_axis=o + 2, tiled=True)
        return self._last_inverse(x, (o + 2,))

    def project(self, u: jax.Array) -> jax.Array:
        """``P u``: the field the transform represents exactly. ``real=True``: ``u`` minus its
        last-axis Nyquist mode, ``u - N/n (-1)^j`` with ``N = sum_j (-1)^j u_j`` (local along
        the last dimension, so no communication in any layout); ``real=False``: ``u``."""
        return _project(u) if self.real else u

    def axis_modes(self, axis: int) -> np.ndarray:
        """Integer modes of the whole spectral axis ``axis`` (1D): ``fftfreq`` order, or
        ``0 .. n/2 - 1`` on the last axis if ``real`` (the Nyquist mode dropped)."""
        n = self.shape[axis]
        if self.real and axis == len(self.shape) - 1:
            return np.arange(n // 2, dtype=np.int64)
        return axis_modes(n)

    def local_table(self, axis: int, table: np.ndarray, dtype: Any) -> jax.Array:
        """This device's slice of a per-mode table of spectral axis ``axis`` (1D, in
        :meth:`axis_modes` order) as a rank-``d`` array of ``dtype`` (call inside
        ``shard_map``)."""
        x = jnp.asarray(table, dtype=dtype)
        a = self.spectral_spec_grid[axis]
        if a is not None:
            m = x.shape[0] // self.mesh.shape[a]
            x = lax.dynamic_slice_in_dim(x, lax.axis_index(a) * m, m)
        return _along(x, axis, len(self.shape))

    def local_wavenumbers(self, dtype: Any = jnp.float32) -> tuple[jax.Array, ...]:
        """Wavenumbers of this device's spectral block (call inside ``shard_map``)."""
        return self.spectral_ops(dtype).wavenumbers()

    def spectral_ops(self, dtype: Any) -> BlockOps:
        """The :class:`~parallax.kernels.pde.SpectralOps` of this device's block at ``dtype``
        (call inside ``shard_map``): the equations of :mod:`parallax.kernels.pde` run on it."""
        return BlockOps(self, dtype)

    # -- global ---------------------------------------------------------------------------
    def spmd(self, f: Callable[..., Any], *, batch_dims: int = 0, n_args: int = 1) -> Callable:
        """``shard_map`` a local ``f(block, *replicated)`` from physical to physical layout."""
        spec = self.physical_spec(batch_dims)
        in_specs = (spec,) + (PartitionSpec(),) * (n_args - 1)
        smap = jax.shard_map(f, mesh=self.mesh, in_specs=in_specs, out_specs=spec)

        def run(*args: Any) -> Any:
            return smap(*conform(args, self.mesh, in_specs))

        return run

    def fft(self, x: jax.Array, *, check_nyquist: bool = False) -> jax.Array:
        """Global forward transform: physical layout in, spectral layout out.

        ``check_nyquist=True`` (``real=True`` only; ``x`` concrete, outside ``jit``) raises
        ``ValueError`` when ``x`` violates the r2c precondition (a last-axis Nyquist mode
        above round-off); see :func:`check_nyquist_free`."""
        b = x.ndim - len(self.shape)
        if check_nyquist and self.real:
            check_nyquist_free(x, "DistributedFFT.fft")
        return jax.shard_map(
            self.fft_local,
            mesh=self.mesh,
            in_specs=self.physical_spec(b),
            out_specs=self.spectral_spec(b),
        )(conform(x, self.mesh, self.physical_spec(b)))

    def ifft(self, x: jax.Array) -> jax.Array:
        """Global inverse transform: spectral layout in, physical layout out."""
        b = x.ndim - len(self.shape)
        return jax.shard_map(
            self.ifft_local,
            mesh=self.mesh,
            in_specs=self.spectral_spec(b),
            out_specs=self.physical_spec(b),
        )(conform(x, self.mesh, self.spectral_spec(b)))

    def transpose_bytes(self, itemsize: int = 8, batch: int = 1) -> float:
        """Analytic minimum bytes sent per device by one transform: ``sum (p-1)/p * block``,
        ``block`` the local spectrum (``spectral_shape`` over the mesh, complex ``itemsize``):
        ``real=True`` halves it."""
        block = (
            batch
            * math.prod(self.spectral_shape)
            / math.prod(self.mesh.shape[a] for a in self.axes)
        )
        return sum(
            block * itemsize * (self.mesh.shape[a] - 1) / self.mesh.shape[a] for a in self.axes
        )


def distributed_fft(
    mesh: Mesh,
    shape: Sequence[int],
    axes: str | Sequence[str],
    length: float | tuple[float, ...] = 2 * math.pi,
    *,
    real: bool = False,
) -> DistributedFFT:
    """Slab (one mesh axis) or pencil (two) distributed FFT; see :class:`DistributedFFT`.
    ``real=True``: real-to-complex (half the bytes; the last-axis Nyquist mode is dropped)."""
    axes_t = (axes,) if isinstance(axes, str) else tuple(axes)
    return DistributedFFT(mesh, tuple(int(n) for n in shape), axes_t, length, real)
