"""PNG plots with matplotlib's Agg backend (no display needed; process 0 only).

Every figure a run writes says what it shows: each panel has a title (or the figure a suptitle)
and labelled axes with units, and each colour bar a label. :func:`save_figure` warns
(:class:`UnlabelledFigureWarning`) about a figure that does not, naming the panel.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from etils import epath

__all__ = [
    "UnlabelledFigureWarning",
    "figure_problems",
    "new_figure",
    "plot_metrics",
    "save_figure",
]


class UnlabelledFigureWarning(UserWarning):
    """A figure has a panel without a title or an axis label, or a colour bar without a label."""


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


def figure_problems(fig: Any) -> list[str]:
    """What a reader of ``fig`` would miss: panels without a title (and no suptitle) or an axis
    label, colour bars without a label. Empty when the figure says what it shows."""
    problems = []
    suptitle = fig._suptitle is not None and fig._suptitle.get_text()
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        if hasattr(ax, "_colorbar"):
            long_axis = ax.yaxis if ax._colorbar.orientation == "vertical" else ax.xaxis
            if not long_axis.get_label_text():
                problems.append(f"colour bar {i}: no label")
            continue
        name = f"panel {i} ({ax.get_title() or 'untitled'})"
        if not (ax.get_title() or suptitle):
            problems.append(f"{name}: no title")
        for axis in ("x", "y"):
            if not getattr(ax, f"get_{axis}label")():
                problems.append(f"{name}: no {axis} label")
    return problems


def save_figure(fig: Any, path: str | os.PathLike, *, name: str | None = None) -> epath.Path:
    """Write ``fig`` as a PNG at ``path`` (local or cloud) and close it (warning when it is
    unlabelled)."""
    path = epath.Path(path)
    problems = figure_problems(fig)
    if problems:
        warnings.warn(
            f"figure {name or path.stem}: " + "; ".join(problems),
            UnlabelledFigureWarning,
            stacklevel=2,
        )
    plt = _plt()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        fig.savefig(f, dpi=110, format="png")
    plt.close(fig)
    return path


def plot_metrics(
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    path: str | os.PathLike,
    *,
    logy: bool = False,
    title: str | None = None,
    tb: Callable[[str, Any, int], None] | None = None,
    step: int = 0,
) -> epath.Path | None:
    """One panel per metric in ``keys`` against the training step (from ``metrics.jsonl``
    rows), saved at ``path`` (local or cloud); ``tb(tag, fig, step)`` also receives the figure
    (TensorBoard)."""
    keys = [k for k in keys if any(k in r for r in rows)]
    if not keys:
        return None
    fig, axes = new_figure(len(keys))
    for ax, k in zip(axes, keys, strict=True):
        pts = [(r["step"], r[k]) for r in rows if isinstance(r.get(k), int | float)]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.plot(xs, ys, marker="." if len(pts) < 30 else None)
        ax.set(xlabel="training step", ylabel=k, title=f"{k} during training")
        if logy and pts and min(ys) > 0:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    if tb is not None:
        tb(f"plots/{epath.Path(path).stem}", fig, step)
    return save_figure(fig, path)
