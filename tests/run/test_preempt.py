"""The SIGTERM handler outside the loop: a signal that lands where Python swallows exceptions
(a garbage-collector callback, such as the one jax registers) still stops the run, with no
"Exception ignored" traceback on stderr."""

from __future__ import annotations

import gc
import os
import signal
import time

import pytest

from parallax.run._preempt import Preempted, PreemptionGuard


def test_sigterm_inside_a_gc_callback_stops_the_run_without_a_traceback(capfd):
    sent = []

    def callback(phase: str, info: dict) -> None:
        if phase == "start" and not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)  # handled here, inside the callback
            for _ in range(10_000):
                pass

    guard = PreemptionGuard(signals=(signal.SIGTERM,))
    gc.callbacks.append(callback)
    try:
        with guard, guard.immediate(), pytest.raises(Preempted):
            gc.collect()
            time.sleep(5)  # the signal, handed back to the main program, interrupts this
    finally:
        gc.callbacks.remove(callback)
    assert sent and guard.requested == "SIGTERM"
    assert "Exception ignored" not in capfd.readouterr().err
