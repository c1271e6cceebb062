"""examples/hetero_api.py runs with the Python API alone and prints real figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "hetero_api.py"


def test_example_runs(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(EXAMPLE), str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    speedup = float(next(line for line in proc.stdout.splitlines() if line.startswith("speedup")).split()[1])
    summary = json.loads((tmp_path / "hetero" / "summary.json").read_text())["summary"]
    assert speedup > 0 and abs(speedup - summary["speedup"]) < 5e-4
    assert 0.0 <= summary["tpu_imac_accuracy"] <= 1.0 and summary["accuracy_samples"] == 50
