"""Preemption: turn SIGTERM (what a TPU VM gets before it is reclaimed) into a clean stop.

A :class:`PreemptionGuard` catches SIGTERM (and a first Ctrl-C) for the whole run. Where work
would be lost by stopping mid-way (a training step, a checkpoint write, the run directory's
files) the guard is *deferred*: the signal only sets a flag, which the loop checks between steps
to save a checkpoint and stop. Elsewhere (start-up, data generation, compilation, the evaluation
and plots after the loop) it is *immediate*: everything worth keeping is already on disk, so the
handler raises :class:`Preempted` at once. A second Ctrl-C interrupts at once.
On multi-host jobs each process may see the signal at a different step, so the decision is taken
collectively with ``multihost_utils.reached_preemption_sync_point`` (JAX's preemption service),
which every process reaches at the same step.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import jax

__all__ = ["Preempted", "PreemptionGuard"]

log = logging.getLogger("parallax.run")


class Preempted(Exception):
    """Raised out of the loop after the preemption checkpoint is saved (``step`` is its step),
    or, outside the loop, as soon as the signal arrives (``step`` None: the runner knows it)."""

    def __init__(self, step: int | None, signame: str):
        self.step = step
        self.signame = signame
        where = "" if step is None else f" at step {step}; checkpoint saved"
        super().__init__(f"stopped by {signame}{where}")


class PreemptionGuard:
    """Context manager installing SIGTERM/SIGINT handlers that request a graceful stop."""

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)):
        self.signals = signals
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}
        self._immediate = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = name
        if self._immediate:
            log.warning("received %s: stopping now", name)
            raise Preempted(None, name)
        log.warning("received %s: saving a checkpoint and stopping after this step", name)

    @contextlib.contextmanager
    def immediate(self) -> Iterator[None]:
        """Inside, a signal raises :class:`Preempted` at once (one already received: on entry)."""
        with self._mode(immediate=True):
            yield

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Inside, a signal only sets :attr:`requested`; back in immediate mode it raises."""
        with self._mode(immediate=False):
            yield

    @contextlib.contextmanager
    def _mode(self, *, immediate: bool) -> Iterator[None]:
        previous, self._immediate = self._immediate, immediate
        if immediate and self.requested is not None:
            self._immediate = previous
            raise Preempted(None, self.requested)
        try:
            yield
        finally:
            self._immediate = previous
        if previous and self.requested is not None:
            raise Preempted(None, self.requested)

    def __enter__(self) -> PreemptionGuard:
        if threading.current_thread() is not threading.main_thread():
            log.warning("not on the main thread: SIGTERM will not trigger a checkpoint")
            return self
        for s in self.signals:
            self._previous[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        self._immediate = False
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
