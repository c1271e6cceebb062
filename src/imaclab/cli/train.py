"""``imaclab train``: the commands of the train room (strings in, a job run, a result printed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from imaclab.cli.common import (
    CIRCUIT_OPTIONS,
    CONFIG_OPTION_HELP,
    build_job,
    circuit_overrides,
    fit_width,
    html_option,
    publish,
    render,
    set_option,
)

train_app = typer.Typer(help="Hardware-aware mixed-precision training.", no_args_is_help=True)


def _train_command(
    ctx: typer.Context,
    model: str | None = typer.Option(None, "--model", "-m", help="zoo model (lenet5, mobilenet-v2, mlp-64-32-10, ...)"),
    data: str | None = typer.Option(None, "--data", "-d", help="data set: digits, fashion-mnist, mnist, cifar10"),
    policy: str | None = typer.Option(None, "--policy", "-p", help="fp32, tpu-int8, tpu-imac, tpu-imac-ternary, "
                                                                      "tpu-imac-4level, or a policy YAML file"),
    epochs: int | None = typer.Option(None, "--epochs", "-e", help="training epochs"),
    out: Path | None = typer.Option(None, "--out", "-o", help="run folder (checkpoints, report, exports)"),
    html: bool = html_option(),
    config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_OPTION_HELP),
    baseline: bool | None = typer.Option(None, "--baseline/--no-baseline", help="also train the FP32 twin"),
    lr: float | None = typer.Option(None, "--lr", help="peak learning rate"),
    batch_size: int | None = typer.Option(None, "--batch-size", help="training batch size"),
    optimizer: str | None = typer.Option(None, "--optimizer", help="adam, adamw or sgd"),
    seed: int | None = typer.Option(None, "--seed", help="random seed"),
    width: float | None = typer.Option(None, "--width", help="CNN channel width multiplier"),
    hidden: str | None = typer.Option(None, "--hidden", help="MLP hidden sizes, comma-separated (e.g. 32 or 120,84)"),
    data_root: str | None = typer.Option(None, "--data-root", help="folder of the data set files"),
    crop: int | None = typer.Option(None, "--crop", help="centre crop size in pixels (20 -> 400 inputs)"),
    resize: int | None = typer.Option(None, "--resize", help="resize images to this many pixels a side"),
    noise_train: bool | None = typer.Option(None, "--noise-train/--no-noise-train",
                                               help="inject the IMAC devices' variation/faults while training"),
    noise_trials: int | None = typer.Option(None, "--noise-trials", help="noisy-device evaluations at the end"),
    device: str | None = typer.Option(None, "--device", help="IMAC device preset (rram, pcm, mtj, ideal) or a YAML "
                                                             "file: its noise, drift and faults in --noise-train"),
    time: str | None = typer.Option(None, "--time", help="train/evaluate for devices read this long after "
                                                         "programming, e.g. 1d (drift, relaxation, retention)"),
    train_samples: int | None = typer.Option(None, "--train-samples", help="train on a seeded subset"),
    test_samples: int | None = typer.Option(None, "--test-samples", help="evaluate on the first N test samples"),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads"),
    crossbar: str | None = CIRCUIT_OPTIONS["crossbar"](),
    parasitics: str | None = CIRCUIT_OPTIONS["parasitics"](),
    neuron: str | None = CIRCUIT_OPTIONS["neuron"](),
    join: str | None = CIRCUIT_OPTIONS["join"](),
    loading: str | None = CIRCUIT_OPTIONS["loading"](),
    r_low: str | None = CIRCUIT_OPTIONS["r_low"](),
    r_high: str | None = CIRCUIT_OPTIONS["r_high"](),
    circuit: bool | None = typer.Option(None, "--circuit/--no-circuit",
                                        help="circuit-in-the-loop: train through the IMAC circuit (fast solver)"),
    refresh_steps: int | None = typer.Option(None, "--refresh-steps", help="--circuit: re-program the circuit "
                                                                            "every N steps"),
    sets: list[str] | None = set_option("policy.imac.inputs.mode=binary"),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="resume a checkpoint in the run folder"),
):
    """Train a model with a mixed-precision policy (`imaclab train run ...` or `imaclab train --model ...`)."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise typer.BadParameter("give the run folder with -o DIR", param_hint="--out")
    from imaclab.nn.api import TrainJob, run

    options = {"model": model, "data": data, "policy": policy, "epochs": epochs, "baseline": baseline, "lr": lr,
               "batch_size": batch_size, "optimizer": optimizer, "seed": seed, "width": width, "hidden": hidden,
               "data_root": data_root, "crop": crop, "resize": resize, "noise.train": noise_train,
               "noise.eval_trials": noise_trials, "train_samples": train_samples, "test_samples": test_samples,
               "threads": threads, "circuit_loop.enabled": circuit, "circuit_loop.refresh_steps": refresh_steps}
    preset: dict[str, Any] = {}
    if device is not None:
        from imaclab.devices.presets import device_overrides

        preset = device_overrides(device, prefix="policy.imac.devices.")
    if time is not None:
        from imaclab.imac.drift import parse_time

        options["policy.imac.devices.time_s"] = parse_time(time)
    # the circuit the IMAC layers train for: the options of imaclab imac run, same meaning and defaults
    options.update(circuit_overrides("policy.imac.", crossbar=crossbar, parasitics=parasitics, neuron=neuron,
                                     join=join, loading=loading, r_low=r_low, r_high=r_high))
    job = build_job(TrainJob, config, options, sets, preset=preset)
    publish(run(job, out_dir=out, progress=True, resume=resume), out, html)


