"""The block a run prints when it ends: what happened, the numbers that matter, where to look."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from etils import epath

from parallax.run._progress import format_duration

__all__ = ["ReportRow", "format_report", "format_value"]


@dataclasses.dataclass(frozen=True)
class ReportRow:
    """One line of the results block: what was measured, its value, and what good looks like."""

    label: str
    value: Any
    good: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "value": self.value, "good": self.good}


def format_value(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return {True: "yes", False: "no", None: "-"}[v]
    if isinstance(v, float):
        return f"{v:.3g}" if math.isfinite(v) else str(v)
    if isinstance(v, Mapping):
        return ", ".join(f"{k}: {format_value(x)}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    return str(v)


def _headline(summary: Mapping[str, Any]) -> str:
    name, status = summary["experiment"], summary["status"]
    steps = f"step {summary['step']} of {summary['steps']}"
    wall = format_duration(float(summary.get("wall_time_s") or 0.0))
    return f"{name}: {status} at {steps} ({wall})"


def format_report(
    summary: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    plots: Sequence[epath.PathLike],
    tb_dir: epath.Path | None,
) -> str:
    """The end-of-run block printed on stdout (also in log.txt); the paths may be cloud ones."""
    root = summary["workdir"]
    head = _headline(summary)
    lines = [f"== {head} " + "=" * max(3, 96 - len(head) - 4)]
    if summary["status"] != "completed" and summary.get("error"):
        lines.append(f"  {summary['error']}")
    if rows:
        width = max(len(r["label"]) for r in rows)
        for r in rows:
            good = f"   (good: {r['good']})" if r.get("good") else ""
            lines.append(f"  {r['label']:<{width}}  {format_value(r['value']):>10}{good}")
    elif summary.get("final_metrics"):
        lines.append(f"  final metrics: {format_value(summary['final_metrics'])}")
    lines.append(f"  run directory: {root}  (summary.json, metrics.jsonl, log.txt)")
    if plots:
        lines.append(f"  plots: {plots[0]}")
        lines.extend(f"         {p}" for p in plots[1:])
    if tb_dir is not None and tb_dir.exists():
        lines.append(f"  TensorBoard: tensorboard --logdir {tb_dir}")
    if summary["status"] == "preempted":
        lines.append(f"  to continue: the same command again, or --resume {root}")
    return "\n".join(lines)
