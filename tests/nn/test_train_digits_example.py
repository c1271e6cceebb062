"""examples/train_digits_mlp.py (the README's first command) trains with the training room and
writes a model that the README's next command, ``imaclab imac run --model``, accepts."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imaclab.cli import main
from imaclab.data.datasets import load_dataset

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "train_digits_mlp.py"
IMAC_SAMPLES = 60


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("digits_example")
    out, run_dir = tmp / "digits.npz", tmp / "run"
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--epochs", "5", "--threads", "1", "--run-dir", str(run_dir),
                           "-o", str(out)], capture_output=True, text=True, timeout=600, env={**os.environ})
    assert proc.returncode == 0, proc.stderr
    return out, run_dir, proc.stdout


def test_prints_the_run_accuracy_and_copies_its_imac_npz(trained):
    out, run_dir, stdout = trained
    report = json.loads((run_dir / "report.json").read_text())
    match = re.search(r"network (\S+) \(ternary, policy (\S+)\).*test accuracy ([\d.]+) %", stdout)
    assert match, stdout
    assert match.group(1) == report["model"] == "mlp-64-32-10" and match.group(2) == "tpu-imac-ternary"
    printed = float(match.group(3)) / 100
    assert printed == pytest.approx(report["test_accuracy"], abs=5e-5) and report["epochs_completed"] == 5
    assert printed > 0.8  # 10 classes: chance is 0.1; 5 epochs reached 0.894 when this test was written
    assert out.read_bytes() == (run_dir / "imac.npz").read_bytes()
    with np.load(out) as z:
        # ternary device levels, the sky130 transistor neuron and binarized inputs: the README's circuit
        assert set(np.unique(np.concatenate([z["W1"].ravel(), z["W2"].ravel()]))) <= {-1.0, 0.0, 1.0}
        assert str(z["weight_kind"]) == "ternary" and list(z["dims"]) == [64, 32, 10]
        assert json.loads(str(z["neuron_config"]))["kind"] == "transistor" and str(z["input_mode"]) == "binary"


def test_imac_run_accepts_the_model_and_reproduces_the_trained_network(trained, tmp_path):
    from imaclab.nn.training import load_run, predict

    out, run_dir, _ = trained
    args = ["imac", "run", "--model", str(out), "--data", "digits", "--samples", str(IMAC_SAMPLES),
            "--parasitics", "on", "--neuron", "transistor", "--backend", "fast", "--no-html", "-o", str(tmp_path)]
    assert main(args) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    # the circuit is the one the model was trained for: no "model trained with ..." warnings
    assert not [w for w in summary.get("warnings", []) if "trained with" in w], summary["warnings"]
    # the imac room's software reference with the unloaded curve is the training room's network
    test = load_dataset("digits", split="test")
    trained_pred = predict(load_run(run_dir).model, test.x[:IMAC_SAMPLES])
    assert summary["software_accuracy_unloaded"] == pytest.approx(np.mean(trained_pred == test.y[:IMAC_SAMPLES]))
    assert summary["samples_ok"] == IMAC_SAMPLES and summary["agreement"] >= 0.85


def test_bad_options_are_one_line_and_exit_2(capsys, tmp_path):
    spec = importlib.util.spec_from_file_location("train_digits_mlp", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    for args, needle in ((["--weight-kind", "multilevel", "--levels", "10"], "--levels 10"),
                         (["--hidden", "32,x"], "hidden"), (["--data", "nope"], "nope")):
        assert example.main([*args, "-o", str(tmp_path / "x.npz")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "x.npz").exists()
