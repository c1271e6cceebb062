"""Cost of a circuit-in-the-loop epoch against a plain hardware-aware epoch (issue 14: at most 3x).

Trains LeNet-5 (tpu-imac policy, binary IMAC head, 32x32 crossbars with wire parasitics) for one
epoch on Fashion-MNIST both ways from the same starting weights and prints the seconds per epoch
and their ratio (wall and CPU), measured in this one run:

    python benchmarks/circuit_loop_epoch.py [--train-samples 20000] [--threads 1] [--refresh-steps 50]

The circuit-in-the-loop epoch pays for the circuit solve of every batch (the exact forward pass)
and for re-programming the circuit every ``--refresh-steps`` steps (build + exact reduction).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-samples", type=int, default=20000, help="training images per epoch")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--refresh-steps", type=int, default=50, help="re-program the circuit every N steps")
    args = parser.parse_args()

    from imaclab.nn.api import TrainJob, run

    common = {"model": "lenet5", "data": "fashion-mnist", "policy": "tpu-imac", "threads": args.threads,
              "train_samples": args.train_samples, "test_samples": 1000, "seed": 0}
    with tempfile.TemporaryDirectory() as tmp:
        start = run(TrainJob().with_overrides({**common, "epochs": 1}), out_dir=Path(tmp) / "start")
        times = {}
        for name, loop in (("plain", False), ("circuit-in-the-loop", True)):
            job = TrainJob().with_overrides({**common, "epochs": 1, "init_from": str(start.run_dir), "lr": 2e-4,
                                             "circuit_loop.enabled": loop,
                                             "circuit_loop.refresh_steps": args.refresh_steps})
            wall, cpu = time.perf_counter(), time.process_time()
            result = run(job, out_dir=Path(tmp) / name)
            epoch_s = result.report["history"][0]["seconds"]
            times[name] = (epoch_s, time.perf_counter() - wall, time.process_time() - cpu)
            extra = ""
            if loop:
                info = result.report["circuit_loop"]
                extra = f", {info['programmings']} programmings ({info['programming_seconds']:.1f} s)"
            print(f"{name:>20}: epoch {epoch_s:.1f} s wall (whole run {times[name][1]:.1f} s wall, "
                  f"{times[name][2]:.1f} s CPU){extra}; test accuracy {100 * result.test_accuracy:.2f} % "
                  f"({'the circuit, fast solver' if loop else 'the ideal crossbar model'})")
        plain, loop_t = times["plain"], times["circuit-in-the-loop"]
        print(f"circuit-in-the-loop / plain epoch: {loop_t[0] / plain[0]:.2f}x wall "
              f"({loop_t[2] / plain[2]:.2f}x CPU over the whole runs; target <= 3x)")


if __name__ == "__main__":
    main()
