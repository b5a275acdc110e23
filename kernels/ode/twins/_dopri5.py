"""Torch twin of :mod:`parallax.kernels.ode._dopri5`: the same Dormand–Prince 5(4) pair, PI
controller and dense output, as an eager Python ``while`` loop (autograd differentiates through
the accepted steps and the controller, like the JAX ``loop="scan"`` variant)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from parallax.kernels.ode._dopri5_np import (
    ERROR_ORDER,
    MAX_STEPS_REACHED,
    NONFINITE,
    STEP_SIZE_UNDERFLOW,
    SUCCESS,
    A,
    C,
    D,
    E,
)

Field = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]


def _lincomb(coeffs: tuple[float, ...], ks: list[torch.Tensor]) -> torch.Tensor:
    out = None
    for c, k in zip(coeffs, ks, strict=False):
        if c != 0.0:
            term = c * k
            out = term if out is None else out + term
    assert out is not None
    return out


def _stages(
    f: Field, t: torch.Tensor, y: torch.Tensor, k1: torch.Tensor, h: torch.Tensor, params: Any
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    ks = [k1]
    for i in range(1, 6):
        ks.append(f(t + C[i] * h, y + h * _lincomb(A[i], ks), params))
    y5 = y + h * _lincomb(A[6], ks)
    ks.append(f(t + h, y5, params))
    return y5, h * _lincomb(E, ks), ks


def _num(x: torch.Tensor | float) -> float:
    """A Python float for control flow (detached: decisions are not differentiated)."""
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)


def _dense(y, y5, ks, h, theta):
    r2 = y5 - y
    r3 = h * ks[0] - r2
    r4 = r2 - h * ks[6] - r3
    r5 = h * _lincomb(D, ks)
    th1 = 1 - theta
    return y + theta * (r2 + th1 * (r3 + theta * (r4 + th1 * r5)))


def dopri5(
    f: Field,
    y0: torch.Tensor,
    ts: torch.Tensor,
    params: Any,
    rtol: torch.Tensor,
    atol: torch.Tensor,
    dt0: torch.Tensor,
    *,
    max_steps: int = 4096,
    loop: str = "while",
    pcoeff: float = 0.4,
    icoeff: float = 0.3,
    safety: float = 0.9,
    factor_min: float = 0.2,
    factor_max: float = 10.0,
) -> tuple[torch.Tensor, int, int, int]:
    """Returns ``(ys, status, num_accepted, num_rejected)``; ``loop`` is accepted and ignored."""
    del loop
    dtype = y0.dtype
    ts, rtol, atol, h = (torch.as_tensor(x).to(dtype) for x in (ts, rtol, atol, dt0))
    n_t = ts.shape[0]
    t, t_end = ts[0], ts[-1]
    eps, tiny = torch.finfo(dtype).eps, torch.finfo(dtype).tiny
    t_floor = _num(t_end - 100 * eps * torch.abs(t_end))
    span = _num(t_end - t)
    a_i, a_p = (pcoeff + icoeff) / ERROR_ORDER, pcoeff / ERROR_ORDER
    y, k1 = y0, f(t, y0, params)
    rows: list[torch.Tensor] = [y0]
    prev_inv = torch.ones((), dtype=dtype)
    status = SUCCESS if n_t == 1 else None
    if not bool(torch.isfinite(k1.detach()).all()):
        status = NONFINITE
    n_acc = n_rej = 0
    while status is None:
        if n_acc + n_rej >= max_steps:
            status = MAX_STEPS_REACHED
            break
        clip = _num(t + h) > t_floor
        if clip:
            h = t_end - t
        y5, err, ks = _stages(f, t, y, k1, h, params)
        finite = bool(torch.isfinite(y5.detach()).all() and torch.isfinite(ks[6].detach()).all())
        if finite:
            scale = atol + rtol * torch.maximum(torch.abs(y), torch.abs(y5))
            ms = torch.mean(torch.square(err / scale))
            finite = bool(torch.isfinite(ms.detach()))
        if finite:
            eps_n = torch.sqrt(torch.clamp(ms, min=tiny))
            accept = _num(eps_n) < 1
            inv = 1 / eps_n
            raw = safety * inv**a_i * prev_inv ** (-a_p)
            lo, hi = (1.0, factor_max) if accept else (factor_min, safety)
            factor = torch.clamp(raw, lo, hi)
        else:
            accept, factor = False, torch.tensor(factor_min, dtype=dtype)
        h_next = h * factor
        if accept:
            t_new = t_end if clip else t + h
            while len(rows) < n_t and _num(ts[len(rows)]) <= _num(t_new):
                rows.append(_dense(y, y5, ks, h, (ts[len(rows)] - t) / h))
            t, y, k1, prev_inv = t_new, y5, ks[6], inv
            n_acc += 1
        else:
            n_rej += 1
        h = h_next
        if accept and _num(t) >= _num(t_end):
            status = SUCCESS
        elif _num(h) <= 10 * eps * max(abs(_num(t)), abs(span)):
            status = STEP_SIZE_UNDERFLOW if finite else NONFINITE
    rows += [torch.full_like(y0, float("nan"))] * (n_t - len(rows))
    return torch.stack(rows), int(status), n_acc, n_rej
