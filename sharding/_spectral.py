r"""The spectral equations of :mod:`parallax.kernels.pde`, run with the grid sharded.

An equation is written once, as its ``*_terms`` function (diagonal linear operator and
nonlinear function over :class:`parallax.kernels.pde.SpectralOps`;
:func:`parallax.kernels.pde.kuramoto_sivashinsky_terms`, ...). The single-device steppers
evaluate it on the whole grid; here it is evaluated inside ``shard_map`` on a
:class:`~parallax.sharding.DistributedFFT` (slab or pencil), whose :meth:`spectral_ops` is the
device's block of the spectrum: each device holds a block of the grid, its nonlinear terms are
formed locally in physical space, and the only communication is the FFT transposes. The same
ETDRK4 / ETD1 step (:func:`parallax.kernels.pde.etdrk4`, Kassam & Trefethen contour
coefficients) runs on the block, and the rollout keeps the state in Fourier space between steps,
as the single-device rollout does. :func:`sharded_stepper` runs any equation's terms;
:func:`sharded_kuramoto_sivashinsky`, :func:`sharded_navier_stokes_2d` and :func:`sharded_heat`
are its named forms. With :class:`~parallax.sharding.LocalFFT` the same code runs on one device.

**Real-to-complex on request.** The steppers use the transform they are given
(``distributed_fft(..., real=False)``, the default, is complex-to-complex and exact for any real
``u0``); every constructor's ``real=True|False`` overrides it. With ``real=True`` the
transforms run in the r2c layout of :class:`~parallax.sharding.DistributedFFT` (``rfft`` along
the last dimension, its Nyquist mode dropped), which moves half the bytes per transpose and does
about half the FFT work. Dropping loses nothing the dynamics use: with 2/3 dealiasing the
last-axis Nyquist mode :math:`m = n/2` never enters a nonlinear term (``mask`` zeros it on the
way in) and never receives one (``mask`` on the way out), so it only evolves by the linear
factor :math:`e^{L t}`, decoupled from the rest (heat is linear: every mode is decoupled).
Hence, with :math:`P` the projection that removes it (:meth:`DistributedFFT.project`),

.. math:: \text{r2c rollout}(u_0) = \text{single-device rollout}(P u_0),

exactly (to round-off), and the single-device rollout of :math:`u_0` differs from it only by
that linearly evolved Nyquist mode of :math:`u_0` (zero when :math:`u_0` has none, and decaying
like :math:`e^{L(k_N) t}` for the dissipative equations here). That difference is why r2c is
not the default: it is exact only for a ``u0`` without that mode (a low-pass field, or
``ops.project(u0)``) and for dealiased equations. ``check_nyquist=True`` raises
``ValueError`` instead of projecting when ``u0`` has a Nyquist mode above round-off (a host-side
check: call ``rollout`` on a concrete ``u0``, outside ``jit``).
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
