"""Supervision of one process of a multi-process job, so that a dead peer ends it cleanly.

When a process of a ``jax.distributed`` job dies, the coordination service tells the others, and
JAX ends each of them with ``abort()`` (SIGABRT, a C++ stack trace, no Python code runs: no
message, no summary). A watchdog inside the process cannot get there first: a dead coordinator
is noticed within milliseconds. So the process that calls
:func:`~parallax.sharding.initialize_distributed` re-runs its own command line as a child and
only watches it (:func:`supervise`):

* the child's stderr passes through; JAX's fatal report and stack trace are replaced by one
  ``parallax:`` line naming the lost process, and the supervisor exits with
  :data:`PEER_LOST_EXIT` (75, ``EX_TEMPFAIL``: re-running may succeed);
* before that, ``on_peer_lost(message, will)`` runs in the supervisor with the last JSON the
  child left with :func:`write_will` (the run machinery leaves its summary there), and may
  return a hint for the line (how to resume);
* SIGTERM and SIGHUP are forwarded to the child (SIGINT from a terminal reaches both already);
  the supervisor exits with the child's status, 128 + N for signal N;
* the child exits by itself when its supervisor disappears (:func:`exit_with_parent`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

__all__ = [
    "PEER_LOST_EXIT",
    "PeerLostHook",
    "can_supervise",
    "exit_peer_lost",
    "exit_with_parent",
    "install_excepthook",
    "is_supervised_child",
    "lost_peer",
    "supervise",
    "write_will",
]

PEER_LOST_EXIT = 75
PeerLostHook = Callable[[str, Any], "str | None"]

_CHILD = "PARALLAX_SUPERVISED_BY"  # the supervisor's pid, set in the child
_WILL = "PARALLAX_WILL"  # where the child leaves its will
_MARKER = b"JAX distributed service detected fatal errors"
_KEEP = 1 << 16  # bytes of JAX's fatal report kept for the message
_SERVICE_ERROR = re.compile(rb"(?m)^E\d{4} [^\n]*coordination_service")


def is_supervised_child(env: Mapping[str, str] | None = None) -> bool:
    return bool((os.environ if env is None else env).get(_CHILD))


def can_supervise(env: Mapping[str, str] | None = None) -> bool:
    """True for a program started from a script, module or ``-c`` (one that can be re-run),
    not already supervised, and without ``PARALLAX_SUPERVISE=0``."""
    env = os.environ if env is None else env
    return (
        not is_supervised_child(env)
        and env.get("PARALLAX_SUPERVISE", "1") != "0"
        and bool(sys.argv and sys.argv[0])
        and not hasattr(sys, "ps1")
        and not sys.flags.interactive
        and "ipykernel" not in sys.modules
    )


def write_will(obj: Any) -> None:
    """In a supervised child, leave ``obj`` (JSON) for ``on_peer_lost``; elsewhere a no-op."""
    path = os.environ.get(_WILL)
    if not path:
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, default=str)
    os.replace(tmp, path)


def exit_with_parent(poll_s: float = 1.0) -> None:
    """In a supervised child: end this process when the supervisor is gone (killed with -9, or
    its host is going down), so no orphan keeps a slice busy."""
    parent = int(os.environ.get(_CHILD, "0") or 0)
    if not parent:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os.write(2, f"parallax: supervisor process {parent} is gone; exiting\n".encode())
        os._exit(128 + signal.SIGKILL)

    threading.Thread(target=watch, name="parallax-parent-watch", daemon=True).start()


def lost_peer(exc: BaseException) -> bool:
    """True when ``exc`` is a collective or barrier of a multi-process job that failed because
    another process is gone (killed, crashed or unreachable)."""
    import jax

    if jax.process_count() <= 1 or not isinstance(exc, jax.errors.JaxRuntimeError):
        return False
    text = str(exc).lower()
    signs = ("gloo", "connection reset", "connection closed", "socket closed", "heartbeat")
    return any(k in text for k in (*signs, "unavailable", "deadline_exceeded", "barrier"))


def exit_peer_lost(describe: str, exc: BaseException, hint: str = "") -> None:
    """End this process now with one ``parallax:`` line: a peer is gone, and every clean-up
    step (asynchronous saves, JAX's shutdown barrier) would wait for it until the heartbeat
    timeout and then abort."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    sys.stderr.write(
        f"parallax: {describe} stopped: a collective with another process failed (it died or "
        f"is unreachable): {first}.{' ' + hint if hint else ''}\n"
    )
    sys.stderr.flush()
    os._exit(PEER_LOST_EXIT)


