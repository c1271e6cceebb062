"""Plots of a sweep: a metric against a field (line, scatter or heatmap) and Pareto fronts.

``kind="auto"`` picks what fits the data:

* **heatmap** when a ``hue`` field has more than :data:`HUE_LINE_MAX` levels and both
  it and ``x`` are grids (at most :data:`GRID_MAX_LEVELS` distinct values): the cell is
  the mean of ``y`` over the other axes;
* **line** when ``x`` is a grid: one line per hue level, the mean of ``y`` over the
  other axes, with a band from its minimum to its maximum;
* **scatter** otherwise (random samples), coloured by ``hue``.

Only successful points are drawn.  An axis whose positive values span more than
:data:`LOG_SPAN` (resistances, power), or form a geometric grid (a logspace axis), is
drawn on a log scale.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from imaclab.errors import ConfigError, InputError
from imaclab.sweep.results import Objective, pareto_front, parse_objectives, resolve_column, results_frame

#: Most distinct values a field may have to count as a grid axis (else: scattered samples).
GRID_MAX_LEVELS = 30
#: Most hue levels drawn as separate lines; more become a heatmap (or a colour scale).
HUE_LINE_MAX = 8
#: max/min ratio of positive values above which an axis is drawn on a log scale.
LOG_SPAN = 100.0
#: A grid of at least this many levels whose consecutive ratios agree within GEOMETRIC_RATIO_SPREAD
#: and exceed GEOMETRIC_MIN_RATIO is geometric (a logspace axis, integer-rounded or not): log scale.
GEOMETRIC_MIN_LEVELS = 4
GEOMETRIC_MIN_RATIO = 1.5
GEOMETRIC_RATIO_SPREAD = 1.25
#: A log-scale grid axis with at most this many levels is labelled with its values.
LOG_TICKS_MAX = 12
#: Heatmaps up to this many cells per side get their values written in the cells.
ANNOTATE_MAX = 12
FIGURE_SIZE_IN = (6.4, 4.8)
#: Characters per line of a figure title (longer titles wrap).
TITLE_CHARS = 70
DPI = 150

PlotKind = Literal["auto", "line", "scatter", "heatmap"]


@dataclass
class SweepPlot:
    """A plot written to disk, and for Pareto plots the front itself."""

    path: Path
    kind: str
    points: int  # successful points drawn
    failed: int  # failed points left out
    front: pd.DataFrame | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = {"path": str(self.path), "kind": self.kind, "points": self.points, "failed": self.failed}
        if self.front is not None:
            out["front"] = self.front.to_dict(orient="records")
        return out


def _slug(*names: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", n) for n in names if n)


def _level(value: Any) -> str:
    """A legend label for a hue level: 4 significant digits for floats."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _log_scale(series: pd.Series) -> bool:
    """Positive values that span more than LOG_SPAN, or a geometric grid (a logspace axis)."""
    if not _is_numeric(series):
        return False
    values = series.dropna().astype(float)
    if not len(values) or not bool((values > 0).all()):
        return False
    if values.max() / values.min() > LOG_SPAN:
        return True
    levels = np.unique(values.to_numpy())
    if GEOMETRIC_MIN_LEVELS <= len(levels) <= GRID_MAX_LEVELS:
        ratios = levels[1:] / levels[:-1]
        return bool(ratios.min() > GEOMETRIC_MIN_RATIO and ratios.max() / ratios.min() < GEOMETRIC_RATIO_SPREAD)
    return False


def choose_kind(frame: pd.DataFrame, x: str, hue: str | None) -> str:
    """The plot kind that fits ``x`` (and ``hue``) in ``frame``; see the module docstring."""
    x_levels = frame[x].nunique(dropna=True)
    x_grid = x_levels <= GRID_MAX_LEVELS and (x_levels < len(frame) or len(frame) <= GRID_MAX_LEVELS)
    if hue is not None:
        hue_levels = frame[hue].nunique(dropna=True)
        if x_grid and HUE_LINE_MAX < hue_levels <= GRID_MAX_LEVELS:
            return "heatmap"
        if hue_levels > GRID_MAX_LEVELS:
            return "scatter"
    return "line" if x_grid else "scatter"


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


