"""Sections under one time budget, each isolated, with the JSON rewritten as results arrive.

The budget is shared by weight: a section with weight ``w`` gets ``remaining * w / W`` seconds,
where ``W`` is the weight of the sections not yet run, so time one section leaves unused flows
to the later ones. A section's loop asks :meth:`Section.out_of_time` between items and records
what it skipped. Past its share plus a grace period, ``SIGALRM`` raises :class:`SectionTimeout`
in the main thread at the next Python bytecode (a running XLA compile or CUDA kernel finishes
first). Any exception ends only its own section; the document records it and the run goes on.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Recorder", "Section", "SectionTimeout", "Step"]

GRACE_MIN_S = 20.0
"""A section may overrun its share by at least this much before the alarm stops it."""


class SectionTimeout(Exception):
    """Raised by the alarm when a section runs past its share plus the grace period."""


@dataclass(frozen=True)
class Step:
    """One section of the run: ``fn(section)`` fills ``section.result``. ``weight`` is its
    claim on the budget (0: a short section bounded only by the budget); an ``always`` section
    runs even when the budget is spent (what describes the run)."""

    name: str
    fn: Callable[[Section], None]
    weight: float = 0.0
    always: bool = False


class Section:
    """A running section: its result dict, its soft deadline and the items it skipped."""

    def __init__(self, recorder: Recorder, record: dict[str, Any], deadline: float) -> None:
        self._recorder = recorder
        self.record = record
        self.result: dict[str, Any] = record["result"]
        self.deadline = deadline

    def out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()

    def skip(self, item: str) -> None:
        self.record["skipped"].append(item)

    def save(self) -> None:
        """Rewrite the output files (call after each item, so a killed run keeps its results)."""
        self._recorder.write()

    def log(self, message: str) -> None:
        self._recorder.log(f"[{self.record['name']}] {message}")


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise :class:`SectionTimeout` after ``seconds`` (main thread only; elsewhere no alarm)."""
    if threading.current_thread() is not threading.main_thread() or not math.isfinite(seconds):
        yield
        return

    def fire(signum: int, frame: Any) -> None:
        raise SectionTimeout(f"stopped after {seconds:.0f} s (its share of the budget + grace)")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Recorder:
    """Runs :class:`Step` s in order under ``budget_s`` and keeps ``doc`` on disk.

    ``write_files(doc)`` is called after every change; it must be cheap and must not raise.
    """

    def __init__(
        self,
        doc: dict[str, Any],
        write_files: Callable[[dict[str, Any]], None],
        *,
        budget_s: float | None,
        log: Callable[[str], None] = print,
        grace_min_s: float = GRACE_MIN_S,
    ) -> None:
        self.doc = doc
        self._write_files = write_files
        self.log = log
        self.start = time.monotonic()
        self.budget_s = budget_s
        self.end = math.inf if budget_s is None else self.start + budget_s
        self.grace_min_s = grace_min_s
        doc.setdefault("sections", {})
        doc["budget"] = {"budget_s": budget_s, "elapsed_s": 0.0}

    def write(self) -> None:
        self.doc["budget"]["elapsed_s"] = round(time.monotonic() - self.start, 2)
        self._write_files(self.doc)

    def run(self, steps: Sequence[Step]) -> None:
        for i, step in enumerate(steps):
            later = sum(s.weight for s in steps[i:])
            self._run_one(step, later)
        self.write()

    def _run_one(self, step: Step, weight_left: float) -> None:
        record: dict[str, Any] = {
            "name": step.name,
            "status": "running",
            "elapsed_s": None,
            "share_s": None,
            "error": None,
            "traceback": None,
            "skipped": [],
            "result": {},
        }
        self.doc["sections"][step.name] = record
        now = time.monotonic()
        remaining = self.end - now
        if remaining <= 0 and not step.always:
            record["status"] = "skipped"
            record["error"] = "the time budget was spent before this section started"
            self.log(f"[{step.name}] skipped: budget spent")
            self.write()
            return
        if weight_left > 0 and step.weight > 0:
            share = remaining * step.weight / weight_left
        else:
            share = max(remaining, 0.0)  # unweighted sections are short; the budget bounds them
        record["share_s"] = None if math.isinf(share) else round(share, 1)
        grace = max(self.grace_min_s, 0.25 * share) if math.isfinite(share) else math.inf
        section = Section(self, record, now + share)
        self.log(f"[{step.name}] start (share {record['share_s']} s)")
        self.write()
        try:
            with _alarm(share + grace):
                step.fn(section)
            record["status"] = "partial" if record["skipped"] else "ok"
        except SectionTimeout as e:
            record["status"] = "timeout"
            record["error"] = str(e)
        except Exception as e:  # isolation: one section's failure is data, not the end of the run
            record["status"] = "error"
            record["error"] = f"{type(e).__name__}: {e}"[:2000]
            record["traceback"] = traceback.format_exc(limit=12)
        record["elapsed_s"] = round(time.monotonic() - now, 2)
        self.log(f"[{step.name}] {record['status']} in {record['elapsed_s']} s")
        self.write()


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=_jsonable))
    tmp.replace(path)


def _jsonable(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, complex):
        return [x.real, x.imag]
    return str(x)
