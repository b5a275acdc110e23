r"""Pseudo-spectral steppers written once against an FFT interface, run unsharded or sharded.

Each constructor takes ``ops`` — a :class:`~parallax.sharding.LocalFFT` (one device) or a
:class:`~parallax.sharding.DistributedFFT` (slab/pencil over the mesh) — and returns a global
``step(u, dt, nu) -> u`` (``dt``, ``nu`` scalar arrays). With a distributed ``ops`` the step is a
``shard_map`` whose only communication is the all-to-all transposes of the FFTs.

Equations (periodic box, angular wavenumbers ``k``):

* 2D Kuramoto–Sivashinsky: :math:`u_t = -\Delta u - \nu \Delta^2 u - \tfrac12|\nabla u|^2`.
* 2D Navier–Stokes, vorticity form: :math:`\omega_t + \mathbf u\cdot\nabla\omega = \nu\Delta
  \omega`, :math:`\mathbf u = (\partial_y\psi, -\partial_x\psi)`, :math:`-\Delta\psi = \omega`.
* 3D heat: :math:`u_t = \nu\Delta u`, stepped exactly by :math:`e^{-\nu|k|^2 dt}`.

KS and NS use exponential time differencing of first order (ETD1, Cox & Matthews, J. Comput.
Phys. 176, 2002): :math:`\hat u \leftarrow e^{L dt}\hat u + dt\,\varphi_1(L dt)\,\hat N(u)`,
with the 2/3-rule dealiasing of the nonlinear term.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from parallax.sharding._fft import complex_dtype

__all__ = ["heat3d_stepper", "ks2d_stepper", "ns2d_stepper"]

Ops = Any  # LocalFFT | DistributedFFT


def _phi1(z: jax.Array) -> jax.Array:
    small = jnp.abs(z) < 1e-4
    safe = jnp.where(small, jnp.ones_like(z), z)
    return jnp.where(small, 1 + z / 2 + z * z / 6, jnp.expm1(safe) / safe)


def _dealias(ops: Ops, ks: tuple[jax.Array, ...]) -> jax.Array:
    """2/3 rule: keep modes with integer index ``|m_j| = |k_j| L_j / 2π < n_j / 3``."""
    mask = None
    for k, n, ell in zip(ks, ops.shape, _lengths(ops), strict=True):
        m = jnp.abs(k) * (ell / (2 * jnp.pi)) < n / 3.0
        mask = m if mask is None else mask & m
    assert mask is not None
    return mask


def _lengths(ops: Ops) -> tuple[float, ...]:
    d = len(ops.shape)
    ell = ops.length
    return (float(ell),) * d if isinstance(ell, int | float) else tuple(ell)


def _ik(k: jax.Array, cd: Any) -> jax.Array:
    """``i k`` as a complex array (strict promotion forbids ``1j * real``)."""
    return jax.lax.complex(jnp.zeros_like(k), k).astype(cd)


def _ksq(ks: tuple[jax.Array, ...]) -> jax.Array:
    out = ks[0] ** 2
    for k in ks[1:]:
        out = out + k**2
    return out


def ks2d_stepper(ops: Ops) -> Callable[[jax.Array, jax.Array, jax.Array], jax.Array]:
    """ETD1 step of the 2D Kuramoto–Sivashinsky equation; ``u`` real ``(..., nx, ny)``."""

    def local(u: jax.Array, dt: jax.Array, nu: jax.Array) -> jax.Array:
        cd = complex_dtype(u.dtype)
        kx, ky = ops.local_wavenumbers(u.dtype)
        k2 = _ksq((kx, ky))
        lin = k2 - nu * k2 * k2
        z = lin * dt
        e = jnp.exp(z).astype(cd)
        f = (dt * _phi1(z)).astype(cd)
        mask = _dealias(ops, (kx, ky)).astype(cd)
        uh = ops.fft_local(u)
        ux = jnp.real(ops.ifft_local(_ik(kx, cd) * uh))
        uy = jnp.real(ops.ifft_local(_ik(ky, cd) * uh))
        nh = mask * ops.fft_local(-0.5 * (ux * ux + uy * uy))
        return jnp.real(ops.ifft_local(e * uh + f * nh)).astype(u.dtype)

    return ops.spmd(local, n_args=3)


def ns2d_stepper(ops: Ops) -> Callable[[jax.Array, jax.Array, jax.Array], jax.Array]:
    """ETD1 step of 2D incompressible Navier–Stokes in vorticity form; ``w`` real ``(nx, ny)``."""

    def local(w: jax.Array, dt: jax.Array, nu: jax.Array) -> jax.Array:
        cd = complex_dtype(w.dtype)
        kx, ky = ops.local_wavenumbers(w.dtype)
        k2 = _ksq((kx, ky))
        inv_k2 = jnp.where(k2 > 0, 1.0 / jnp.where(k2 > 0, k2, 1.0), 0.0).astype(cd)
        z = -nu * k2 * dt
        e = jnp.exp(z).astype(cd)
        f = (dt * _phi1(z)).astype(cd)
        mask = _dealias(ops, (kx, ky)).astype(cd)
        ikx, iky = _ik(kx, cd), _ik(ky, cd)
        wh = ops.fft_local(w)
        psih = wh * inv_k2
        u = jnp.real(ops.ifft_local(iky * psih))
        v = jnp.real(ops.ifft_local(-ikx * psih))
        wx = jnp.real(ops.ifft_local(ikx * wh))
        wy = jnp.real(ops.ifft_local(iky * wh))
        nh = mask * ops.fft_local(-(u * wx + v * wy))
        return jnp.real(ops.ifft_local(e * wh + f * nh)).astype(w.dtype)

    return ops.spmd(local, n_args=3)


def heat3d_stepper(ops: Ops) -> Callable[[jax.Array, jax.Array, jax.Array], jax.Array]:
    """Exact step of the 3D heat equation ``u_t = nu Δu``; ``u`` real ``(..., nx, ny, nz)``."""

    def local(u: jax.Array, dt: jax.Array, nu: jax.Array) -> jax.Array:
        cd = complex_dtype(u.dtype)
        ks = ops.local_wavenumbers(u.dtype)
        decay = jnp.exp(-nu * dt * _ksq(ks)).astype(cd)
        return jnp.real(ops.ifft_local(decay * ops.fft_local(u))).astype(u.dtype)

    return ops.spmd(local, n_args=3)
