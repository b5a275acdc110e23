r"""First-order upwind advection with a constant velocity, 1D and 2D.

.. math:: u_t + \mathbf c \cdot \nabla u = 0, \qquad
   u_i^{n+1} = u_i^n - \Delta t \sum_a
   \frac{c_a^+ (u_i - u_{i - e_a}) + c_a^- (u_{i + e_a} - u_i)}{h_a}

with :math:`c^+ = \max(c, 0)`, :math:`c^- = \min(c, 0)` (forward Euler in time, one-sided
differences taken from the upwind side; Courant–Isaacson–Rees 1952, LeVeque *Finite Volume
Methods for Hyperbolic Problems* §4.10). First order in space and time; stable and monotone for
the Courant number :math:`\sum_a |c_a| \Delta t / h_a \le 1`, which is checked.

Boundaries: ``"periodic"``, or ``"dirichlet"``: ``u`` includes the boundary nodes of the last
``ndim`` axes and they are held at their values (at an inflow boundary this is the Dirichlet
data; at an outflow boundary the held node is never read by the upwind stencil, so it does not
affect the interior).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

from parallax.kernels._checks import as_real, check_finite, check_positive
from parallax.kernels._rollout import rollout
from parallax.kernels.pde._fd_stencil import (
    BC,
    check_courant,
    check_grid,
    check_spacing,
    periodic_shift,
)

__all__ = [
    "advection_1d_rollout",
    "advection_1d_step",
    "advection_2d_rollout",
    "advection_2d_step",
    "upwind_rate",
    "upwind_rate_padded",
]


def _per_axis(x: Array, ndim: int) -> list[Array]:
    return [x if x.ndim == 0 else x[a] for a in range(ndim)]


def upwind_rate_padded(
    up: Float[Array, "*batch ..."], c: Float[Array, "*d"], dx: Float[Array, "*d"], *, ndim: int
) -> Float[Array, "*batch ..."]:
    """``-c·∇u`` (upwind) on an array with one halo cell on each side of its last ``ndim``
    axes; returns the interior. Slicing only (reusable on an exchanged local block)."""
    lead = up.ndim - ndim
    interior = [slice(None)] * lead + [slice(1, up.shape[lead + a] - 1) for a in range(ndim)]
    centre = up[tuple(interior)]
    cs, hs = _per_axis(c, ndim), _per_axis(dx, ndim)
    total = None
    for a in range(ndim):
        ax = lead + a
        m = up.shape[ax] - 2
        lo, hi = list(interior), list(interior)
        lo[ax], hi[ax] = slice(0, m), slice(2, m + 2)
        back = centre - up[tuple(lo)]
        fwd = up[tuple(hi)] - centre
        term = (jnp.maximum(cs[a], 0) * back + jnp.minimum(cs[a], 0) * fwd) / hs[a]
        total = term if total is None else total + term
    assert total is not None
    return -total


def upwind_rate(
    u: Float[Array, "*batch ..."],
    c: Float[Array, "*d"],
    dx: Float[Array, "*d"],
    *,
    ndim: int,
    bc: BC = "periodic",
) -> Float[Array, "*batch ..."]:
    """``-c·∇u`` with upwind differences on the last ``ndim`` axes (zero on held Dirichlet
    boundary nodes). No input checks: the steppers check once."""
    lead = u.ndim - ndim
    if bc == "dirichlet":
        inner = upwind_rate_padded(u, c, dx, ndim=ndim)
        zero = jnp.zeros((), u.dtype)
        return lax.pad(inner, zero, [(0, 0, 0)] * lead + [(1, 1, 0)] * ndim)
    cs, hs = _per_axis(c, ndim), _per_axis(dx, ndim)
    total = None
    for a in range(ndim):
        ax = lead + a
        back = u - periodic_shift(u, 1, ax)  # u_i - u_{i-1}
        fwd = periodic_shift(u, -1, ax) - u  # u_{i+1} - u_i
        term = (jnp.maximum(cs[a], 0) * back + jnp.minimum(cs[a], 0) * fwd) / hs[a]
        total = term if total is None else total + term
    assert total is not None
    return -total


def _check(
    u: Array,
    c: Array | float,
    dt: Array | float,
    dx: Array | float,
    ndim: int,
    bc: str,
    name: str = "u",
) -> tuple[Array, Array, Array, Array]:
    check_grid(name, u, ndim, 2, bc)
    c = as_real("c", c, u.dtype, shape=() if ndim == 1 else (ndim,))
    dt = as_real("dt", dt, u.dtype)
    dx = check_spacing(dx, u.dtype, ndim)
    dt = check_positive("dt", check_finite("dt", dt))
    c = check_finite("c", c)
    # Beyond Courant number 1 forward-Euler upwind grows without bound: refuse, not blow up.
    courant = dt * jnp.sum(jnp.abs(c) / dx)
    c = check_courant(c, courant, 1.0, "c", "sum(|c| dt / dx)")
    return check_finite(name, u), c, dt, dx


def _step(u: Array, c: Array, dt: Array, dx: Array, ndim: int, bc: BC) -> Array:
    return u + dt * upwind_rate(u, c, dx, ndim=ndim, bc=bc)


def advection_1d_step(
    u: Float[Array, "*batch n"],
    c: Float[Array, ""] | float,
    dt: Float[Array, ""] | float,
    dx: Float[Array, ""] | float,
    *,
    bc: BC = "periodic",
) -> Float[Array, "*batch n"]:
    """One forward-Euler upwind step of ``u_t + c u_x = 0`` on the last axis."""
    u, c, dt, dx = _check(u, c, dt, dx, 1, bc)
    return _step(u, c, dt, dx, 1, bc)


def advection_1d_rollout(
    u0: Float[Array, "*batch n"],
    c: Float[Array, ""] | float,
    dt: Float[Array, ""] | float,
    dx: Float[Array, ""] | float,
    *,
    num_steps: int,
    save_every: int = 1,
    bc: BC = "periodic",
    checkpoint: str | None = None,
    checkpoints: int | None = None,
) -> tuple[Float[Array, "*batch n"], Float[Array, "t *batch n"]]:
    """``num_steps`` upwind steps on ``lax.scan``; returns ``(final, trajectory)`` with the
    state after every ``save_every`` steps. ``checkpoint`` / ``checkpoints`` bound the memory of
    reverse mode (:func:`parallax.kernels.rollout`)."""
    u0, c, dt, dx = _check(u0, c, dt, dx, 1, bc, "u0")
    return rollout(
        lambda u: _step(u, c, dt, dx, 1, bc),
        u0,
        num_steps,
        save_every=save_every,
        checkpoint=checkpoint,
        checkpoints=checkpoints,
    )


def advection_2d_step(
    u: Float[Array, "*batch nx ny"],
    c: Float[Array, " 2"],
    dt: Float[Array, ""] | float,
    dx: Float[Array, "*d"] | float,
    *,
    bc: BC = "periodic",
) -> Float[Array, "*batch nx ny"]:
    """One upwind step of ``u_t + c_x u_x + c_y u_y = 0`` on the last two axes."""
    u, c, dt, dx = _check(u, c, dt, dx, 2, bc)
    return _step(u, c, dt, dx, 2, bc)


def advection_2d_rollout(
    u0: Float[Array, "*batch nx ny"],
    c: Float[Array, " 2"],
    dt: Float[Array, ""] | float,
    dx: Float[Array, "*d"] | float,
    *,
    num_steps: int,
    save_every: int = 1,
    bc: BC = "periodic",
    checkpoint: str | None = None,
    checkpoints: int | None = None,
) -> tuple[Float[Array, "*batch nx ny"], Float[Array, "t *batch nx ny"]]:
    """``num_steps`` 2D upwind steps on ``lax.scan``; returns ``(final, trajectory)``
    (``checkpoint`` / ``checkpoints``: :func:`parallax.kernels.rollout`)."""
    u0, c, dt, dx = _check(u0, c, dt, dx, 2, bc, "u0")
    return rollout(
        lambda u: _step(u, c, dt, dx, 2, bc),
        u0,
        num_steps,
        save_every=save_every,
        checkpoint=checkpoint,
        checkpoints=checkpoints,
    )
