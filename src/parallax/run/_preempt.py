"""Preemption: turn SIGTERM (what a TPU VM gets before it is reclaimed) into a clean stop.

While a :class:`PreemptionGuard` is active, SIGTERM (and a first Ctrl-C) only set a flag; the
loop checks it between steps, saves a checkpoint and stops. A second Ctrl-C interrupts at once.
On multi-host jobs each process may see the signal at a different step, so the decision is taken
collectively with ``multihost_utils.reached_preemption_sync_point`` (JAX's preemption service),
which every process reaches at the same step.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

import jax

__all__ = ["Preempted", "PreemptionGuard"]

log = logging.getLogger("parallax.run")


class Preempted(Exception):
    """Raised out of the loop after the preemption checkpoint is saved."""

    def __init__(self, step: int, signame: str):
        self.step = step
        self.signame = signame
        super().__init__(f"stopped by {signame} at step {step}; checkpoint saved")


class PreemptionGuard:
    """Context manager installing SIGTERM/SIGINT handlers that request a graceful stop."""

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)):
        self.signals = signals
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = name
        log.warning("received %s: saving a checkpoint and stopping after this step", name)

    def __enter__(self) -> PreemptionGuard:
        if threading.current_thread() is not threading.main_thread():
            log.warning("not on the main thread: SIGTERM will not trigger a checkpoint")
            return self
        for s in self.signals:
            self._previous[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous.clear()

    def should_stop(self, step: int) -> bool:
        """True when the run must checkpoint and stop before ``step`` (same on every process)."""
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            try:
                if multihost_utils.reached_preemption_sync_point(step):
                    self.requested = self.requested or "preemption notice"
                    return True
            except Exception:  # no preemption service (not initialised by jax.distributed)
                pass
            return False
        return self.requested is not None
