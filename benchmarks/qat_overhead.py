"""Training-time overhead of hardware-aware training: LeNet-5 ``tpu-imac`` vs its FP32 twin.

Both models train in the same process on the same batches, one epoch each, with the
library's own step (:func:`imaclab.nn.training.train_step`: forward, loss, backward,
optimizer step, latent-weight clip).  Their batches alternate (fp32, tpu-imac, fp32,
...), so load changes on a shared machine hit both alike; each model's epoch time is the
sum of its own step times.  Prints seconds per epoch and the ratio (target <= 1.5x).

    .venv/bin/python benchmarks/qat_overhead.py                    # one full Fashion-MNIST epoch
    .venv/bin/python benchmarks/qat_overhead.py --samples 10000    # a shorter epoch
"""

from __future__ import annotations

import argparse
import time

import torch

from imaclab.data.datasets import Normalization
from imaclab.nn.api import TrainJob
from imaclab.nn.training import build_network, load_data, make_optimizer, train_step

TARGET_RATIO = 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="tpu-imac", help="the hardware-aware policy (default tpu-imac)")
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--width", type=float, default=1.0, help="CNN width multiplier")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--samples", type=int, default=None, help="training samples per epoch (default: all)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: what the runs here use)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = TrainJob(model=args.model, width=args.width, data=args.data, epochs=1, batch_size=args.batch_size,
                       train_samples=args.samples, seed=args.seed, threads=args.threads)
    data = load_data(base)
    norm = Normalization.fit(data.train)
    runs = {}
    for policy in ("fp32", args.policy):
        config = base.model_copy(update={"policy": policy}).resolved()
        torch.manual_seed(args.seed)
        model, _ = build_network(config, data.input_shape, data.num_classes, norm)
        model.train()
        runs[policy] = (config, model, make_optimizer(config, model))
    x_all, y_all = torch.from_numpy(data.train.x), torch.from_numpy(data.train.y)
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(args.seed))
    seconds = {policy: 0.0 for policy in runs}
    losses = {policy: 0.0 for policy in runs}
    start = time.perf_counter()
    for idx in order.split(args.batch_size):
        x, y = x_all[idx], y_all[idx]
        for policy, (config, model, optimizer) in runs.items():
            t0 = time.perf_counter()
            loss, _ = train_step(model, optimizer, x, y, config)
            seconds[policy] += time.perf_counter() - t0
            losses[policy] = loss
    ratio = seconds[args.policy] / seconds["fp32"]
    print(f"{args.model} on {args.data}: one epoch of {len(data.train)} samples, batch {args.batch_size}, "
          f"{args.threads} thread(s), batches interleaved")
    for policy in runs:
        print(f"  {policy:<16s} {seconds[policy]:8.2f} s/epoch   (last batch loss {losses[policy]:.3f})")
    print(f"  ratio {ratio:.2f}x  (target <= {TARGET_RATIO}x: {'met' if ratio <= TARGET_RATIO else 'NOT met'})"
          f"  [{time.perf_counter() - start:.0f} s wall]")


if __name__ == "__main__":
    main()