train_app.callback(invoke_without_command=True)(_train_command)
train_app.command("run")(_train_command)


@train_app.command("models")
def train_models():
    """List the model zoo."""
    from imaclab.nn.api import model_zoo

    zoo = model_zoo()
    render(zoo, fit_width(zoo))  # one line per model, the architecture column in full


@train_app.command("policies")
def train_policies():
    """List the precision-policy presets."""
    from imaclab.nn.api import policy_presets

    presets = policy_presets()
    render(presets, fit_width(presets))  # the imac circuit column in full


@train_app.command("show")
def train_show(run: Path = typer.Argument(..., help="a run folder written by imaclab train")):
    """Print a run's report (accuracy, baseline, exports)."""
    from imaclab.nn.api import load_result

    render(load_result(run))


#: Fine-tuning starts at this fraction of the trained run's learning rate unless --lr is given.
FINETUNE_LR_FRACTION = 0.1


@train_app.command("finetune")
def train_finetune(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="the trained run folder to start from"),
    out: Path = typer.Option(..., "--out", "-o", help="run folder of the fine-tuned model"),
    circuit: bool = typer.Option(False, "--circuit/--no-circuit",
                                 help="fine-tune through the IMAC circuit (circuit-in-the-loop)"),
    epochs: int = typer.Option(2, "--epochs", "-e", help="fine-tuning epochs"),
    lr: float | None = typer.Option(None, "--lr", help=f"peak learning rate (default: {FINETUNE_LR_FRACTION:g} x "
                                                          "the run's)"),
    refresh_steps: int | None = typer.Option(None, "--refresh-steps", help="--circuit: re-program the circuit "
                                                                            "every N steps"),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads"),
    batch_size: int | None = typer.Option(None, "--batch-size", help="training batch size (default: the run's)"),
    train_samples: int | None = typer.Option(None, "--train-samples", help="fine-tune on a seeded subset"),
    test_samples: int | None = typer.Option(None, "--test-samples", help="evaluate on the first N test samples"),
    crossbar: str | None = CIRCUIT_OPTIONS["crossbar"](),
    parasitics: str | None = CIRCUIT_OPTIONS["parasitics"](),
    neuron: str | None = CIRCUIT_OPTIONS["neuron"](),
    join: str | None = CIRCUIT_OPTIONS["join"](),
    loading: str | None = CIRCUIT_OPTIONS["loading"](),
    r_low: str | None = CIRCUIT_OPTIONS["r_low"](),
    r_high: str | None = CIRCUIT_OPTIONS["r_high"](),
    html: bool = html_option(),
    sets: list[str] | None = set_option("policy.imac.circuit.parasitics.metal_width_m=20e-9"),
):
    """Fine-tune a trained run (e.g. `--circuit` on the crossbars it will run on) into a new run folder."""
    from imaclab.errors import InputError
    from imaclab.nn.api import CONFIG_FILE, TrainJob, run

    source = checkpoint / CONFIG_FILE
    if not source.is_file():
        raise InputError(f"{checkpoint}: not a training run folder (no {CONFIG_FILE}); give --checkpoint the "
                         "folder imaclab train -o wrote")
    base = TrainJob.load(source)
    options = {"init_from": str(checkpoint), "circuit_loop.enabled": circuit, "epochs": epochs,
               "lr": lr if lr is not None else base.lr * FINETUNE_LR_FRACTION, "baseline": False,
               "circuit_loop.refresh_steps": refresh_steps, "threads": threads, "batch_size": batch_size,
               "train_samples": train_samples, "test_samples": test_samples}
    # the circuit to fine-tune for (default: the one the run trained for); a neuron change retrains its curve
    options.update(circuit_overrides("policy.imac.", crossbar=crossbar, parasitics=parasitics, neuron=neuron,
                                     join=join, loading=loading, r_low=r_low, r_high=r_high))
    job = build_job(TrainJob, None, options, sets, default=base)
    publish(run(job, out_dir=out, progress=True), out, html)
