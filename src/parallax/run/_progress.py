"""Progress: a rich bar (steps/s, ETA, latest metrics) on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from typing import Literal

__all__ = ["Progress", "format_duration"]

log = logging.getLogger("parallax.run")


def format_duration(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "?"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def _fmt_metrics(metrics: Mapping[str, float], limit: int = 4) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:limit])


class Progress:
    """Report progress of steps ``start..total``; ``mode`` "auto" picks bar on a TTY."""

    def __init__(
        self,
        total: int,
        start: int,
        *,
        mode: Literal["auto", "bar", "log", "off"] = "auto",
        log_every: int = 20,
        enabled: bool = True,
        description: str = "run",
    ):
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "log"
        self.mode = mode if enabled else "off"
        self.total, self.start, self.log_every = total, start, log_every
        self._t0 = time.perf_counter()
        self._bar = None
        if self.mode == "bar":
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[metrics]}"),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(
                description, total=total, completed=start, rate="", metrics=""
            )

    def rate(self, step: int) -> float:
        dt = time.perf_counter() - self._t0
        return (step - self.start) / dt if dt > 0 else 0.0

    def eta(self, step: int) -> float:
        r = self.rate(step)
        return (self.total - step) / r if r > 0 else float("nan")

    def update(self, step: int, metrics: Mapping[str, float]) -> None:
        if self.mode == "bar" and self._bar is not None:
            self._bar.update(
                self._task,
                completed=step,
                rate=f"{self.rate(step):.2f} steps/s",
                metrics=_fmt_metrics(metrics),
            )
        elif self.mode == "log" and (step % self.log_every == 0 or step == self.total):
            log.info(
                "step %d/%d %s | %.2f steps/s, ETA %s",
                step,
                self.total,
                _fmt_metrics(metrics, 6),
                self.rate(step),
                format_duration(self.eta(step)),
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
