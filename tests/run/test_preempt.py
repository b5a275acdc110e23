"""The SIGTERM handler outside the loop: a signal that lands where Python drops exceptions (a
garbage-collector callback, such as the one jax registers, or a weakref callback) still stops
the run, with no "Exception ignored" traceback on stderr."""

from __future__ import annotations

import gc
import os
import signal
import time
import weakref

import pytest

from parallax.run._preempt import Preempted, PreemptionGuard


def _signal_here() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # handled in this frame
    for _ in range(10_000):
        pass


class _Thing:
    pass


def _in_gc_callback() -> None:
    sent = []

    def callback(phase: str, info: dict) -> None:
        if phase == "start" and not sent:
            sent.append(True)
            _signal_here()

    gc.callbacks.append(callback)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(callback)


def _in_weakref_callback() -> None:
    thing = _Thing()
    ref = weakref.ref(thing, lambda _: _signal_here())
    del thing
    assert ref() is None


@pytest.mark.parametrize("where", [_in_gc_callback, _in_weakref_callback])
def test_sigterm_where_exceptions_are_dropped_still_stops_the_run(where, capfd):
    guard = PreemptionGuard(signals=(signal.SIGTERM,))
    with guard, guard.immediate(), pytest.raises(Preempted):
        where()
        time.sleep(5)  # the signal, sent again, interrupts this
    assert guard.requested == "SIGTERM"
    assert "Exception ignored" not in capfd.readouterr().err
