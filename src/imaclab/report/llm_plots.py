"""Plots and files of the LLM Amdahl study (:mod:`imaclab.llm.study`).

* ``f_heatmap_<cost>.png``: the improved fraction f over (context, model), one panel per
  (phase, hardware); cases a model cannot run are grey.
* ``speedup_curves.png``: S(s) = 1 / ((1 - f) + f / s) per model with its ceiling 1 / (1 - f).
* ``cost_by_category.png``: share of systolic cycles by category, stacked per model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imaclab.llm.architecture import CATEGORIES
from imaclab.llm.study import StudyResult

CATEGORY_COLORS = {"projection": "#1f77b4", "attention": "#d62728", "head": "#2ca02c", "other": "#7f7f7f"}
S_AXIS = np.logspace(0, 3, 200)  # improvement factor s from 1 to 1000


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panels(result: StudyResult) -> list[tuple[str, str]]:
    hardware = list(dict.fromkeys(r["hardware"] for r in result.rows))
    return [(phase, hw) for phase in result.config.phases for hw in hardware]


def _model_order(result: StudyResult) -> list[str]:
    return list(dict.fromkeys(r["model"] for r in result.rows))


def curve_context(result: StudyResult) -> int:
    """The largest context that every model of the study ran at (else the smallest context)."""
    contexts = sorted(result.config.contexts)
    models = _model_order(result)
    ran = {(r["model"], r["context"]) for r in result.rows}
    common = [c for c in contexts if all((m, c) in ran for m in models)]
    return common[-1] if common else contexts[0]


def plot_f_heatmap(result: StudyResult, path: Path, *, cost: str = "systolic") -> Path:
    """Heatmap of f (share of the baseline in the improved categories) over (context, model)."""
    plt = _pyplot()
    panels = _panels(result)
    models = _model_order(result)
    contexts = sorted(result.config.contexts)
    ncols = len({hw for _, hw in panels}) or 1
    nrows = max(1, len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.2 + 1.0 * len(contexts) * ncols, 1.2 + 0.32 * len(models) * nrows),
                             squeeze=False, constrained_layout=True)
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("#d9d9d9")
    image = None
    for ax, (phase, hw) in zip(axes.flat, panels):
        grid = np.full((len(models), len(contexts)), np.nan)
        for r in result.rows:
            if r["phase"] == phase and r["hardware"] == hw:
                grid[models.index(r["model"]), contexts.index(r["context"])] = r[f"f_{cost}"]
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
        for i in range(len(models)):
            for j in range(len(contexts)):
                value = grid[i, j]
                text = "n/a" if np.isnan(value) else f"{value:.2f}"
                color = "black" if np.isnan(value) or value > 0.6 else "white"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
        ax.set_xticks(range(len(contexts)), [str(c) for c in contexts])
        ax.set_yticks(range(len(models)), models, fontsize=8)
        ax.set_xlabel("context length L (tokens)")
        ax.set_title(f"{phase}, {hw}", fontsize=10)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8, label=f"f = improved share of {cost} cost")
    improved = "+".join(result.config.improved)
    fig.suptitle(f"Share f of the {cost} cost in {improved} (grey: beyond the model's max context)")
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_speedup_curves(result: StudyResult, path: Path, *, context: int | None = None) -> Path:
    """S(s) per model at one context, with dashed ceilings 1 / (1 - f)."""
    plt = _pyplot()
    context = context or curve_context(result)
    panels = _panels(result)
    ncols = len({hw for _, hw in panels}) or 1
    nrows = max(1, len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 4.2 * nrows), squeeze=False,
                             constrained_layout=True)
    models = _model_order(result)
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(models), 2)))
    for ax, (phase, hw) in zip(axes.flat, panels):
        for r in result.rows:
            if r["phase"] != phase or r["hardware"] != hw or r["context"] != context:
                continue
            f = r["f_systolic"]
            color = colors[models.index(r["model"])]
            ax.plot(S_AXIS, 1.0 / ((1 - f) + f / S_AXIS), color=color, lw=1.4,
                    label=f"{r['model']} (f={f:.2f})")
            if f < 1:
                ax.axhline(1.0 / (1 - f), color=color, lw=0.8, ls="--")
            if "s_bit_serial" in r:
                ax.plot(r["s_bit_serial"], r["speedup_bit_serial"], marker="o", color=color, ms=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("improvement factor s of the improved part (x)")
        ax.set_ylabel("overall speedup S (x)")
        ax.set_title(f"{phase}, {hw}, L = {context} tokens", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right center", fontsize=7)
    fig.suptitle("Amdahl speedup S = 1/((1-f)+f/s) of the systolic cost; dashed: ceiling 1/(1-f); "
                 "dots: bit-serial PE", fontsize=10)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_cost_by_category(result: StudyResult, path: Path, *, context: int | None = None) -> Path:
    """Stacked share of systolic cycles by category for each model at one context."""
    plt = _pyplot()
    context = context or curve_context(result)
    panels = _panels(result)
    models = _model_order(result)
    ncols = len({hw for _, hw in panels}) or 1
    nrows = max(1, len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(6.0, 0.45 * len(models) + 2) * ncols, 4.4 * nrows),
                             squeeze=False, constrained_layout=True)
    for ax, (phase, hw) in zip(axes.flat, panels):
        rows = {r["model"]: r for r in result.rows
                if r["phase"] == phase and r["hardware"] == hw and r["context"] == context}
        names = [m for m in models if m in rows]
        bottom = np.zeros(len(names))
        for category in CATEGORIES:
            share = np.array([100.0 * rows[m][f"cycles_{category}"] / rows[m]["cycles_total"] for m in names])
            ax.bar(range(len(names)), share, bottom=bottom, color=CATEGORY_COLORS[category], label=category)
            bottom += share
        for i, m in enumerate(names):
            ax.text(i, 101, f"{rows[m]['cycles_total']:.1e}", ha="center", va="bottom", fontsize=6, rotation=90)
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
        ax.set_ylim(0, 118)
        ax.set_ylabel("share of systolic cycles (%)")
        ax.set_title(f"{phase}, {hw}, L = {context} tokens (total cycles on top)", fontsize=10)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def write_study_report(result: StudyResult, *, out_dir: str | Path) -> dict[str, Path]:
    """Write ``amdahl.csv``, ``study.json`` and the plots into ``out_dir``; the CSV comes first."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {"csv": result.write_csv(out / "amdahl.csv"), "json": result.write_json(out / "study.json")}
    if result.rows:
        files["f_heatmap"] = plot_f_heatmap(result, out / "f_heatmap_systolic.png", cost="systolic")
        files["f_heatmap_memory"] = plot_f_heatmap(result, out / "f_heatmap_memory.png", cost="memory")
        files["speedup_curves"] = plot_speedup_curves(result, out / "speedup_curves.png")
        files["cost_by_category"] = plot_cost_by_category(result, out / "cost_by_category.png")
    return files
