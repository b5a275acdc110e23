r"""Each periodic PDE written once: its diagonal linear operator and its nonlinear function.

``u_t = L u + N(u)`` in Fourier space. An ``*_terms(ops, *params)`` function returns
:class:`Terms` ``(linear, nonlinear)`` for the layout ``ops`` (a
:class:`~parallax.kernels.pde.SpectralOps`): ``linear`` is ``L`` on the spectral block, real or
complex; ``nonlinear`` maps a Fourier state to ``N̂`` (``None`` for a linear equation). The
single-device steppers (:func:`~parallax.kernels.pde.kuramoto_sivashinsky` ...) evaluate them on
a :class:`~parallax.kernels.pde.GridOps`, the sharded ones (:mod:`parallax.sharding`) on a
device's block of a distributed FFT, so a new equation is written in one place for both.

The nonlinear functions are built from a few shared pieces (dealiased on the way in and out):

* :func:`conservative_convection` ``-s · ½ (u²)_x`` (1D Burgers and KS with ``s = 1``, KdV with
  ``s = 6``): a derivative of a product, so the mean (mode 0) is conserved exactly;
* :func:`gradient_norm` ``-½ |∇u|²`` (KS in 2D/3D);
* :func:`advection` ``-(u·∇)u`` of a velocity field ``(*b, d, *grid)`` (Burgers in 2D/3D);
* :func:`cubic` ``-u³`` (Allen–Cahn);
* :func:`vorticity_flux` ``f - ∇·(uω)`` (2D Navier–Stokes in vorticity form).

Parameters are arrays of the state dtype (validated by the caller); everything here traces
under ``jit`` and inside ``shard_map``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
from jaxtyping import Array

from parallax.kernels.pde._ops import SpectralOps
from parallax.kernels.pde._spectral import broadcast_to_rank

__all__ = [
    "Terms",
    "advection",
    "advection_diffusion_terms",
    "allen_cahn_terms",
    "burgers_terms",
    "conservative_convection",
    "cubic",
    "gradient_norm",
    "heat_terms",
    "kdv_terms",
    "kolmogorov_forcing",
    "kuramoto_sivashinsky_terms",
    "navier_stokes_2d_terms",
    "vorticity_flux",
]

Nonlinear = Callable[[Array], Array]


class Terms(NamedTuple):
    """``u_t = L u + N(u)``: ``linear`` the diagonal ``L`` (spectral block, real or complex),
    ``nonlinear`` the Fourier-space ``N̂`` or ``None``."""

    linear: Array
    nonlinear: Nonlinear | None


def _mask(ops: SpectralOps, dealias: bool) -> Nonlinear:
    return ops.dealias if dealias else (lambda uh: uh)


def _b(x: Array, ndim: int) -> Array:
    return broadcast_to_rank(x, ndim)


# -- shared nonlinear functions -----------------------------------------------------------------


def conservative_convection(ops: SpectralOps, scale: float, *, dealias: bool = True) -> Nonlinear:
    """``N(u) = -scale · ½ (u²)_x`` along the last axis (``scale = 1``: Burgers / KS,
    ``scale = 6``: KdV's ``-6 u u_x``)."""
    mask = _mask(ops, dealias)
    coef = (-0.5 * scale) * ops.derivative(len(ops.shape) - 1)

    def nonlinear(uh: Array) -> Array:
        u = ops.ifft(mask(uh))
        return mask(_b(coef, uh.ndim) * ops.fft(u * u))

    return nonlinear


def gradient_norm(ops: SpectralOps, *, dealias: bool = True) -> Nonlinear:
    """``N(u) = -½ |∇u|²``: one inverse transform per axis, one forward."""
    mask = _mask(ops, dealias)
    ders = [ops.derivative(j) for j in range(len(ops.shape))]

    def nonlinear(uh: Array) -> Array:
        uh = mask(uh)
        g2 = None
        for dj in ders:
            g = ops.ifft(_b(dj, uh.ndim) * uh)
            g2 = g * g if g2 is None else g2 + g * g
        assert g2 is not None
        return mask(-0.5 * ops.fft(g2))

    return nonlinear


def advection(ops: SpectralOps, *, dealias: bool = True) -> Nonlinear:
    """``N(u) = -(u·∇)u = -Σ_j u_j ∂_j u`` for a velocity ``(*b, d, *grid)`` (advective form):
    one inverse transform of ``u`` and one per derivative direction, each batched over the
    ``d`` components."""
    mask = _mask(ops, dealias)
    d = len(ops.shape)
    ders = [ops.derivative(j) for j in range(d)]

    def nonlinear(uh: Array) -> Array:
        uh = mask(uh)
        r, ax = uh.ndim, -d - 1
        u = ops.ifft(uh)
        adv = None
        for j in range(d):
            term = jnp.expand_dims(jnp.take(u, j, axis=ax), ax) * ops.ifft(_b(ders[j], r) * uh)
            adv = term if adv is None else adv + term
        assert adv is not None
        return mask(-ops.fft(adv))

    return nonlinear


def cubic(ops: SpectralOps, *, dealias: bool = True) -> Nonlinear:
    """``N(u) = -u³``."""
    mask = _mask(ops, dealias)

    def nonlinear(uh: Array) -> Array:
        u = ops.ifft(mask(uh))
        return mask(-ops.fft(u * u * u))

    return nonlinear


def vorticity_flux(
    ops: SpectralOps, force_hat: Array | None = None, *, dealias: bool = True
) -> Nonlinear:
    """``N(ω) = f̂ - ∇·(uω)`` for the 2D vorticity ``ω`` ``(*b, ny, nx)`` with
    ``u = (∂_y ψ, -∂_x ψ)``, ``ψ̂ = ω̂ / |k|²`` (mean-free).

    The flux is evaluated as ``∂x∂y(v² - u²) + (∂xx - ∂yy)(uv)``, equal to ``∇·(uω)`` for a
    divergence-free ``u`` (Basdevant, Mon. Weather Rev. 111 (1983) 2295): two inverse and two
    forward transforms per evaluation instead of three and two; with 2/3 dealiasing the kept
    modes are the same, and the mean of ``ω`` stays exact."""
    mask = _mask(ops, dealias)
    dy, dx = ops.derivative(0), ops.derivative(1)
    k2 = ops.k2()
    inv = jnp.where(k2 == 0, jnp.zeros_like(k2), 1.0 / jnp.where(k2 == 0, 1.0, k2))
    inv = inv.astype(ops.cdtype)
    to_u, to_v = dy * inv, -dx * inv
    d_xy, d_xx_yy = dx * dy, dx * dx - dy * dy

    def nonlinear(wh: Array) -> Array:
        r = wh.ndim
        wh = mask(wh)
        u = ops.ifft(_b(to_u, r) * wh)
        v = ops.ifft(_b(to_v, r) * wh)
        adv = _b(d_xy, r) * ops.fft(v * v - u * u) + _b(d_xx_yy, r) * ops.fft(u * v)
        return mask(-adv if force_hat is None else _b(force_hat, r) - adv)

    return nonlinear


# -- equations -----------------------------------------------------------------------------------


def heat_terms(ops: SpectralOps, nu: Array) -> Terms:
    """Heat ``u_t = ν Δu``: ``L = -ν|k|²``, linear (each step the exact factor)."""
    return Terms(-nu * ops.k2(), None)


def advection_diffusion_terms(ops: SpectralOps, velocity: Array, nu: Array) -> Terms:
    """``u_t + c·∇u = ν Δu`` (``velocity`` ``c`` of shape ``(d,)``): ``L = -ν|k|² - i c·k``."""
    lin = (-nu * ops.k2()).astype(ops.cdtype)
    for j in range(len(ops.shape)):
        lin = lin - velocity[j].astype(ops.cdtype) * ops.derivative(j)
    return Terms(lin, None)


def burgers_terms(ops: SpectralOps, nu: Array, *, dealias: bool = True) -> Terms:
    """Viscous Burgers, ``L = -ν|k|²``. 1D: ``N = -½ (u²)_x`` (conservative); 2D/3D:
    ``N = -(u·∇)u`` on a velocity ``(*b, d, *grid)`` (advective)."""
    lin = -nu * ops.k2()
    if len(ops.shape) == 1:
        return Terms(lin, conservative_convection(ops, 1.0, dealias=dealias))
    return Terms(lin, advection(ops, dealias=dealias))


def kdv_terms(ops: SpectralOps, *, dealias: bool = True) -> Terms:
    """KdV ``u_t + 6 u u_x + u_xxx = 0``: ``L = -(ik)³``, ``N = -3 (u²)_x``."""
    dx = ops.derivative(len(ops.shape) - 1)
    return Terms(-(dx * dx * dx), conservative_convection(ops, 6.0, dealias=dealias))


def kuramoto_sivashinsky_terms(ops: SpectralOps, *, dealias: bool = True) -> Terms:
    """Kuramoto–Sivashinsky ``L = |k|² - |k|⁴``. 1D: ``N = -½ (u²)_x`` (conservative, mass
    exact; Kassam & Trefethen 2005 §6); 2D/3D: ``N = -½ |∇u|²`` (gradient form)."""
    k2 = ops.k2()
    lin = k2 - k2 * k2
    if len(ops.shape) == 1:
        return Terms(lin, conservative_convection(ops, 1.0, dealias=dealias))
    return Terms(lin, gradient_norm(ops, dealias=dealias))


def allen_cahn_terms(ops: SpectralOps, eps: Array, *, dealias: bool = True) -> Terms:
    """Allen–Cahn ``u_t = ε² Δu + u - u³``: ``L = 1 - ε²|k|²``, ``N = -u³`` (the 2/3 mask
    removes the aliases of the cubic term only partly; full removal needs 1/2)."""
    return Terms(1.0 - eps * eps * ops.k2(), cubic(ops, dealias=dealias))


def kolmogorov_forcing(ops: SpectralOps, amplitude: Array, wavenumber: int) -> Array:
    """The spectrum of ``f = -A κ cos(κ y)`` (``y`` axis 0, ``κ = 2π n_f / L_y``), the curl of
    the body force ``(A sin κy, 0)``: ``-A κ N / 2`` at the modes ``m_y ≡ ±n_f (mod n_y)``,
    ``m_x = 0`` (``N`` the number of grid points; unnormalised forward transform)."""
    ny = ops.shape[0]
    kappa = 2 * math.pi * wavenumber / ops.length[0]
    my, mx = ops.modes(0), ops.modes(1)
    lines = (jnp.mod(my - wavenumber, ny) == 0).astype(ops.dtype) + (
        jnp.mod(my + wavenumber, ny) == 0
    ).astype(ops.dtype)
    shape = lines * (mx == 0).astype(ops.dtype) * (-0.5 * kappa * math.prod(ops.shape))
    return amplitude.astype(ops.cdtype) * shape.astype(ops.cdtype)


def navier_stokes_2d_terms(
    ops: SpectralOps,
    nu: Array,
    drag: Array,
    forcing: Array,
    *,
    forcing_wavenumber: int = 4,
    dealias: bool = True,
) -> Terms:
    """2D Navier–Stokes, vorticity form, ``ω_t + ∇·(uω) = ν Δω - α ω + f`` with Kolmogorov
    forcing ``f = -A κ cos(κ y)``: ``L = -ν|k|² - α``, ``N = f̂ - ∇·(uω)``
    (:func:`vorticity_flux`, :func:`kolmogorov_forcing`)."""
    force_hat = _mask(ops, dealias)(kolmogorov_forcing(ops, forcing, forcing_wavenumber))
    return Terms(-nu * ops.k2() - drag, vorticity_flux(ops, force_hat, dealias=dealias))
