"""TPU-IMAC vs TPU only from Python: train a tiny network, then cost and score it on both designs.

    python examples/hetero_api.py [OUT_DIR]

Trains VGG-small at 1/8 width on the 8x8 digits for one epoch with the TPU-IMAC policy (its
fully connected head on crossbars), then runs ``imaclab.hetero.run(HeteroJob(...))``: the
convolutions on a 32x32 systolic array, the head on IMAC crossbars (fast circuit solver,
50 test images), against the same network on the systolic array alone.  Writes the run and
the result folder (layers.csv, summary.json, plots) into OUT_DIR (default: a temp folder).
Takes a few seconds.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import imaclab.nn
from imaclab.hetero import HeteroJob, run


def main(out: Path) -> dict:
    tiny = imaclab.nn.TrainJob(model="vgg-small", data="digits", width=0.125, epochs=1, batch_size=32, lr=0.01,
                               threads=1, seed=0, policy="tpu-imac")
    imaclab.nn.run(tiny, out_dir=out / "run" / "tpu-imac")
    job = HeteroJob(checkpoint=str(out / "run"), tpu="edge").with_overrides({"accuracy.test_samples": 50})
    result = run(job, out_dir=out / "hetero")
    m = result.metrics()
    print(f"{m['model']} on {m['tpu']}: TPU only {m['tpu_only_latency_s'] * 1e6:.2f} us, "
          f"TPU-IMAC {m['tpu_imac_latency_s'] * 1e6:.2f} us per image")
    print(f"speedup {m['speedup']:.3f}")
    print(f"weight memory reduction {100 * m['memory_reduction']:.1f}%")
    print(f"TPU-IMAC accuracy {100 * m['tpu_imac_accuracy']:.1f}% (circuit, {m['accuracy_samples']} images)")
    print(f"files: {out / 'hetero'}")
    return m


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory(prefix="hetero-api-") as tmp:
            main(Path(tmp))
