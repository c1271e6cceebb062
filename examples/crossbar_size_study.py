"""Circuit accuracy against crossbar size and wire width: plain training vs circuit-in-the-loop.

For every crossbar size x wire width, the trained run (``--checkpoint``, e.g. a LeNet-5 or a
400-120-84-10 MLP trained with ``imaclab train``) is scored on that circuit by the fast solver
(plain training), then fine-tuned through the same circuit (``TrainJob.circuit_loop``, what
``imaclab train finetune --circuit`` runs) and scored again.  Writes ``study.csv`` and
``crossbar_size_study.png`` into ``-o``.

    python examples/crossbar_size_study.py --checkpoint runs/mlp400 -o out/xbar \\
        --sizes 16,32,64,128 --widths 27e-9,54e-9 --epochs 1 --train-samples 10000 --test-samples 2000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a run folder written by imaclab train (IMAC head)")
    parser.add_argument("-o", "--out", required=True, help="output folder")
    parser.add_argument("--sizes", default="16,32,64,128", help="crossbar sizes (rows = columns)")
    parser.add_argument("--widths", default="27e-9,54e-9", help="wire widths, metres")
    parser.add_argument("--epochs", type=int, default=1, help="circuit-in-the-loop fine-tuning epochs per point")
    parser.add_argument("--lr", type=float, default=None, help="fine-tuning learning rate (default: 0.25 x the run's)")
    parser.add_argument("--refresh-steps", type=int, default=25, help="re-program the circuit every N steps")
    parser.add_argument("--train-samples", type=int, default=None, help="fine-tune on a seeded subset")
    parser.add_argument("--test-samples", type=int, default=None, help="score on the first N test images")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)

    from imaclab.errors import ImaclabError
    from imaclab.files import check_writable_dir, write_csv
    from imaclab.nn.api import CONFIG_FILE, TrainJob, run
    from imaclab.nn.circuit_loop import CircuitLoop
    from imaclab.nn.training import evaluate, load_data, load_run
    from imaclab.report.train_plots import plot_crossbar_study

    try:
        out = check_writable_dir(args.out)
        sizes = [int(s) for s in args.sizes.split(",")]
        widths = [float(w) for w in args.widths.split(",")]
        base = TrainJob.load(Path(args.checkpoint) / CONFIG_FILE)
        trained = load_run(args.checkpoint)
        data = load_data(trained.config.model_copy(update={"test_samples": args.test_samples}))
        head = trained.model.classifier.imac
        ideal = evaluate(trained.model, data.test)["accuracy"]
        rows = []
        for width in widths:
            for size in sizes:
                circuit = {"policy.imac.circuit.crossbar.rows": size, "policy.imac.circuit.crossbar.columns": size,
                           "policy.imac.circuit.parasitics.metal_width_m": width}
                net = head.network_config().with_overrides({k.removeprefix("policy.imac."): v
                                                            for k, v in circuit.items()})
                loop = CircuitLoop(head, net).attach()
                plain = evaluate(trained.model, data.test)["accuracy"]
                first = loop.map_distortion()[0]       # the widest layer: where the IR drop is worst
                loop.detach()
                job = base.with_overrides({**circuit, "init_from": str(args.checkpoint), "epochs": args.epochs,
                                           "lr": args.lr if args.lr is not None else 0.25 * base.lr,
                                           "baseline": False, "circuit_loop.enabled": True,
                                           "circuit_loop.refresh_steps": args.refresh_steps,
                                           "train_samples": args.train_samples, "test_samples": args.test_samples,
                                           "threads": args.threads})
                tuned = run(job, out_dir=out / f"x{size}_w{width * 1e9:.0f}nm")
                row = {"crossbar": size, "wire_width_m": width, "ideal_accuracy": ideal,
                       "plain_circuit_accuracy": plain, "layer1_attenuation": first["attenuation"],
                       "layer1_distortion": first["distortion"],
                       "circuit_loop_accuracy": tuned.report["circuit_test_accuracy"],
                       "circuit_loop_ideal_accuracy": tuned.report["ideal_test_accuracy"]}
                rows.append(row)
                print(f"{size}x{size}, wire {width * 1e9:.0f} nm: plain {100 * plain:.2f} %, circuit-in-the-loop "
                      f"{100 * row['circuit_loop_accuracy']:.2f} % (ideal model {100 * ideal:.2f} %); layer 1 map: "
                      f"attenuation {first['attenuation']:.3f}, distortion {100 * first['distortion']:.1f} %",
                      flush=True)
        import pandas as pd

        write_csv(out / "study.csv", pd.DataFrame(rows))
        plot = plot_crossbar_study(rows, out / "crossbar_size_study.png",
                                   title=f"{base.model} on {base.data}: circuit accuracy vs crossbar size")
        print(f"wrote {out / 'study.csv'} and {plot}")
    except ImaclabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
