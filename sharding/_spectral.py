r"""The spectral steppers of :mod:`parallax.kernels.pde`, run with the grid sharded.

The single-device steppers (:func:`parallax.kernels.pde.kuramoto_sivashinsky`,
:func:`~parallax.kernels.pde.navier_stokes_2d`, :func:`~parallax.kernels.pde.heat`) use real
FFTs on a whole grid. Here the same equations, the same ETDRK4 / ETD1 coefficients
(:func:`parallax.kernels.pde.etdrk4_coefficients`, Kassam & Trefethen contour means) and the same
Fourier-space step functions (:func:`~parallax.kernels.pde.etdrk4`) run inside ``shard_map`` on
a :class:`~parallax.sharding.DistributedFFT` (slab or pencil): each device holds a block of the
grid, its nonlinear terms are formed locally in physical space, and the only communication is
the FFT transposes. The rollout keeps the state in Fourier space (spectral layout) between
steps, as the single-device rollout does.

Equations (periodic box; ``m_j`` integer modes, dealiasing keeps ``3|m_j| < n_j``, odd
derivatives drop the Nyquist mode, as in :class:`parallax.kernels.pde.Grid`):

* Kuramoto–Sivashinsky 2D/3D: :math:`u_t + \tfrac12|\nabla u|^2 + \Delta u + \Delta^2 u = 0`;
* Navier–Stokes 2D (vorticity, state ``(ny, nx)``): :math:`\omega_t + \nabla\cdot(\mathbf u\omega)
  = \nu\Delta\omega - \alpha\omega - A\kappa\cos\kappa y`, :math:`\mathbf u = (\psi_y,-\psi_x)`,
  :math:`\hat\psi = \hat\omega/|k|^2`;
* heat: :math:`u_t = \nu\Delta u` (exact factor :math:`e^{-\nu|k|^2 dt}`).

With :class:`~parallax.sharding.LocalFFT` the same code runs on one device.

**Real-to-complex on request.** The steppers use the transform they are given
(``distributed_fft(..., real=False)``, the default, is complex-to-complex and exact for any real
``u0``); every constructor's ``real=True|False`` overrides it. With ``real=True`` the
transforms run in the r2c layout of :class:`~parallax.sharding.DistributedFFT` (``rfft`` along
the last dimension, its Nyquist mode dropped), which moves half the bytes per transpose and does
about half the FFT work (a sharded NS 2D rollout ran ~2x faster on 8 CPU devices). Dropping
loses nothing the dynamics use: with 2/3 dealiasing the last-axis Nyquist mode :math:`m = n/2`
never enters a nonlinear term (``mask`` zeros it on the way in) and never receives one (``mask``
on the way out), so it only evolves by the linear factor :math:`e^{L t}`, decoupled from the
rest (heat is linear: every mode is decoupled). Hence, with :math:`P` the projection that
removes it (:meth:`DistributedFFT.project`),

.. math:: \text{r2c rollout}(u_0) = \text{single-device rollout}(P u_0),

exactly (to round-off), and the single-device rollout of :math:`u_0` differs from it only by
that linearly evolved Nyquist mode of :math:`u_0` (zero when :math:`u_0` has none, and decaying
like :math:`e^{L(k_N) t}` for the dissipative equations here). That difference is why r2c is
not the default: it is exact only for a ``u0`` without that mode (a low-pass field, or
``ops.project(u0)``). ``check_nyquist=True`` raises
``ValueError`` instead of projecting when ``u0`` has a Nyquist mode above round-off (a host-side
check: call ``rollout`` on a concrete ``u0``, outside ``jit``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from parallax.kernels._checkpoint import checkpointed_scan
from parallax.sharding._fft import check_nyquist_free, complex_dtype

__all__ = [
    "ShardedSpectralStepper",
    "sharded_heat",
    "sharded_kuramoto_sivashinsky",
    "sharded_navier_stokes_2d",
]

Ops = Any  # LocalFFT | DistributedFFT
# (ops, wavenumbers, modes, dt, *params) -> (lin, nonlinear or None)
Build = Callable[..., tuple[jax.Array, Callable[[jax.Array], jax.Array] | None]]


def _lengths(ops: Ops) -> tuple[float, ...]:
    d = len(ops.shape)
    ell = ops.length
    return (float(ell),) * d if isinstance(ell, int | float) else tuple(float(x) for x in ell)


class _Spectral:
    """Local wavenumbers, dealias mask and derivative factors of this device's spectral block
    (built inside ``shard_map``)."""

    def __init__(self, ops: Ops, dtype: Any) -> None:
        self.ops = ops
        self.dtype = dtype
        self.ks = ops.local_wavenumbers(dtype)
        self.shape = jnp.broadcast_shapes(*(k.shape for k in self.ks))
        self.modes = [
            k * (ell / (2 * math.pi)) for k, ell in zip(self.ks, _lengths(ops), strict=True)
        ]

    @property
    def cdt(self) -> Any:
        return complex_dtype(self.dtype)

    def k2(self) -> jax.Array:
        out = jnp.zeros(self.shape, self.dtype)
        for k in self.ks:
            out = out + k * k
        return out

    def deriv(self, j: int) -> jax.Array:
        """``i k_j`` (complex) with the Nyquist mode of an even axis zeroed."""
        k, m, n = self.ks[j], self.modes[j], self.ops.shape[j]
        if n % 2 == 0:
            k = jnp.where(jnp.abs(jnp.abs(m) - n / 2) < 0.25, jnp.zeros_like(k), k)
        return lax.complex(jnp.zeros_like(k), k).astype(self.cdt)

    def mask(self) -> Callable[[jax.Array], jax.Array]:
        keep = None
        for m, n in zip(self.modes, self.ops.shape, strict=True):
            ok = 3 * jnp.abs(m) < n - 0.5  # 3|m| < n on integer modes
            keep = ok if keep is None else keep & ok
        assert keep is not None
        zero = jnp.zeros((), self.cdt)
        return lambda uh: jnp.where(keep, uh, zero)

    def fft(self, u: jax.Array) -> jax.Array:
        return self.ops.fft_local(u)

    def ifft(self, uh: jax.Array) -> jax.Array:
        return jnp.real(self.ops.ifft_local(uh)).astype(self.dtype)


@dataclasses.dataclass(frozen=True)
class ShardedSpectralStepper:
    """A spectral stepper on ``ops``: ``stepper(u)`` one step, ``stepper.rollout(u0, n)`` ``n``
    steps on ``lax.scan`` (state in Fourier space between steps). ``u`` is sharded as
    ``ops.physical_spec()`` (a ``DistributedFFT``) or whole (a ``LocalFFT``). With ``ops.real``
    (r2c) the result is the rollout of ``ops.project(u)`` (module docstring)."""

    ops: Ops
    build: Build
    dt: jax.Array
    params: tuple[jax.Array, ...]
    method: str = "etdrk4"
    check_nyquist: bool = False

    def _local(
        self, u: jax.Array, dt: jax.Array, *params: Any, num_steps: int, remat: dict[str, Any]
    ) -> jax.Array:
        # imported here so that `import parallax.sharding` stays light (multi-host workers)
        from parallax.kernels.pde import etd1, etd1_coefficients, etdrk4, etdrk4_coefficients

        sp = _Spectral(self.ops, u.dtype)
        lin, nonlinear = self.build(sp, dt, *params)
        if self.method == "etdrk4":
            step = etdrk4(etdrk4_coefficients(lin, dt), nonlinear)
        elif self.method == "etd1":
            step = etd1(etd1_coefficients(lin, dt), nonlinear)
        else:
            raise ValueError(f"method: expected 'etdrk4' or 'etd1', got {self.method!r}")
        uh, _ = checkpointed_scan(lambda v: (step(v), None), sp.fft(u), num_steps, **remat)
        return sp.ifft(uh)

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


def _ks(sp: _Spectral, dt: jax.Array) -> tuple[jax.Array, Callable]:
    k2 = sp.k2()
    lin = k2 - k2 * k2  # -lap - lap^2 with lap = -|k|^2
    mask = sp.mask()
    ders = [sp.deriv(j) for j in range(len(sp.ks))]

    def nonlinear(uh: jax.Array) -> jax.Array:
        uh = mask(uh)
        g2 = None
        for dj in ders:
            g = sp.ifft(dj * uh)
            g2 = g * g if g2 is None else g2 + g * g
        assert g2 is not None
        return mask(-0.5 * sp.fft(g2))

    return lin, nonlinear


def _ns(
    sp: _Spectral,
    dt: jax.Array,
    nu: jax.Array,
    drag: jax.Array,
    amp: jax.Array,
    *,
    forcing_wavenumber: int,
) -> tuple[jax.Array, Callable]:
    k2 = sp.k2()
    lin = -nu * k2 - drag
    mask = sp.mask()
    dy, dx = sp.deriv(0), sp.deriv(1)
    inv = jnp.where(k2 == 0, jnp.zeros_like(k2), 1.0 / jnp.where(k2 == 0, 1.0, k2)).astype(sp.cdt)
    ly = _lengths(sp.ops)[0]
    kappa = 2 * math.pi * forcing_wavenumber / ly
    # the forcing field on this device's physical block: y is axis 0, sharded in slab layout
    ny = sp.ops.shape[0]
    y_all = jnp.arange(ny, dtype=sp.dtype) * (ly / ny)
    spec = tuple(getattr(sp.ops, "physical_spec_grid", (None,)))
    if spec and spec[0] is not None:
        m = ny // sp.ops.mesh.shape[spec[0]]
        y_all = lax.dynamic_slice_in_dim(y_all, lax.axis_index(spec[0]) * m, m)
    f_phys = -kappa * jnp.cos(kappa * y_all)[:, None] * jnp.ones((1, sp.ops.shape[1]), sp.dtype)
    force_hat = mask(amp.astype(sp.cdt) * sp.fft(f_phys))

    d_xy, d_xx_yy = dx * dy, dx * dx - dy * dy

    def nonlinear(wh: jax.Array) -> jax.Array:
        # ∇·(uω) as ∂x∂y(v² - u²) + (∂xx - ∂yy)(uv) (Basdevant 1983, as the single-device
        # kernel): 4 transforms per evaluation instead of 5, and so 4 transposes, not 5
        wh = mask(wh)
        psi = inv * wh
        u = sp.ifft(dy * psi)
        v = sp.ifft(-dx * psi)
        adv = d_xy * sp.fft(v * v - u * u) + d_xx_yy * sp.fft(u * v)
        return mask(force_hat - adv)

    return lin, nonlinear


def _heat(sp: _Spectral, dt: jax.Array, nu: jax.Array) -> tuple[jax.Array, None]:
    return -nu * sp.k2(), None


def _layout(ops: Ops, real: bool | None) -> Ops:
    return ops if real is None else ops.with_real(real)


def sharded_kuramoto_sivashinsky(
    ops: Ops,
    dt: Any,
    *,
    method: str = "etdrk4",
    real: bool | None = None,
    check_nyquist: bool = False,
) -> ShardedSpectralStepper:
    """2D/3D Kuramoto–Sivashinsky (gradient form), as
    :func:`parallax.kernels.pde.kuramoto_sivashinsky`, on ``ops`` (``real``: r2c transforms,
    see the module docstring; ``False``: complex-to-complex)."""
    if len(ops.shape) < 2:
        raise ValueError(f"grid {ops.shape}: the sharded KS stepper is for 2D and 3D grids")
    return ShardedSpectralStepper(
        _layout(ops, real), _ks, jnp.asarray(dt), (), method, check_nyquist
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
    """2D Navier–Stokes (vorticity, flux form, Kolmogorov forcing), as
    :func:`parallax.kernels.pde.navier_stokes_2d`, on ``ops`` (state ``(ny, nx)``; ``real``:
    r2c transforms, see the module docstring; ``False``: complex-to-complex; ``None``: as
    ``ops``)."""
    if len(ops.shape) != 2:
        raise ValueError(f"grid {ops.shape}: expected a 2D grid")

    def build(sp: _Spectral, dt: jax.Array, nu: jax.Array, drag: jax.Array, amp: jax.Array):
        return _ns(sp, dt, nu, drag, amp, forcing_wavenumber=forcing_wavenumber)

    params = (jnp.asarray(nu), jnp.asarray(drag), jnp.asarray(forcing))
    return ShardedSpectralStepper(
        _layout(ops, real), build, jnp.asarray(dt), params, method, check_nyquist
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
    """Heat ``u_t = ν Δu`` (2D or 3D), as :func:`parallax.kernels.pde.heat`, on ``ops``
    (``real``: r2c transforms; ``False``: complex-to-complex; ``None``: as ``ops``)."""
    return ShardedSpectralStepper(
        _layout(ops, real), _heat, jnp.asarray(dt), (jnp.asarray(nu),), method, check_nyquist
    )
