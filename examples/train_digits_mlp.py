"""Train an MLP for the IMAC circuit with the training room and export it for ``imaclab imac run``.

A thin command line over the training room's API (:mod:`imaclab.nn.api`)::

    job = TrainJob(model="mlp-64-32-10", data="digits", policy="tpu-imac-ternary", epochs=60, ...)
    result = run(job.with_overrides({"policy.imac.neuron.kind": "transistor",
                                     "policy.imac.input_mode": "binary"}), out_dir=run_dir)

The room trains every layer as the circuit computes it (docs/training.md, "Layers"):
weights on the device grid (binary, ternary or multilevel; straight-through estimator),
inputs binarized to +-VDD by the drivers' own ``encode_inputs``, the characterized neuron
curve as the hidden activation, amplifier gains learned per layer.  The run folder's
``imac.npz`` (the file ``imaclab imac run --model`` reads) is copied to ``-o``.

    python examples/train_digits_mlp.py -o digits.npz                   # 64-32-10, ternary weights (default)
    imaclab imac run --model digits.npz --data digits --samples 200 --parasitics on \
        --neuron transistor --backend spice -o runs/digits

    # 16-level weights; the 400-120-84-10 network on 20x20 Fashion-MNIST
    python examples/train_digits_mlp.py --weight-kind multilevel --levels 16 -o digits_ml.npz
    python examples/train_digits_mlp.py --data fashion-mnist --crop 20 --hidden 120,84 --epochs 8 \
        -o fmnist_400_120_84_10.npz

``--run-dir DIR`` keeps the training run folder (config.yaml, report.json, accuracy.png,
checkpoint.pt; ``imaclab train -c DIR/config.yaml -o DIR`` replays it); without it the run
is trained in a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from imaclab.data.datasets import load_dataset
from imaclab.errors import ConfigError, ImaclabError
from imaclab.nn import TrainJob, run

#: Policy preset of each weight kind (multilevel starts from the uniform preset and sets its bits).
PRESETS = {"binary": "tpu-imac", "ternary": "tpu-imac-ternary", "multilevel": "tpu-imac-4level"}


def multilevel_bits(levels: int) -> tuple[int, bool]:
    """``(bits, symmetric)`` of a uniform IMAC quantizer with ``levels`` device levels.

    The training room's uniform k-bit IMAC weights have ``2^k - 1`` levels (symmetric, zero
    included) or ``2^k`` (asymmetric); other counts have no policy.
    """
    for bits in range(2, 9):
        if levels == 2 ** bits - 1:
            return bits, True
        if levels == 2 ** bits:
            return bits, False
    raise ConfigError(f"--levels {levels}: the training room's multilevel weights have 2^k - 1 or 2^k levels "
                     "(k = 2..8): use e.g. 7, 8, 15 or 16")


def build_job(args: argparse.Namespace) -> TrainJob:
    """The TrainJob of the command line (the model named by its layer sizes, e.g. mlp-64-32-10)."""
    job = TrainJob.from_dict(dict(model="mlp", hidden=args.hidden, data=args.data, crop=args.crop,
                                  policy=PRESETS[args.weight_kind], epochs=args.epochs, batch_size=args.batch,
                                  lr=args.lr, train_samples=args.train_samples, seed=args.seed,
                                  threads=args.threads), source="command line")
    test = load_dataset(job.data, split="test", crop=job.crop, flatten=True)
    sizes = [test.num_features, *(job.hidden or []), test.num_classes]
    overrides: dict = {"model": "mlp-" + "-".join(map(str, sizes)), "hidden": None,
                       "policy.imac.neuron.kind": args.neuron, "policy.imac.input_mode": "binary"}
    if args.weight_kind == "multilevel":
        bits, symmetric = multilevel_bits(args.levels)
        overrides.update({"policy.name": f"tpu-imac-{args.levels}level", "policy.fc.weight.bits": bits,
                          "policy.fc.weight.symmetric": symmetric})
    return job.with_overrides(overrides)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", default="digits")
    ap.add_argument("--crop", type=int, default=None)
    ap.add_argument("--hidden", default="32", help="hidden sizes, e.g. 32 or 120,84")
    ap.add_argument("--weight-kind", default="ternary", choices=list(PRESETS))
    ap.add_argument("--levels", type=int, default=16, help="device levels of multilevel weights (2^k - 1 or 2^k)")
    ap.add_argument("--neuron", default="transistor", choices=["transistor", "behavioral"])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--train-samples", type=int, default=None, help="train on a seeded subset of N training samples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--run-dir", default=None, help="keep the training run folder here (default: a temporary one)")
    ap.add_argument("-o", "--out", default="digits_64_32_10.npz")
    args = ap.parse_args(argv)

    try:
        job = build_job(args)
        with tempfile.TemporaryDirectory(prefix="train_digits_") as tmp:
            run_dir = Path(args.run_dir) if args.run_dir else Path(tmp) / "run"
            result = run(job, out_dir=run_dir, progress=True)
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run_dir / "imac.npz", out)
    except ImaclabError as err:
        print(f"train_digits_mlp.py: error: {err}", file=sys.stderr)
        return err.exit_code
    report = result.report
    spe = report.get("seconds_per_epoch") or 0.0
    print(f"network {report['model']} ({args.weight_kind}, policy {report['policy']}), {report['epochs_completed']} "
          f"epochs at {spe:.2f} s each: test accuracy {100 * (result.test_accuracy or 0.0):.2f} % "
          f"({report['data']['num_samples']} test images); wrote {out}")
    print(f"run folder: {run_dir}" if args.run_dir else "the temporary run folder is removed (--run-dir DIR keeps it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
