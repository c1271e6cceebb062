"""The ``imaclab`` command: parse arguments, call one library function, print.

No logic lives here.  Each room's commands sit in their own section below; a
user error (:class:`~imaclab.errors.ImaclabError`) is printed as one line on
stderr with a non-zero exit, never as a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from imaclab.errors import ImaclabError

app = typer.Typer(help="In-memory analog computing and heterogeneous accelerator exploration.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
tpu_app = typer.Typer(help="Systolic-array (TPU) performance model.", no_args_is_help=True)
llm_app = typer.Typer(help="LLM workloads, costs and Amdahl's law for 1-bit quantization.", no_args_is_help=True)
imac_app = typer.Typer(help="IMAC circuits: map an MLP to crossbars, simulate, evaluate.", no_args_is_help=True)
train_app = typer.Typer(help="Hardware-aware mixed-precision training.", no_args_is_help=True)
hetero_app = typer.Typer(help="TPU-IMAC heterogeneous accelerator vs a TPU-only baseline.", no_args_is_help=True)
sweep_app = typer.Typer(help="Design-space sweeps on local processes or Dask.", no_args_is_help=True)
for _name, _sub in (("tpu", tpu_app), ("llm", llm_app), ("imac", imac_app), ("train", train_app),
                    ("hetero", hetero_app), ("sweep", sweep_app)):
    app.add_typer(_sub, name=_name)


def _console():
    from rich.console import Console

    return Console()


# ---------------------------------------------------------------------------- tpu
# (commands of the systolic room)

# ---------------------------------------------------------------------------- llm
# (commands of the llm room)
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
    dataflow: Optional[str] = typer.Option(None, help="dataflow override: os, ws or is"),
    precision: str = typer.Option("fp16", help="precision for bytes: fp16, int8, w1.58a8, w1a8, w2a8, ..."),
    mask: str = typer.Option("causal", help="prefill attention mask: causal or full"),
    clock_hz: Optional[float] = typer.Option(None, "--clock-hz", help="clock for seconds and tokens/s"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
):
    """Cycles, bytes and MACs by category of one forward pass on a systolic array."""
    import json

    from imaclab.llm.api import workload_report

    report = workload_report(model=model, phase=phase, context=context, batch=batch, hardware=hardware,
                             array=array, dataflow=dataflow, precision=precision, attention_mask=mask,
                             clock_hz=clock_hz)
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
    _console().print(table)
    print(f"{report['seconds'] * 1e3:.4g} ms per pass at {hw['clock_hz'] / 1e9:g} GHz = "
          f"{report['tokens_per_s']:.4g} tokens/s")


def _llm_study_output(result, out_dir: Path) -> None:
    from imaclab.report.llm_plots import write_study_report

    files = write_study_report(result, out_dir=out_dir)
    console = _console()
    for entry in result.to_dict()["headline"]:
        lo, hi = entry["min_f"], entry["max_f"]
        console.print(f"{entry['phase']:7s} {entry['hardware']:14s} f from {lo['f_systolic']:.3f} "
                      f"({lo['model']}, L={lo['context']}, ceiling {lo['ceiling_systolic']:.3g}x) to "
                      f"{hi['f_systolic']:.3f} ({hi['model']}, L={hi['context']}, ceiling {hi['ceiling_systolic']:.3g}x)")
    console.print(f"{len(result.rows)} cases, {len(result.skipped)} skipped, study ran in {result.elapsed_s:.2f} s")
    for name, path in files.items():
        console.print(f"  {name}: {path}")


@llm_app.command("amdahl")
def llm_amdahl(
    models: str = typer.Option("all", help="comma-separated catalog names, config.json paths, or 'all'"),
    contexts: Optional[str] = typer.Option(None, help="comma-separated context lengths (default 128,...,4096)"),
    hardware: str = typer.Option("edge,cloud", help="comma-separated systolic hardware (edge, cloud, presets)"),
    phase: str = typer.Option("decode", help="decode, prefill or both"),
    batch: int = typer.Option(1, "--batch", "-B", help="sequences per pass"),
    improve: str = typer.Option("projection", help="improved categories, e.g. projection or projection,head"),
    s: Optional[str] = typer.Option(None, "--s", help="improvement factors to sweep, e.g. 2,4,8,16"),
    precision: str = typer.Option("w1.58a8", help="quantized precision for the memory/roofline costs"),
    array: Optional[str] = typer.Option(None, help="array size override for every hardware, ROWSxCOLS"),
    dataflow: Optional[str] = typer.Option(None, help="dataflow override: os, ws or is"),
    roofline: Optional[str] = typer.Option(None, help="roofline device: h100-sxm, a100-sxm, tpu-v4, edge-npu"),
    clock_hz: Optional[float] = typer.Option(None, "--clock-hz", help="clock for tokens/s (default: config or 1 GHz)"),
    out: Path = typer.Option(Path("out/llm-amdahl"), "-o", "--out", help="output directory"),
):
    """Amdahl's law over models x contexts x hardware: CSV of f, ceilings, speedups, and plots."""
    from imaclab.llm.api import amdahl_study

    result = amdahl_study(models=models, contexts=contexts, hardware=hardware, phase=phase, batch=batch,
                          improve=improve, factors=s, precision=precision, array=array, dataflow=dataflow,
                          roofline=roofline, clock_hz=clock_hz)
    _llm_study_output(result, out)


