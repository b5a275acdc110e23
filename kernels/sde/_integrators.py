r"""Euler–Maruyama and Milstein for Itô SDEs with scalar noise, on pre-drawn Brownian increments.

.. math:: dX_t = f(X_t, t)\,dt + g(X_t, t)\,dW_t

* Euler–Maruyama: :math:`X_{n+1} = X_n + f\,\Delta t + g\,\Delta W_n` — strong order 1/2,
  weak order 1 (Kloeden & Platen, *Numerical Solution of SDEs*, 1992, §10.2).
* Milstein: adds :math:`\tfrac12 (\partial_x g\, g)(\Delta W_n^2 - \Delta t)` — strong order 1
  (Kloeden & Platen §10.3; Higham, *SIAM Review* 43, 2001). :math:`(\partial_x g)\, g` is the
  Jacobian–vector product ``jvp(g, x, g(x))``; this is Milstein for *scalar* noise: every group
  of state components that share one Brownian increment is driven by that increment alone.

Noise layout: ``dW`` has shape ``(num_steps, *noise)``, where ``noise`` has ``x0``'s rank and
broadcasts against ``x0.shape``: ``noise == x0.shape`` is a batch of independent scalar SDEs
(one Brownian path per element, each element's ``g`` depending only on that element); a size-1
axis shares one increment along it (a vector SDE driven by one Brownian motion per path).

Randomness is an *input*: the steppers take ``dW`` (so a torch twin fed the same ``dW`` matches
exactly, and gradients flow through a fixed path); :func:`brownian_increments` draws it from an
explicit PRNG key, and :func:`solve_from_key` does both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float, PRNGKeyArray

from parallax.kernels._checks import (
    as_real,
    check_array,
    check_finite,
    check_positive,
    check_returns,
    check_state_dtype,
)

__all__ = ["brownian_increments", "euler_maruyama", "milstein", "solve_from_key"]

Field = Callable[[Array, Array, Any], Array]
"""``f(x, t, args) -> array`` with ``x``'s shape (drift or diffusion)."""
Method = Literal["euler_maruyama", "milstein"]


def brownian_increments(
    key: PRNGKeyArray,
    dt: Float[Array, ""] | float,
    num_steps: int,
    shape: tuple[int, ...],
    dtype: Any = jnp.float32,
) -> Float[Array, " num_steps *shape"]:
    """``num_steps`` independent increments ``ΔW ~ N(0, dt)`` of shape ``shape`` each."""
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps: expected a positive int, got {num_steps!r}")
    dt = check_positive("dt", as_real("dt", dt, dtype))
    return jnp.sqrt(dt) * jax.random.normal(key, (num_steps, *shape), dtype=dtype)


def _check(x0: Array, dt: Array | float, dW: Array, save_every: int) -> tuple[Array, Array, Array]:
    check_array("x0", x0)
    check_state_dtype("x0", x0)
    check_array("dW", dW, min_ndim=1)
    if dW.dtype != x0.dtype:
        raise TypeError(f"dW: expected dtype {x0.dtype} (as x0), got {dW.dtype}")
    noise = tuple(dW.shape[1:])
    ok = len(noise) == x0.ndim and all(n in (1, s) for n, s in zip(noise, x0.shape, strict=True))
    if not ok:
        raise ValueError(
            f"dW: expected shape (num_steps, *noise) with noise broadcastable to x0's shape "
            f"{tuple(x0.shape)} at the same rank, got {tuple(dW.shape)}"
        )
    num_steps = dW.shape[0]
    if not isinstance(save_every, int) or save_every < 1 or num_steps % save_every:
        raise ValueError(
            f"save_every: expected a positive divisor of num_steps={num_steps}, got {save_every!r}"
        )
    dt = as_real("dt", dt, x0.dtype)
    dt = check_positive("dt", check_finite("dt", dt))
    # dW's values are not checked: a traced check on the whole noise array costs more than the
    # solve (the checked array is copied on every call), and NaN or Inf in dW shows as NaN or Inf
    # in the path, not as a plausible wrong answer.
    return check_finite("x0", x0), dt, dW


