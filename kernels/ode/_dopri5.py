"""Adaptive Dormand–Prince 5(4) with a PI step-size controller and dense output, under ``jit``.

Dormand & Prince, J. Comput. Appl. Math. 6 (1980) 19–26, with Hairer's order-4 dense output and
the PI controller of Hairer & Wanner (diffrax's ``PIDController(pcoeff=0.4, icoeff=0.3)``). The
method, the controller, the relation to diffrax's ``Dopri5`` (whose error estimate is 2/3 of this
one), termination and differentiation (``loop="while"`` vs ``"scan"``) are explained in the
documentation's Dormand–Prince page (``docs/background/dopri5.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float, Int

from parallax.kernels._checks import (
    as_real,
    branched_error_if,
    check_array,
    check_finite,
    check_positive,
    check_returns,
    check_state_dtype,
    error_if,
    is_concrete,
)
from parallax.kernels.ode._dopri5_np import (
    ERROR_ORDER,
    MAX_STEPS_REACHED,
    NONFINITE,
    RUNNING,
    STATUS_MESSAGES,
    STEP_SIZE_UNDERFLOW,
    SUCCESS,
    A,
    C,
    D,
    E,
)

__all__ = [
    "MAX_STEPS_REACHED",
    "NONFINITE",
    "STATUS_MESSAGES",
    "STEP_SIZE_UNDERFLOW",
    "SUCCESS",
    "ODESolution",
    "dopri5",
    "dopri5_step",
    "status_message",
]


class ODESolution(NamedTuple):
    """Result of :func:`dopri5`.

    ``ys[i]`` is the solution at ``ts[i]`` (NaN where the solve stopped before ``ts[i]``);
    ``status`` is one of :data:`SUCCESS`, :data:`MAX_STEPS_REACHED`,
    :data:`STEP_SIZE_UNDERFLOW`, :data:`NONFINITE` (see :data:`STATUS_MESSAGES`).
    """

    ts: Float[Array, " times"]
    ys: Float[Array, " times *state"]
    status: Int[Array, ""]
    num_accepted: Int[Array, ""]
    num_rejected: Int[Array, ""]


class _State(NamedTuple):
    t: Array
    y: Array
    k1: Array  # f(t, y), reused by FSAL
    h: Array  # proposed next step (before clipping to the end)
    prev_inv: Array  # 1 / ε of the last accepted step
    ys: Array
    idx: Array  # next save index (while loop only)
    n_acc: Array
    n_rej: Array
    status: Array


def _lincomb(coeffs: tuple[float, ...], ks: list[Array]) -> Array:
    out = None
    for c, k in zip(coeffs, ks, strict=False):
        if c != 0.0:
            term = c * k
            out = term if out is None else out + term
    assert out is not None
    return out


def _stages(f: Callable[..., Array], t: Array, y: Array, k1: Array, h: Array, params: Any):
    ks = [k1]
    for i in range(1, 6):
        ks.append(f(t + C[i] * h, y + h * _lincomb(A[i], ks), params))
    y5 = y + h * _lincomb(A[6], ks)
    ks.append(f(t + h, y5, params))
    return y5, h * _lincomb(E, ks), ks


def dopri5_step(
    f: Callable[[Array, Array, Any], Array],
    t: Float[Array, ""],
    y: Float[Array, "*state"],
    h: Float[Array, ""],
    params: Any,
) -> tuple[Float[Array, "*state"], Float[Array, "*state"]]:
    """One Dormand–Prince step of size ``h``: ``(y_5th_order, error_estimate)`` (fixed step)."""
    y5, err, _ = _stages(f, t, y, f(t, y, params), h, params)
    return y5, err


def _dense(y: Array, y5: Array, ks: list[Array], h: Array, theta: Array) -> Array:
    """HNW's CONTD5 at ``theta`` (shape ``(m,)``, broadcast over the state axes)."""
    r2 = y5 - y
    r3 = h * ks[0] - r2
    r4 = r2 - h * ks[6] - r3
    r5 = h * _lincomb(D, ks)
    th = theta.reshape(theta.shape + (1,) * y.ndim)
    th1 = 1 - th
    y, r2, r3, r4, r5 = (r[None] for r in (y, r2, r3, r4, r5))
    return y + th * (r2 + th1 * (r3 + th * (r4 + th1 * r5)))


def _check_increasing(ts: Array) -> Array:
    bad = jnp.any(ts[1:] <= ts[:-1])
    msg = "ts: expected strictly increasing save times"
    if is_concrete(bad):
        if bool(bad):
            raise ValueError(msg)
        return ts
    return error_if(ts, bad, msg)


