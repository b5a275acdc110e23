"""Metrics: JSON lines (the source of truth for plots and tests) plus TensorBoard event files."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MetricsWriter", "read_metrics", "to_scalars"]


def to_scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Host floats from a dict of scalar arrays / numbers (non-scalars are skipped)."""
    import jax

    out: dict[str, float] = {}
    for k, v in jax.device_get(dict(metrics)).items():
        a = np.asarray(v)
        if a.size == 1 and a.dtype.kind in "biuf":
            out[k] = float(a.reshape(()))
    return out


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All records of a ``metrics.jsonl`` (a truncated last line, from a kill, is skipped)."""
    p = Path(path)
    if not p.exists():
        return []
    rows = []
    for line in p.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _summary_writer_cls() -> Any:
    """tensorboardX's SummaryWriter, imported without dragging in torch.

    ``tensorboardX.writer`` does ``try: import torch`` at import time only to accept tensors as
    inputs (seconds of start-up); we log floats, so torch is hidden for that one import unless
    something already imported it.
    """
    import sys

    if "tensorboardX" in sys.modules or "torch" in sys.modules:
        from tensorboardX import SummaryWriter

        return SummaryWriter
    sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` fail fast
    try:
        from tensorboardX import SummaryWriter
    finally:
        del sys.modules["torch"]
    return SummaryWriter


class MetricsWriter:
    """Append ``{"step", "time", **metrics}`` lines and TensorBoard scalars (process 0 only)."""

    def __init__(self, jsonl: Path, tb_dir: Path | None, *, enabled: bool = True):
        self.jsonl = jsonl
        self.enabled = enabled
        self._tb = None
        self._file = None
        if not enabled:
            return
        jsonl.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(jsonl, "a")  # noqa: SIM115 - kept open for the run
        if tb_dir is not None:
            self._tb = _summary_writer_cls()(logdir=str(tb_dir), flush_secs=30)

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step`` (written after the checkpoint a resumed run restarts from)."""
        if not self.enabled or self._file is None:
            return
        self._file.close()
        rows = [r for r in read_metrics(self.jsonl) if int(r.get("step", 0)) <= step]
        tmp = self.jsonl.with_name(self.jsonl.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        os.replace(tmp, self.jsonl)
        self._file = open(self.jsonl, "a")  # noqa: SIM115

    def write(self, step: int, metrics: Mapping[str, float], *, prefix: str = "") -> None:
        if not self.enabled or self._file is None:
            return
        row: dict[str, Any] = {"step": int(step), "time": round(time.time(), 3)}
        for k, v in metrics.items():
            v = float(v)
            row[prefix + k] = v if math.isfinite(v) else str(v)
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        if self._tb is not None:
            for k, v in metrics.items():
                self._tb.add_scalar(prefix + k, float(v), global_step=int(step))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
