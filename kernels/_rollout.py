"""Trajectories of pure steppers on ``lax.scan``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import jax

from parallax.kernels._checkpoint import checkpointed_scan

S = TypeVar("S")

__all__ = ["rollout"]


def rollout(
    step: Callable[[S], S],
    state: S,
    num_steps: int,
    *,
    save_every: int = 1,
    include_initial: bool = False,
    checkpoint: str | None = None,
    checkpoints: int | None = None,
) -> tuple[S, S]:
    """Apply ``step`` ``num_steps`` times; return ``(final, trajectory)``.

    ``trajectory`` stacks the state after every ``save_every`` steps along a new leading axis
    (``num_steps // save_every`` entries, plus the initial state first when
    ``include_initial``). Two nested ``lax.scan`` loops: the inner one advances ``save_every``
    steps without storing them, so memory is ``O(num_steps / save_every)``. ``state`` may be any
    pytree; ``step`` must preserve its structure, shapes and dtypes.

    Reverse mode (``jax.grad``) through a plain scan keeps every step's residuals: ``O(num_steps)``
    states. ``checkpoint="sqrt"`` (segment rematerialisation, ``O(√n)`` states, one extra
    forward pass) or ``"binomial"`` (Griewank's revolve, ``checkpoints`` states, default
    ``⌈log2 n⌉``, minimal recomputation; reverse mode only, no ``jvp``) bound it; ``checkpoints``
    is the number of states kept per loop (the loop over saved frames and the loop inside each
    frame). Gradients equal the plain scan's to round-off. See
    :func:`parallax.kernels.checkpointed_scan`.
    """
    if not isinstance(num_steps, int) or num_steps < 0:
        raise ValueError(f"num_steps: expected a non-negative int, got {num_steps!r}")
    if not isinstance(save_every, int) or save_every < 1:
        raise ValueError(f"save_every: expected a positive int, got {save_every!r}")
    if num_steps % save_every:
        raise ValueError(
            f"num_steps: expected a multiple of save_every={save_every}, got {num_steps}"
        )

    remat = {"checkpoint": checkpoint, "checkpoints": checkpoints}

    def advance(s: S) -> tuple[S, None]:
        return step(s), None

    def chunk(s: S) -> tuple[S, S]:
        s, _ = checkpointed_scan(advance, s, save_every, **remat)
        return s, s

    final, traj = checkpointed_scan(chunk, state, num_steps // save_every, **remat)
    if include_initial:
        traj = jax.tree.map(lambda s0, t: jax.numpy.concatenate([s0[None], t]), state, traj)
    return final, traj
