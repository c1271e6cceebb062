"""Hardware-aware training through the Python API: a TPU-IMAC MLP on the 8x8 digits, 2 epochs.

    python examples/nn_api.py [RUN_DIR]      # default: a new temporary folder

Prints the test accuracy (also in RUN_DIR/report.json) and the run's flat metrics; the
folder holds the checkpoint, config.yaml (replay: imaclab train -c RUN_DIR/config.yaml -o RUN_DIR)
and the exports (imac.npz for imaclab imac run).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from imaclab.nn import TrainJob, load_result, run


def main(argv: list[str]) -> float:
    out = Path(argv[1]) if len(argv) > 1 else Path(tempfile.mkdtemp(prefix="imaclab-nn-api-"))
    job = TrainJob(model="mlp-64-32-10", data="digits", policy="tpu-imac", epochs=2, batch_size=32, lr=0.03,
                   threads=1)
    result = run(job, out_dir=out)
    again = load_result(out)  # the same figures, read back from the run folder
    assert again.test_accuracy == result.test_accuracy
    metrics = result.metrics()
    print(f"run folder {out}")
    print(f"epochs {metrics['epochs_completed']}, parameters {metrics['parameters']}")
    print(f"IMAC model {result.report['exports']['imac']}")
    print(f"test accuracy {result.test_accuracy:.4f}")
    return result.test_accuracy


if __name__ == "__main__":
    main(sys.argv)
