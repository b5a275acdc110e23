"""The run's log: the ``parallax.run`` logger on stderr, and in the run directory's log.txt on
process 0 (through :class:`~parallax.run._files.TextSink`, so a cloud log.txt works too)."""

from __future__ import annotations

import logging
import sys

import jax
from etils import epath

from parallax.run._files import TextSink

__all__ = ["RunLog", "log"]

log = logging.getLogger("parallax.run")


class _Formatter(logging.Formatter):
    def __init__(self, process: int):
        prefix = "" if process == 0 else f"[p{process}] "
        super().__init__(f"%(asctime)s {prefix}%(levelname).1s %(message)s", "%H:%M:%S")


class RunLog:
    """Attach the run's handlers on :meth:`open`, detach them on :meth:`close`. Process 0 logs
    from INFO on and writes ``path``; other processes show only warnings and errors, prefixed
    with their index."""

    def __init__(self, path: epath.Path, *, is_main: bool):
        self.path = path
        self.is_main = is_main
        self._handlers: list[logging.Handler] = []
        self._sink: TextSink | None = None

    def open(self) -> None:
        log.setLevel(logging.INFO)
        log.propagate = False
        fmt = _Formatter(jax.process_index())
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(fmt)
        stream.setLevel(logging.INFO if self.is_main else logging.WARNING)
        self._handlers.append(stream)
        if self.is_main:
            self._sink = TextSink(self.path)
            fh = logging.StreamHandler(self._sink)
            fh.setFormatter(fmt)
            self._handlers.append(fh)
        for h in self._handlers:
            log.addHandler(h)

    def close(self) -> None:
        for h in self._handlers:
            log.removeHandler(h)
            h.close()
        self._handlers.clear()
        if self._sink is not None:
            self._sink.close()
            self._sink = None
