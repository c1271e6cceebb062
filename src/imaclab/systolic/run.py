"""One job = one config + one topology file -> SCALE-Sim-style reports in a folder.

This is what ``imaclab tpu simulate`` calls.  If a layer fails, the reports of the
layers before it are still written, then the error is raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imaclab.systolic.config import SystolicConfig
from imaclab.systolic.model import simulate_layer
from imaclab.systolic.report import LayerReport, summarize, write_reports
from imaclab.systolic.topology import load_topology


@dataclass
class TopologyRun:
    """Reports of one topology on one array, and where they were written."""

    config: SystolicConfig
    topology: str
    reports: list[LayerReport]
    files: dict[str, Path]

    @property
    def totals(self) -> dict[str, Any]:
        return summarize(self.reports)


def simulate_files(*, config: str | Path, topology: str | Path, outdir: str | Path, gemm: bool = False,
                   dataflow: str | None = None) -> TopologyRun:
    """Simulate the SCALE-Sim topology CSV ``topology`` on ``config`` (preset name, .cfg, YAML or JSON).

    Writes ``COMPUTE_REPORT.csv``, ``BANDWIDTH_REPORT.csv``, ``DETAILED_ACCESS_REPORT.csv``
    (SCALE-Sim's columns), ``summary.json`` and the resolved ``config.cfg`` into ``outdir``.
    """
    cfg = SystolicConfig.resolve(config)
    if dataflow:
        cfg = cfg.with_overrides({"dataflow": dataflow.strip().lower()})
    layers = load_topology(topology, gemm=gemm)
    outdir = Path(outdir)
    summary = {"config": cfg.to_dict(), "topology": str(topology), "gemm_format": gemm}
    reports: list[LayerReport] = []
    try:
        for layer in layers:
            reports.append(simulate_layer(cfg, layer))
    finally:
        if len(reports) < len(layers):
            summary["incomplete"] = f"stopped after {len(reports)} of {len(layers)} layers"
        files = write_reports(reports, outdir, summary=summary)
        files["config"] = cfg.to_scalesim_cfg(outdir / "config.cfg")
    return TopologyRun(config=cfg, topology=str(topology), reports=reports, files=files)


def preset_table() -> list[dict[str, Any]]:
    """One row per shipped preset: name and its main parameters."""
    rows = []
    for name in SystolicConfig.presets():
        cfg = SystolicConfig.preset(name)
        rows.append({"name": name, "array": f"{cfg.array_rows}x{cfg.array_cols}", "dataflow": cfg.dataflow,
                     "ifmap_sram_kb": cfg.ifmap_sram_kb, "filter_sram_kb": cfg.filter_sram_kb,
                     "ofmap_sram_kb": cfg.ofmap_sram_kb,
                     "dram_bandwidth": "CALC" if cfg.calc_bandwidth else cfg.dram_bandwidth_words_per_cycle,
                     "word_size_bytes": cfg.word_size_bytes, "clock_mhz": cfg.clock_hz / 1e6})
    return rows
