"""PNG plots with matplotlib's Agg backend (no display needed; process 0 only)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["new_figure", "plot_metrics", "save_figure"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def new_figure(ncols: int = 1, nrows: int = 1, *, size: tuple[float, float] = (5.0, 3.6)) -> Any:
    """``(fig, axes)`` sized ``size`` per panel; axes is a flat list."""
    plt = _plt()
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size[0] * ncols, size[1] * nrows),
        squeeze=False,
        layout="constrained",
    )
    return fig, list(axes.ravel())


def save_figure(fig: Any, path: Path) -> Path:
    plt = _plt()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_metrics(
    rows: Sequence[dict[str, Any]], keys: Sequence[str], path: Path, *, logy: bool = False
) -> Path | None:
    """One panel per metric in ``keys`` against step (from ``metrics.jsonl`` rows)."""
    keys = [k for k in keys if any(k in r for r in rows)]
    if not keys:
        return None
    fig, axes = new_figure(len(keys))
    for ax, k in zip(axes, keys, strict=True):
        pts = [(r["step"], r[k]) for r in rows if isinstance(r.get(k), int | float)]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.plot(xs, ys)
        ax.set_xlabel("step")
        ax.set_title(k)
        if logy and pts and min(ys) > 0:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    return save_figure(fig, path)