@llm_app.command("study")
def llm_study(out: Path = typer.Option(Path("out/llm-study"), "-o", "--out", help="output directory")):
    """The default study: every catalog model, 6 contexts, edge+cloud arrays, decode and prefill."""
    from imaclab.llm.api import amdahl_study

    _llm_study_output(amdahl_study(), out)


# ---------------------------------------------------------------------------- imac
# (commands of the imac room)

# ---------------------------------------------------------------------------- train
# (commands of the nn room)

# ---------------------------------------------------------------------------- hetero
# (commands of the hetero room)

# ---------------------------------------------------------------------------- sweep
# (commands of the sweep room)
@sweep_app.command("run")
def sweep_run(
    spec: Path = typer.Argument(..., help="sweep spec YAML (target, base config, axes)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="sweep directory (default sweeps/<name>)"),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="local worker processes (default: cores)"),
    executor: str = typer.Option("local", "--executor", help="local (process pool) or dask"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="existing Dask scheduler, tcp://HOST:PORT"),
    dask_local: Optional[int] = typer.Option(None, "--dask-local", help="start a Dask LocalCluster of N workers"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="rerun points stored as failed"),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate and list the points; run nothing"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr"),
):
    """Run or resume a sweep: points already stored are skipped."""
    from rich.table import Table

    from imaclab.sweep import ExecutorSettings, plan_spec, run_sweep

    console = _console()
    if dry_run:
        plan = plan_spec(spec=spec)
        table = Table(title=f"{plan.spec.name}: {len(plan.points)} points of {plan.target.name}"
                            + (f" ({plan.duplicates} duplicates dropped)" if plan.duplicates else ""))
        for column in ["#", *plan.columns]:
            table.add_column(column)
        for point in plan.points[:20]:
            values = {**point.variables, **point.overrides}
            table.add_row(str(point.index), *[str(values.get(c, "")) for c in plan.columns])
        console.print(table)
        return
    settings = ExecutorSettings.from_dict({"kind": executor, "workers": workers, "scheduler": scheduler,
                                           "dask_local": dask_local}, source="sweep run options")
    summary = run_sweep(spec=spec, directory=out, executor=settings, retry_failed=retry_failed, progress=progress)
    console.print(f"{summary.name}: {summary.ok} ok, {summary.failed} failed, {summary.skipped} already stored "
                  f"of {summary.planned} points ({summary.executor}, {summary.workers} workers, "
                  f"{summary.wall_s:.1f} s) -> {summary.directory}", highlight=False)
    for failure in summary.failures:
        console.print(f"  point {failure['index']} ({failure['error_type']}): {failure['error']}",
                      highlight=False, markup=False)


