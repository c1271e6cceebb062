"""``imaclab tpu``: the commands of the tpu room (strings in, a job run, a result printed)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from imaclab.cli.common import console as _console

tpu_app = typer.Typer(help="Systolic-array (TPU) performance model.", no_args_is_help=True)

@tpu_app.command("simulate")
def tpu_simulate(
    config: str = typer.Option(..., "--config", "-c", help="preset name (see `imaclab tpu presets`), SCALE-Sim .cfg, "
                                                            "or imaclab YAML/JSON config"),
    topology: Path = typer.Option(..., "--topology", "-t", help="SCALE-Sim topology CSV"),
    gemm: bool = typer.Option(False, "--gemm", help="topology is in the 'Layer, M, N, K' GEMM format"),
    outdir: Path = typer.Option(Path("tpu_report"), "--outdir", "-o", help="folder for the reports"),
    dataflow: Optional[str] = typer.Option(None, "--dataflow", help="override the config's dataflow: os, ws, is"),
):
    """Simulate a topology; write SCALE-Sim's three CSV reports and summary.json."""
    from imaclab.systolic.run import simulate_files

    run = simulate_files(config=config, topology=topology, outdir=outdir, gemm=gemm, dataflow=dataflow)
    from rich.table import Table

    cfg = run.config
    table = Table(title=f"{topology.name} on {cfg.array_rows}x{cfg.array_cols} {cfg.dataflow} "
                        f"({'CALC' if cfg.calc_bandwidth else f'{cfg.dram_bandwidth_words_per_cycle} words/cycle'})")
    for col in ("layer", "M", "N", "K", "cycles", "stalls", "util %", "map eff %", "DRAM rd words", "DRAM wr words"):
        table.add_column(col, justify="left" if col == "layer" else "right", no_wrap=True)
    for r in run.reports:
        table.add_row(r.name, str(r.m), str(r.n), str(r.k), f"{r.total_cycles:,}", f"{r.stall_cycles:,}",
                      f"{r.overall_util_pct:.2f}", f"{r.mapping_efficiency_pct:.2f}",
                      f"{r.dram_ifmap_reads + r.dram_filter_reads:,}", f"{r.dram_ofmap_writes:,}")
    totals = run.totals
    table.add_row("total", "", "", "", f"{totals['total_cycles']:,}", f"{totals['stall_cycles']:,}",
                  f"{100 * totals['overall_utilization']:.2f}", "",
                  f"{totals['dram_ifmap_reads'] + totals['dram_filter_reads']:,}", f"{totals['dram_ofmap_writes']:,}")
    console = _console()
    console.width = max(console.width, 120)
    console.print(table)
    print(f"{totals['latency_s'] * 1e3:.4g} ms at {cfg.clock_hz / 1e6:g} MHz; reports in {outdir}")


@tpu_app.command("presets")
def tpu_presets(as_json: bool = typer.Option(False, "--json", help="print one JSON list")):
    """List the shipped systolic-array presets."""
    from imaclab.systolic.run import preset_table

    rows = preset_table()
    if as_json:
        import json

        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    labels = {"name": "name", "array": "array", "dataflow": "dataflow", "ifmap_sram_kb": "ifmap kB",
              "filter_sram_kb": "filter kB", "ofmap_sram_kb": "ofmap kB", "dram_bandwidth": "DRAM words/cycle",
              "word_size_bytes": "word B", "clock_mhz": "MHz"}
    table = Table(title="imaclab systolic-array presets (use with -c NAME)")
    for key in rows[0]:
        table.add_column(labels.get(key, key), justify="left" if key in ("name", "array", "dataflow") else "right",
                         no_wrap=True)
    for row in rows:
        table.add_row(*[f"{v:g}" if isinstance(v, float) else str(v) for v in row.values()])
    console = _console()
    console.width = max(console.width, 120)
    console.print(table)
