"""The sweep room from Python: a small design-space sweep of the systolic room's job.

    python examples/sweep_api.py [OUT_DIR]

Sweeps array size x dataflow for the shipped GPT-2 decoder-layer topology (the `tpu`
target: each point is `imaclab.systolic.run(TpuJob(...))`), on two local worker processes,
into a crash-proof store in OUT_DIR (default: a temporary folder), then reads the rows
back and prints the fastest design.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from imaclab.sweep import ExecutorSettings, SweepSpec, results_frame, run_sweep


def main(out_dir: Path) -> int:
    spec = SweepSpec.from_dict({
        "name": "gpt2_arrays", "target": "tpu",
        "base": {"systolic": "edge-32x32", "topology": "gpt2_decoder_layer"},
        "axes": [{"zip": [{"field": "systolic.array_rows", "values": [16, 32, 64]},
                          {"field": "systolic.array_cols", "values": [16, 32, 64]}]},
                 {"field": "systolic.dataflow", "values": ["os", "ws", "is"]}]})
    summary = run_sweep(spec=spec, directory=out_dir / "sweep", executor=ExecutorSettings(workers=2), progress=False)
    print(f"{summary.ok} ok, {summary.failed} failed of {summary.planned} points")
    frame = results_frame(directory=out_dir / "sweep")
    best = frame.sort_values("total_cycles").iloc[0]
    print(f"fastest: {best['systolic.array_rows']}x{best['systolic.array_cols']} {best['systolic.dataflow']} "
          f"total_cycles={int(best['total_cycles'])}")
    return 0 if summary.failed == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main(Path(sys.argv[1])))
    with tempfile.TemporaryDirectory() as tmp:
        sys.exit(main(Path(tmp)))
