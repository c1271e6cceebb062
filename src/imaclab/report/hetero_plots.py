"""Plots of the TPU-only vs TPU-IMAC comparison (:mod:`imaclab.hetero`).

* ``latency_per_layer.png`` -- one panel per design, a bar per layer / hand-off (log scale),
  coloured by the unit that runs it;
* ``summary.png`` -- latency by unit, energy by component, memory (digital weight bytes,
  crossbar weight bytes, DRAM traffic) and accuracy of both designs;
* ``compare.png`` -- speedup, memory reduction and energy ratio across models, with the
  published TPU-IMAC maxima as reference lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

UNIT_COLORS = {"tpu": "#1f77b4", "vector": "#9467bd", "imac": "#2ca02c", "handoff": "#ff7f0e"}
ENERGY_PARTS = (("energy_mac_j", "MAC / vector ops", "#1f77b4"), ("energy_sram_j", "SRAM", "#17becf"),
                ("energy_dram_j", "DRAM", "#d62728"), ("energy_static_j", "static", "#7f7f7f"),
                ("energy_imac_j", "IMAC crossbars", "#2ca02c"), ("energy_conversion_j", "DAC / ADC", "#ff7f0e"))
DESIGN_LABELS = {"tpu-only": "TPU only", "tpu-imac": "TPU-IMAC"}
DPI = 110
MAX_TICK_LABELS = 40
"""Above this many bars per panel only every n-th layer name is written."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` atomically (imaclab.files) and close it."""
    from imaclab.files import write_with

    try:
        return write_with(path, lambda tmp: fig.savefig(tmp, dpi=DPI))
    finally:
        plt.close(fig)


