"""Plots of a sweep (:mod:`imaclab.sweep`): the sweep room decides what to draw, this draws it.

:func:`imaclab.sweep.plots.plot_sweep` reads the store, picks the kind (line, scatter,
heatmap or a Pareto front), the columns, the log scales and the front, and hands a
:class:`~imaclab.sweep.plots.SweepFigure` to :func:`draw_sweep_figure`, which draws it
with matplotlib and writes the PNG atomically (:func:`imaclab.files.write_with`).

* **line**: one line per hue level, the mean of ``y`` over the other axes, with a band
  from its minimum to its maximum;
* **scatter**: points coloured by ``hue`` (a colour scale for a numeric hue of many levels);
* **heatmap**: cell = mean of ``y`` over the other axes, values written in small grids;
* **pareto**: every point, and the front as a line of open circles.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from imaclab.sweep.plots import SweepFigure

#: Most hue levels drawn as separate lines or legend entries (more: a colour scale).
HUE_LINE_MAX = 8
#: Heatmaps up to this many cells per side get their values written in the cells.
ANNOTATE_MAX = 12
FIGURE_SIZE_IN = (6.4, 4.8)
#: Characters per line of a figure title (longer titles wrap).
TITLE_CHARS = 70
DPI = 150


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _level(value: Any) -> str:
    """A legend label for a hue level: 4 significant digits for floats."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _figure() -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=FIGURE_SIZE_IN, dpi=DPI, layout="constrained")


def _line(ax: Any, data: pd.DataFrame, x: str, y: str, hue: str | None) -> None:
    groups = [(None, data)] if hue is None else list(data.groupby(hue, sort=True, dropna=False))
    for level, group in groups:
        stats = group.groupby(x, sort=True)[y].agg(["mean", "min", "max", "count"]).reset_index()
        positions = stats[x] if _is_numeric(stats[x]) else np.arange(len(stats))
        label = None if hue is None else f"{hue}={_level(level)}"
        line, = ax.plot(positions, stats["mean"], marker="o", label=label)
        if (stats["count"] > 1).any():
            ax.fill_between(positions, stats["min"], stats["max"], alpha=0.15, color=line.get_color(), linewidth=0)
        if not _is_numeric(stats[x]):
            ax.set_xticks(positions, [str(v) for v in stats[x]])
    if hue is not None:
        ax.legend(fontsize="small")
    if len(data) > data[x].nunique() * max(1, data[hue].nunique() if hue else 1):
        ax.set_title("mean over the other axes (band: min to max)", fontsize="small")


def _scatter(fig: Any, ax: Any, data: pd.DataFrame, x: str, y: str, hue: str | None) -> None:
    if hue is None:
        ax.scatter(data[x], data[y], s=14)
    elif _is_numeric(data[hue]) and data[hue].nunique() > HUE_LINE_MAX:
        points = ax.scatter(data[x], data[y], c=data[hue], s=14, cmap="viridis")
        fig.colorbar(points, ax=ax, label=hue)
    else:
        for level, group in data.groupby(hue, sort=True, dropna=False):
            ax.scatter(group[x], group[y], s=14, label=f"{hue}={_level(level)}")
        ax.legend(fontsize="small")


def _heatmap(fig: Any, ax: Any, data: pd.DataFrame, x: str, y: str, hue: str) -> None:
    table = data.pivot_table(index=hue, columns=x, values=y, aggfunc="mean").sort_index().sort_index(axis=1)
    image = ax.imshow(table.to_numpy(dtype=float), aspect="auto", origin="lower", cmap="viridis")
    ax.set_xticks(range(table.shape[1]), [f"{v:g}" if isinstance(v, float) else str(v) for v in table.columns],
                  rotation=45 if table.shape[1] > 8 else 0)
    ax.set_yticks(range(table.shape[0]), [f"{v:g}" if isinstance(v, float) else str(v) for v in table.index])
    ax.set_ylabel(hue)
    fig.colorbar(image, ax=ax, label=f"mean {y}")
    if max(table.shape) <= ANNOTATE_MAX:
        for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize="x-small", color="white")


def draw_sweep_figure(figure: SweepFigure, path: str | Path) -> Path:
    """Draw ``figure`` and write it as a PNG at ``path`` (atomically; a device or folder is refused)."""
    from imaclab.files import write_with

    fig = _figure()
    ax = fig.add_subplot()
    data, x, y, hue = figure.data, figure.x, figure.y, figure.hue
    if figure.kind == "pareto":
        front = figure.front
        assert front is not None
        _scatter(fig, ax, data, x, y, hue)
        ax.plot(front[x], front[y], color="black", marker="o", markerfacecolor="none", markersize=8,
                label=f"Pareto front ({len(front)})")
        ax.legend(fontsize="small")
    elif figure.kind == "heatmap":
        assert hue is not None
        _heatmap(fig, ax, data, x, y, hue)
    elif figure.kind == "line":
        _line(ax, data, x, y, hue)
    else:
        _scatter(fig, ax, data, x, y, hue)
    if figure.kind != "heatmap":
        if figure.log_x:
            ax.set_xscale("log")
            if figure.x_ticks is not None:  # label the grid values themselves, not powers of ten
                ax.set_xticks(figure.x_ticks, [f"{v:g}" for v in figure.x_ticks])
                ax.minorticks_off()
        if figure.log_y:
            ax.set_yscale("log")
        ax.set_ylabel(y)
        ax.grid(True, alpha=0.3)
    ax.set_xlabel(x)
    fig.suptitle(textwrap.fill(figure.title, TITLE_CHARS), fontsize="medium")
    return write_with(path, fig.savefig)
