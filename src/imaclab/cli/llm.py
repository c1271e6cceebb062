"""``imaclab llm``: the commands of the llm room (strings in, a job run, a result printed)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from imaclab.cli.common import console as _console

llm_app = typer.Typer(help="LLM workloads, costs and Amdahl's law for 1-bit quantization.", no_args_is_help=True)

@llm_app.command("models")
def llm_models(as_json: bool = typer.Option(False, "--json", help="print one JSON list")):
    """List the model catalog (shapes and parameter counts)."""
    import json

    from imaclab.llm.api import catalog_table

    rows = catalog_table()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="imaclab LLM catalog (parameters in millions)")
    for key in rows[0]:
        table.add_column(key, justify="left" if key in ("name", "ffn_kind") else "right", no_wrap=True,
                         min_width=len(key))
    for row in rows:
        table.add_row(*[f"{v / 1e6:,.1f}" if key.endswith("parameters") else str(v) for key, v in row.items()])
    console = _console()
    console.width = max(console.width, 170)
    console.print(table)


@llm_app.command("workload")
def llm_workload(
    model: str = typer.Option(..., "--model", "-m", help="catalog name or path to a Hugging Face config.json"),
    phase: str = typer.Option("decode", help="decode (one new token) or prefill (a prompt)"),
    context: int = typer.Option(512, "--context", "-L", help="prompt length / keys attended, tokens"),
    batch: int = typer.Option(1, "--batch", "-B", help="sequences per pass"),
    hardware: str = typer.Option("edge", help="edge (edge-32x32), cloud (cloud-128x128), a systolic preset or file"),
    array: Optional[str] = typer.Option(None, help="array size override, ROWSxCOLS (e.g. 32x32)"),
    dataflow: str = typer.Option("os", help="dataflow: os, ws, is, or preset (keep the preset's own)"),
    precision: str = typer.Option("fp16", help="precision for bytes: fp16, int8, w1.58a8, w1a8, w2a8, ..."),
    mask: str = typer.Option("causal", help="prefill attention mask: causal or full"),
    clock_hz: Optional[float] = typer.Option(None, "--clock-hz", help="clock for seconds and tokens/s"),
    vector_lanes: Optional[int] = typer.Option(None, help="vector-unit lanes (default: array columns)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
):
    """Cycles, bytes and MACs by category of one forward pass on a systolic array."""
    import json

    from imaclab.llm.api import workload_report

    report = workload_report(model=model, phase=phase, context=context, batch=batch, hardware=hardware,
                             array=array, dataflow=dataflow, precision=precision, attention_mask=mask,
                             clock_hz=clock_hz, vector_lanes=vector_lanes)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    from rich.table import Table

    hw = report["hardware"]
    table = Table(title=f"{report['model']} {report['phase']} L={report['context']} B={report['batch']} on "
                        f"{hw['name']} {hw['array_rows']}x{hw['array_cols']} {hw['dataflow']} "
                        f"({report['layers']} layers)")
    for col in ("category", "cycles/layer", "cycles total", "share", "MACs", f"bytes ({precision})"):
        table.add_column(col, justify="left" if col == "category" else "right")
    for cat, total in report["cycles_by_category"].items():
        table.add_row(cat, f"{report['cycles_per_layer_by_category'][cat]:,.0f}", f"{total:,.0f}",
                      f"{100 * report['cycle_fractions'][cat]:.1f}%", f"{report['macs_by_category'][cat]:,}",
                      f"{report['bytes_by_category'][cat]:,.0f}")
    table.add_row("total", "", f"{report['cycles_total']:,.0f}", "100%", "", "")
    console = _console()
    console.width = max(console.width, 110)
    console.print(table)
    print(f"{report['seconds'] * 1e3:.4g} ms per pass at {hw['clock_hz'] / 1e9:g} GHz = "
          f"{report['tokens_per_s']:.4g} tokens/s")


def _llm_study_output(result, out_dir: Path, heatmaps: str, started: float) -> None:
    import time

    from imaclab.report.llm_plots import write_study_report

    files = write_study_report(result, out_dir=out_dir,
                               heatmap_costs=tuple(c.strip() for c in heatmaps.split(",") if c.strip()))
    console = _console()
    for entry in result.to_dict()["headline"]:
        lo, hi = entry["min_f"], entry["max_f"]
        console.print(f"{entry['phase']:7s} {entry['hardware']:14s} f from {lo['f_systolic']:.3f} "
                      f"({lo['model']}, L={lo['context']}, ceiling {lo['ceiling_systolic']:.3g}x) to "
                      f"{hi['f_systolic']:.3f} ({hi['model']}, L={hi['context']}, ceiling {hi['ceiling_systolic']:.3g}x)",
                      soft_wrap=True)
    console.print(f"{len(result.rows)} cases, {len(result.skipped)} skipped (context above max); "
                  f"study {result.elapsed_s:.2f} s, with files and plots {time.perf_counter() - started:.2f} s")
    for name, path in files.items():
        console.print(f"  {name}: {path}", soft_wrap=True)


@llm_app.command("amdahl")
def llm_amdahl(
    models: str = typer.Option("all", help="comma-separated catalog names, config.json paths, or 'all'"),
    contexts: Optional[str] = typer.Option(None, help="comma-separated context lengths (default 128,...,4096)"),
    hardware: str = typer.Option("edge,cloud", help="comma-separated systolic hardware (edge, cloud, presets)"),
    phase: str = typer.Option("decode", help="decode, prefill or both"),
    batch: int = typer.Option(1, "--batch", "-B", help="sequences per pass"),
    improve: str = typer.Option("projection", help="improved categories, e.g. projection or projection,head"),
    s: Optional[str] = typer.Option(None, "--s", help="improvement factors to sweep, e.g. 2,4,8,16"),
    attention_s: Optional[float] = typer.Option(None, "--attention-s",
                                                help="general form: attention also improves by this factor"),
    precision: str = typer.Option("w1.58a8", help="quantized precision for the memory/roofline costs"),
    array: Optional[str] = typer.Option(None, help="array size override for every hardware, ROWSxCOLS"),
    dataflow: str = typer.Option("os", help="dataflow: os, ws, is, or preset (keep the preset's own)"),
    roofline: Optional[str] = typer.Option(None, help="roofline device: h100-sxm, a100-sxm, tpu-v4, edge-npu"),
    clock_hz: Optional[float] = typer.Option(None, "--clock-hz",
                                             help="clock for tokens/s, Hz (default: the systolic config's)"),
    vector_lanes: Optional[int] = typer.Option(None, help="vector-unit lanes (default: array columns)"),
    heatmaps: str = typer.Option("systolic", help="costs to draw f heatmaps for: systolic, memory, roofline"),
    out: Path = typer.Option(Path("out/llm-amdahl"), "-o", "--out", help="output directory"),
):
    """Amdahl's law over models x contexts x hardware: CSV of f, ceilings, speedups, and plots."""
    import time

    from imaclab.llm.api import amdahl_study

    started = time.perf_counter()
    result = amdahl_study(models=models, contexts=contexts, hardware=hardware, phase=phase, batch=batch,
                          improve=improve, factors=s, attention_factor=attention_s, precision=precision,
                          array=array, dataflow=dataflow, roofline=roofline, clock_hz=clock_hz,
                          vector_lanes=vector_lanes)
    _llm_study_output(result, out, heatmaps, started)


