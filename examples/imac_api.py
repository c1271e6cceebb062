"""The imac room from Python: build a small network with numpy, evaluate it on IMAC crossbars.

    python examples/imac_api.py [OUT_DIR]

Nothing is trained: the network is a nearest-class-mean classifier of the digits data set (one
64-10 layer whose weights are the centred class means, computed in closed form), written as
an ``.npz`` model.  ``imaclab.imac.run(ImacJob(...))`` maps it onto 16x16 crossbars and solves
the circuit with the fast backend on 100 test samples, in about a second; the run folder gets
``config.yaml`` (replay: ``imaclab imac run -c OUT_DIR/run/config.yaml``), ``samples.csv`` and
``summary.json``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from imaclab.data import load_dataset
from imaclab.imac import ImacJob, MLPModel, NetlistJob, run, save_npz


def nearest_class_mean_model(path: Path) -> Path:
    """A 64-10 linear classifier: argmax_c (x . m_c - |m_c|^2 / 2) over centred class means m_c."""
    train = load_dataset("digits", split="train", flatten=True)
    means = np.stack([train.x[train.y == c].mean(axis=0) for c in range(10)])
    centre = means.mean(axis=0)
    m = means - centre
    weights = m.T                                   # inputs x outputs
    biases = -0.5 * (m ** 2).sum(axis=1) - m @ centre
    scale = np.abs(np.concatenate([weights.ravel(), biases])).max()
    model = MLPModel(weights=(weights / scale,), biases=(biases / scale,), weight_kind="real", source="class means")
    return save_npz(model, path)


def main(out: Path) -> dict:
    model = nearest_class_mean_model(out / "class_means.npz")
    job = ImacJob(model=str(model), data="digits").with_overrides({
        "circuit.crossbar.rows": 16, "circuit.crossbar.columns": 16,
        "neuron.kind": "behavioral",
        "simulation.backend": "fast", "simulation.samples": 100,
        "simulation.fast.batch_size": 64,
    })
    result = run(job, out_dir=out / "run")
    metrics = result.metrics()
    print(f"accuracy {result.accuracy:.4f} (software {result.software_accuracy:.4f}) on {result.n_samples} samples")
    print(f"mean power {metrics['mean_power_w'] * 1e3:.3f} mW, {metrics['crossbars']} crossbars, "
          f"area {metrics['area_um2.total_um2']:.1f} um^2")
    netlist = run(NetlistJob(model=str(model), samples=1, analysis="dc").with_overrides(
        {"neuron.kind": "behavioral"}), out_file=out / "class_means.sp")
    print(f"netlist {netlist.path}: {netlist.lines} lines")
    print(f"run folder {out / 'run'}")
    return metrics


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory(prefix="imac-api-") as tmp:
            main(Path(tmp))
