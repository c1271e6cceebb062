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
