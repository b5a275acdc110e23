"""Rollouts of the spectral PDEs: ``fn(u0, dt, params..., *, num_steps, save_every, ...)``.

Each builds its stepper from the initial state's grid (the trailing axes of ``u0``) and the
parameter arrays, then runs ``num_steps`` steps on ``lax.scan`` with the state in Fourier space,
returning ``(final, trajectory)`` in real space; ``trajectory`` holds every ``save_every``-th
state (``num_steps // save_every`` frames). These are the registered kernels (``pde.ks_1d`` ...);
``dt`` and the physical parameters are arrays, so changing them does not recompile. Every
rollout takes ``checkpoint=`` (``None``, ``"sqrt"``, ``"binomial"``) and ``checkpoints=``, which
bound the memory of gradients through long rollouts (:func:`parallax.kernels.rollout`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp
from jaxtyping import Array, Float

from parallax.kernels._checks import check_array, check_state_dtype, is_concrete
from parallax.kernels.pde._equations import (
    advection_diffusion,
    allen_cahn,
    burgers,
    heat,
    korteweg_de_vries,
    kuramoto_sivashinsky,
    navier_stokes_2d,
)
from parallax.kernels.pde._spectral import Grid, make_grid
from parallax.kernels.pde._stepper import SpectralStepper

__all__ = [
    "advection_diffusion_rollout",
    "allen_cahn_rollout",
    "burgers_1d_rollout",
    "burgers_2d_rollout",
    "heat_rollout",
    "kdv_rollout",
    "ks_1d_rollout",
    "ks_2d_rollout",
    "navier_stokes_2d_rollout",
    "state_grid",
]

Traj = tuple[Float[Array, "*shape"], Float[Array, "t ..."]]


class _Loop(NamedTuple):
    num_steps: int
    save_every: int
    checkpoint: str | None
    checkpoints: int | None


def state_grid(name: str, u: Array, ndim: int, channels: int, length: Any) -> Grid:
    """The periodic grid on the trailing ``ndim`` axes of the state ``u`` (the argument
    ``name``): rank, dtype, at least 4 points per axis and finite values checked against
    ``name`` (a NaN now when concrete, before any coefficient is computed)."""
    check_array(name, u, min_ndim=ndim + channels)
    check_state_dtype(name, u)
    if ndim not in (1, 2, 3):
        raise ValueError(f"ndim: expected 1, 2 or 3, got {ndim}")
    shape = tuple(u.shape[u.ndim - ndim :])
    if min(shape) < 4:
        raise ValueError(
            f"{name}: expected at least 4 points per grid axis (the last {ndim}), got shape "
            f"{tuple(u.shape)}"
        )
    nonfinite = ~jnp.all(jnp.isfinite(u))
    if is_concrete(nonfinite) and bool(nonfinite):
        raise ValueError(f"{name}: contains NaN or Inf")
    return make_grid(shape, length)


def _run(
    make: Callable[..., SpectralStepper],
    u0: Array,
    ndim: int,
    channels: int,
    length: Any,
    loop: _Loop,
    *args: Any,
    name: str = "u0",
    **kwargs: Any,
) -> tuple[Array, Array]:
    grid = state_grid(name, u0, ndim, channels, length)
    stepper = make(grid, *args, dtype=u0.dtype, **kwargs)
    return stepper.rollout(
        u0,
        loop.num_steps,
        save_every=loop.save_every,
        checkpoint=loop.checkpoint,
        checkpoints=loop.checkpoints,
        name=name,
    )


def heat_rollout(
    u0: Float[Array, "*shape"],
    dt: Float[Array, ""] | float,
    nu: Float[Array, ""] | float,
    *,
    ndim: int = 1,
    num_steps: int,
    save_every: int = 1,
    checkpoint: str | None = None,
    checkpoints: int | None = None,
    length: float | tuple[float, ...] = 2 * math.pi,
) -> Traj:
    """Heat ``u_t = ν Δu`` on the trailing ``ndim`` axes of ``u0``: each step multiplies the
    Fourier modes by the exact factor ``e^{-ν|k|² dt}`` (the linear ETD step), so the only error
    is rounding. The one heat implementation, in any dimension."""
    loop = _Loop(num_steps, save_every, checkpoint, checkpoints)
    return _run(heat, u0, ndim, 0, length, loop, dt, nu)


def advection_diffusion_rollout(
    u0: Float[Array, "*shape"],
    dt: Float[Array, ""] | float,
    velocity: Float[Array, " ndim"],
    nu: Float[Array, ""] | float,
    *,
    ndim: int = 1,
    num_steps: int,
    save_every: int = 1,
    checkpoint: str | None = None,
    checkpoints: int | None = None,
    length: float | tuple[float, ...] = 2 * math.pi,
) -> Traj:
    """``u_t + c·∇u = ν Δu`` on the trailing ``ndim`` axes (exact ETD step)."""
    loop = _Loop(num_steps, save_every, checkpoint, checkpoints)
    return _run(advection_diffusion, u0, ndim, 0, length, loop, dt, velocity, nu)


def burgers_1d_rollout(
    u0: Float[Array, "*batch n"],
    dt: Float[Array, ""] | float,
    nu: Float[Array, ""] | float,
    *,
    num_steps: int,
    save_every: int = 1,
    checkpoint: str | None = None,
    checkpoints: int | None = None,
    length: float = 2 * math.pi,
    method: str = "etdrk4",
) -> Traj:
    """1D viscous Burgers ``u_t + ½(u²)_x = ν u_xx`` (ETDRK4, 2/3 dealiasing)."""
    loop = _Loop(num_steps, save_every, checkpoint, checkpoints)
    return _run(burgers, u0, 1, 0, length, loop, dt, nu, method=method)


def burgers_2d_rollout(
    u0: Float[Array, "*batch 2 ny nx"],
    dt: Float[Array, ""] | float,
    nu: Float[Array, ""] | float,
    *,
    num_steps: int,
    save_every: int = 1,
    checkpoint: str | None = None,
    checkpoints: int | None = None,
    length: float | tuple[float, float] = 2 * math.pi,
) -> Traj:
    """2D viscous Burgers ``u_t + (u·∇)u = ν Δu`` for the velocity ``(u, v)`` on axis -3."""
    loop = _Loop(num_steps, save_every, checkpoint, checkpoints)
    return _run(burgers, u0, 2, 1, length, loop, dt, nu)


def kdv_rollout(
    u0: Float[Array, "*batch n"],
    dt: Float[Array, ""] | float,
    *,
    num_steps: int,
    save_every: int = 1,
    checkpoint: str | None = None,
    checkpoints: int | None = None,
    length: float = 2 * math.pi,
) -> Traj:
    """KdV ``u_t + 6 u u_x + u_xxx = 0`` (ETDRK4, 2/3 dealiasing)."""
    loop = _Loop(num_steps, save_every, checkpoint, checkpoints)
    return _run(korteweg_de_vries, u0, 1, 0, length, loop, dt)


def ks_1d_rollout(
    u0: Float[Array, "*batch n"],
    dt: Float[Array, ""] | float,
    *,
    num_steps: int,
    save_every: int = 1,
    checkpoint: str | None = None,
    checkpoints: int | None = None,
    length: float = 32 * math.pi,
    method: str = "etdrk4",
) -> Traj:
    """1D Kuramoto–Sivashinsky ``u_t + ½(u²)_x + u_xx + u_xxxx = 0`` (Kassam & Trefethen
    2005's benchmark on ``[0, 32π)``)."""
    loop = _Loop(num_steps, save_every, checkpoint, checkpoints)
    return _run(kuramoto_sivashinsky, u0, 1, 0, length, loop, dt, method=method)


def ks_2d_rollout(
    u0: Float[Array, "*batch ny nx"],
    dt: Float[Array, ""] | float,
    *,
    num_steps: int,
    save_every: int = 1,
    checkpoint: str | None = None,
    checkpoints: int | None = None,
    length: float | tuple[float, float] = 10 * math.pi,
) -> Traj:
    """2D Kuramoto–Sivashinsky ``u_t + ½|∇u|² + Δu + Δ²u = 0``."""
    loop = _Loop(num_steps, save_every, checkpoint, checkpoints)
    return _run(kuramoto_sivashinsky, u0, 2, 0, length, loop, dt)


def allen_cahn_rollout(
    u0: Float[Array, "*shape"],
    dt: Float[Array, ""] | float,
    eps: Float[Array, ""] | float,
    *,
    ndim: int = 1,
    num_steps: int,
    save_every: int = 1,
    checkpoint: str | None = None,
    checkpoints: int | None = None,
    length: float | tuple[float, ...] = 2 * math.pi,
) -> Traj:
    """Allen–Cahn ``u_t = ε² Δu + u - u³`` on the trailing ``ndim`` axes."""
    loop = _Loop(num_steps, save_every, checkpoint, checkpoints)
    return _run(allen_cahn, u0, ndim, 0, length, loop, dt, eps)


def navier_stokes_2d_rollout(
    w0: Float[Array, "*batch ny nx"],
    dt: Float[Array, ""] | float,
    nu: Float[Array, ""] | float,
    drag: Float[Array, ""] | float,
    forcing: Float[Array, ""] | float,
    *,
    forcing_wavenumber: int = 4,
    num_steps: int,
    save_every: int = 1,
    checkpoint: str | None = None,
    checkpoints: int | None = None,
    length: float | tuple[float, float] = 2 * math.pi,
) -> Traj:
    """2D Navier–Stokes (vorticity ``ω``) with linear drag and Kolmogorov forcing."""
    loop = _Loop(num_steps, save_every, checkpoint, checkpoints)
    return _run(
        navier_stokes_2d,
        w0,
        2,
        0,
        length,
        loop,
        dt,
        nu,
        drag,
        forcing,
        forcing_wavenumber=forcing_wavenumber,
        name="w0",
    )
