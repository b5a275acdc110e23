r"""Spectral heat / diffusion equation on a periodic interval.

.. math:: u_t = \nu\, u_{xx}, \qquad x \in [0, L)\ \text{periodic}.

In Fourier space every mode evolves independently, :math:`\hat u_k(t) = e^{-\nu k^2 t}\hat u_k(0)`,
so one step of size ``dt`` is exact (an exponential integrator with no time-discretisation
error): ``u <- irfft(exp(-nu k^2 dt) * rfft(u))``.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jaxtyping import Array, Float

from parallax.kernels._checks import check_array, check_finite, check_nonnegative, check_positive
from parallax.kernels._rollout import rollout
from parallax.kernels.pde._grid import complex_dtype, rfft_wavenumbers

__all__ = ["heat_1d_rollout", "heat_1d_step"]


def _check(u: Array, dt: Array | float, nu: Array | float) -> tuple[Array, Array, Array]:
    check_array("u", u, min_ndim=1)
    if u.shape[-1] < 2:
        raise ValueError(f"u: expected at least 2 grid points on the last axis, got {u.shape}")
    dt_ = jnp.asarray(dt, dtype=u.dtype)
    nu_ = jnp.asarray(nu, dtype=u.dtype)
    check_array("dt", dt_, ndim=0)
    check_array("nu", nu_, ndim=0)
    return check_finite("u", u), check_positive("dt", dt_), check_nonnegative("nu", nu_)


def _decay(n: int, length: float, dt: Array, nu: Array, ndim: int) -> Array:
    """``exp(-nu k^2 dt)`` shaped ``(1, ..., 1, n // 2 + 1)`` to broadcast over ``ndim`` axes."""
    (k,) = rfft_wavenumbers((n,), length, dtype=dt.dtype)
    decay = jnp.exp(-nu * dt * k**2).astype(complex_dtype(dt.dtype))
    return decay.reshape((1,) * (ndim - 1) + (-1,))


def heat_1d_step(
    u: Float[Array, "*batch n"],
    dt: Float[Array, ""] | float,
    nu: Float[Array, ""] | float,
    *,
    length: float = 2 * math.pi,
) -> Float[Array, "*batch n"]:
    """Advance ``u`` by ``dt`` exactly: ``irfft(exp(-nu k^2 dt) rfft(u))``.

    ``u``: real, shape ``(*batch, n)``, the last axis the periodic grid. ``dt > 0`` and
    ``nu >= 0`` are scalars (arrays, so changing them does not recompile).
    """
    u, dt, nu = _check(u, dt, nu)
    n = u.shape[-1]
    return jnp.fft.irfft(_decay(n, length, dt, nu, u.ndim) * jnp.fft.rfft(u), n=n).astype(u.dtype)


def heat_1d_rollout(
    u0: Float[Array, "*batch n"],
    dt: Float[Array, ""] | float,
    nu: Float[Array, ""] | float,
    *,
    num_steps: int,
    save_every: int = 1,
    length: float = 2 * math.pi,
) -> tuple[Float[Array, "*batch n"], Float[Array, "t *batch n"]]:
    """``num_steps`` exact heat steps on ``lax.scan``; returns ``(final, trajectory)``.

    The decay factor is computed once and the state stays in Fourier space inside the scan, so
    each step costs one complex multiply; the trajectory is transformed back once per saved
    frame.
    """
    u0, dt, nu = _check(u0, dt, nu)
    n = u0.shape[-1]
    decay = _decay(n, length, dt, nu, u0.ndim)

    def step(uh: Array) -> Array:
        return decay * uh

    final_h, traj_h = rollout(step, jnp.fft.rfft(u0), num_steps, save_every=save_every)
    to_real = lambda h: jnp.fft.irfft(h, n=n).astype(u0.dtype)  # noqa: E731
    return to_real(final_h), to_real(traj_h)
