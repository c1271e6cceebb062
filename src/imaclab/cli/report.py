"""``imaclab report DIR``: one self-contained HTML page of a run folder, a sweep or a folder of runs."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer()


@app.command("report")
def report(
    folder: Path = typer.Argument(..., help="run folder, sweep folder, or a folder of runs (e.g. make demo's report/)"),
    out: Path | None = typer.Option(None, "-o", "--out", help="HTML file to write [default: FOLDER/index.html]"),
):
    """Write one HTML page of a run folder (figures with units, config, tables, interactive plots); works offline."""
    from imaclab.report.html import write_index

    path = write_index(folder, out)
    print(f"report: {path}")