def plot_layer_latency(comparison: Any, path: str | Path) -> Path:
    """Per-layer latency bars of both designs (log scale, microseconds), coloured by unit."""
    plt = _pyplot()
    designs = comparison.designs
    n_max = max(len(d.layers) for d in designs.values())
    fig, axes = plt.subplots(len(designs), 1, figsize=(max(7.0, 0.16 * n_max + 3), 3.2 * len(designs)), sharey=True)
    axes = axes if hasattr(axes, "__len__") else [axes]
    for ax, (name, design) in zip(axes, designs.items()):
        lat_us = [max(c.latency_s * 1e6, 1e-9) for c in design.layers]
        colors = [UNIT_COLORS.get(c.unit, "#333333") for c in design.layers]
        ax.bar(range(len(lat_us)), lat_us, color=colors, width=0.85)
        ax.set_yscale("log")
        ax.set_ylabel("latency (us)")
        ax.set_title(f"{comparison.model}: {DESIGN_LABELS.get(name, name)} -- {design.latency_s * 1e6:.4g} us per "
                     f"image, {design.throughput_per_s:.4g} images/s", fontsize=9)
        step = max(1, len(design.layers) // MAX_TICK_LABELS + 1)
        ticks = list(range(0, len(design.layers), step))
        ax.set_xticks(ticks)
        ax.set_xticklabels([design.layers[i].name for i in ticks], rotation=90, fontsize=6)
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_xlim(-0.6, n_max - 0.4)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in UNIT_COLORS.values()]
    axes[0].legend(handles, list(UNIT_COLORS), fontsize=7, loc="upper right", ncol=4)
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_summary(comparison: Any, accuracy: dict[str, Any] | None, path: str | Path) -> Path:
    """Latency by unit, energy by component, memory and accuracy of both designs."""
    plt = _pyplot()
    designs = comparison.designs
    labels = [DESIGN_LABELS.get(k, k) for k in designs]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.8))
    # latency stacked by unit
    ax = axes[0]
    bottom = [0.0] * len(designs)
    for unit, color in UNIT_COLORS.items():
        vals = [sum(c.latency_s for c in d.layers if c.unit == unit) * 1e6 for d in designs.values()]
        if any(vals):
            ax.bar(labels, vals, bottom=bottom, color=color, label=unit)
            bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("single-image latency (us)")
    ax.legend(fontsize=7)
    ratios = comparison.ratios
    ax.set_title(f"speedup {ratios['speedup']:.3g}x", fontsize=9)
    # energy stacked by component
    ax = axes[1]
    bottom = [0.0] * len(designs)
    totals = [d.total for d in designs.values()]
    for attr, label, color in ENERGY_PARTS:
        vals = [getattr(t, attr) * 1e6 for t in totals]
        if any(vals):
            ax.bar(labels, vals, bottom=bottom, color=color, label=label)
            bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("energy per image (uJ)")
    ax.legend(fontsize=7)
    ax.set_title(f"energy ratio {ratios['energy_ratio']:.3g}x", fontsize=9)
    # memory
    ax = axes[2]
    x = range(len(designs))
    width = 0.27
    digital = [t.weight_bytes / 1024 for t in totals]
    crossbar = [t.imac_weight_bits / 8 / 1024 for t in totals]
    dram = [t.dram_bytes / 1024 for t in totals]
    ax.bar([i - width for i in x], digital, width, label="digital weights", color="#1f77b4")
    ax.bar(list(x), crossbar, width, label="crossbar weights", color="#2ca02c")
    ax.bar([i + width for i in x], dram, width, label="DRAM traffic", color="#d62728")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels)
    ax.set_ylabel("kB per image / stored")
    ax.legend(fontsize=7)
    ax.set_title(f"weight memory -{100 * ratios['memory_reduction']:.3g}%", fontsize=9)
    # accuracy
    ax = axes[3]
    acc = accuracy or {}
    names = ["TPU only (8-bit)", "TPU-IMAC digital", "TPU-IMAC circuit"]
    vals = [acc.get("tpu_only"), acc.get("tpu_imac_digital"), acc.get("tpu_imac_circuit")]
    shown = [(n, 100 * v) for n, v in zip(names, vals) if v is not None]
    if shown:
        ax.bar([n for n, _ in shown], [v for _, v in shown], color=["#1f77b4", "#98df8a", "#2ca02c"][:len(shown)])
        for i, (_, v) in enumerate(shown):
            ax.text(i, v, f"{v:.1f}", ha="center", va="bottom", fontsize=8)
        ax.set_ylim(0, 105)
    else:
        ax.text(0.5, 0.5, "accuracy not scored", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("test accuracy (%)")
    ax.tick_params(axis="x", labelsize=7, rotation=15)
    ax.set_title(f"{acc.get('samples', '?')} test images", fontsize=9)
    fig.suptitle(f"{comparison.model}: TPU only vs TPU-IMAC", fontsize=10)
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_compare(rows: list[dict[str, Any]], path: str | Path, published: dict[str, Any] | None = None) -> Path:
    """Speedup, memory reduction and energy ratio per model (failed models left out)."""
    plt = _pyplot()
    ok = [r for r in rows if r.get("status") == "ok"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    models = [r["model"] for r in ok]
    panels = (("speedup", "speedup (x)", "speedup_max", 1.0), ("memory_reduction", "weight memory reduction (%)",
                                                              "memory_reduction_max", 100.0),
              ("energy_ratio", "energy TPU only / TPU-IMAC (x)", None, 1.0))
    published = published or {"speedup_max": 2.59, "memory_reduction_max": 0.88}
    for ax, (key, label, pub, scale) in zip(axes, panels):
        vals = [r[key] * scale for r in ok]
        ax.bar(models, vals, color="#2ca02c")
        for i, v in enumerate(vals):
            ax.text(i, v, f"{v:.3g}", ha="center", va="bottom", fontsize=7)
        if pub and pub in published:
            ax.axhline(published[pub] * scale, color="k", ls="--", lw=1, label="published max (TPU-IMAC)")
            ax.legend(fontsize=7)
        ax.set_ylabel(label)
        ax.tick_params(axis="x", rotation=30, labelsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    tpu = ok[0]["tpu"] if ok else ""
    fig.suptitle(f"TPU-IMAC vs TPU only on {tpu}", fontsize=10)
    fig.tight_layout()
    return _save(plt, fig, path)