def dopri5(
    f: Callable[[Array, Array, Any], Array],
    y0: Float[Array, "*state"],
    ts: Float[Array, " times"],
    params: Any,
    rtol: Float[Array, ""] | float,
    atol: Float[Array, ""] | float,
    dt0: Float[Array, ""] | float,
    *,
    max_steps: int = 4096,
    loop: Literal["while", "scan"] = "while",
    throw: bool = True,
    pcoeff: float = 0.4,
    icoeff: float = 0.3,
    safety: float = 0.9,
    factor_min: float = 0.2,
    factor_max: float = 10.0,
) -> ODESolution:
    """Solve ``y' = f(t, y, params)``, ``y(ts[0]) = y0``, and return ``y`` at every ``ts``.

    Args:
      f: vector field ``f(t, y, params)`` (pure; same shape and dtype as ``y``).
      y0: initial state, any shape (the error norm is the RMS over all its elements, so a
        batch in ``y0`` shares one step size; ``vmap`` for independent steps).
      ts: strictly increasing save times, shape ``(T,)``; integration runs from ``ts[0]`` to
        ``ts[-1]``; ``ys[0] = y0``.
      params: any pytree passed to ``f``.
      rtol, atol: tolerances (> 0), scalar arrays: changing them does not recompile.
      dt0: the first step size (> 0), a scalar array.
      max_steps: static bound on attempted steps (accepted + rejected).
      loop: ``"while"`` (stops when done; forward-mode AD only) or ``"scan"`` (``max_steps``
        masked iterations; reverse-mode AD too); see ``docs/background/dopri5.md``.
      throw: raise when the solve fails (max_steps used up, step-size underflow, a non-finite
        vector field): ``ValueError`` at once when the status is concrete, else a run-time
        error under ``jit`` (under ``vmap``: when any solve fails). ``False`` returns the
        status instead, with NaN at the save times not reached.
      pcoeff, icoeff, safety, factor_min, factor_max: the PI controller (static).

    Returns:
      :class:`ODESolution` ``(ts, ys, status, num_accepted, num_rejected)``.
    """
    check_array("y0", y0)
    check_state_dtype("y0", y0)
    dtype = y0.dtype
    ts = as_real("ts", ts, dtype, shape=None)
    check_array("ts", ts, ndim=1)
    if ts.shape[0] < 1:
        raise ValueError("ts: expected at least one save time")
    rtol, atol, dt0 = (
        as_real(n, x, dtype) for n, x in (("rtol", rtol), ("atol", atol), ("dt0", dt0))
    )
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps: expected a positive int, got {max_steps!r}")
    if loop not in ("while", "scan"):
        raise ValueError(f"loop: expected 'while' or 'scan', got {loop!r}")
    y0 = check_finite("y0", y0)
    ts = _check_increasing(check_finite("ts", ts))
    rtol, atol, dt0 = (
        check_positive(n, x) for n, x in (("rtol", rtol), ("atol", atol), ("dt0", dt0))
    )

    n_t = ts.shape[0]
    t0, t_end = ts[0], ts[-1]
    eps = float(jnp.finfo(dtype).eps)
    tiny = float(jnp.finfo(dtype).tiny)
    t_floor = t_end - 100 * eps * jnp.abs(t_end)  # land exactly on t_end from within 100 ulp
    span = t_end - t0
    a_i = (pcoeff + icoeff) / ERROR_ORDER
    a_p = pcoeff / ERROR_ORDER
    scan = loop == "scan"

    k1 = f(t0, y0, params)
    check_returns("f", k1, y0, "y0")
    ys = jnp.full((n_t, *y0.shape), jnp.nan, dtype=dtype).at[0].set(y0)
    status = jnp.where(
        jnp.all(jnp.isfinite(k1)), jnp.where(n_t == 1, SUCCESS, RUNNING), NONFINITE
    ).astype(jnp.int32)
    zero = jnp.zeros((), jnp.int32)
    init = _State(t0, y0, k1, dt0, jnp.ones((), dtype), ys, zero + 1, zero, zero, status)

    def body(s: _State) -> _State:
        running = s.status == RUNNING
        clip = s.t + s.h > t_floor
        h = jnp.where(clip, t_end - s.t, s.h)
        if scan:  # finished iterations still compute (masked): keep h > 0 so grads stay finite
            h = jnp.where(running, h, s.h)
        y5, err, ks = _stages(f, s.t, s.y, s.k1, h, params)
        finite = jnp.all(jnp.isfinite(y5)) & jnp.all(jnp.isfinite(ks[6]))
        scale = atol + rtol * jnp.maximum(jnp.abs(s.y), jnp.abs(y5))
        ms = jnp.mean(jnp.square(jnp.where(finite, err, 0) / scale))
        finite = finite & jnp.isfinite(ms)
        eps_n = jnp.sqrt(jnp.maximum(jnp.where(finite, ms, 1), tiny))
        accept = finite & (eps_n < 1)
        inv = 1 / eps_n
        raw = safety * inv**a_i * s.prev_inv ** (-a_p)
        factor = jnp.clip(
            raw, jnp.where(accept, 1.0, factor_min), jnp.where(accept, factor_max, safety)
        )
        factor = jnp.where(finite, factor, factor_min)
        h_next = h * factor

        t_new = jnp.where(accept, jnp.where(clip, t_end, s.t + h), s.t)
        y_new = jnp.where(accept, y5, s.y)
        k1_new = jnp.where(accept, ks[6], s.k1)
        prev_inv = jnp.where(accept, inv, s.prev_inv)

        ys, idx = s.ys, s.idx
        if scan:
            theta = (ts - s.t) / h
            hit = accept & (ts > s.t) & (ts <= t_new)
            hit = hit.reshape(hit.shape + (1,) * y5.ndim)
            ys = jnp.where(hit, _dense(s.y, y5, ks, h, theta), ys)
        else:

            def more(c: tuple[Array, Array]) -> Array:
                i = c[1]
                return accept & (i < n_t) & (ts[jnp.minimum(i, n_t - 1)] <= t_new)

            def save(c: tuple[Array, Array]) -> tuple[Array, Array]:
                out, i = c
                value = _dense(s.y, y5, ks, h, ((ts[i] - s.t) / h)[None])[0]
                return out.at[i].set(value), i + 1

            # the cond skips the inner loop on steps that save nothing (most of them): ~10%
            # faster per step on CPU than entering an empty while_loop
            ys, idx = lax.cond(
                more((ys, idx)), lambda c: lax.while_loop(more, save, c), lambda c: c, (ys, idx)
            )

        done = accept & (t_new >= t_end)
        small = h_next <= 10 * eps * jnp.maximum(jnp.abs(t_new), jnp.abs(span))
        status = jnp.where(
            done,
            SUCCESS,
            jnp.where(small, jnp.where(finite, STEP_SIZE_UNDERFLOW, NONFINITE), RUNNING),
        ).astype(jnp.int32)
        new = _State(
            t_new,
            y_new,
            k1_new,
            h_next,
            prev_inv,
            ys,
            idx,
            s.n_acc + accept.astype(jnp.int32),
            s.n_rej + (~accept).astype(jnp.int32),
            status,
        )
        if scan:
            return jax.tree.map(lambda a, b: jnp.where(running, a, b), new, s)
        return new

    if scan:
        final, _ = lax.scan(lambda s, _: (body(s), None), init, None, length=max_steps)
    else:
        final = lax.while_loop(
            lambda s: (s.status == RUNNING) & (s.n_acc + s.n_rej < max_steps), body, init
        )
    status = jnp.where(final.status == RUNNING, MAX_STEPS_REACHED, final.status)
    sol = ODESolution(ts, final.ys, status.astype(jnp.int32), final.n_acc, final.n_rej)
    if not throw:
        return sol
    return branched_error_if(sol, sol.status != SUCCESS, sol.status, _failure_messages(max_steps))


def _failure_messages(max_steps: int) -> list[str]:
    """What a failed solve raises, indexed by status, each saying what to change."""
    partial = "or pass throw=False to get the status and the solution up to the failure"
    by_status = {
        MAX_STEPS_REACHED: f"max_steps: the solve needed more than max_steps={max_steps} steps "
        f"(accepted + rejected) to reach ts[-1]; raise max_steps, loosen rtol/atol (or shorten "
        f"ts), {partial}",
        STEP_SIZE_UNDERFLOW: "f: the step size underflowed before ts[-1] (the problem is too "
        "stiff or singular for an explicit solver at these tolerances); check f and params near "
        f"the failure, loosen rtol/atol, {partial}",
        NONFINITE: "f: returned NaN or Inf and no smaller step avoided it (the solution blows up "
        f"or f is undefined there); check f, y0 and params, {partial}",
    }
    return [by_status.get(code, "") for code in range(max(by_status) + 1)]


def status_message(status: Any) -> str:
    """Human-readable text for a status code (concrete values only)."""
    return STATUS_MESSAGES.get(int(np.asarray(status)), f"unknown status {status!r}")