def install_excepthook(describe: str) -> None:
    """An uncaught :func:`lost_peer` error ends the program with one line, not a traceback."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        if lost_peer(exc):
            exit_peer_lost(describe, exc)
        previous(kind, exc, tb)

    sys.excepthook = hook


def _reason(report: bytes) -> str:
    """What JAX's fatal report says happened, in words."""
    text = report.decode(errors="replace")
    m = re.search(r"stopped sending heartbeats\):\s*\n(.*?)\n\S*The tasks", text, re.S)
    if m:
        who = [w.strip() for w in re.split(r"[,\n]", m.group(1)) if w.strip()]
        what = f"process {who[0]}" if len(who) == 1 else f"processes {', '.join(who)}"
        return f"{what} stopped sending heartbeats (died or unreachable)"
    if "coordination_service" in text and ("Socket closed" in text or "UNAVAILABLE" in text):
        return "the coordinator (process 0) is gone or unreachable"
    line = next((ln for ln in text.splitlines() if "absl::Status" in ln), "")
    return "the JAX coordination service reported a fatal error" + (
        f" ({line.split('absl::Status:', 1)[-1].strip()[:200]})" if line else ""
    )


class _Pump:
    """Copies the child's stderr to ours up to JAX's fatal report, which it keeps instead.

    The coordination service logs its view of the failure (``E... coordination_service...``)
    just before the report; such lines are held back for ``hold_s`` and dropped when the
    report follows, so a lost peer reads as one line.
    """

    def __init__(self, hold_s: float = 2.0) -> None:
        self.pending = b""
        self.held = b""
        self.held_at = 0.0
        self.hold_s = hold_s
        self.report: bytes | None = None

    def feed(self, chunk: bytes) -> None:
        if self.report is not None:
            self.report = (self.report + chunk)[:_KEEP]
            return
        self.pending += chunk
        k = self.pending.find(_MARKER)
        if k >= 0:
            start = max(self.pending.rfind(b"\n", 0, k), self.pending.rfind(b"\r", 0, k)) + 1
            self._emit(self.pending[:start])
            self.report = (self.held + self.pending[start:])[:_KEEP]
            self.pending = self.held = b""
            return
        # hold back a partial line: the report's first line must not be half printed
        cut = max(self.pending.rfind(b"\n"), self.pending.rfind(b"\r")) + 1
        if cut == 0 and len(self.pending) > _KEEP:
            cut = len(self.pending)
        self._emit(self.pending[:cut])
        self.pending = self.pending[cut:]

    def _emit(self, data: bytes) -> None:
        if not self.held:
            m = _SERVICE_ERROR.search(data)
            if m is None:
                self._write(data)
                return
            self._write(data[: m.start()])
            data, self.held_at = data[m.start() :], time.monotonic()
        self.held += data

    def tick(self, force: bool = False) -> None:
        """Release held lines once no report followed them within ``hold_s``."""
        if self.held and (force or time.monotonic() - self.held_at > self.hold_s):
            self._write(self.held)
            self.held = b""

    def close(self) -> None:
        if self.report is None:
            self._emit(self.pending)
            self.tick(force=True)
        self.pending = b""

    @staticmethod
    def _write(data: bytes) -> None:
        if data:
            with contextlib.suppress(OSError):
                os.write(2, data)


def supervise(describe: str, on_peer_lost: PeerLostHook | None = None) -> NoReturn:
    """Re-run this program (``sys.orig_argv``) as a supervised child; exit with its outcome.

    ``describe`` names this process in messages (``"process 1 of 2 (tpu)"``).
    """
    fd, will = tempfile.mkstemp(prefix="parallax-will-", suffix=".json")
    os.close(fd)
    os.unlink(will)
    env = {**os.environ, _CHILD: str(os.getpid()), _WILL: will}
    argv = [sys.executable, *sys.orig_argv[1:]]
    child = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE)
    assert child.stderr is not None

    def forward(signum: int, frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, forward)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pump, fd = _Pump(), child.stderr.fileno()
    while True:
        if select.select([fd], [], [], 0.5)[0]:
            if not (chunk := os.read(fd, 1 << 16)):
                break
            pump.feed(chunk)
        pump.tick()
    pump.close()
    rc = child.wait()
    last = None
    if pump.report is not None and on_peer_lost is not None:
        with contextlib.suppress(OSError, ValueError), open(will) as f:
            last = json.load(f)
    with contextlib.suppress(OSError):
        os.unlink(will)
    if pump.report is not None:
        message = f"parallax: {describe} stopped: {_reason(pump.report)}."
        hint = on_peer_lost(message, last) if on_peer_lost is not None else None
        sys.stderr.write(message + (f" {hint}" if hint else "") + "\n")
        sys.exit(PEER_LOST_EXIT)
    if rc < 0:
        name = signal.Signals(-rc).name
        sys.stderr.write(f"parallax: {describe}: the program was killed by {name}\n")
        sys.exit(128 - rc)
    sys.exit(rc)
