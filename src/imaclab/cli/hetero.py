"""``imaclab hetero``: the commands of the hetero room (strings in, a job run, a result printed)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from imaclab.cli.common import console as _console

hetero_app = typer.Typer(help="TPU-IMAC heterogeneous accelerator vs a TPU-only baseline.", no_args_is_help=True)

def _hetero_settings(config: Optional[Path], tpu: Optional[str], settings: Optional[list[str]],
                     samples: Optional[int], backend: Optional[str], pipeline: Optional[bool]):
    from imaclab.hetero import hetero_config

    return hetero_config(path=config, tpu=tpu, overrides=settings, samples=samples, backend=backend,
                         pipeline=pipeline)


_HETERO_SET_HELP = "override a setting, KEY=VALUE (repeatable), e.g. energy.dram_j_per_byte=2e-11, " \
                   "tpu_overrides.dataflow=ws, handoff.dac.bits=4, imac.devices.variation_sigma_pct=5"


@hetero_app.command("evaluate")
def hetero_evaluate(
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help="TPU-IMAC run folder, or a model folder "
                                                                    "holding tpu-imac/ and tpu-int8/ runs"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="zoo model the run must hold (a check)"),
    tpu_checkpoint: Optional[Path] = typer.Option(None, "--tpu-checkpoint", help="TPU-only 8-bit run folder"),
    data: Optional[str] = typer.Option(None, "--data", help="test set (must be the one the run was trained on)"),
    data_root: Optional[str] = typer.Option(None, "--data-root", help="folder of the data files"),
    tpu: Optional[str] = typer.Option(None, "--tpu", help="edge, cloud, a systolic preset, .cfg or YAML"),
    config: Optional[Path] = typer.Option(None, "--config", help="HeteroConfig YAML/JSON"),
    settings: Optional[list[str]] = typer.Option(None, "--set", help=_HETERO_SET_HELP),
    samples: Optional[int] = typer.Option(None, "--samples", help="test images both designs are scored on"),
    backend: Optional[str] = typer.Option(None, "--backend", help="IMAC accuracy backend: fast or spice"),
    pipeline: Optional[bool] = typer.Option(None, "--pipeline/--no-pipeline", help="overlap TPU and IMAC stages"),
    out: Path = typer.Option(Path("out/hetero"), "-o", "--out", help="output directory"),
):
    """Cost a trained network on TPU only and on TPU-IMAC: per-layer table, summary, plots."""
    from imaclab.hetero import evaluate_run

    result = evaluate_run(checkpoint=checkpoint, tpu_checkpoint=tpu_checkpoint, data=data, data_root=data_root,
                          model=model, config=_hetero_settings(config, tpu, settings, samples, backend, pipeline),
                          out_dir=out)
    from rich.table import Table

    console = _console()
    console.width = max(console.width, 150)
    for name, design in result.comparison.designs.items():
        table = Table(title=f"{result.model} on {name} ({result.config.tpu_label})")
        for col in ("layer", "kind", "unit", "cycles", "latency us", "energy nJ", "weight B", "DRAM B"):
            table.add_column(col, justify="left" if col in ("layer", "kind", "unit") else "right")
        for c in [*design.layers, design.total]:
            table.add_row(c.name, c.kind, c.unit, f"{c.tpu_cycles:,.0f}", f"{c.latency_s * 1e6:.4g}",
                          f"{c.energy_j * 1e9:.4g}", f"{c.weight_bytes:,.0f}", f"{c.dram_bytes:,.0f}")
        console.print(table)
    s = result.summary()
    acc = {k: ("n/a" if s[k] is None else f"{100 * s[k]:.2f}%") for k in ("tpu_only_accuracy", "tpu_imac_accuracy",
                                                                            "tpu_imac_digital_accuracy")}
    scored = (f"accuracy TPU only {acc['tpu_only_accuracy']}, TPU-IMAC {acc['tpu_imac_accuracy']} (circuit, "
              f"{s['accuracy_samples']} images; digital {acc['tpu_imac_digital_accuracy']})"
              if s["accuracy_samples"] else "accuracy not scored")
    console.print(f"speedup {s['speedup']:.3f}x, throughput {s['throughput_gain']:.3f}x, weight memory "
                  f"-{100 * s['memory_reduction']:.1f}%, DRAM traffic -{100 * s['dram_traffic_reduction']:.1f}%, "
                  f"energy ratio {s['energy_ratio']:.3f}x; {scored}", highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    for name, path in result.files.items():
        console.print(f"  {name}: {path}", highlight=False)


@hetero_app.command("compare")
def hetero_compare(
    models: str = typer.Option("lenet5,vgg_small,mobilenet_v1,mobilenet_v2,shufflenet_v2,resnet18", "--models",
                               help="comma-separated zoo models"),
    runs: Path = typer.Option(..., "--runs", "-r", help="folder with <model>/tpu-imac and <model>/tpu-int8 runs"),
    data: Optional[str] = typer.Option(None, "--data", help="test set (must be the one the runs were trained on)"),
    data_root: Optional[str] = typer.Option(None, "--data-root", help="folder of the data files"),
    tpu: Optional[str] = typer.Option(None, "--tpu", help="edge, cloud, a systolic preset, .cfg or YAML"),
    config: Optional[Path] = typer.Option(None, "--config", help="HeteroConfig YAML/JSON"),
    settings: Optional[list[str]] = typer.Option(None, "--set", help=_HETERO_SET_HELP),
    samples: Optional[int] = typer.Option(None, "--samples", help="test images each model is scored on"),
    backend: Optional[str] = typer.Option(None, "--backend", help="IMAC accuracy backend: fast or spice"),
    pipeline: Optional[bool] = typer.Option(None, "--pipeline/--no-pipeline", help="overlap TPU and IMAC stages"),
    out: Path = typer.Option(Path("out/hetero-compare"), "-o", "--out", help="output directory"),
):
    """The TPU-only vs TPU-IMAC comparison for several trained models in one table."""
    from imaclab.hetero import compare_runs

    result = compare_runs(models=models, runs_dir=runs, data=data, data_root=data_root,
                          config=_hetero_settings(config, tpu, settings, samples, backend, pipeline), out_dir=out)
    from rich.table import Table

    table = Table(title="TPU-IMAC vs TPU only (published: up to 2.59x speedup, 88% memory reduction)")
    for col in ("model", "speedup", "throughput", "weight mem -%", "DRAM -%", "energy x", "acc TPU", "acc TPU-IMAC"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for row in result.rows:
        if row["status"] != "ok":
            table.add_row(row["model"], "failed", "", "", "", "", "", "")
            continue
        pct = (lambda v: "n/a" if v is None else f"{100 * v:.2f}")
        table.add_row(row["model"], f"{row['speedup']:.3f}", f"{row['throughput_gain']:.3f}",
                      f"{100 * row['memory_reduction']:.1f}", f"{100 * row['dram_traffic_reduction']:.1f}",
                      f"{row['energy_ratio']:.3f}", pct(row["tpu_only_accuracy"]), pct(row["tpu_imac_accuracy"]))
    console = _console()
    console.width = max(console.width, 150)
    console.print(table)
    for row in result.rows:
        if row["status"] != "ok":
            console.print(f"{row['model']} failed: {row['error']}", highlight=False, markup=False)
    for name, path in result.files.items():
        console.print(f"  {name}: {path}", highlight=False)
