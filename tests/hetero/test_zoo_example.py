"""examples/tpu_imac_zoo.py (the zoo table and sensitivity of docs/tpu-imac.md) at its tiny size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "tpu_imac_zoo.py"


def _rows(text: str, section: str) -> list[list[str]]:
    """The body rows of the Markdown table under ``## section``."""
    block = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in block.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_zoo_example_tiny(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(EXAMPLE), str(tmp_path / "runs"), str(tmp_path / "out"), "--tiny"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "out" / "tables.md").read_text()
    assert text.strip() in proc.stdout
    for policy in ("tpu-imac", "tpu-int8"):
        assert (tmp_path / "runs" / "vgg-small" / policy / "summary.json").exists()

    (zoo,) = _rows(text, "zoo")
    compare = json.loads((tmp_path / "out" / "compare" / "compare.json").read_text())["rows"][0]
    assert zoo[0] == "vgg-small" and compare["status"] == "ok"
    assert zoo[1] == "32-32-10 (4 crossbars)"  # 33 rows (bias included) over 32-row crossbars, two layers
    assert float(zoo[4]) == round(compare["speedup"], 3) and float(zoo[13]) == round(compare["energy_ratio"], 3)
    for cell in zoo[14:]:  # the three accuracies, scored on 30 images
        assert 0.0 <= float(cell.rstrip(" %")) <= 100.0

    default, stall_free, small_tiles = _rows(text, "sensitivity")
    # the default row is the zoo table's job again: same figures
    assert default[1:4] == zoo[2:5] and default[9] == zoo[13]
    # weights do not depend on the DRAM interface or the tiling; DRAM traffic does depend on the stall model
    assert default[4] == stall_free[4] == small_tiles[4] == zoo[8]
    assert default[5] != stall_free[5]
    # 16x16 tiles change the circuit (its accuracy is scored), not the digital costs
    assert small_tiles[1:3] == default[1:3] and small_tiles[10] and not stall_free[10]
