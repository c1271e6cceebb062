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

from imaclab.errors import ConfigError
from imaclab.files import write_with
from imaclab.llm.architecture import CATEGORIES
from imaclab.llm.study import StudyResult

HEATMAP_COSTS = ("systolic", "memory", "roofline")
CATEGORY_COLORS = {"projection": "#1f77b4", "attention": "#d62728", "head": "#2ca02c", "other": "#7f7f7f"}
S_AXIS = np.logspace(0, 3, 60)  # improvement factor s from 1 to 1000
DPI = 110


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
    panel_w, panel_h = 0.75 * len(contexts) + 0.3, max(1.4, 0.28 * len(models) + 0.4)
    gap = 0.95  # inches between panel rows: x label of one row, title of the next
    width, height = 1.7 + panel_w * ncols + 1.2, 0.55 + 0.8 + panel_h * nrows + gap * (nrows - 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, sharey=True)
    fig.subplots_adjust(left=1.7 / width, right=1 - 1.2 / width, bottom=0.55 / height, top=1 - 0.8 / height,
                        wspace=0.3 / panel_w, hspace=gap / panel_h)
    cmap = plt.get_cmap("viridis").with_extremes(bad="#d9d9d9")
    image = None
    for ax, (phase, hw) in zip(axes.flat, panels):
        grid = np.full((len(models), len(contexts)), np.nan)
        devices = set()
        for r in result.rows:
            if r["phase"] == phase and r["hardware"] == hw:
                grid[models.index(r["model"]), contexts.index(r["context"])] = r[f"f_{cost}"]
                devices.add(r["roofline"])
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
        for i in range(len(models)):
            for j in range(len(contexts)):
                value = grid[i, j]
                text = "n/a" if np.isnan(value) else f"{value:.2f}"
                color = "black" if np.isnan(value) or value > 0.6 else "white"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
        ax.set_xticks(range(len(contexts)), [str(c) for c in contexts])
        ax.set_yticks(range(len(models)), models, fontsize=8)
        ax.tick_params(axis="y", labelleft=ax in axes[:, 0])
        ax.set_xlabel("context length L (tokens)")
        device = f" ({', '.join(sorted(devices))})" if cost != "systolic" and devices else ""
        ax.set_title(f"{phase}, {hw}{device}", fontsize=10)
    if image is not None:
        colorbar_axes = fig.add_axes((1 - 1.0 / width, 0.2, 0.18 / width, 0.6))
        fig.colorbar(image, cax=colorbar_axes, label="f (improved share)")
    improved = "+".join(result.config.improved)
    fig.suptitle(f"Share f of the {cost} cost in {improved} (grey: beyond the model's max context)", fontsize=10)
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))
    plt.close(fig)
    return path


def plot_speedup_curves(result: StudyResult, path: Path, *, context: int | None = None) -> Path:
    """S(s) per model at one context, with dashed ceilings 1 / (1 - f)."""
    plt = _pyplot()
    context = context or curve_context(result)
    panels = _panels(result)
    ncols = len({hw for _, hw in panels}) or 1
    nrows = max(1, len(panels) // ncols)
    width, height = 5.6 * ncols + 2.6, 4.0 * nrows
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=0.7 / width, right=1 - 2.7 / width, bottom=0.6 / height, top=1 - 0.7 / height,
                        wspace=0.25, hspace=0.35)
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda value, _: f"{value:g}")
    models = _model_order(result)
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(models), 2)))
    for ax, (phase, hw) in zip(axes.flat, panels):
        for r in result.rows:
            if r["phase"] != phase or r["hardware"] != hw or r["context"] != context:
                continue
            f = r["f_systolic"]
            color = colors[models.index(r["model"])]
            ax.plot(S_AXIS, 1.0 / ((1 - f) + f / S_AXIS), color=color, lw=1.4, label=r["model"])
            if f < 1:
                ax.axhline(1.0 / (1 - f), color=color, lw=0.8, ls="--")
            if "s_bit_serial" in r:
                ax.plot(r["s_bit_serial"], r["speedup_bit_serial"], marker="o", color=color, ms=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        # plain tick labels: log axes default to mathtext, which is slow to render
        ax.xaxis.set_major_formatter(plain)
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("improvement factor s of the improved part (x)")
        ax.set_ylabel("overall speedup S (x)")
        ax.set_title(f"{phase}, {hw}, L = {context} tokens", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1 - 2.5 / width, 0.5), fontsize=7)
    fig.suptitle("Amdahl speedup S = 1/((1-f)+f/s) of the systolic cost; dashed: ceiling 1/(1-f); "
                 "dots: bit-serial PE", fontsize=10)
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))
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
    panel_h = 3.0
    width, height = max(5.0, 0.35 * len(models) + 1.0) * ncols + 1.4, 0.5 + (panel_h + 1.6) * nrows
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=0.8 / width, right=1 - 1.4 / width, bottom=1.6 / height, top=1 - 0.5 / height,
                        wspace=0.15, hspace=1.6 / panel_h)
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
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1 - 1.3 / width, 0.5), fontsize=8)
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))
    plt.close(fig)
    return path


