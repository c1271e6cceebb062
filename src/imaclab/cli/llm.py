"""``imaclab llm``: the commands of the llm room (strings in, a job run, a result printed)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import typer

from imaclab.cli.common import build_job, config_option, html_option, json_option, publish, set_option, show_listing

llm_app = typer.Typer(help="LLM workloads, costs and Amdahl's law for 1-bit quantization.", no_args_is_help=True)

def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _numbers(text: str, kind: type) -> list:
    from imaclab.errors import ConfigError

    try:
        return [kind(v) for v in _split(text)]
    except ValueError:
        raise ConfigError(f"cannot read '{text}' as a comma-separated list of numbers") from None


@llm_app.command("models")
def llm_models(as_json: bool = json_option()):
    """List the model catalog (shapes and parameter counts)."""
    from imaclab.llm.api import catalog_listing

    show_listing(catalog_listing(), as_json)


@llm_app.command("workload")
def llm_workload(
    model: str | None = typer.Option(None, "--model", "-m", help="catalog name or path to a Hugging Face "
                                                                   "config.json (default llama-2-7b)"),
    phase: str | None = typer.Option(None, help="decode (one new token, the default) or prefill (a prompt)"),
    context: int | None = typer.Option(None, "--context", "-L", help="prompt length / keys attended, tokens "
                                                                       "(default 512)"),
    batch: int | None = typer.Option(None, "--batch", "-B", help="sequences per pass (default 1)"),
    hardware: str | None = typer.Option(None, help="edge (edge-32x32, the default), cloud (cloud-128x128), a "
                                                      "systolic preset or file"),
    array: str | None = typer.Option(None, help="array size override, ROWSxCOLS (e.g. 32x32)"),
    dataflow: str | None = typer.Option(None, help="dataflow: os (default), ws, is, or preset (keep the "
                                                      "preset's own)"),
    precision: str | None = typer.Option(None, help="precision for bytes: fp16 (default), int8, w1.58a8, w1a8, "
                                                       "w2a8, ..."),
    mask: str | None = typer.Option(None, help="prefill attention mask: causal (default) or full"),
    clock_hz: float | None = typer.Option(None, "--clock-hz", help="clock for seconds and tokens/s"),
    vector_lanes: int | None = typer.Option(None, help="vector-unit lanes (default: array columns)"),
    design: str | None = typer.Option(None, help="design costed in time and energy: tpu (default), hybrid-pim, "
                                                    "or a roofline preset (h100-sxm, a100-sxm, tpu-v4, edge-npu)"),
    allow_beyond: bool = typer.Option(False, "--allow-beyond-max-context",
                                      help="run a context above the model's max context"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    config: Path | None = config_option(),
    set_items: list[str] | None = set_option("workload.causal_block_tokens=128"),
    out: Path | None = typer.Option(None, "-o", "--out", help="output folder (config.yaml, summary.json)"),
    html: bool = html_option(),
):
    """Cycles, bytes and MACs by category of one forward pass on a systolic array."""
    from imaclab.llm.api import LlmWorkloadJob, WorkloadResult, run

    options = {"model": model, "phase": phase, "context": context, "batch": batch, "hardware": hardware,
               "array": array, "dataflow": dataflow, "precision": precision, "attention_mask": mask,
               "clock_hz": clock_hz, "vector_lanes": vector_lanes, "design": design,
               "allow_beyond_max_context": True if allow_beyond else None}
    job = build_job(LlmWorkloadJob, config, options, set_items)
    result = cast(WorkloadResult, run(job, out_dir=out, progress=not as_json))  # singledispatch: its type
    if as_json:
        print(result.to_json())
        return
    publish(result, out, html, width=110)


def _amdahl_job(config: Path | None, base: dict, options: dict, set_items: list[str] | None):
    from imaclab.llm.api import AmdahlJob

    return build_job(AmdahlJob, config, options, set_items,
                     default=AmdahlJob.from_dict(base, source="llm amdahl defaults"))


@llm_app.command("amdahl")
def llm_amdahl(
    models: str | None = typer.Option(None, help="comma-separated catalog names, config.json paths (or "
                                                    "NAME=path/config.json), or 'all' (the default)"),
    contexts: str | None = typer.Option(None, help="comma-separated context lengths (default 128,...,4096)"),
    hardware: str | None = typer.Option(None, help="comma-separated systolic hardware (edge, cloud, presets; "
                                                      "default edge,cloud)"),
    phase: str | None = typer.Option(None, help="decode (the default), prefill or both"),
    batch: int | None = typer.Option(None, "--batch", "-B", help="sequences per pass (default 1)"),
    improve: str | None = typer.Option(None, help="improved categories, e.g. projection (the default) or "
                                                     "projection,head"),
    s: str | None = typer.Option(None, "--s", help="improvement factors to sweep, e.g. 2,4,8,16"),
    attention_s: float | None = typer.Option(None, "--attention-s",
                                                help="general form: attention also improves by this factor"),
    precision: str | None = typer.Option(None, help="quantized precision for the memory/roofline costs "
                                                       "(default w1.58a8)"),
    array: str | None = typer.Option(None, help="array size override for every hardware, ROWSxCOLS"),
    dataflow: str | None = typer.Option(None, help="dataflow: os (default), ws, is, or preset (keep the "
                                                      "preset's own)"),
    roofline: str | None = typer.Option(None, help="roofline device: h100-sxm, a100-sxm, tpu-v4, edge-npu"),
    clock_hz: float | None = typer.Option(None, "--clock-hz",
                                             help="clock for tokens/s, Hz (default: the systolic config's)"),
    vector_lanes: int | None = typer.Option(None, help="vector-unit lanes (default: array columns)"),
    heatmaps: str | None = typer.Option(None, help="costs to draw f heatmaps for: systolic (default), memory, "
                                                      "roofline"),
    pim_tiles: bool = typer.Option(False, "--pim-tiles", help="also cost hybrid-pim on circuit-measured crossbar "
                                                             "tiles: energy Amdahl, tokens/J columns"),
    allow_beyond: bool = typer.Option(False, "--allow-beyond-max-context",
                                      help="run contexts above a model's max context instead of skipping them"),
    out: Path = typer.Option(Path("out/llm-amdahl"), "-o", "--out", help="output directory"),
    html: bool = html_option(),
    config: Path | None = config_option(),
    set_items: list[str] | None = set_option("crossbar.rows=256"),
):
    """Amdahl's law over models x contexts x hardware: CSV of f, ceilings, speedups, and plots."""
    from imaclab.llm.api import run
    from imaclab.llm.workload import parse_phase

    options = {
        "models": _split(models) if models is not None else None,
        "contexts": _numbers(contexts, int) if contexts else None,
        "hardware": _split(hardware) if hardware is not None else None,
        "phases": parse_phase(phase) if phase is not None else None, "batch": batch,
        "improved": _split(improve) if improve is not None else None,
        "factors": _numbers(s, float) if s else None, "attention_factor": attention_s,
        "quantized_precision": precision, "array": array, "dataflow": dataflow, "roofline": roofline,
        "clock_hz": clock_hz, "vector_unit.lanes": vector_lanes,
        "heatmaps": _split(heatmaps) if heatmaps is not None else None,
        "pim_tiles": True if pim_tiles else None,
        "workload.allow_beyond_max_context": True if allow_beyond else None}
    job = _amdahl_job(config, {"phases": ["decode"]}, options, set_items)
    publish(run(job, out_dir=out, progress=True), out, html)


@llm_app.command("study")
def llm_study(
    out: Path = typer.Option(Path("out/llm-study"), "-o", "--out", help="output directory"),
    html: bool = html_option(),
    config: Path | None = config_option(),
    set_items: list[str] | None = set_option("contexts=[128,512]"),
):
    """The default study: every catalog model, 6 contexts, edge+cloud arrays, decode and prefill."""
    from imaclab.llm.api import run

    publish(run(_amdahl_job(config, {}, {}, set_items), out_dir=out, progress=True), out, html)


@llm_app.command("published")
def llm_published(as_json: bool = json_option()):
    """Published 1-bit LLM measurements (BitNet b1.58, bitnet.cpp) beside this model's predictions."""
    from imaclab.llm.published import published_table

    show_listing(published_table(), as_json)
