"""Training-time overhead of hardware-aware (QAT + IMAC) training: LeNet-5 tpu-imac vs its FP32 twin.

Runs one training epoch of each model through the real training path
(:func:`imaclab.nn.training.train`), interleaved ``--repeats`` times so that load drift on
a shared machine hits both alike, and prints the median seconds per epoch and their ratio
(target: at most 1.5x).

    .venv/bin/python benchmarks/qat_overhead.py                 # full Fashion-MNIST epoch
    .venv/bin/python benchmarks/qat_overhead.py --samples 10000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from imaclab.nn.training import TrainConfig, train

TARGET_RATIO = 1.5


def epoch_seconds(policy: str, args, workdir: Path, repeat: int) -> float:
    config = TrainConfig(model="lenet5", data=args.data, policy=policy, epochs=1, batch_size=args.batch_size,
                         train_samples=args.samples, test_samples=args.test_samples, threads=args.threads,
                         seed=repeat)
    result = train(config, workdir / f"{policy}-{repeat}", resume=False)
    return float(result.report["history"][0]["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="tpu-imac", help="the hardware-aware policy (default tpu-imac)")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--samples", type=int, default=None, help="training samples per epoch (default: all)")
    parser.add_argument("--test-samples", type=int, default=1000, help="test samples evaluated after the epoch")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: what the runs use here)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"fp32": [], args.policy: []}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="imaclab-qat-bench-") as tmp:
        for repeat in range(args.repeats):
            for policy in ("fp32", args.policy):
                seconds = epoch_seconds(policy, args, Path(tmp), repeat)
                times[policy].append(seconds)
                print(f"repeat {repeat + 1}: {policy:>16s} epoch {seconds:7.2f} s", flush=True)
    fp32 = statistics.median(times["fp32"])
    mixed = statistics.median(times[args.policy])
    ratio = mixed / fp32
    print(f"LeNet-5 on {args.data} ({args.samples or 'all'} samples/epoch, batch {args.batch_size}, "
          f"{args.threads} thread(s)), median of {args.repeats}:")
    print(f"  fp32      {fp32:7.2f} s/epoch")
    print(f"  {args.policy:<9s} {mixed:7.2f} s/epoch")
    print(f"  ratio     {ratio:7.2f}x  (target <= {TARGET_RATIO}x: {'met' if ratio <= TARGET_RATIO else 'NOT met'})"
          f"  [{time.perf_counter() - start:.0f} s total]")


if __name__ == "__main__":
    main()