@llm_app.command("study")
def llm_study(out: Path = typer.Option(Path("out/llm-study"), "-o", "--out", help="output directory")):
    """The default study: every catalog model, 6 contexts, edge+cloud arrays, decode and prefill."""
    import time

    from imaclab.llm.api import amdahl_study

    started = time.perf_counter()
    _llm_study_output(amdahl_study(), out, "systolic", started)


@llm_app.command("published")
def llm_published(as_json: bool = typer.Option(False, "--json", help="print one JSON list")):
    """Published 1-bit LLM measurements (BitNet b1.58, bitnet.cpp) beside this model's predictions."""
    import json

    from imaclab.llm.published import published_comparison

    rows = published_comparison()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="published vs predicted (decode, batch 1; predictions are upper bounds)")
    for col in ("source", "hardware", "measured", "metric", "published", "predicted", "shape used"):
        table.add_column(col, justify="right" if col in ("published", "predicted") else "left")
    for r in rows:
        table.add_row(r["source"].split(",")[0] + ", " + r["source"].split("(")[-1].rstrip(")"), r["hardware"],
                      r["measured_model"], r["metric"], f"{r['published']:g}", f"{r['predicted']:.2f}",
                      f"{r['catalog_model']} {r['baseline']}->{r['quantized']}")
    console = _console()
    console.width = max(console.width, 170)
    console.print(table)
