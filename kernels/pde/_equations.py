r"""Periodic PDEs on the ETDRK4 / ETD1 stepper (pseudo-spectral, real FFTs, 2/3 dealiasing).

Every constructor takes a :class:`~parallax.kernels.pde.Grid` (or a shape plus ``length``), the
step ``dt`` and the physical parameters (arrays or Python numbers, cast to ``dtype``), and
returns a :class:`~parallax.kernels.pde.SpectralStepper`. Each is ``u_t = L u + N(u)`` with
``L`` diagonal in Fourier space; the nonlinear products are formed from 2/3-dealiased fields and
the result is dealiased again. The constructors validate and cast the parameters; the operators
themselves are the ``*_terms`` functions of :mod:`parallax.kernels.pde._terms`, evaluated on the
whole grid (:class:`~parallax.kernels.pde.GridOps`), which the sharded steppers of
:mod:`parallax.sharding` evaluate on a device's block.

=====================  ===========================================================  ===========
equation               form                                                          state
=====================  ===========================================================  ===========
heat                   u_t = ν Δu                                                    (*b, *grid)
advection–diffusion    u_t + c·∇u = ν Δu                                             (*b, *grid)
Burgers (1D)           u_t + ½ (u²)_x = ν u_xx                                       (*b, n)
Burgers (2D, 3D)       u_t + (u·∇)u = ν Δu                                           (*b, d, *grid)
KdV                    u_t + 6 u u_x + u_xxx = 0                                     (*b, n)
Kuramoto–Sivashinsky   1D: u_t + ½ (u²)_x + u_xx + u_xxxx = 0                        (*b, *grid)
                       2D/3D: u_t + ½ |∇u|² + Δu + Δ²u = 0
Allen–Cahn             u_t = ε² Δu + u - u³                                          (*b, *grid)
NS (2D, vorticity)     ω_t + u·∇ω = ν Δω - α ω + f, u = (ψ_y, -ψ_x), Δψ = -ω         (*b, ny, nx)
=====================  ===========================================================  ===========

Kolmogorov forcing: ``f = -A κ cos(κ y)``, the curl of the body force ``(A sin κy, 0)`` with
``κ = 2π n_f / L_y``. Conservative forms (1D Burgers, 1D KS, KdV, NS via ``∇·(u ω)``) keep the
mean (mode 0) exactly, since ``i k`` vanishes there.
"""

from __future__ import annotations

from typing import Any

from jaxtyping import Array

from parallax.kernels._checks import as_real
from parallax.kernels.pde._ops import GridOps
from parallax.kernels.pde._spectral import Grid
from parallax.kernels.pde._stepper import (
    Checks,
    SpectralStepper,
    as_grid,
    dt_param,
    make_stepper,
    param,
    real_dtype,
)
from parallax.kernels.pde._terms import (
    advection_diffusion_terms,
    allen_cahn_terms,
    burgers_terms,
    heat_terms,
    kdv_terms,
    kuramoto_sivashinsky_terms,
    navier_stokes_2d_terms,
)

__all__ = [
    "advection_diffusion",
    "allen_cahn",
    "burgers",
    "heat",
    "korteweg_de_vries",
    "kuramoto_sivashinsky",
    "navier_stokes_2d",
]


def _setup(grid, length, dt, dtype) -> tuple[Grid, Array, GridOps, Checks]:
    grid = as_grid(grid, length)
    dtype = real_dtype(dtype, dt)
    checks: Checks = []
    return grid, dt_param(dt, dtype, checks), GridOps(grid, dtype), checks


def heat(
    grid: Grid | int | tuple[int, ...],
    dt: Any,
    nu: Any,
    *,
    length: float | tuple[float, ...] | None = None,
    dtype: Any = None,
    method: str = "etdrk4",
) -> SpectralStepper:
    """Heat / diffusion ``u_t = ν Δu`` in 1D, 2D or 3D (``ν >= 0``). Linear, so each step is
    the exact ``e^{-ν|k|² dt}`` factor with either method."""
    grid, dt, ops, checks = _setup(grid, length, dt, dtype)
    nu = param("nu", nu, ops.dtype, checks)
    terms = heat_terms(ops, nu)
    return make_stepper(grid, dt, terms, dtype=ops.dtype, method=method, checks=checks)


def advection_diffusion(
    grid: Grid | int | tuple[int, ...],
    dt: Any,
    velocity: Any,
    nu: Any,
    *,
    length: float | tuple[float, ...] | None = None,
    dtype: Any = None,
    method: str = "etdrk4",
) -> SpectralStepper:
    """``u_t + c·∇u = ν Δu`` with constant ``velocity`` ``c`` (shape ``(d,)``) and ``ν >= 0``:
    ``L = -ν|k|² - i c·k`` (exact per step)."""
    grid, dt, ops, checks = _setup(grid, length, dt, dtype)
    nu = param("nu", nu, ops.dtype, checks)
    c = as_real("velocity", velocity, ops.dtype, shape=(grid.ndim,))
    terms = advection_diffusion_terms(ops, c, nu)
    return make_stepper(grid, dt, terms, dtype=ops.dtype, method=method, checks=checks)