def plot_sweep(*, directory: str | Path, x: str | None = None, y: str | None = None, hue: str | None = None,
               kind: PlotKind = "auto", pareto: str | None = None, output: str | Path | None = None) -> SweepPlot:
    """Plot metric ``y`` against field ``x`` (optionally by ``hue``), or a Pareto front, as a PNG.

    Args:
        directory: the sweep directory.
        x, y, hue: a field or variable for ``x``/``hue``, a metric for ``y`` (any column works).
        kind: ``auto``, ``line``, ``scatter`` or ``heatmap`` (heatmap needs ``hue``).
        pareto: two objectives, ``"accuracy:max,power:min"``: draws every point and the
            front (x = first objective, y = second); ``x``/``y`` are then not needed.
        output: the PNG path (default ``DIR/plots/<y>_vs_<x>[_by_<hue>].png``).
    """
    frame = results_frame(directory)
    if frame.empty:
        raise InputError(f"{directory}: the sweep store has no points yet; run the sweep first")
    ok = frame[frame["status"] == "ok"]
    failed = len(frame) - len(ok)
    if ok.empty:
        raise InputError(f"{directory}: every stored point failed; nothing to plot "
                         f"(see `imaclab sweep status {directory}`)")
    name = frame.attrs.get("name") or Path(directory).name
    fig = _figure()
    ax = fig.add_subplot()
    front = None
    if pareto is not None:
        objectives: list[Objective] = parse_objectives(pareto)
        x, y = (resolve_column(frame, n, "metric") for n, _ in objectives)
        hue_col = resolve_column(frame, hue, "field") if hue else None
        front = pareto_front(frame, objectives)
        _scatter(fig, ax, ok, x, y, hue_col)
        ax.plot(front[x], front[y], color="black", marker="o", markerfacecolor="none", markersize=8,
                label=f"Pareto front ({len(front)})")
        ax.legend(fontsize="small")
        kind_used = "pareto"
        title = f"{name}: Pareto front, {objectives[0][0]} {objectives[0][1]} / {objectives[1][0]} {objectives[1][1]}"
        default_name = f"pareto_{_slug(objectives[0][0], objectives[1][0])}.png"
    else:
        if x is None or y is None:
            raise ConfigError("plot: give --x FIELD and --y METRIC (or --pareto METRIC:max,METRIC:min)")
        x = resolve_column(frame, x, "field")
        y = resolve_column(frame, y, "metric")
        hue_col = resolve_column(frame, hue, "field") if hue else None
        if not _is_numeric(ok[y]):
            raise ConfigError(f"plot: '{y}' is not numeric; choose a numeric metric for --y")
        kind_used = choose_kind(ok, x, hue_col) if kind == "auto" else kind
        if kind_used == "heatmap":
            if hue_col is None:
                raise ConfigError("plot: a heatmap needs --hue (the second field of the grid)")
            _heatmap(fig, ax, ok, x, y, hue_col)
        elif kind_used == "line":
            _line(ax, ok, x, y, hue_col)
        elif kind_used == "scatter":
            _scatter(fig, ax, ok, x, y, hue_col)
        else:
            raise ConfigError(f"plot: unknown kind '{kind}': use auto, line, scatter or heatmap")
        title = f"{name}: {y} vs {x}" + (f" by {hue_col}" if hue_col else "")
        default_name = f"{_slug(y, 'vs', x, 'by' if hue_col else '', hue_col or '')}.png"
    if kind_used != "heatmap":
        if _log_scale(ok[x]):
            ax.set_xscale("log")
            levels = np.unique(ok[x].dropna().astype(float))
            if kind_used == "line" and len(levels) <= LOG_TICKS_MAX:
                # label the grid values themselves, not powers of ten
                ax.set_xticks(levels, [f"{v:g}" for v in levels])
                ax.minorticks_off()
        if _log_scale(ok[y]):
            ax.set_yscale("log")
        ax.set_ylabel(y)
        ax.grid(True, alpha=0.3)
    ax.set_xlabel(x)
    note = f" ({failed} failed points not drawn)" if failed else ""
    fig.suptitle(textwrap.fill(title + note, TITLE_CHARS), fontsize="medium")
    path = Path(output) if output is not None else Path(directory) / "plots" / default_name
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return SweepPlot(path=path, kind=kind_used, points=len(ok), failed=failed, front=front)
