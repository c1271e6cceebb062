"""``imaclab train``: the commands of the train room (strings in, a job run, a result printed)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from imaclab.cli.common import console as _console

train_app = typer.Typer(help="Hardware-aware mixed-precision training.", no_args_is_help=True)

def _train_command(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(None, "--model", "-m", help="zoo model (lenet5, mobilenet-v2, mlp-64-32-10, ...)"),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="data set: digits, fashion-mnist, mnist, cifar10"),
    policy: Optional[str] = typer.Option(None, "--policy", "-p", help="fp32, tpu-int8, tpu-imac, tpu-imac-ternary, "
                                                                      "tpu-imac-4level, or a policy YAML file"),
    epochs: Optional[int] = typer.Option(None, "--epochs", "-e", help="training epochs"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="run folder (checkpoints, report, exports)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TrainConfig YAML/JSON (e.g. a run's config.yaml)"),
    baseline: Optional[bool] = typer.Option(None, "--baseline/--no-baseline", help="also train the FP32 twin"),
    lr: Optional[float] = typer.Option(None, "--lr", help="peak learning rate"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="training batch size"),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="adam, adamw or sgd"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed"),
    width: Optional[float] = typer.Option(None, "--width", help="CNN channel width multiplier"),
    hidden: Optional[str] = typer.Option(None, "--hidden", help="MLP hidden sizes, comma-separated (e.g. 32 or 120,84)"),
    data_root: Optional[str] = typer.Option(None, "--data-root", help="folder of the data set files"),
    crop: Optional[int] = typer.Option(None, "--crop", help="centre crop size in pixels (20 -> 400 inputs)"),
    resize: Optional[int] = typer.Option(None, "--resize", help="resize images to this many pixels a side"),
    noise_train: Optional[bool] = typer.Option(None, "--noise-train/--no-noise-train",
                                               help="inject the IMAC devices' variation/faults while training"),
    noise_trials: Optional[int] = typer.Option(None, "--noise-trials", help="noisy-device evaluations at the end"),
    train_samples: Optional[int] = typer.Option(None, "--train-samples", help="train on a seeded subset"),
    test_samples: Optional[int] = typer.Option(None, "--test-samples", help="evaluate on the first N test samples"),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads"),
    sets: Optional[list[str]] = typer.Option(None, "--set", help="any config field, KEY=VALUE (dotted, YAML value), "
                                                                 "e.g. --set policy.imac.input_mode=binary"),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="resume a checkpoint in the run folder"),
):
    """Train a model with a mixed-precision policy (`imaclab train run ...` or `imaclab train --model ...`)."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise typer.BadParameter("give the run folder with -o DIR", param_hint="--out")
    import yaml

    from imaclab.errors import ConfigError
    from imaclab.nn.progress import RichProgress
    from imaclab.nn.training import run_training

    overrides = {"model": model, "data": data, "policy": policy, "epochs": epochs, "baseline": baseline, "lr": lr,
                 "batch_size": batch_size, "optimizer": optimizer, "seed": seed, "width": width,
                 "hidden": [int(h) for h in hidden.split(",") if h.strip()] if hidden else None,
                 "data_root": data_root, "crop": crop, "resize": resize, "noise.train": noise_train,
                 "noise.eval_trials": noise_trials, "train_samples": train_samples, "test_samples": test_samples,
                 "threads": threads}
    for item in sets or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item}: expected KEY=VALUE")
        overrides[key.strip()] = yaml.safe_load(value)
    result = run_training(out_dir=out, config_file=config, overrides=overrides, resume=resume,
                          observer=RichProgress())
    _print_train_report(result.report)


train_app.callback(invoke_without_command=True)(_train_command)
train_app.command("run")(_train_command)


def _print_train_report(report: dict) -> None:
    from rich.table import Table

    table = Table(title=f"{report['model']} on {report['data']['name']} ({report['policy']})")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("test accuracy", f"{100 * report['test_accuracy']:.2f} %")
    if report.get("baseline"):
        table.add_row("FP32 baseline", f"{100 * report['baseline']['test_accuracy']:.2f} %")
        table.add_row("drop vs FP32", f"{report['accuracy_drop_points']:.2f} points")
    noisy = report.get("device_noise_eval")
    if noisy:
        table.add_row(f"with device noise ({noisy['trials']} draws)",
                      f"{100 * noisy['mean_accuracy']:.2f} % (min {100 * noisy['min_accuracy']:.2f})")
    table.add_row("epochs", f"{report['epochs_completed']}/{report['epochs']}")
    table.add_row("seconds per epoch", f"{report['seconds_per_epoch']:.1f}")
    for kind, path in report.get("exports", {}).items():
        table.add_row(f"export: {kind}", path)
    _console().print(table)


@train_app.command("models")
def train_models():
    """List the model zoo."""
    from rich.table import Table

    from imaclab.nn.zoo import MODELS

    table = Table(title="model zoo (imaclab.nn.zoo)")
    table.add_column("name")
    table.add_column("architecture")
    for name, builder in MODELS.items():
        first_paragraph = " ".join((builder.__doc__ or "").strip().split("\n\n")[0].split())
        table.add_row(name, first_paragraph)
    _console().print(table)


@train_app.command("policies")
def train_policies():
    """List the precision-policy presets."""
    from imaclab.nn.policy import POLICIES, get_policy

    for name in POLICIES:
        p = get_policy(name)
        _console().print(f"[bold]{name}[/bold]: conv -> {p.conv.target} ({p.conv.weight.kind}), "
                         f"fc -> {p.fc.target} ({p.fc.weight.kind})")


@train_app.command("show")
def train_show(run: Path = typer.Argument(..., help="a run folder written by imaclab train")):
    """Print a run's report (accuracy, baseline, exports)."""
    from imaclab.nn.training import load_report

    _print_train_report(load_report(run))
