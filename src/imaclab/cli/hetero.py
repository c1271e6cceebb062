"""``imaclab hetero``: the commands of the hetero room (strings in, a job run, a result printed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import typer

from imaclab.cli.common import build_job, config_option, html_option, publish, set_option

hetero_app = typer.Typer(help="TPU-IMAC heterogeneous accelerator vs a TPU-only baseline.", no_args_is_help=True)

_SET_EXAMPLE = "energy.dram_j_per_byte=2e-11, tpu_overrides.dataflow=ws, handoff.dac.bits=4"
_WIDTH = 150


def _settings_options(tpu, samples, backend, pipeline) -> dict[str, Any]:
    return {"tpu": tpu, "accuracy.test_samples": samples, "accuracy.backend": backend, "pipeline": pipeline}


@hetero_app.command("evaluate")
def hetero_evaluate(
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help="TPU-IMAC run folder, or a model folder "
                                                                      "holding tpu-imac/ and tpu-int8/ runs"),
    model: str | None = typer.Option(None, "--model", "-m", help="zoo model the run must hold (a check)"),
    tpu_checkpoint: Path | None = typer.Option(None, "--tpu-checkpoint", help="TPU-only 8-bit run folder"),
    data: str | None = typer.Option(None, "--data", help="test set (must be the one the run was trained on)"),
    data_root: str | None = typer.Option(None, "--data-root", help="folder of the data files"),
    tpu: str | None = typer.Option(None, "--tpu", help="edge, cloud, a systolic preset, .cfg or YAML"),
    config: Path | None = config_option(),
    settings: list[str] | None = set_option(_SET_EXAMPLE),
    samples: int | None = typer.Option(None, "--samples", help="test images both designs are scored on"),
    backend: str | None = typer.Option(None, "--backend", help="IMAC accuracy backend: fast or spice"),
    pipeline: bool | None = typer.Option(None, "--pipeline/--no-pipeline", help="overlap TPU and IMAC stages"),
    out: Path = typer.Option(Path("out/hetero"), "-o", "--out", help="output directory"),
    html: bool = html_option(),
):
    """Cost a trained network on TPU only and on TPU-IMAC: per-layer table, summary, plots."""
    from imaclab.hetero import HeteroJob, run

    job = build_job(HeteroJob, config, {"checkpoint": checkpoint, "tpu_checkpoint": tpu_checkpoint, "model": model,
                                   "data": data, "data_root": data_root,
                                   **_settings_options(tpu, samples, backend, pipeline)}, settings)
    publish(run(job, out_dir=out, progress=True), out, html, _WIDTH)


@hetero_app.command("compare")
def hetero_compare(
    models: str | None = typer.Option(None, "--models", help="comma-separated zoo models (default: lenet5, "
                                      "vgg_small, mobilenet_v1, mobilenet_v2, shufflenet_v2, resnet18)"),
    runs: Path | None = typer.Option(None, "--runs", "-r", help="folder with <model>/tpu-imac and "
                                                                "<model>/tpu-int8 runs"),
    data: str | None = typer.Option(None, "--data", help="test set (must be the one the runs were trained on)"),
    data_root: str | None = typer.Option(None, "--data-root", help="folder of the data files"),
    tpu: str | None = typer.Option(None, "--tpu", help="edge, cloud, a systolic preset, .cfg or YAML"),
    config: Path | None = config_option(),
    settings: list[str] | None = set_option(_SET_EXAMPLE),
    samples: int | None = typer.Option(None, "--samples", help="test images each model is scored on"),
    backend: str | None = typer.Option(None, "--backend", help="IMAC accuracy backend: fast or spice"),
    pipeline: bool | None = typer.Option(None, "--pipeline/--no-pipeline", help="overlap TPU and IMAC stages"),
    out: Path = typer.Option(Path("out/hetero-compare"), "-o", "--out", help="output directory"),
    html: bool = html_option(),
):
    """The TPU-only vs TPU-IMAC comparison for several trained models in one table.

    Exits 2 when every model failed; when some failed, the table lists them and the exit code is 0.
    """
    from imaclab.errors import ImaclabError
    from imaclab.hetero import CompareResult, HeteroCompareJob, run

    job = build_job(HeteroCompareJob, config, {"models": models, "runs_dir": runs, "data": data, "data_root": data_root,
                                          **_settings_options(tpu, samples, backend, pipeline)}, settings)
    result = cast(CompareResult, run(job, out_dir=out, progress=True))
    publish(result, out, html, _WIDTH)
    if result.all_failed:
        raise ImaclabError(f"hetero compare: {result.failure_summary()}")
