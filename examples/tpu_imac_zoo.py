"""The zoo table and the LeNet-5 sensitivity of docs/tpu-imac.md, from one command.

    python examples/tpu_imac_zoo.py RUNS OUT [--tiny] [--skip-train] [--models lenet5,vgg-small,...]

1. **Train** every zoo model twice on Fashion-MNIST, ``--policy tpu-imac`` (8-bit convolutions,
   binary crossbar FC layers) and ``--policy tpu-int8`` (everything 8-bit, the TPU-only model),
   into ``RUNS/<model>/tpu-imac`` and ``RUNS/<model>/tpu-int8`` at the budgets of the docs:
   LeNet-5 converged (full 60 000-image split, 15 epochs, Adam 0.002 cosine, batch 128), the
   CNNs at width 0.25 on a seeded 20 000-image subset (2 epochs, Adam 0.001 cosine, batch 128);
   seed 0, one torch thread.  A run folder with a ``summary.json`` is kept as it is (an
   interrupted run resumes).  ``--skip-train`` uses only the runs already there.
2. **Zoo table**: ``imaclab.hetero.run(HeteroCompareJob(...))`` = ``imaclab hetero compare``
   (edge 32x32 array, DRAM 10 words/cycle with SCALE-Sim's USER-mode stalls, both designs
   scored on the first 1000 test images, the crossbars through the fast solver) -> ``OUT/compare``.
3. **Sensitivity** of the first model (LeNet-5): DRAM bandwidth (SCALE-Sim stall model; the
   stall-free CALC interface; imaclab's older ``bound`` estimate for reference), the cloud
   array, crossbar size and parasitics -> ``OUT/sensitivity/<row>``.  Cost rows are run with
   ``accuracy.enabled: false`` (speed, memory and energy do not depend on the test images).

Prints both tables as Markdown (the rows of docs/tpu-imac.md) and writes them to
``OUT/tables.md``.  ``--tiny`` is the test's setting: VGG-small at 1/8 width on the 8x8
digits, one epoch, 30 images, three sensitivity rows (seconds).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import imaclab.nn
from imaclab.hetero import HeteroCompareJob, HeteroJob, run
from imaclab.nn.zoo import canonical_model_name

MODELS = ("lenet5", "vgg-small", "mobilenet-v1", "mobilenet-v2", "shufflenet-v2", "resnet18")
POLICIES = ("tpu-imac", "tpu-int8")
COMMON = dict(data="fashion-mnist", batch_size=128, optimizer="adam", seed=0, threads=1)
#: The training budgets of docs/tpu-imac.md (LeNet-5 converged; the CNNs a small budget).
BUDGETS: dict[str, dict[str, Any]] = {
    "lenet5": dict(COMMON, epochs=15, lr=0.002, width=1.0),
    "cnn": dict(COMMON, epochs=2, lr=0.001, width=0.25, train_samples=20000),
}
TINY_BUDGET = dict(data="digits", batch_size=32, seed=0, threads=1, epochs=1, lr=0.01, width=0.125)
TEST_SAMPLES = 1000

#: Sensitivity rows: label -> (tpu, --set items, score accuracy).
SENSITIVITY: dict[str, tuple[str, dict[str, Any], bool]] = {
    "edge, DRAM 10 words/cycle (default)": ("edge", {}, True),
    "edge, DRAM 4 words/cycle": ("edge", {"tpu_overrides.dram_bandwidth_words_per_cycle": 4}, False),
    "edge, DRAM 2 words/cycle": ("edge", {"tpu_overrides.dram_bandwidth_words_per_cycle": 2}, False),
    "edge, DRAM 1 word/cycle": ("edge", {"tpu_overrides.dram_bandwidth_words_per_cycle": 1}, False),
    "edge, stall-free DRAM (CALC, `dram_bandwidth_words_per_cycle=null`)":
        ("edge", {"tpu_overrides.dram_bandwidth_words_per_cycle": None}, False),
    "edge, DRAM 10 words/cycle, older `bound` stall estimate (`tpu_overrides.dram_model=bound`)":
        ("edge", {"tpu_overrides.dram_model": "bound"}, False),
    "edge, DRAM 1 word/cycle, older `bound` stall estimate":
        ("edge", {"tpu_overrides.dram_model": "bound", "tpu_overrides.dram_bandwidth_words_per_cycle": 1}, False),
    "cloud 128x128, DRAM 10 words/cycle (`--tpu cloud`)": ("cloud", {}, False),
    "16x16 crossbars (`imac.circuit.crossbar.rows=16`, `columns=16`)":
        ("edge", {"imac.circuit.crossbar.rows": 16, "imac.circuit.crossbar.columns": 16}, True),
    "64x64 crossbars": ("edge", {"imac.circuit.crossbar.rows": 64, "imac.circuit.crossbar.columns": 64}, True),
    "interconnect parasitics off (`imac.circuit.parasitics.resistance=false`, `capacitance=false`)":
        ("edge", {"imac.circuit.parasitics.resistance": False, "imac.circuit.parasitics.capacitance": False}, True),
}
TINY_SENSITIVITY = ("edge, DRAM 10 words/cycle (default)",
                    "edge, stall-free DRAM (CALC, `dram_bandwidth_words_per_cycle=null`)",
                    "16x16 crossbars (`imac.circuit.crossbar.rows=16`, `columns=16`)")


def train(runs: Path, models: list[str], tiny: bool) -> None:
    """Train the missing runs (each model with both policies)."""
    for name in models:
        budget = TINY_BUDGET if tiny else BUDGETS["lenet5" if name == "lenet5" else "cnn"]
        for policy in POLICIES:
            folder = runs / canonical_model_name(name) / policy
            if (folder / "summary.json").exists():
                print(f"train: {folder} exists, kept", flush=True)
                continue
            start = time.perf_counter()
            imaclab.nn.run(imaclab.nn.TrainJob(model=name, policy=policy, **budget), out_dir=folder)
            print(f"train: {folder} ({time.perf_counter() - start:.0f} s)", flush=True)


def pct(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{100 * value:.{digits}f} %"


def zoo_table(runs: Path, out: Path, models: list[str], samples: int, data: str) -> list[str]:
    """``hetero compare`` of the trained models -> the zoo table's Markdown rows."""
    job = HeteroCompareJob(models=models, runs_dir=str(runs), data=data).with_overrides(
        {"accuracy.test_samples": samples})
    start = time.perf_counter()
    result = run(job, out_dir=out / "compare", progress=True)
    print(f"compare: {time.perf_counter() - start:.0f} s", flush=True)
    lines = ["| model | FC layers on IMAC | TPU latency (us) | TPU-IMAC latency (us) | speedup | throughput gain "
             "| weights TPU (kB) | weights TPU-IMAC (kB) | memory reduction | DRAM TPU (kB) | DRAM TPU-IMAC (kB) "
             "| energy TPU (uJ) | energy TPU-IMAC (uJ) | energy ratio | acc. TPU 8-bit | acc. TPU-IMAC digital "
             "| acc. TPU-IMAC circuit |",
             "| --- | --- |" + " ---: |" * 15]
    for row in result.rows:
        if row["status"] != "ok":
            lines.append(f"| {row['model']} | failed: {row['error']} |" + " |" * 15)
            continue
        imac = result.results[row["model"]].imac
        head = (f"{'-'.join(str(n) for n in imac.layer_sizes)} ({sum(imac.crossbars_per_layer)} crossbars)"
                if imac is not None else "none")
        lines.append(
            f"| {row['model']} | {head} | {row['tpu_only_latency_s'] * 1e6:.1f} "
            f"| {row['tpu_imac_latency_s'] * 1e6:.1f} "
            f"| {row['speedup']:.3f} | {row['throughput_gain']:.3f} | {row['tpu_only_weight_bytes'] / 1024:.1f} "
            f"| {row['tpu_imac_weight_bytes'] / 1024:.1f} | {pct(row['memory_reduction'])} "
            f"| {row['tpu_only_dram_bytes'] / 1024:.1f} | {row['tpu_imac_dram_bytes'] / 1024:.1f} "
            f"| {row['tpu_only_energy_j'] * 1e6:.2f} | {row['tpu_imac_energy_j'] * 1e6:.2f} "
            f"| {row['energy_ratio']:.3f} "
            f"| {pct(row['tpu_only_accuracy'])} | {pct(row['tpu_imac_digital_accuracy'])} "
            f"| {pct(row['tpu_imac_accuracy'])} |")
    return lines


