"""Plots of the nn room's training runs (the room writes data; this module draws)."""

from __future__ import annotations

from pathlib import Path

from imaclab.files import write_with


def plot_accuracy(report: dict, path: str | Path) -> Path:
    """Test (solid) and train (dashed) accuracy per epoch; the FP32 baseline in grey if present."""
    # the object API with the Agg canvas: no pyplot state, no GUI backend selection
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    hist = report["history"]
    epochs = [h["epoch"] for h in hist]
    label = f"{report['model']} ({report['policy']})"
    ax.plot(epochs, [100 * h["test_accuracy"] for h in hist], "o-", label=f"{label} test")
    ax.plot(epochs, [100 * h["train_accuracy"] for h in hist], "--", color="C0", alpha=0.6, label=f"{label} train")
    base = report.get("baseline")
    if base:
        bh = base["history"]
        ax.plot([h["epoch"] for h in bh], [100 * h["test_accuracy"] for h in bh], "s-", color="0.4",
                label="FP32 baseline test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{report['data']['name']}: {label}")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return write_with(path, lambda tmp: fig.savefig(tmp, dpi=120))


def plot_crossbar_study(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """Circuit accuracy against crossbar size, one line per wire width: plain training (dashed)
    vs circuit-in-the-loop fine-tuning (solid); the ideal model's accuracy as a grey line.

    ``rows``: dicts with ``crossbar`` (rows = columns), ``wire_width_m``, ``plain_circuit_accuracy``,
    ``circuit_loop_accuracy`` and ``ideal_accuracy`` (fractions), as the crossbar-size study writes them.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    widths = sorted({r["wire_width_m"] for r in rows})
    for i, width in enumerate(widths):
        sel = sorted((r for r in rows if r["wire_width_m"] == width), key=lambda r: r["crossbar"])
        sizes = [r["crossbar"] for r in sel]
        label = f"wire width {width * 1e9:.0f} nm"
        ax.plot(sizes, [100 * r["plain_circuit_accuracy"] for r in sel], "o--", color=f"C{i}", alpha=0.7,
                label=f"{label}, plain training")
        ax.plot(sizes, [100 * r["circuit_loop_accuracy"] for r in sel], "s-", color=f"C{i}",
                label=f"{label}, circuit-in-the-loop")
    ideal = [r["ideal_accuracy"] for r in rows if r.get("ideal_accuracy") is not None]
    if ideal:
        ax.axhline(100 * ideal[0], color="0.5", lw=1, label="ideal crossbar model (plain)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({r["crossbar"] for r in rows}))
    ax.set_xticklabels([f"{s}x{s}" for s in sorted({r["crossbar"] for r in rows})])
    ax.set_xlabel("crossbar size")
    ax.set_ylabel("circuit accuracy (%)")
    ax.set_title(title or "circuit accuracy vs crossbar size")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    return write_with(path, lambda tmp: fig.savefig(tmp, dpi=120))
