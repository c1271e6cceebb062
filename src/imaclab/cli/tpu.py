"""``imaclab tpu``: the commands of the tpu room (strings in, a job run, a result printed)."""

from __future__ import annotations

from pathlib import Path

import typer

from imaclab.cli.common import build_job, html_option, json_option, publish, set_option, show_listing

tpu_app = typer.Typer(help="Systolic-array (TPU) performance model.", no_args_is_help=True)


def _is_job_file(text: str) -> bool:
    """True when ``-c`` names a saved TpuJob (a run's config.yaml), not an array config."""
    path = Path(text)
    if path.suffix.lower() not in (".yaml", ".yml", ".json") or not path.is_file():
        return False
    import json

    import yaml

    try:
        data = json.loads(path.read_text()) if path.suffix.lower() == ".json" else yaml.safe_load(path.read_text())
    except (ValueError, yaml.YAMLError):
        return False  # SystolicConfig.resolve reports the file's error
    return isinstance(data, dict) and ("topology" in data or "systolic" in data)


@tpu_app.command("simulate")
def tpu_simulate(
    config: str | None = typer.Option(None, "--config", "-c", help=(
        "preset name (see `imaclab tpu presets`), SCALE-Sim .cfg, imaclab YAML/JSON array config, or a run's "
        "config.yaml (the whole job)")),
    topology: str | None = typer.Option(None, "--topology", "-t", help="SCALE-Sim topology CSV, or a shipped "
                                                                         "topology name (e.g. resnet18)"),
    gemm: bool | None = typer.Option(None, "--gemm/--conv", help="topology is in the 'Layer, M, N, K' GEMM "
                                                                    "format (default: convolution format)"),
    outdir: Path = typer.Option(Path("tpu_report"), "--outdir", "--out", "-o", help="folder for the reports"),
    html: bool = html_option(),
    dataflow: str | None = typer.Option(None, "--dataflow", help="override the config's dataflow: os, ws, is"),
    set_items: list[str] | None = set_option("systolic.array_rows=64"),
):
    """Simulate a topology; write SCALE-Sim's three CSV reports and summary.json."""
    from imaclab.errors import ConfigError
    from imaclab.systolic.api import TpuJob, run
    from imaclab.systolic.config import SystolicConfig

    job_file = config if config is not None and _is_job_file(config) else None
    default = None
    if job_file is None:
        if topology is None:
            raise ConfigError("give the topology with -t/--topology (a SCALE-Sim CSV or a shipped topology name)")
        # resolve the array here so that its file's error is reported as it is
        systolic = SystolicConfig.resolve(config) if config is not None else SystolicConfig()
        default = TpuJob.from_dict({"systolic": systolic.to_dict(), "topology": topology,
                                    "gemm": bool(gemm)}, source="tpu simulate options")
    job = build_job(TpuJob, job_file, {"topology": topology, "gemm": gemm, "dataflow": dataflow}, set_items,
                    default=default)
    publish(run(job, out_dir=outdir, progress=True), outdir, html, width=120)


@tpu_app.command("presets")
def tpu_presets(as_json: bool = json_option()):
    """List the shipped systolic-array presets."""
    from imaclab.systolic.api import preset_listing

    show_listing(preset_listing(), as_json, width=120)