def sensitivity(runs: Path, out: Path, model: str, samples: int, data: str, rows: list[str]) -> list[str]:
    """One HeteroJob of ``model`` per setting -> the sensitivity table's Markdown rows."""
    lines = ["| setting | TPU latency (us) | TPU-IMAC latency (us) | speedup | memory reduction | DRAM TPU (kB) "
             "| DRAM TPU-IMAC (kB) | energy TPU (uJ) | energy TPU-IMAC (uJ) | energy ratio "
             "| TPU-IMAC circuit accuracy |",
             "| --- |" + " ---: |" * 10]
    for i, label in enumerate(rows):
        tpu, settings, score = SENSITIVITY[label]
        job = HeteroJob(checkpoint=str(runs / canonical_model_name(model)), tpu=tpu, data=data).with_overrides(
            {**settings, "accuracy.test_samples": samples, "accuracy.enabled": score})
        start = time.perf_counter()
        s = run(job, out_dir=out / "sensitivity" / f"row{i}").summary()
        print(f"sensitivity: {label}: {time.perf_counter() - start:.0f} s", flush=True)
        lines.append(f"| {label} | {s['tpu_only_latency_s'] * 1e6:.1f} | {s['tpu_imac_latency_s'] * 1e6:.1f} "
                     f"| {s['speedup']:.3f} | {pct(s['memory_reduction'])} | {s['tpu_only_dram_bytes'] / 1024:.1f} "
                     f"| {s['tpu_imac_dram_bytes'] / 1024:.1f} | {s['tpu_only_energy_j'] * 1e6:.2f} "
                     f"| {s['tpu_imac_energy_j'] * 1e6:.2f} | {s['energy_ratio']:.3f} "
                     f"| {pct(s['tpu_imac_accuracy']) if score else ''} |")
    return lines


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, help="folder of the training runs (<model>/tpu-imac, <model>/tpu-int8)")
    parser.add_argument("out", type=Path, help="output folder (compare/, sensitivity/, tables.md)")
    parser.add_argument("--models", default=None, help="comma-separated zoo models (default: the six of the docs)")
    parser.add_argument("--tiny", action="store_true", help="VGG-small/8 on digits, 1 epoch, 30 images (the test)")
    parser.add_argument("--skip-train", action="store_true", help="use the runs in RUNS as they are")
    parser.add_argument("--samples", type=int, default=None, help="test images each design is scored on")
    parser.add_argument("--skip-sensitivity", action="store_true", help="the zoo table only")
    args = parser.parse_args(argv)
    models = ([m.strip() for m in args.models.split(",") if m.strip()] if args.models
              else (["vgg-small"] if args.tiny else list(MODELS)))
    samples = args.samples or (30 if args.tiny else TEST_SAMPLES)
    data = "digits" if args.tiny else "fashion-mnist"
    if not args.skip_train:
        train(args.runs, models, args.tiny)
    lines = [f"## zoo ({data}, {samples} test images)", "", *zoo_table(args.runs, args.out, models, samples, data), ""]
    if not args.skip_sensitivity:
        lines += [f"## sensitivity ({models[0]})", "",
                  *sensitivity(args.runs, args.out, models[0], samples, data,
                               list(TINY_SENSITIVITY if args.tiny else SENSITIVITY)), ""]
    text = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tables.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
