"""The spectral equations of :mod:`parallax.kernels.pde`, run with the grid sharded.

Each equation is written once, as its ``*_terms`` function over
:class:`~parallax.kernels.pde.SpectralOps` (e.g.
:func:`~parallax.kernels.pde.kuramoto_sivashinsky_terms`). Here it is evaluated inside
``shard_map`` on one device's block of a :class:`~parallax.sharding.DistributedFFT` (its
``spectral_ops``): nonlinear terms are formed locally in physical space, the only communication
is the FFT transposes, and the same ETDRK4 / ETD1 step runs on the block with the state in
Fourier space between steps. :func:`sharded_stepper` runs any equation's terms;
:func:`sharded_kuramoto_sivashinsky`, :func:`sharded_navier_stokes_2d` and :func:`sharded_heat`
are its named forms. With :class:`~parallax.sharding.LocalFFT` the same code runs on one device.
Real-to-complex transforms (``real=True``) give the single-device rollout of ``ops.project(u0)``,
exact for a ``u0`` without a last-axis Nyquist mode; why, and why complex-to-complex is the
default, is in the Sharding guide (``docs/guides/sharding.md``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from parallax.kernels._checkpoint import checkpointed_scan
from parallax.kernels.pde import (
    SpectralOps,
    Terms,
    heat_terms,
    kuramoto_sivashinsky_terms,
    navier_stokes_2d_terms,
)
from parallax.kernels.pde._stepper import fourier_step
from parallax.sharding._fft import check_nyquist_free

__all__ = [
    "ShardedSpectralStepper",
    "sharded_heat",
    "sharded_kuramoto_sivashinsky",
    "sharded_navier_stokes_2d",
    "sharded_stepper",
]

Ops = Any  # LocalFFT | DistributedFFT
# (block ops, *params) -> Terms: an equation's terms function from parallax.kernels.pde
Build = Callable[..., Terms]


@dataclasses.dataclass(frozen=True)
class ShardedSpectralStepper:
    """A spectral stepper on ``ops``: ``stepper(u)`` one step, ``stepper.rollout(u0, n)`` ``n``
    steps on ``lax.scan`` (state in Fourier space between steps). ``u`` is sharded as
    ``ops.physical_spec()`` (a ``DistributedFFT``) or whole (a ``LocalFFT``). ``build`` maps the
    block's :class:`~parallax.kernels.pde.SpectralOps` and ``params`` (cast to the state dtype)
    to the equation's :class:`~parallax.kernels.pde.Terms`. With ``ops.real`` (r2c) the result
    is the rollout of ``ops.project(u)`` (module docstring)."""

    ops: Ops
    build: Build
    dt: jax.Array
    params: tuple[jax.Array, ...]
    method: str = "etdrk4"
    check_nyquist: bool = False

    def _local(
        self, u: jax.Array, dt: jax.Array, *params: Any, num_steps: int, remat: dict[str, Any]
    ) -> jax.Array:
        block: SpectralOps = self.ops.spectral_ops(u.dtype)
        step = fourier_step(self.build(block, *params), dt, self.method)
        uh, _ = checkpointed_scan(lambda v: (step(v), None), block.fft(u), num_steps, **remat)
        return block.ifft(uh)

    def rollout(
        self,
        u0: jax.Array,
        num_steps: int,
        *,
        checkpoint: str | None = None,
        checkpoints: int | None = None,
    ) -> jax.Array:
        """The state after ``num_steps`` steps (same layout as ``u0``); ``checkpoint`` /
        ``checkpoints`` bound the memory of gradients through it
        (:func:`parallax.kernels.rollout`)."""
        if num_steps < 0:
            raise ValueError(f"num_steps: expected >= 0, got {num_steps}")
        dtype = u0.dtype
        if self.check_nyquist and getattr(self.ops, "real", False) and hasattr(self.ops, "mesh"):
            check_nyquist_free(u0, "u0")
        args = (jnp.asarray(self.dt, dtype), *(jnp.asarray(p, dtype) for p in self.params))
        remat = {"checkpoint": checkpoint, "checkpoints": checkpoints}

        def local(u: jax.Array, *a: Any) -> jax.Array:
            return self._local(u, *a, num_steps=num_steps, remat=remat)

        return self.ops.spmd(local, batch_dims=u0.ndim - len(self.ops.shape), n_args=1 + len(args))(
            u0, *args
        )

    def __call__(self, u: jax.Array) -> jax.Array:
        return self.rollout(u, 1)


def _layout(ops: Ops, real: bool | None) -> Ops:
    return ops if real is None else ops.with_real(real)


def sharded_stepper(
    ops: Ops,
    terms: Build,
    dt: Any,
    *params: Any,
    method: str = "etdrk4",
    real: bool | None = None,
    check_nyquist: bool = False,
    **static: Any,
) -> ShardedSpectralStepper:
    """Any spectral equation on ``ops``: ``terms`` is its ``*_terms`` function from
    :mod:`parallax.kernels.pde` (e.g. :func:`~parallax.kernels.pde.allen_cahn_terms`), called
    on each device's block with ``params`` (arrays, cast to the state dtype) and the static
    keyword arguments ``static`` (``forcing_wavenumber=...``). ``method``: ``"etdrk4"`` or
    ``"etd1"``; ``real``: r2c transforms (module docstring), ``False`` complex-to-complex,
    ``None`` as ``ops``. The parameters are not value-checked here: the single-device
    constructors (:func:`parallax.kernels.pde.allen_cahn` ...) say what each accepts."""
    if method not in ("etdrk4", "etd1"):
        raise ValueError(f"method: expected 'etdrk4' or 'etd1', got {method!r}")
    build = functools.partial(terms, **static) if static else terms
    return ShardedSpectralStepper(
        _layout(ops, real),
        build,
        jnp.asarray(dt),
        tuple(jnp.asarray(p) for p in params),
        method,
        check_nyquist,
    )


def sharded_kuramoto_sivashinsky(
    ops: Ops,
    dt: Any,
    *,
    method: str = "etdrk4",
    real: bool | None = None,
    check_nyquist: bool = False,
) -> ShardedSpectralStepper:
    """Kuramoto–Sivashinsky (:func:`parallax.kernels.pde.kuramoto_sivashinsky_terms`: gradient
    form in 2D/3D), as :func:`parallax.kernels.pde.kuramoto_sivashinsky`, on ``ops``."""
    return sharded_stepper(
        ops, kuramoto_sivashinsky_terms, dt, method=method, real=real, check_nyquist=check_nyquist
    )


def sharded_navier_stokes_2d(
    ops: Ops,
    dt: Any,
    nu: Any,
    drag: Any = 0.0,
    forcing: Any = 0.0,
    *,
    forcing_wavenumber: int = 4,
    method: str = "etdrk4",
    real: bool | None = None,
    check_nyquist: bool = False,
) -> ShardedSpectralStepper:
    """2D Navier–Stokes (vorticity, flux form, Kolmogorov forcing;
    :func:`parallax.kernels.pde.navier_stokes_2d_terms`), as
    :func:`parallax.kernels.pde.navier_stokes_2d`, on ``ops`` (state ``(ny, nx)``)."""
    if len(ops.shape) != 2:
        raise ValueError(f"grid {ops.shape}: expected a 2D grid")
    return sharded_stepper(
        ops,
        navier_stokes_2d_terms,
        dt,
        nu,
        drag,
        forcing,
        method=method,
        real=real,
        check_nyquist=check_nyquist,
        forcing_wavenumber=forcing_wavenumber,
    )


def sharded_heat(
    ops: Ops,
    dt: Any,
    nu: Any,
    *,
    method: str = "etdrk4",
    real: bool | None = None,
    check_nyquist: bool = False,
) -> ShardedSpectralStepper:
    """Heat ``u_t = ν Δu`` (:func:`parallax.kernels.pde.heat_terms`), as
    :func:`parallax.kernels.pde.heat`, on ``ops``."""
    return sharded_stepper(
        ops, heat_terms, dt, nu, method=method, real=real, check_nyquist=check_nyquist
    )
