"""Plots of the imac room: accuracy vs time after programming (:class:`imaclab.imac.drift.DriftResult`).

The imac room hands the per-(line, time) summary as a DataFrame with columns ``line``,
``time_s``, ``accuracy_mean``, ``accuracy_min``, ``accuracy_max``, ``accuracy_std``; this draws
one line per ``line`` (device preset or setting), the mean with a min-max band, time on a log axis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FIGURE_SIZE_IN = (6.4, 4.8)
DPI = 150


def draw_accuracy_vs_time(summary: Any, path: str | Path, title: str = "IMAC accuracy vs time after programming",
                          time_labels: dict[float, str] | None = None) -> Path:
    """Accuracy (percent) vs time (log axis), one line per ``summary.line``; written atomically."""
    import numpy as np
    from matplotlib.figure import Figure

    from imaclab.files import write_with

    fig = Figure(figsize=FIGURE_SIZE_IN, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    times = sorted(float(t) for t in set(summary["time_s"]))
    floor = min((t for t in times if t > 0), default=1.0) / 10.0  # t = 0 drawn one decade left of the first
    for line, group in summary.groupby("line", sort=False):
        group = group.sort_values("time_s")
        t = np.maximum(group["time_s"].to_numpy(dtype=float), floor)
        ax.plot(t, 100 * group["accuracy_mean"], marker="o", label=str(line))
        ax.fill_between(t, 100 * group["accuracy_min"], 100 * group["accuracy_max"], alpha=0.2)
    ax.set_xscale("log")
    ticks = [max(t, floor) for t in times]
    labels = [(time_labels or {}).get(t, f"{t:g} s") for t in times]
    ax.set_xticks(ticks, labels)
    ax.minorticks_off()
    ax.set_xlabel("time after programming")
    ax.set_ylabel("accuracy (%): mean, band min-max over trials")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.suptitle(title, fontsize="medium")
    return write_with(path, fig.savefig)