def burgers(
    grid: Grid | int | tuple[int, ...],
    dt: Any,
    nu: Any,
    *,
    length: float | tuple[float, ...] | None = None,
    dtype: Any = None,
    method: str = "etdrk4",
    dealias: bool = True,
) -> SpectralStepper:
    """Viscous Burgers. 1D: ``u_t + ½(u²)_x = ν u_xx`` on state ``(*b, n)`` (conservative, mass
    exact). 2D/3D: ``u_t + (u·∇)u = ν Δu`` on a velocity ``(*b, d, *grid)`` (advective form, so
    Cole–Hopf solutions ``u = -2ν ∇ log φ`` are exact solutions)."""
    grid, dt, ops, checks = _setup(grid, length, dt, dtype)
    nu = param("nu", nu, ops.dtype, checks)
    terms = burgers_terms(ops, nu, dealias=dealias)
    channels = () if grid.ndim == 1 else (grid.ndim,)
    return make_stepper(
        grid, dt, terms, dtype=ops.dtype, channels=channels, method=method, checks=checks
    )


def korteweg_de_vries(
    grid: Grid | int,
    dt: Any,
    *,
    length: float | None = None,
    dtype: Any = None,
    method: str = "etdrk4",
    dealias: bool = True,
) -> SpectralStepper:
    """KdV ``u_t + 6 u u_x + u_xxx = 0`` (1D): ``L = -(ik)³``, ``N = -3 (u²)_x``. The soliton
    ``u = (c/2) sech²(√c (x - ct - x₀)/2)`` travels at speed ``c`` unchanged."""
    grid, dt, ops, checks = _setup(grid, length, dt, dtype)
    if grid.ndim != 1:
        raise ValueError(f"grid: KdV is 1D, got a {grid.ndim}D grid {grid.shape}")
    terms = kdv_terms(ops, dealias=dealias)
    return make_stepper(grid, dt, terms, dtype=ops.dtype, method=method, checks=checks)


def kuramoto_sivashinsky(
    grid: Grid | int | tuple[int, ...],
    dt: Any,
    *,
    length: float | tuple[float, ...] | None = None,
    dtype: Any = None,
    method: str = "etdrk4",
    dealias: bool = True,
) -> SpectralStepper:
    """Kuramoto–Sivashinsky, ``L = |k|² - |k|⁴``. 1D conservative form ``N = -½ (u²)_x``
    (mass exact; Kassam & Trefethen 2005 §6); 2D/3D gradient form ``N = -½ |∇u|²``."""
    grid, dt, ops, checks = _setup(grid, length, dt, dtype)
    terms = kuramoto_sivashinsky_terms(ops, dealias=dealias)
    return make_stepper(grid, dt, terms, dtype=ops.dtype, method=method, checks=checks)


def allen_cahn(
    grid: Grid | int | tuple[int, ...],
    dt: Any,
    eps: Any,
    *,
    length: float | tuple[float, ...] | None = None,
    dtype: Any = None,
    method: str = "etdrk4",
    dealias: bool = True,
) -> SpectralStepper:
    """Allen–Cahn ``u_t = ε² Δu + u - u³`` (``ε > 0``): ``L = 1 - ε²|k|²``, ``N = -u³``. The
    2/3 mask removes the aliases of the cubic term only partly (full removal needs 1/2)."""
    grid, dt, ops, checks = _setup(grid, length, dt, dtype)
    eps = param("eps", eps, ops.dtype, checks, positive=True)
    terms = allen_cahn_terms(ops, eps, dealias=dealias)
    return make_stepper(grid, dt, terms, dtype=ops.dtype, method=method, checks=checks)


def navier_stokes_2d(
    grid: Grid | tuple[int, int],
    dt: Any,
    nu: Any,
    drag: Any = 0.0,
    forcing: Any = 0.0,
    *,
    forcing_wavenumber: int = 4,
    length: float | tuple[float, ...] | None = None,
    dtype: Any = None,
    method: str = "etdrk4",
    dealias: bool = True,
) -> SpectralStepper:
    """2D incompressible Navier–Stokes in vorticity form on state ``ω`` of shape
    ``(*b, ny, nx)`` (``y`` the second-to-last axis, ``x`` the last):

    ``ω_t + ∇·(u ω) = ν Δω - α ω - A κ cos(κ y)`` with ``u = (∂_y ψ, -∂_x ψ)``,
    ``ψ̂ = ω̂ / |k|²`` (mean-free), ``ν >= 0`` (``nu``), ``α >= 0`` (``drag``), Kolmogorov
    amplitude ``A >= 0`` (``forcing``) at ``κ = 2π forcing_wavenumber / L_y``. The flux is
    evaluated in Basdevant's four-transform form (:func:`parallax.kernels.pde.vorticity_flux`)."""
    grid, dt, ops, checks = _setup(grid, length, dt, dtype)
    if grid.ndim != 2:
        raise ValueError(f"grid: expected a 2D grid, got shape {grid.shape}")
    nu = param("nu", nu, ops.dtype, checks)
    drag = param("drag", drag, ops.dtype, checks)
    amp = param("forcing", forcing, ops.dtype, checks)
    terms = navier_stokes_2d_terms(
        ops, nu, drag, amp, forcing_wavenumber=forcing_wavenumber, dealias=dealias
    )
    return make_stepper(grid, dt, terms, dtype=ops.dtype, method=method, checks=checks)
