"""System + solver presets: the flat ``(arrays..., *, static...)`` signatures that the registry,
the parity harness and the torch twins share (see :mod:`parallax.registry.ode`)."""

from __future__ import annotations

from typing import Literal

from jaxtyping import Array, Float

from parallax.kernels._checks import as_real, check_array
from parallax.kernels.ode._dopri5 import dopri5
from parallax.kernels.ode._rk4 import rk4_rollout
from parallax.kernels.ode._symplectic import velocity_verlet_rollout
from parallax.kernels.ode._systems import kepler_accel, lorenz63, lorenz96

__all__ = ["kepler_verlet_rollout", "lorenz63_dopri5", "lorenz96_rk4_rollout"]


def lorenz63_dopri5(
    y0: Float[Array, " 3"],
    params: Float[Array, " 3"],
    ts: Float[Array, " times"],
    rtol: Float[Array, ""],
    atol: Float[Array, ""],
    dt0: Float[Array, ""],
    *,
    max_steps: int = 4096,
    loop: Literal["while", "scan"] = "while",
) -> Float[Array, "times 3"]:
    """Lorenz-63 (``params = (sigma, rho, beta)``) by :func:`dopri5`; returns ``ys`` at ``ts``.

    A failed solve raises (``max_steps`` used up, step-size underflow) with what to change; for
    the status and step counts instead, call ``dopri5(lorenz63, ..., throw=False)``.
    """
    check_array("y0", y0, trailing=(3,))
    return dopri5(lorenz63, y0, ts, params, rtol, atol, dt0, max_steps=max_steps, loop=loop).ys


def lorenz96_rk4_rollout(
    y0: Float[Array, "*batch n"],
    dt: Float[Array, ""],
    forcing: Float[Array, ""],
    *,
    num_steps: int,
    save_every: int = 1,
) -> tuple[Float[Array, "*batch n"], Float[Array, "frames *batch n"]]:
    """Lorenz-96 with forcing ``F`` by :func:`rk4_rollout`: ``(final, trajectory)``."""
    check_array("y0", y0, min_ndim=1)
    if y0.shape[-1] < 4:
        raise ValueError(f"y0: expected at least 4 sites on the last axis, got {y0.shape}")
    as_real("forcing", forcing, y0.dtype)
    return rk4_rollout(lorenz96, y0, dt, forcing, num_steps=num_steps, save_every=save_every)


def kepler_verlet_rollout(
    q0: Float[Array, "*batch 2"],
    v0: Float[Array, "*batch 2"],
    dt: Float[Array, ""],
    mu: Float[Array, ""],
    *,
    num_steps: int,
    save_every: int = 1,
) -> tuple[
    tuple[Float[Array, "*batch 2"], Float[Array, "*batch 2"]],
    tuple[Float[Array, "frames *batch 2"], Float[Array, "frames *batch 2"]],
]:
    """Kepler two-body (``mu = G(m1 + m2)``) by :func:`velocity_verlet_rollout`."""
    check_array("q0", q0, trailing=(2,))
    as_real("mu", mu, q0.dtype)
    return velocity_verlet_rollout(
        kepler_accel, q0, v0, dt, mu, num_steps=num_steps, save_every=save_every
    )
