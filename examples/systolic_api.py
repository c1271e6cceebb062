"""The systolic room from Python: one topology on a few arrays, and a run folder.

    python examples/systolic_api.py [OUT_DIR]

Runs the shipped GPT-2 decoder-layer topology (GEMMs) on the edge preset in its three
dataflows, prints total cycles and utilization, and writes the output-stationary run
(SCALE-Sim's three CSV reports, config.yaml, summary.json) into OUT_DIR (default: a
temporary folder).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from imaclab.systolic import TpuJob, run


def main(out_dir: Path) -> int:
    job = TpuJob(systolic="edge-32x32", topology="gpt2_decoder_layer")
    for dataflow in ("os", "ws", "is"):
        result = run(job.with_overrides({"dataflow": dataflow}))
        totals = result.metrics()
        print(f"{dataflow}: total_cycles={totals['total_cycles']} "
              f"utilization={totals['overall_utilization']:.4f} layers={totals['layers']}")
    result = run(job, out_dir=out_dir)
    print(f"wrote {', '.join(sorted(p.name for p in result.files.values()))} into {out_dir}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main(Path(sys.argv[1])))
    with tempfile.TemporaryDirectory() as tmp:
        sys.exit(main(Path(tmp)))
