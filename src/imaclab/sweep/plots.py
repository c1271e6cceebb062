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

This module decides what to draw (a :class:`SweepFigure`: the points, kind, columns,
scales and Pareto front); :mod:`imaclab.report.sweep_plots` draws it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from imaclab.errors import ConfigError, InputError
from imaclab.result import Table
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

    def tables(self) -> list[Table]:
        """The Pareto front (axis columns and the two objectives), for a Pareto plot."""
        if self.front is None:
            return []
        front = self.front
        shown = ["index", *dict.fromkeys([c for c in front.columns if c in front.attrs.get("axis_columns", [])]
                                         + list(front.attrs.get("objective_columns", [])))]
        rows = tuple(tuple(f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c]) for c in shown)
                     for _, row in front.iterrows())
        return [Table(f"Pareto front: {len(front)} points", tuple(shown), rows)]

    def notes(self) -> list[str]:
        left_out = f", {self.failed} failed not drawn" if self.failed else ""
        return [f"wrote {self.path} ({self.kind}, {self.points} points{left_out})"]


def _slug(*names: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", n) for n in names if n)


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


@dataclass
class SweepFigure:
    """What a sweep plot shows, decided from the data; drawn by :mod:`imaclab.report.sweep_plots`."""

    data: pd.DataFrame  # the successful points
    kind: str  # line, scatter, heatmap or pareto
    x: str
    y: str
    hue: str | None
    title: str
    log_x: bool = False
    log_y: bool = False
    x_ticks: list[float] | None = None  # a log grid axis labelled with its values
    front: pd.DataFrame | None = None  # the Pareto front (kind "pareto")


def sweep_figure(*, directory: str | Path, x: str | None = None, y: str | None = None, hue: str | None = None,
                 kind: PlotKind = "auto", pareto: str | None = None) -> tuple[SweepFigure, str, int]:
    """The figure of a sweep plot, its default file name and the number of failed points left out."""
    frame = results_frame(directory)
    if frame.empty:
        raise InputError(f"{directory}: the sweep store has no points yet; run the sweep first")
    ok = frame[frame["status"] == "ok"]
    failed = len(frame) - len(ok)
    if ok.empty:
        raise InputError(f"{directory}: every stored point failed; nothing to plot "
                         f"(see `imaclab sweep status {directory}`)")
    name = frame.attrs.get("name") or Path(directory).name
    front = None
    if pareto is not None:
        objectives: list[Objective] = parse_objectives(pareto)
        x, y = (resolve_column(frame, n, "metric") for n, _ in objectives)
        hue_col = resolve_column(frame, hue, "field") if hue else None
        front = pareto_front(frame, objectives)
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
        if kind_used not in ("line", "scatter", "heatmap"):
            raise ConfigError(f"plot: unknown kind '{kind}': use auto, line, scatter or heatmap")
        if kind_used == "heatmap" and hue_col is None:
            raise ConfigError("plot: a heatmap needs --hue (the second field of the grid)")
        title = f"{name}: {y} vs {x}" + (f" by {hue_col}" if hue_col else "")
        default_name = f"{_slug(y, 'vs', x, 'by' if hue_col else '', hue_col or '')}.png"
    figure = SweepFigure(data=ok, kind=kind_used, x=x, y=y, hue=hue_col,
                         title=title + (f" ({failed} failed points not drawn)" if failed else ""), front=front)
    if kind_used != "heatmap":
        figure.log_x, figure.log_y = _log_scale(ok[x]), _log_scale(ok[y])
        levels = np.unique(ok[x].dropna().astype(float)) if figure.log_x else np.array([])
        if kind_used == "line" and figure.log_x and len(levels) <= LOG_TICKS_MAX:
            figure.x_ticks = [float(v) for v in levels]
    return figure, default_name, failed


def plot_sweep(*, directory: str | Path, x: str | None = None, y: str | None = None, hue: str | None = None,
               kind: PlotKind = "auto", pareto: str | None = None, output: str | Path | None = None) -> SweepPlot:
    """Plot metric ``y`` against field ``x`` (optionally by ``hue``), or a Pareto front, as a PNG.

    Args:
        directory: the sweep directory.
        x, y, hue: a field or variable for ``x``/``hue``, a metric for ``y`` (any column works).
        kind: ``auto``, ``line``, ``scatter`` or ``heatmap`` (heatmap needs ``hue``).
        pareto: two objectives, ``"accuracy:max,power:min"``: draws every point and the
            front (x = first objective, y = second); ``x``/``y`` are then not needed.
        output: the PNG path (default ``DIR/plots/<y>_vs_<x>[_by_<hue>].png``); written
            atomically, a device or a folder is refused.
    """
    from imaclab.files import check_writable_file
    from imaclab.report.sweep_plots import draw_sweep_figure

    figure, default_name, failed = sweep_figure(directory=directory, x=x, y=y, hue=hue, kind=kind, pareto=pareto)
    path = Path(output) if output is not None else Path(directory) / "plots" / default_name
    check_writable_file(path)
    draw_sweep_figure(figure, path)
    return SweepPlot(path=path, kind=figure.kind, points=len(figure.data), failed=failed, front=figure.front)
