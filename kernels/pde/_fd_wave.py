r"""The 2D wave equation with the leapfrog (central second difference) scheme.

.. math:: u_{tt} = c^2 \nabla^2 u, \qquad
   u^{n+1} = 2u^n - u^{n-1} + (c\,\Delta t)^2\, \nabla^2_h u^n

(LeVeque, *Finite Difference Methods for ODEs and PDEs* §10.x; the Laplacian from
:mod:`._fd_stencil`, order 2 or 4). The state is the pair ``(u^{n-1}, u^n)``. Second order in
time; stable for :math:`(c\Delta t)^2 \rho(-\nabla^2_h) \le 4`, i.e.
``c dt sqrt(sum_a w / h_a^2) / 2 <= 1`` with ``w = 4`` (order 2) or ``16/3`` (order 4), which
is checked.

With a symmetric :math:`\nabla^2_h` (periodic, or homogeneous Dirichlet at order 2) leapfrog
conserves the discrete energy exactly (to rounding):

.. math:: E^{n-1/2} = \tfrac12 \Big\|\frac{u^n - u^{n-1}}{\Delta t}\Big\|^2
   - \tfrac12 c^2 \langle u^n, \nabla^2_h u^{n-1} \rangle

(sums times the cell volume). ``bc="dirichlet"``: boundary nodes are held at their values in
``u^n``.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from parallax.kernels._checks import as_real, check_array, check_finite, check_positive
from parallax.kernels._rollout import rollout
from parallax.kernels.pde._fd_stencil import (
    BC,
    boundary_mask,
    check_courant,
    check_grid,
    check_spacing,
    laplacian_dirichlet,
    laplacian_periodic,
)

__all__ = ["wave_2d_energy", "wave_2d_rollout", "wave_2d_start", "wave_2d_step"]

Field = Float[Array, "*batch nx ny"]
_RHO = {2: 4.0, 4: 16.0 / 3.0}  # spectral radius of h^2 * (-d2) in 1D


def _lap(u: Array, dx: Array, order: int, bc: BC) -> Array:
    if bc == "periodic":
        return laplacian_periodic(u, dx, ndim=2, order=order)
    return laplacian_dirichlet(u, dx, ndim=2, order=order)


def _check(
    u_prev: Array,
    u: Array,
    c: Array | float,
    dt: Array | float,
    dx: Array | float,
    order: int,
    bc: str,
    prev: str = "u_prev",
    name: str = "u",
) -> tuple[Array, Array, Array, Array, Array]:
    check_grid(name, u, 2, order, bc)
    check_array(prev, u_prev, shape=tuple(u.shape))
    if u_prev.dtype != u.dtype:
        raise TypeError(f"{prev}: expected dtype {u.dtype} (as {name}), got {u_prev.dtype}")
    c = as_real("c", c, u.dtype)
    dt = as_real("dt", dt, u.dtype)
    dx = check_spacing(dx, u.dtype, 2)
    dt = check_positive("dt", check_finite("dt", dt))
    c = check_positive("c", check_finite("c", c))
    inv = 1.0 / (dx * dx)
    s = 2 * inv if dx.ndim == 0 else jnp.sum(inv)
    courant = c * dt * jnp.sqrt(_RHO[order] * s) / 2
    c = check_courant(c, courant, 1.0, "c", "c dt sqrt(w sum 1/h^2) / 2")
    return check_finite(prev, u_prev), check_finite(name, u), c, dt, dx


def _leapfrog(
    state: tuple[Array, Array], c: Array, dt: Array, dx: Array, order: int, bc: BC
) -> tuple[Array, Array]:
    u_prev, u = state
    k = (c * dt) ** 2
    u_next = 2 * u - u_prev + k * _lap(u, dx, order, bc)
    if bc == "dirichlet":
        u_next = jnp.where(boundary_mask(u.shape, 2), u_next, u)
    return u, u_next


def wave_2d_step(
    u_prev: Float[Array, "*batch nx ny"],
    u: Float[Array, "*batch nx ny"],
    c: Float[Array, ""] | float,
    dt: Float[Array, ""] | float,
    dx: Float[Array, "*d"] | float,
    *,
    order: int = 2,
    bc: BC = "periodic",
) -> tuple[Float[Array, "*batch nx ny"], Float[Array, "*batch nx ny"]]:
    """One leapfrog step: ``(u^{n-1}, u^n) -> (u^n, u^{n+1})``."""
    u_prev, u, c, dt, dx = _check(u_prev, u, c, dt, dx, order, bc)
    return _leapfrog((u_prev, u), c, dt, dx, order, bc)


def wave_2d_rollout(
    u_prev: Float[Array, "*batch nx ny"],
    u: Float[Array, "*batch nx ny"],
    c: Float[Array, ""] | float,
    dt: Float[Array, ""] | float,
    dx: Float[Array, "*d"] | float,
    *,
    num_steps: int,
    save_every: int = 1,
    order: int = 2,
    bc: BC = "periodic",
    checkpoint: str | None = None,
    checkpoints: int | None = None,
) -> tuple[tuple[Field, Field], Float[Array, "t *batch nx ny"]]:
    """``num_steps`` leapfrog steps on ``lax.scan``.

    Returns ``((u^{N-1}, u^N), trajectory)``; the trajectory holds ``u`` after every
    ``save_every`` steps, shape ``(num_steps // save_every, *batch, nx, ny)``. Start from
    ``(wave_2d_start(u0, v0, ...), u0)`` for an initial displacement and velocity.
    ``checkpoint`` / ``checkpoints``: as :func:`parallax.kernels.rollout`.
    """
    u_prev, u, c, dt, dx = _check(u_prev, u, c, dt, dx, order, bc)
    final, traj = rollout(
        lambda s: _leapfrog(s, c, dt, dx, order, bc),
        (u_prev, u),
        num_steps,
        save_every=save_every,
        checkpoint=checkpoint,
        checkpoints=checkpoints,
    )
    return final, traj[1]


def wave_2d_start(
    u0: Float[Array, "*batch nx ny"],
    v0: Float[Array, "*batch nx ny"],
    c: Float[Array, ""] | float,
    dt: Float[Array, ""] | float,
    dx: Float[Array, "*d"] | float,
    *,
    order: int = 2,
    bc: BC = "periodic",
) -> Float[Array, "*batch nx ny"]:
    """The fictitious ``u^{-1} = u0 - dt v0 + (c dt)^2/2 ∇²_h u0``, so the first leapfrog step
    is the second-order Taylor start ``u^1 = u0 + dt v0 + (c dt)^2/2 ∇²_h u0``."""
    v0, u0, c, dt, dx = _check(v0, u0, c, dt, dx, order, bc, prev="v0", name="u0")
    u_prev = u0 - dt * v0 + 0.5 * (c * dt) ** 2 * _lap(u0, dx, order, bc)
    if bc == "dirichlet":
        u_prev = jnp.where(boundary_mask(u0.shape, 2), u_prev, u0)
    return u_prev


def wave_2d_energy(
    u_prev: Float[Array, "*batch nx ny"],
    u: Float[Array, "*batch nx ny"],
    c: Float[Array, ""] | float,
    dt: Float[Array, ""] | float,
    dx: Float[Array, "*d"] | float,
    *,
    order: int = 2,
    bc: BC = "periodic",
) -> Float[Array, "*batch"]:
    """The leapfrog-conserved energy ``E^{n-1/2}`` of the state ``(u^{n-1}, u^n)``, one value
    per batch element (exactly conserved for a symmetric Laplacian; see the module docs)."""
    u_prev, u, c, dt, dx = _check(u_prev, u, c, dt, dx, order, bc)
    vol = dx * dx if dx.ndim == 0 else dx[0] * dx[1]
    vel = (u - u_prev) / dt
    dens = 0.5 * vel * vel - 0.5 * c * c * u * _lap(u_prev, dx, order, bc)
    return vol * jnp.sum(dens, axis=(-2, -1))