@sweep_app.command("status")
def sweep_status_cmd(directory: Path = typer.Argument(..., help="sweep directory")):
    """Done / failed / pending points, errors and runs of a sweep."""
    from rich.table import Table

    from imaclab.sweep import sweep_status

    status = sweep_status(directory=directory)
    console = _console()
    planned = "?" if status.planned is None else status.planned
    pending = "?" if status.pending is None else status.pending
    console.print(f"{status.name} ({status.target}) in {status.directory}: {status.ok} ok, {status.failed} failed, "
                  f"{pending} pending of {planned} planned" + (f", {status.extra} from earlier specs"
                                                              if status.extra else ""), highlight=False)
    console.print(f"run time per ok point: mean {status.mean_run_s:.3g} s, total {status.total_run_s:.3g} s",
                  highlight=False)
    if status.note:
        console.print(status.note, highlight=False, markup=False)
    if status.errors:
        table = Table(title="failures")
        for column in ("error type", "count", "example"):
            table.add_column(column)
        for error in status.errors:
            table.add_row(error["error_type"], str(error["count"]), error["example"])
        console.print(table)
    table = Table(title="runs")
    for column in ("run", "status", "executor", "workers", "to run", "ok", "failed", "version"):
        table.add_column(column)
    for run in status.runs:
        table.add_row(*[str(run[k]) for k in ("run_id", "status", "executor", "workers", "to_run", "ok", "failed",
                                             "version")])
    console.print(table)


@sweep_app.command("export")
def sweep_export(
    directory: Path = typer.Argument(..., help="sweep directory"),
    format: str = typer.Option("csv", "--format", "-f", help="csv or parquet"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="file to write (default DIR/results.FORMAT)"),
    full_config: bool = typer.Option(False, "--full-config", help="add every config field as config.<path>"),
):
    """Write one row per point (axes, metrics, status, timings) as CSV or Parquet."""
    from imaclab.sweep import export_results

    path = export_results(directory=directory, format=format, output=output, full_config=full_config)
    _console().print(f"wrote {path}", highlight=False)


@sweep_app.command("plot")
def sweep_plot(
    directory: Path = typer.Argument(..., help="sweep directory"),
    x: Optional[str] = typer.Option(None, "--x", help="field or variable on the x axis"),
    y: Optional[str] = typer.Option(None, "--y", help="metric on the y axis"),
    hue: Optional[str] = typer.Option(None, "--hue", help="field that colours lines / points / heatmap rows"),
    kind: str = typer.Option("auto", "--kind", help="auto, line, scatter or heatmap"),
    pareto: Optional[str] = typer.Option(None, "--pareto", help="two objectives, e.g. accuracy:max,power:min"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="PNG path (default DIR/plots/...)"),
):
    """Plot a metric against a field (PNG), or the Pareto front of two metrics."""
    from rich.table import Table

    from imaclab.sweep import plot_sweep

    result = plot_sweep(directory=directory, x=x, y=y, hue=hue, kind=kind, pareto=pareto, output=output)
    console = _console()
    console.print(f"wrote {result.path} ({result.kind}, {result.points} points"
                  + (f", {result.failed} failed not drawn" if result.failed else "") + ")", highlight=False)
    if result.front is not None:
        front = result.front
        shown = list(dict.fromkeys([c for c in front.columns if c in front.attrs.get("axis_columns", [])]
                                   + list(front.attrs.get("objective_columns", []))))
        table = Table(title=f"Pareto front: {len(front)} points")
        for column in ["index", *shown]:
            table.add_column(column)
        for _, row in front.iterrows():
            table.add_row(*[f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c]) for c in ["index", *shown]])
        console.print(table)


@sweep_app.command("targets")
def sweep_targets():
    """Targets a sweep spec can name, and whether they are available in this install."""
    from rich.table import Table

    from imaclab.sweep import list_targets

    table = Table(title="sweep targets (or any package.module:function taking one ConfigModel)")
    for column in ("target", "available", "config", "computes"):
        table.add_column(column)
    for row in list_targets():
        table.add_row(row["name"], "yes" if row["available"] else f"no: {row['reason']}", row["config"],
                      row["summary"])
    _console().print(table)


# ---------------------------------------------------------------------------- demo
# (the end-to-end default job of `make demo`)


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point: run the typer app; an ImaclabError becomes one line on stderr and exit code 2."""
    try:
        app(args=argv, prog_name="imaclab")
    except SystemExit as ex:  # click's standalone mode always ends with SystemExit (usage errors: 2)
        code = ex.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except ImaclabError as err:
        print(f"imaclab: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("imaclab: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
