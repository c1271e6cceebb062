"""``imaclab sweep``: the commands of the sweep room (strings in, a job run, a result printed)."""

from __future__ import annotations

from pathlib import Path

import typer

from imaclab.cli.common import console as _console
from imaclab.cli.common import fit_width, html_option, render

sweep_app = typer.Typer(help="Design-space sweeps on local processes or Dask.", no_args_is_help=True)

@sweep_app.command("run")
def sweep_run(
    spec: Path = typer.Argument(..., help="sweep spec YAML (target, base config, axes)"),
    out: Path | None = typer.Option(None, "--out", "-o", help="sweep directory (default sweeps/<name>)"),
    workers: int | None = typer.Option(None, "--workers", "-j", help="local worker processes (default: cores)"),
    executor: str = typer.Option("local", "--executor", help="local (process pool) or dask"),
    scheduler: str | None = typer.Option(None, "--scheduler", help="existing Dask scheduler, tcp://HOST:PORT"),
    dask_local: int | None = typer.Option(None, "--dask-local", help="start a Dask LocalCluster of N workers"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="rerun points stored as failed"),
    limit: int | None = typer.Option(None, "--limit", help="run at most N pending points (try a sweep first)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate, count the points and list the first 20; "
                                                          "run nothing"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress on stderr (a bar on a "
                                                                         "terminal, plain lines otherwise)"),
    set_items: list[str] | None = typer.Option(None, "--set", help="override a spec field: base.<path>=V "
                                                                      "(the job config) or e.g. "
                                                                      "execution.timeout_s=60; repeatable"),
    html: bool = html_option(),
):
    """Run or resume a sweep: points already stored are skipped."""
    from imaclab.sweep import ExecutorSettings, load_spec, run_sweep
    from imaclab.sweep.listings import plan_listing

    loaded = load_spec(spec, set_items)
    if dry_run:
        listing = plan_listing(loaded)
        render(listing, fit_width(listing))
        return
    settings = ExecutorSettings.from_dict({"kind": executor, "workers": workers, "scheduler": scheduler,
                                           "dask_local": dask_local}, source="sweep run options")
    summary = run_sweep(spec=loaded, directory=out, executor=settings, retry_failed=retry_failed, limit=limit,
                        progress=progress)
    render(summary)
    if html:
        from imaclab.report.html import write_index

        # `imaclab report DIR` rewrites it, mid-run too (the page shows the points done so far)
        _console().print(f"page: {write_index(summary.directory)}", highlight=False, markup=False, soft_wrap=True)


@sweep_app.command("status")
def sweep_status_cmd(
    directory: Path = typer.Argument(..., help="sweep directory"),
    check: bool = typer.Option(False, "--check", help="full SQLite integrity check of the store, whatever its size"),
):
    """Done / failed / pending points, errors and runs of a sweep."""
    from imaclab.sweep import sweep_status

    status = sweep_status(directory=directory, check=check)
    render(status, fit_width(status))


@sweep_app.command("export")
def sweep_export(
    directory: Path = typer.Argument(..., help="sweep directory"),
    format: str = typer.Option("csv", "--format", "-f", help="csv or parquet"),
    output: Path | None = typer.Option(None, "--output", "-o", help="file to write (default DIR/results.FORMAT)"),
    full_config: bool = typer.Option(False, "--full-config", help="add every config field as config.<path>"),
):
    """Write one row per point (axes, metrics, status, timings) as CSV or Parquet."""
    from imaclab.sweep import export_results

    path = export_results(directory=directory, format=format, output=output, full_config=full_config)
    _console().print(f"wrote {path}", highlight=False, soft_wrap=True)


@sweep_app.command("plot")
def sweep_plot(
    directory: Path = typer.Argument(..., help="sweep directory"),
    x: str | None = typer.Option(None, "--x", help="field or variable on the x axis"),
    y: str | None = typer.Option(None, "--y", help="metric on the y axis"),
    hue: str | None = typer.Option(None, "--hue", help="field that colours lines / points / heatmap rows"),
    kind: str = typer.Option("auto", "--kind", help="auto, line, scatter or heatmap"),
    pareto: str | None = typer.Option(None, "--pareto", help="two objectives, e.g. accuracy:max,power:min"),
    output: Path | None = typer.Option(None, "--output", "-o", help="PNG path (default DIR/plots/...)"),
):
    """Plot a metric against a field (PNG), or the Pareto front of two metrics."""
    from imaclab.sweep import plot_sweep

    result = plot_sweep(directory=directory, x=x, y=y, hue=hue, kind=kind, pareto=pareto, output=output)
    render(result, fit_width(result))


@sweep_app.command("targets")
def sweep_targets():
    """Targets a sweep spec can name, and whether they are available in this install."""
    from imaclab.sweep.listings import target_list

    targets = target_list()
    render(targets, fit_width(targets))