#: (design label, tokens/s column, tokens/J column, marker) of the energy plot.
ENERGY_DESIGNS = (("tpu", "tokens_per_s_systolic", "tokens_per_j_tpu", "o"),
                  ("hybrid-pim", "tokens_per_s_hybrid_pim_tile", "tokens_per_j_hybrid_pim", "^"))


def pareto_front(points) -> list[tuple[float, float]]:
    """The points of ``points`` (x, y) that no other point beats in both (higher x and higher y are
    better), sorted by x: a point is on the front when every point with a larger x has a smaller y."""
    front: list[tuple[float, float]] = []
    best = -np.inf
    for x, y in sorted(points, key=lambda p: (-p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return sorted(front)


def plot_energy_vs_speed(result: StudyResult, path: Path) -> Path:
    """tokens/J against tokens/s, one point per case: marker = design, colour = model; one panel per
    (phase, hardware).  Per model and design a thin line joins its contexts; per model a step line in its
    colour is its Pareto front over both designs (where the front runs through the hybrid-pim markers,
    hybrid-pim dominates that model's tpu points)."""
    plt = _pyplot()
    panels = _panels(result)
    models = _model_order(result)
    colors = plt.get_cmap("tab20")
    styles = {"tpu": ":", "hybrid-pim": "-"}
    ncols = len({hw for _, hw in panels}) or 1
    nrows = max(1, len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols + 2.2, 4.0 * nrows), squeeze=False)
    for ax, (phase, hw) in zip(axes.flat, panels):
        rows = [r for r in result.rows if r["phase"] == phase and r["hardware"] == hw]
        for i, model in enumerate(models):
            color = colors(i % 20)
            points = []
            for label, xs, ys, marker in ENERGY_DESIGNS:
                sel = sorted((r for r in rows if r["model"] == model and r.get(xs) and r.get(ys)),
                             key=lambda r: r["context"])
                if not sel:
                    continue
                x = [r[xs] for r in sel]
                y = [r[ys] for r in sel]
                points += list(zip(x, y))
                ax.scatter(x, y, marker=marker, s=18, color=color)
                ax.plot(x, y, ls=styles.get(label, "-"), lw=0.5, color=color, alpha=0.5)
            front = pareto_front(points)
            if len(front) > 1:
                ax.step([p[0] for p in front], [p[1] for p in front], where="post", color=color, lw=1.2,
                        alpha=0.9)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("tokens/s")
        ax.set_ylabel("tokens/J")
        ax.set_title(f"{phase}, {hw} (o tpu, ^ hybrid-pim)", fontsize=10)
        ax.grid(True, which="both", alpha=0.2)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="s", color=colors(i % 20), label=m) for i, m in enumerate(models)]
    handles += [Line2D([], [], ls=styles.get(label, "-"), marker=marker, color="k", lw=0.6, label=label)
                for label, _, _, marker in ENERGY_DESIGNS]
    handles.append(Line2D([], [], ls="-", color="0.3", lw=1.2, label="Pareto front (per model)"))
    fig.legend(handles=handles, loc="center right", fontsize=6, ncol=1 if len(handles) <= 24 else 2)
    fig.tight_layout(rect=(0, 0, 1 - 2.2 / (5.2 * ncols + 2.2), 1))
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))
    plt.close(fig)
    return path


def plot_study(result: StudyResult, *, out_dir: str | Path,
               heatmap_costs: tuple[str, ...] = ("systolic",)) -> dict[str, Path]:
    """Draw the study's plots into ``out_dir``: the f heatmaps of ``heatmap_costs`` (systolic, memory,
    roofline), the speedup curves and the cost shares; none when the study has no rows."""
    out = Path(out_dir)
    files: dict[str, Path] = {}
    for cost in heatmap_costs:
        if cost not in HEATMAP_COSTS:
            raise ConfigError(f"no f heatmap for cost '{cost}': use {', '.join(HEATMAP_COSTS)}")
    if result.rows:
        for cost in heatmap_costs:
            key = "f_heatmap" if cost == "systolic" else f"f_heatmap_{cost}"
            files[key] = plot_f_heatmap(result, out / f"f_heatmap_{cost}.png", cost=cost)
        files["speedup_curves"] = plot_speedup_curves(result, out / "speedup_curves.png")
        files["cost_by_category"] = plot_cost_by_category(result, out / "cost_by_category.png")
        if any(r.get("tokens_per_j_tpu") for r in result.rows):
            files["energy_vs_speed"] = plot_energy_vs_speed(result, out / "energy_vs_speed.png")
    return files


def write_study_report(result: StudyResult, *, out_dir: str | Path,
                       heatmap_costs: tuple[str, ...] = ("systolic",)) -> dict[str, Path]:
    """Write ``amdahl.csv``, ``study.json`` and the plots into ``out_dir``; the CSV comes first.

    ``heatmap_costs``: the costs (systolic, memory, roofline) to draw an f heatmap for.
    """
    from imaclab.files import check_writable_dir

    out = check_writable_dir(out_dir)
    files: dict[str, Any] = result.write_files(out)
    files.update(plot_study(result, out_dir=out, heatmap_costs=heatmap_costs))
    return files
