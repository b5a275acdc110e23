"""Metrics: JSON lines (the source of truth for plots and tests) plus TensorBoard event files.

TensorBoard (``tensorboard --logdir RUN/tb``) gets every logged metric as a scalar, the figures
the run saves (Images tab), and at the end the config as hyperparameters with the final metrics
and numeric results (HParams tab). A resumed run drops the events past its checkpoint, as the
JSON lines do.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from etils import epath

from parallax.run._files import TextSink, is_remote, parse_jsonl, read_jsonl

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
    return read_jsonl(path)


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


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a/b": 1}`` (lists keep their index: ``a/0``)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "/"))
        elif isinstance(v, list | tuple) and len(v) <= 16:
            out.update(flatten({str(i): x for i, x in enumerate(v)}, key + "/"))
        else:
            out[key] = v
    return out


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) else None


class MetricsWriter:
    """Append ``{"step", "time", **metrics}`` lines and TensorBoard events (process 0 only).

    On a cloud run directory the TensorBoard events are written to a local folder and copied
    to ``tb_dir`` on :meth:`close` (tensorboardX writes local files).
    """

    def __init__(
        self, jsonl: epath.PathLike, tb_dir: epath.PathLike | None, *, enabled: bool = True
    ):
        self.jsonl = epath.Path(jsonl)
        self.enabled = enabled
        self.tb_dir = tb_dir
        self._tb = None
        self._purge_step: int | None = None
        self._tb_remote: tuple[Path, epath.Path] | None = None
        self._sink: TextSink | None = None
        if not enabled:
            return
        self._sink = TextSink(self.jsonl)

    @property
    def tb(self) -> Any:
        """The TensorBoard writer, opened on first use (after a resume has set its purge step).
        Its events go to a local folder: ``tb_dir`` itself, or a temporary one copied to a
        cloud ``tb_dir`` on :meth:`close`."""
        if self._tb is None and self.enabled and self.tb_dir is not None:
            if is_remote(self.tb_dir):
                local = Path(tempfile.mkdtemp(prefix="parallax-tb-"))
                self._tb_remote = (local, epath.Path(self.tb_dir))
            else:
                local = Path(self.tb_dir)
            self._tb = _summary_writer_cls()(
                logdir=str(local), flush_secs=30, purge_step=self._purge_step
            )
        return self._tb

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step`` (written after the checkpoint a resumed run restarts from)."""
        if not self.enabled or self._sink is None:
            return
        self._purge_step = step + 1
        rows = [r for r in self.rows() if int(r.get("step", 0)) <= step]
        self._sink.replace("".join(json.dumps(r) + "\n" for r in rows))

    def rows(self) -> list[dict[str, Any]]:
        """Every record written so far (while open, a cloud object's may not all be uploaded)."""
        if self._sink is None:
            return read_metrics(self.jsonl)
        return parse_jsonl(self._sink.read())

    def write(self, step: int, metrics: Mapping[str, float], *, prefix: str = "") -> None:
        if not self.enabled or self._sink is None:
            return
        row: dict[str, Any] = {"step": int(step), "time": round(time.time(), 3)}
        for k, v in metrics.items():
            v = float(v)
            row[prefix + k] = v if math.isfinite(v) else str(v)
        self._sink.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for k, v in metrics.items():
                self.tb.add_scalar(prefix + k, float(v), global_step=int(step))

    def add_figure(self, tag: str, fig: Any, step: int) -> None:
        """The figure as an image (before it is closed)."""
        if self.tb is not None:
            self.tb.add_figure(tag, fig, global_step=int(step), close=False)

    def add_hparams(self, config: Mapping[str, Any], results: Mapping[str, Any], step: int) -> None:
        """The config as hyperparameters and the numeric ``results`` (nested dicts flattened to
        ``a/b``) as scalars at ``step`` and as the HParams tab's metrics, in this run's events."""
        if self.tb is None:
            return
        from tensorboardX.summary import hparams

        hp = {
            k: v if isinstance(v, bool | int | float | str) else str(v)
            for k, v in flatten(config).items()
        }
        values = {k: x for k, v in flatten(results).items() if (x := _number(v)) is not None}
        for k, v in values.items():
            self.tb.add_scalar(k, v, global_step=int(step))
        writer = self.tb._get_file_writer()
        for summary in hparams(hp, values):
            writer.add_summary(summary)
        self.tb.flush()

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._tb_remote is not None:
            local, remote = self._tb_remote
            remote.mkdir(parents=True, exist_ok=True)
            for f in local.iterdir():
                (remote / f.name).write_bytes(f.read_bytes())
            shutil.rmtree(local, ignore_errors=True)
            self._tb_remote = None
