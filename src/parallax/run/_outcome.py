"""How a run ended, in words a user can act on, and the summary a lost peer leaves behind.

A run that stops early says where it stopped and what the same command does next
(:func:`preempted_message`, :func:`nonfinite_message`). When a process of a multi-process job
dies, the survivors' supervisors (see :mod:`parallax.sharding`) write summary.json from the
run's last will (:func:`record_peer_lost`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from etils import epath

from parallax.run._checkpoint import finalized_steps
from parallax.run._guard import NonFiniteError
from parallax.run._rundir import RunDir, resolve_workdir

__all__ = [
    "RESUME_HINT",
    "jsonable",
    "nonfinite_message",
    "preempted_message",
    "record_peer_lost",
]

RESUME_HINT = "Checkpoints are kept; re-run the same command on every host to resume."


def jsonable(x: Any) -> Any:
    """``x`` with arrays as numbers or lists and non-finite floats as strings (for JSON)."""
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, jax.Array | np.ndarray | np.generic):
        a = np.asarray(jax.device_get(x))
        if a.dtype.kind not in "biufc?":
            return str(a)
        return jsonable(a.tolist()) if a.ndim else jsonable(a.item())
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, str | int | float | bool) or x is None:
        return x
    return str(x)


def preempted_message(
    signame: str,
    *,
    saved_step: int | None,
    phase: str,
    step: int,
    resumed_from: int | None,
    last_checkpoint: int | None,
) -> str:
    """Where a signal stopped the run: in the loop (``saved_step``, checkpointed there), during
    start-up, or in the work after the loop."""
    if saved_step is not None:
        return f"stopped by {signame} at step {saved_step} (checkpoint saved)"
    if phase == "start-up":
        kept = (
            f"restarts from its checkpoint at step {step}"
            if resumed_from is not None
            else "starts from step 0 (nothing to save yet)"
        )
        return f"stopped by {signame} during start-up; the run {kept}"
    saved = "saved" if last_checkpoint == step else "not saved"
    return (
        f"stopped by {signame} after the loop, at step {step} (checkpoint {saved}); "
        "the work after the loop (evaluation, plots) runs again on resume"
    )


def nonfinite_message(
    exc: NonFiniteError,
    *,
    step: int,
    checkpoints: epath.Path,
    kept: Sequence[int],
    checkpoint_every: int,
) -> str:
    """What went non-finite, the last finite ``step``, the checkpoints ``kept`` and the advice
    that works: a new workdir started from one of them."""
    if kept:
        found = (
            f"Checkpoints in {checkpoints}: {', '.join(map(str, kept))} (all finite). To try "
            "other settings, start a new --workdir from one of them: "
            f"--workdir NEW --init-from {checkpoints}/{kept[-1]} and the new settings (an "
            "earlier checkpoint if that one is already diverging)."
        )
    else:
        found = (
            "There is no checkpoint from before it (the first is due at step "
            f"{checkpoint_every}). To try other settings, start again in a new --workdir."
        )
    return (
        f"{exc} The run stopped after step {step}, the last whose metrics were finite. "
        f"{found} This workdir resumes only with its own settings (config.json), so it "
        "would stop the same way."
    )


def record_peer_lost(message: str, will: Any) -> str:
    """In the supervisor of a process whose peer died: summary.json from the run's will, with
    the newest checkpoint on disk; returns the hint for the ``parallax:`` line."""
    if isinstance(will, dict) and "workdir" in will:
        d = RunDir(resolve_workdir(will["workdir"], ""), write=True)
        steps = finalized_steps(d.checkpoints)
        summary = dict(
            will["summary"],
            error=message.removeprefix("parallax: "),
            last_checkpoint=steps[-1] if steps else None,
        )
        d.write_summary(summary)
    return RESUME_HINT
