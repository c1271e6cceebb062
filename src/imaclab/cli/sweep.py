"""``imaclab sweep``: the commands of the sweep room (strings in, a job run, a result printed)."""

from __future__ import annotations

from pathlib import Path

import typer

from imaclab.cli.common import console as _console
from imaclab.cli.common import html_option

sweep_app = typer.Typer(help="Design-space sweeps on local processes or Dask.", no_args_is_help=True)

#: Points listed by ``sweep run --dry-run``.
DRY_RUN_POINTS = 20


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
    import itertools

    from rich.table import Table

    from imaclab.sweep import ExecutorSettings, load_spec, plan_spec, run_sweep

    console = _console()
    loaded = load_spec(spec, set_items)
    if dry_run:
        plan = plan_spec(spec=loaded, max_points=None)  # counted as a product, listed lazily
        shown = list(itertools.islice(plan.iter_points(), DRY_RUN_POINTS))
        dropped = f" ({plan.duplicates} duplicates dropped)" if plan.expanded and plan.duplicates else ""
        count = len(plan.points) if plan.expanded else plan.size
        table = Table(title=f"{plan.spec.name}: {count} points of {plan.target.name}{dropped}"
                            + (f", the first {len(shown)} listed" if count > len(shown) else ""))
        for column in ["#", *plan.columns]:
            table.add_column(column)
        for point in shown:
            values = {**point.variables, **point.overrides}
            table.add_row(str(point.index), *[str(values.get(c, "")) for c in plan.columns])
        console.print(table)
        from imaclab.sweep.spec import MAX_POINTS

        if plan.size > MAX_POINTS:
            console.print(f"more than {MAX_POINTS} points: `sweep run` refuses this spec unless --limit N "
                          f"(N <= {MAX_POINTS}) runs a part of it", highlight=False, soft_wrap=True)
        return
    settings = ExecutorSettings.from_dict({"kind": executor, "workers": workers, "scheduler": scheduler,
                                           "dask_local": dask_local}, source="sweep run options")
    summary = run_sweep(spec=loaded, directory=out, executor=settings, retry_failed=retry_failed, limit=limit,
                        progress=progress)
    console.print(f"{summary.name}: {summary.ok} ok, {summary.failed} failed, {summary.skipped} already stored "
                  f"of {summary.planned} points ({summary.executor}, {summary.workers} workers, "
                  f"{summary.wall_s:.1f} s) -> {summary.directory}"
                  + (f"; {summary.remaining} still pending" if summary.remaining else ""),
                  highlight=False, soft_wrap=True)
    for failure in summary.failures:
        console.print(f"  point {failure['index']} ({failure['error_type']}): {failure['error']}",
                      highlight=False, markup=False, soft_wrap=True)
    if html:
        from imaclab.report.html import write_index

        # `imaclab report DIR` rewrites it, mid-run too (the page shows the points done so far)
        console.print(f"page: {write_index(summary.directory)}", highlight=False, soft_wrap=True)


@sweep_app.command("status")
def sweep_status_cmd(
    directory: Path = typer.Argument(..., help="sweep directory"),
    check: bool = typer.Option(False, "--check", help="full SQLite integrity check of the store, whatever its size"),
):
    """Done / failed / pending points, errors and runs of a sweep."""
    from rich.table import Table

    from imaclab.sweep import sweep_status

    status = sweep_status(directory=directory, check=check)
    console = _console()
    planned = "?" if status.planned is None else status.planned
    pending = "?" if status.pending is None else status.pending
    extra = f", {status.extra} from earlier specs" if status.extra else ""
    console.print(f"{status.name} ({status.target}) in {status.directory}: {status.ok} ok, {status.failed} failed, "
                  f"{pending} pending of {planned} planned{extra}", highlight=False, soft_wrap=True)
    console.print(f"run time per ok point: mean {status.mean_run_s:.3g} s, total {status.total_run_s:.3g} s",
                  highlight=False, soft_wrap=True)
    if status.note:
        console.print(status.note, highlight=False, markup=False, soft_wrap=True)
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
    from rich.table import Table

    from imaclab.sweep import plot_sweep

    result = plot_sweep(directory=directory, x=x, y=y, hue=hue, kind=kind, pareto=pareto, output=output)
    console = _console()
    left_out = f", {result.failed} failed not drawn" if result.failed else ""
    console.print(f"wrote {result.path} ({result.kind}, {result.points} points{left_out})", highlight=False,
                  soft_wrap=True)
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