def _solve(
    method: Method,
    drift: Field,
    diffusion: Field,
    x0: Array,
    dt: Array | float,
    dW: Array,
    args: Any,
    t0: Array | float,
    save_every: int,
) -> tuple[Array, Array]:
    x0, dt, dW = _check(x0, dt, dW, save_every)
    t0 = as_real("t0", t0, x0.dtype)

    def step(carry: tuple[Array, Array], dw: Array) -> tuple[tuple[Array, Array], None]:
        x, n = carry
        t = t0 + n.astype(x.dtype) * dt
        g = diffusion(x, t, args)
        check_returns("diffusion", g, x, "x0")
        f = drift(x, t, args)
        check_returns("drift", f, x, "x0")
        x_new = x + f * dt + g * dw
        if method == "milstein":
            _, dg_g = jax.jvp(lambda y: diffusion(y, t, args), (x,), (g,))
            x_new = x_new + 0.5 * dg_g * (dw * dw - dt)
        return (x_new, n + 1), None

    def chunk(carry: tuple[Array, Array], dws: Array) -> tuple[tuple[Array, Array], Array]:
        carry, _ = lax.scan(step, carry, dws)
        return carry, carry[0]

    num_steps = dW.shape[0]
    chunks = dW.reshape(num_steps // save_every, save_every, *dW.shape[1:])
    (final, _), traj = lax.scan(chunk, (x0, jnp.zeros((), jnp.int32)), chunks)
    return final, traj


def euler_maruyama(
    drift: Field,
    diffusion: Field,
    x0: Float[Array, "*shape"],
    dt: Float[Array, ""] | float,
    dW: Float[Array, " num_steps *noise"],
    args: Any = None,
    *,
    t0: Float[Array, ""] | float = 0.0,
    save_every: int = 1,
) -> tuple[Float[Array, "*shape"], Float[Array, " saves *shape"]]:
    """``X_{n+1} = X_n + f(X_n, t_n) dt + g(X_n, t_n) ΔW_n`` over ``dW.shape[0]`` steps on
    ``lax.scan``. Returns ``(final, trajectory)``, the trajectory holding the state after every
    ``save_every`` steps. ``drift``/``diffusion`` are ``f(x, t, args)``."""
    return _solve("euler_maruyama", drift, diffusion, x0, dt, dW, args, t0, save_every)


def milstein(
    drift: Field,
    diffusion: Field,
    x0: Float[Array, "*shape"],
    dt: Float[Array, ""] | float,
    dW: Float[Array, " num_steps *noise"],
    args: Any = None,
    *,
    t0: Float[Array, ""] | float = 0.0,
    save_every: int = 1,
) -> tuple[Float[Array, "*shape"], Float[Array, " saves *shape"]]:
    """Euler–Maruyama plus ``½ (∂g/∂x · g)(ΔW_n² − dt)`` (scalar noise); same signature."""
    return _solve("milstein", drift, diffusion, x0, dt, dW, args, t0, save_every)


def solve_from_key(
    key: PRNGKeyArray,
    method: Method,
    drift: Field,
    diffusion: Field,
    x0: Float[Array, "*shape"],
    dt: Float[Array, ""] | float,
    num_steps: int,
    args: Any = None,
    *,
    noise_shape: tuple[int, ...] | None = None,
    t0: Float[Array, ""] | float = 0.0,
    save_every: int = 1,
) -> tuple[Float[Array, "*shape"], Float[Array, " saves *shape"], Float[Array, " n *noise"]]:
    """Draw ``dW`` from ``key`` (shape ``(num_steps, *noise_shape)``, default ``x0.shape``) and
    integrate; returns ``(final, trajectory, dW)`` so the path can be replayed or compared."""
    if method not in ("euler_maruyama", "milstein"):
        raise ValueError(f"method: expected 'euler_maruyama' or 'milstein', got {method!r}")
    check_array("x0", x0)
    shape = tuple(x0.shape) if noise_shape is None else tuple(noise_shape)
    dW = brownian_increments(key, dt, num_steps, shape, dtype=x0.dtype)
    final, traj = _solve(method, drift, diffusion, x0, dt, dW, args, t0, save_every)
    return final, traj, dW
