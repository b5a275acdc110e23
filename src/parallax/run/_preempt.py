"""Preemption: turn SIGTERM (what a TPU VM gets before it is reclaimed) into a clean stop.

A :class:`PreemptionGuard` catches SIGTERM (and a first Ctrl-C) for the whole run. Where work
would be lost by stopping mid-way (a training step, a checkpoint write, the run directory's
files) the guard is *deferred*: the signal only sets a flag, which the loop checks between steps
to save a checkpoint and stop. Elsewhere (start-up, data generation, compilation, the evaluation
and plots after the loop) it is *immediate*: everything worth keeping is already on disk, so the
handler raises :class:`Preempted` at once. A second Ctrl-C interrupts at once.

On a multi-process job only some processes may get the signal (one worker of a pod slice), and
each at a different step, yet all must save the same step together: a process that stopped on
its own would leave the others waiting at their next collective. JAX's preemption service does
this: ``jax.distributed.initialize`` installs its own SIGTERM handler, which tells the
coordination service; the service picks the step after the fastest process's current one, and
``multihost_utils.reached_preemption_sync_point(step)`` is True on every process at that step.
So with several processes the guard leaves SIGTERM to JAX's handler (a Python handler would
replace it and the notice would stay local), turns a first Ctrl-C into a SIGTERM to itself, and
never stops a process on its own: the run stops only at the loop's sync point (a notice that
arrives after the loop lets the run finish).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import jax

__all__ = ["Preempted", "PreemptionGuard"]

log = logging.getLogger("parallax.run")


def _several_processes() -> bool:
    """A multi-process job has started (asked without starting JAX's backends, which must wait
    for ``jax.distributed.initialize``)."""
    return jax.distributed.is_initialized() and jax.process_count() > 1


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
        self._multi = False
        self._warned = False
        self._previous_unraisable = sys.unraisablehook

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = name
        if self._multi:
            log.warning("received %s: every process saves a checkpoint and stops", name)
            if signum != signal.SIGTERM:  # SIGTERM reaches this handler only without JAX's
                os.kill(os.getpid(), signal.SIGTERM)  # to JAX's notifier: every process stops
            return
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
        immediate = immediate and not self._multi
        previous, self._immediate = self._immediate, immediate
        if immediate and self.requested is not None:
            self._immediate = previous
            raise Preempted(None, self.requested)
        try:
            yield
        finally:
            self._immediate = previous and not self._multi
        if self._immediate and self.requested is not None:
            raise Preempted(None, self.requested)

    def _unraisable(self, info: Any) -> None:
        """A :class:`Preempted` raised where Python drops exceptions (a garbage-collector or
        weakref callback, a ``__del__``) is not printed as "Exception ignored": its signal is
        sent again, to land once that frame has returned."""
        if isinstance(info.exc_value, Preempted):
            signum = signal.Signals[info.exc_value.signame]
            threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
            return
        self._previous_unraisable(info)

    def __enter__(self) -> PreemptionGuard:
        self._multi = _several_processes()
        if threading.current_thread() is not threading.main_thread():
            log.warning("not on the main thread: SIGTERM will not trigger a checkpoint")
            return self
        self._previous_unraisable, sys.unraisablehook = sys.unraisablehook, self._unraisable
        for s in self.signals:
            if self._multi and s == signal.SIGTERM:
                continue
            self._previous[s] = signal.signal(s, self._handler)
        return self

    def joined(self) -> None:
        """Call once ``jax.distributed`` has started (a guard entered before it has no way to
        know): with several processes SIGTERM belongs to JAX's handler from now on, which
        ``jax.distributed.initialize`` installed over this guard's, and a signal received
        before is passed on to it."""
        if self._multi or not _several_processes():
            return
        self._multi, self._immediate = True, False
        self._previous.pop(signal.SIGTERM, None)  # JAX's handler stays after the run too
        if self.requested is not None:
            os.kill(os.getpid(), signal.SIGTERM)

    def __exit__(self, *exc: object) -> None:
        self._immediate = False
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous.clear()
        if sys.unraisablehook == self._unraisable:
            sys.unraisablehook = self._previous_unraisable

    def should_stop(self, step: int) -> bool:
        """True when the run must checkpoint and stop before ``step`` (same on every process);
        call it at every step, with the same steps on every process."""
        if not self._multi:
            return self.requested is not None
        from jax.experimental import multihost_utils

        try:
            reached = multihost_utils.reached_preemption_sync_point(step)
        except RuntimeError as e:  # jax_enable_preemption_service is off
            if not self._warned:
                log.warning("no preemption sync on this multi-process job (%s)", e)
                self._warned = True
            return False
        if reached:
            self.requested = self.requested or "SIGTERM (on one or more processes)"
        return reached
