"""``imaclab demo``: the end-to-end default job of `make demo` (strings in, a job run, a result printed)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer()

@app.command("demo")
def demo(out: Path = typer.Option(Path("report"), "-o", "--out", help="report folder")):
    """The end-to-end default job: train an IMAC MLP, simulate it (fast solver and ngspice), a TPU run, an LLM study."""
    from imaclab.report.demo import run_demo

    result = run_demo(out_dir=out)
    for name, seconds in result.seconds.items():
        print(f"{name:11s} {seconds:7.1f} s")
    print(f"report: {(out / 'index.html').resolve()} (open it in a browser; README.md beside it lists the figures)")
