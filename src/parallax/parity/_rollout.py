r"""``compare_rollout``: two trajectories over time against the round-off envelope.

Both steppers start from the same state; JAX runs ``num_steps`` steps on ``lax.scan`` (jitted),
torch a Python loop, each keeping every ``save_every``-th state. At saved step ``n`` (time
``t = n Δt``) the error is relative to the state's scale,

.. math::  e_n = \frac{\max_\text{leaves} \| x^\text{jax}_n - x^\text{torch}_n \|_\infty}
                      {\max_\text{leaves} \| x^\text{torch}_n \|_\infty} .

Two correct implementations differ by round-off: each step adds a relative error of order
``ε`` (the dtype's machine epsilon) and the dynamics amplify what is already there by
``e^{λ Δt}`` per step, ``λ`` the largest Lyapunov exponent. The envelope is that sum,

.. math::  E_n = C\,ε \sum_{k=0}^{n-1} e^{λ k Δt}
              = C\,ε\,\frac{e^{λ n Δt} - 1}{e^{λ Δt} - 1}
              \;\xrightarrow{\;n\to\infty\;}\; \frac{C\,ε\,e^{λ t}}{1 - e^{-λ Δt}},

i.e. ``ε e^{λt}`` up to a constant, and ``C ε n`` (linear growth) for ``λ = 0``, the default
(non-chaotic dynamics). ``C`` (``envelope_factor``) bounds the per-step rounding of both sides.

The **parity horizon** is the first saved time at which ``e_n > E_n``: up to it the two agree
as well as round-off permits; an error that leaves the envelope is a real difference (a wrong
constant, a different scheme). Beyond ``predictability_time`` (where ``E_n`` reaches 1) even
correct trajectories have decorrelated and are not judged; compare statistics there instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from parallax.parity._inputs import check_dtypes, is_array, to_numpy, to_torch
from parallax.parity._modules import _cast
from parallax.parity._precision import dtype_context, pinned_precision
from parallax.parity._report import Printable, format_table
from parallax.parity._tolerance import dtype_eps

__all__ = ["RolloutParityReport", "compare_rollout", "round_off_envelope"]


def round_off_envelope(
    steps: np.ndarray, dt: float, lyapunov_exponent: float, eps: float, factor: float
) -> np.ndarray:
    """``C ε Σ_{k<n} e^{λ k Δt}`` at each step count ``n`` (see the module doc)."""
    n = np.asarray(steps, dtype=np.float64)
    a = lyapunov_exponent * dt
    if a == 0:
        return factor * eps * n
    return factor * eps * np.expm1(a * n) / math.expm1(a)


@dataclass(repr=False)
class RolloutParityReport(Printable):
    """Errors ``e_n`` at the saved ``times``, the envelope ``E_n`` and the parity horizon."""

    dtype: str
    times: np.ndarray
    errors: np.ndarray
    envelope: np.ndarray
    lyapunov_exponent: float
    eps: float
    envelope_factor: float
    title: str = "rollout"

    @property
    def judged(self) -> np.ndarray:
        """Frames before the predictability time (the envelope below 1)."""
        return self.envelope < 1.0

    @property
    def horizon_index(self) -> int | None:
        out = np.flatnonzero(~(self.errors <= self.envelope) & self.judged)
        return int(out[0]) if out.size else None

    @property
    def horizon(self) -> float | None:
        """The first saved time at which the error leaves the envelope (None: it never does
        before the predictability time)."""
        i = self.horizon_index
        return None if i is None else float(self.times[i])

    @property
    def predictability_time(self) -> float | None:
        """The first saved time at which the envelope reaches 1 (None within the rollout)."""
        out = np.flatnonzero(~self.judged)
        return float(self.times[out[0]]) if out.size else None

    @property
    def passed(self) -> bool:
        return self.horizon is None

    def growth_rate(self, lo: float | None = None, hi: float = 1e-3) -> float:
        """Least-squares slope of ``log e_n`` against ``t`` over the frames with
        ``lo < e_n < hi`` (``lo`` default ``100 ε``): the measured exponential growth rate of
        the difference, to set against ``λ``."""
        lo = 100 * self.eps if lo is None else lo
        sel = (self.errors > lo) & (self.errors < hi)
        if sel.sum() < 2:
            raise ValueError(f"growth_rate: fewer than 2 frames with {lo:.1e} < error < {hi:.1e}")
        return float(np.polyfit(self.times[sel], np.log(self.errors[sel]), 1)[0])

    def table(self, rows: int = 12) -> str:
        status = "passed" if self.passed else "FAILED"
        h, p = self.horizon, self.predictability_time
        lines = [
            f"{self.title} at {self.dtype}: {status}; λ={self.lyapunov_exponent:g}, "
            f"ε={self.eps:.2e}, C={self.envelope_factor:g}",
            "parity horizon: "
            + ("none (the error stays inside the envelope)" if h is None else f"t={h:g}"),
            "predictability time: " + ("beyond the rollout" if p is None else f"t={p:g}"),
        ]
        idx = np.unique(np.linspace(0, len(self.times) - 1, min(rows, len(self.times))).astype(int))
        if self.horizon_index is not None:
            idx = np.unique(np.append(idx, self.horizon_index))
        body = [
            [
                f"{self.times[i]:g}",
                f"{self.errors[i]:.2e}",
                f"{self.envelope[i]:.2e}",
                "-"
                if not self.judged[i]
                else ("inside" if self.errors[i] <= self.envelope[i] else "OUTSIDE"),
            ]
            for i in idx
        ]
        lines += format_table(["t", "rel error", "envelope", "result"], body)
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "dtype": self.dtype,
            "passed": self.passed,
            "horizon": self.horizon,
            "predictability_time": self.predictability_time,
            "lyapunov_exponent": self.lyapunov_exponent,
            "eps": self.eps,
            "envelope_factor": self.envelope_factor,
            "times": self.times.tolist(),
            "errors": self.errors.tolist(),
            "envelope": self.envelope.tolist(),
        }


def _infer_dtype(leaves: list[np.ndarray]) -> str:
    for x in leaves:
        if np.issubdtype(x.dtype, np.floating) or x.dtype.name == "bfloat16":
            return x.dtype.name
        if np.iscomplexobj(x):
            return "float64" if x.dtype == np.complex128 else "float32"
    raise TypeError("state0: expected at least one floating-point array leaf")


def compare_rollout(
    jax_step: Callable[[Any], Any],
    torch_step: Callable[[Any], Any],
    state0: Any,
    num_steps: int,
    *,
    lyapunov_exponent: float | None = None,
    save_every: int = 1,
    dt: float = 1.0,
    dtype: str | None = None,
    envelope_factor: float = 10.0,
    device: str = "cpu",
    title: str | None = None,
) -> RolloutParityReport:
    """Roll both steppers out from ``state0`` (a pytree of arrays) and report the error over
    time against the round-off envelope (module doc). ``dt`` is the time per step (``λ`` is per
    unit time); ``dtype`` defaults to that of ``state0``'s floating leaves."""
    import jax
    import jax.numpy as jnp
    import torch

    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps: expected a positive int, got {num_steps!r}")
    if not isinstance(save_every, int) or save_every < 1 or num_steps % save_every:
        raise ValueError(
            f"save_every: expected a positive divisor of num_steps={num_steps}, got {save_every!r}"
        )
    lam = 0.0 if lyapunov_exponent is None else float(lyapunov_exponent)
    if lam < 0 or envelope_factor <= 0 or dt <= 0:
        raise ValueError(
            "lyapunov_exponent, envelope_factor, dt: expected λ >= 0, C > 0, dt > 0, got "
            f"{lyapunov_exponent!r}, {envelope_factor!r}, {dt!r}"
        )
    flat, treedef = jax.tree_util.tree_flatten(state0, is_leaf=is_array)
    leaves = [to_numpy(x) for x in flat]
    (dtype,) = check_dtypes((dtype or _infer_dtype(leaves),), "dtype")
    leaves = [_cast(x, dtype) for x in leaves]
    frames = num_steps // save_every

    def rollout(s: Any) -> Any:
        def inner(c: Any, _: Any) -> tuple[Any, None]:
            return jax_step(c), None

        def outer(c: Any, _: Any) -> tuple[Any, Any]:
            c, _ = jax.lax.scan(inner, c, None, length=save_every)
            return c, c

        return jax.lax.scan(outer, s, None, length=frames)[1]

    with dtype_context(dtype), pinned_precision():
        s0 = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(x) for x in leaves])
        jtraj = [to_numpy(x) for x in jax.tree_util.tree_leaves(jax.jit(rollout)(s0))]
        state = jax.tree_util.tree_unflatten(treedef, [to_torch(x, device) for x in leaves])
        ttraj: list[list[np.ndarray]] = [[] for _ in leaves]
        with torch.no_grad():
            for n in range(1, num_steps + 1):
                state = torch_step(state)
                if n % save_every == 0:
                    for acc, x in zip(ttraj, jax.tree_util.tree_leaves(state), strict=True):
                        acc.append(to_numpy(x))
    want = [
        np.stack(a).astype(np.complex128 if np.iscomplexobj(a[0]) else np.float64) for a in ttraj
    ]
    got = [np.asarray(g, dtype=w.dtype) for g, w in zip(jtraj, want, strict=True)]
    axes = lambda x: tuple(range(1, x.ndim))  # noqa: E731
    diff = np.max([np.max(np.abs(g - w), axis=axes(w)) for g, w in zip(got, want, strict=True)], 0)
    scale = np.max([np.max(np.abs(w), axis=axes(w)) for w in want], 0)
    errors = diff / np.maximum(scale, np.finfo(np.float64).tiny)
    steps = save_every * np.arange(1, frames + 1)
    eps = dtype_eps(dtype)
    return RolloutParityReport(
        dtype=dtype,
        times=steps * dt,
        errors=np.where(np.isnan(errors), np.inf, errors),
        envelope=round_off_envelope(steps, dt, lam, eps, envelope_factor),
        lyapunov_exponent=lam,
        eps=eps,
        envelope_factor=envelope_factor,
        title=title or "rollout",
    )
