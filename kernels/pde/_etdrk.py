r"""Exponential time differencing for stiff semilinear PDEs with a diagonal linear part.

.. math:: \hat u_t = \mathcal L \hat u + \hat{\mathcal N}(\hat u)

in Fourier space, with ``L`` a (complex) diagonal operator and ``N`` the pseudo-spectral
nonlinearity. The linear part is integrated exactly; the nonlinear part by

* **ETD1** (first order): ``v' = e^{hL} v + h φ1(hL) N(v)`` with ``φ1(z) = (e^z - 1) / z``;
* **ETDRK4** (fourth order), Cox & Matthews, "Exponential time differencing for stiff systems",
  J. Comput. Phys. 176 (2002) 430–455, eqs. (26)–(29)::

      a  = E2 v + Q N(v)
      b  = E2 v + Q N(a)
      c  = E2 a + Q (2 N(b) - N(v))
      v' = E v + f1 N(v) + 2 f2 (N(a) + N(b)) + f3 N(c)

  with ``E = e^{hL}``, ``E2 = e^{hL/2}`` and ``Q, f1, f2, f3`` the φ-function combinations
  below.

The φ-functions cancel catastrophically for small ``|hL|`` (``(e^z - 1)/z`` at ``z → 0``). They
are evaluated with the contour integral of Kassam & Trefethen, "Fourth-order time-stepping for
stiff PDEs", SIAM J. Sci. Comput. 26 (2005) 1214–1233: each ``f(z)`` is the mean of ``f`` over
``M`` points of the circle ``z + r e^{iθ}``, which is exact for analytic ``f`` up to a
geometrically small quadrature error and never divides by a small number. For real ``L`` the
result is real: the points come in conjugate pairs, so the mean is the real part of the mean over
the upper half circle (Kassam & Trefethen's own choice, half the work), and the coefficients are
stored real (half the memory); for complex ``L`` (advection, dispersion) the full circle is used
as is.

``dt`` is an array: coefficients are computed from it inside ``jit``, so changing it does not
recompile and ``jax.grad`` flows into it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from parallax.kernels._dtypes import complex_dtype
from parallax.kernels.pde._spectral import broadcast_to_rank

__all__ = [
    "ETD1Coefficients",
    "ETDRK4Coefficients",
    "etd1",
    "etd1_coefficients",
    "etdrk4",
    "etdrk4_coefficients",
]

Nonlinear = Callable[[Array], Array]


class ETDRK4Coefficients(NamedTuple):
    """``E = e^{hL}``, ``E2 = e^{hL/2}``, ``Q = h (e^{z/2} - 1)/z`` and the Cox–Matthews
    weights ``f1 = h (-4 - z + e^z (4 - 3z + z²))/z³ = h (φ1 - 3φ2 + 4φ3)``,
    ``f2 = h (2 + z + e^z (z - 2))/z³ = h (φ2 - 2φ3)``,
    ``f3 = h (-4 - 3z - z² + e^z (4 - z))/z³ = h (4φ3 - φ2)`` at ``z = hL`` (all the shape of
    ``L``), with ``φ1 = (e^z - 1)/z``, ``φ2 = (φ1 - 1)/z``, ``φ3 = (φ2 - 1/2)/z``."""

    e: Array
    e2: Array
    q: Array
    f1: Array
    f2: Array
    f3: Array


class ETD1Coefficients(NamedTuple):
    """``E = e^{hL}`` and ``phi = h φ1(hL) = (e^{hL} - 1)/L``."""

    e: Array
    phi: Array


def _roots(num_points: int, radius: float, dtype) -> Array:
    """``M`` points ``r e^{iθ_j}``, ``θ_j = 2π (j + 1/2) / M`` (none on the real axis)."""
    theta = 2 * np.pi * (np.arange(num_points) + 0.5) / num_points
    return jnp.asarray(radius * np.exp(1j * theta), dtype=dtype)


def _contour(hl: Array, num_points: int, radius: float, real: bool) -> Array:
    """``z = hL + r e^{iθ_j}`` on a trailing axis. For real ``L`` the points come in conjugate
    pairs (``θ_{M-1-j} = 2π - θ_j``) and ``f(z̄) = conj f(z)``, so the real part of the mean over
    the upper half circle is the whole mean: half the points, half the work."""
    roots = _roots(num_points, radius, hl.dtype)
    if real and num_points % 2 == 0:
        roots = roots[: num_points // 2]
    return hl[..., None] + broadcast_to_rank(roots, hl.ndim + 1)


def _prepare(lin: Array, dt: Array | float) -> tuple[Array, Array, bool]:
    real = not jnp.iscomplexobj(lin)
    dt = jnp.asarray(dt)
    if not jnp.issubdtype(dt.dtype, jnp.floating):
        raise TypeError(f"dt: expected a floating dtype, got {dt.dtype}")
    if dt.ndim != 0:
        raise ValueError(f"dt: expected a scalar (rank 0), got shape {dt.shape}")
    cdt = complex_dtype(dt.dtype)
    hl = lin.astype(cdt) * dt.astype(cdt)
    return hl, dt, real


def _finish(x: Array, dt: Array, real: bool, cdt) -> Array:
    """``h · mean``: real (dtype of ``dt``) for a real operator, else complex."""
    if real:
        return jnp.real(x) * dt
    return x * dt.astype(cdt)


def _exp(hl: Array, real: bool) -> Array:
    return jnp.exp(jnp.real(hl)) if real else jnp.exp(hl)


def _mul(c: Array, v: Array) -> Array:
    """``c * v`` for a complex ``v``. A real ``c`` is widened inside the fused multiply: XLA:CPU
    vectorises the complex product, while scaling the real and imaginary parts separately and
    recombining them (2 flops instead of 6) is slower: memory-bound on the interleaved
    layout."""
    return c.astype(v.dtype) * v if not jnp.iscomplexobj(c) else c * v


def etdrk4_coefficients(
    lin: Complex[Array, "*modes"] | Float[Array, "*modes"],
    dt: Float[Array, ""] | float,
    *,
    contour_points: int = 32,
    radius: float = 1.0,
) -> ETDRK4Coefficients:
    """ETDRK4 coefficients for the diagonal operator ``lin`` and step ``dt`` (Kassam–Trefethen
    contour mean over ``contour_points`` points of radius ``radius``; the points
    form a trailing axis, so temporaries are ``contour_points`` times the size of ``lin``)."""
    hl, dt, real = _prepare(lin, dt)
    cdt = hl.dtype
    z = _contour(hl, contour_points, radius, real)
    # φ-recurrence φ_{k+1} = (φ_k - 1/k!) / z on the contour: one exp pair and one reciprocal
    # (a much smaller fused kernel to compile than four rational expressions in z³).
    iz = 1 / z
    ez2 = jnp.exp(z / 2)
    phi1 = (ez2 * ez2 - 1) * iz
    phi2 = (phi1 - 1) * iz
    phi3 = (phi2 - 0.5) * iz
    terms = ((ez2 - 1) * iz, phi1 - 3 * phi2 + 4 * phi3, phi2 - 2 * phi3, 4 * phi3 - phi2)
    q, f1, f2, f3 = (_finish(jnp.mean(t, axis=-1), dt, real, cdt) for t in terms)
    return ETDRK4Coefficients(_exp(hl, real), _exp(hl / 2, real), q, f1, f2, f3)


def etd1_coefficients(
    lin: Complex[Array, "*modes"] | Float[Array, "*modes"],
    dt: Float[Array, ""] | float,
    *,
    contour_points: int = 32,
    radius: float = 1.0,
) -> ETD1Coefficients:
    """ETD1 coefficients ``e^{hL}`` and ``h φ1(hL)`` (contour mean as in ETDRK4)."""
    hl, dt, real = _prepare(lin, dt)
    cdt = hl.dtype
    z = _contour(hl, contour_points, radius, real)
    phi = _finish(jnp.mean((jnp.exp(z) - 1) / z, axis=-1), dt, real, cdt)
    return ETD1Coefficients(_exp(hl, real), phi)


def _fit(coef: tuple[Array, ...], ndim: int) -> list[Array]:
    return [broadcast_to_rank(c, ndim) for c in coef]


def etdrk4(
    coef: ETDRK4Coefficients, nonlinear: Nonlinear | None
) -> Callable[[Complex[Array, "*shape"]], Complex[Array, "*shape"]]:
    """A pure Fourier-space ETDRK4 step ``v -> v'`` (Cox & Matthews 2002) from precomputed
    coefficients. ``nonlinear`` maps a Fourier state to ``N̂`` (same shape); ``None`` for a
    linear equation, whose step is then the exact ``e^{hL} v``."""

    def step(v: Array) -> Array:
        c = ETDRK4Coefficients(*_fit(coef, v.ndim))
        if nonlinear is None:
            return _mul(c.e, v)
        nv = nonlinear(v)
        e2v = _mul(c.e2, v)
        a = e2v + _mul(c.q, nv)
        na = nonlinear(a)
        b = e2v + _mul(c.q, na)
        nb = nonlinear(b)
        cc = _mul(c.e2, a) + _mul(c.q, 2 * nb - nv)
        nc = nonlinear(cc)
        return _mul(c.e, v) + _mul(c.f1, nv) + _mul(c.f2, 2 * (na + nb)) + _mul(c.f3, nc)

    return step


def etd1(
    coef: ETD1Coefficients, nonlinear: Nonlinear | None
) -> Callable[[Complex[Array, "*shape"]], Complex[Array, "*shape"]]:
    """A pure Fourier-space ETD1 step ``v' = e^{hL} v + h φ1(hL) N(v)`` (Cox & Matthews 2002,
    eq. (4))."""

    def step(v: Array) -> Array:
        c = ETD1Coefficients(*_fit(coef, v.ndim))
        if nonlinear is None:
            return _mul(c.e, v)
        return _mul(c.e, v) + _mul(c.phi, nonlinear(v))

    return step
