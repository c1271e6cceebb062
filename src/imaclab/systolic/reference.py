"""Run SCALE-Sim v2.0.2 itself (in-process) on the same config and layers, for cross-checks.

SCALE-Sim is an optional dependency (``pip install scalesim==2.0.2``, part of
imaclab's ``test`` extra).  :func:`run_scalesim` writes the config and topology as
SCALE-Sim files into a work folder, runs SCALE-Sim's own entry point
(``scalesim.scale_sim.scalesim``) there and reads its three CSV reports back, one
dict per imaclab layer (a depthwise layer's per-channel rows are summed).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import Any
from collections.abc import Iterable

from imaclab.errors import SimulationError
from imaclab.systolic.config import SystolicConfig
from imaclab.systolic.layers import GemmLayer, Layer
from imaclab.systolic.report import read_scalesim_csv
from imaclab.systolic.topology import save_topology

#: SCALE-Sim report columns -> LayerReport field names.
COLUMN_FIELDS = {
    "Total Cycles": "total_cycles", "Stall Cycles": "stall_cycles", "Overall Util %": "overall_util_pct",
    "Mapping Efficiency %": "mapping_efficiency_pct", "Compute Util %": "compute_util_pct",
    "Avg IFMAP SRAM BW": "avg_sram_ifmap_bw", "Avg FILTER SRAM BW": "avg_sram_filter_bw",
    "Avg OFMAP SRAM BW": "avg_sram_ofmap_bw", "Avg IFMAP DRAM BW": "avg_dram_ifmap_bw",
    "Avg FILTER DRAM BW": "avg_dram_filter_bw", "Avg OFMAP DRAM BW": "avg_dram_ofmap_bw",
    "SRAM IFMAP Start Cycle": "sram_ifmap_start_cycle", "SRAM IFMAP Stop Cycle": "sram_ifmap_stop_cycle",
    "SRAM IFMAP Reads": "sram_ifmap_reads", "SRAM Filter Start Cycle": "sram_filter_start_cycle",
    "SRAM Filter Stop Cycle": "sram_filter_stop_cycle", "SRAM Filter Reads": "sram_filter_reads",
    "SRAM OFMAP Start Cycle": "sram_ofmap_start_cycle", "SRAM OFMAP Stop Cycle": "sram_ofmap_stop_cycle",
    "SRAM OFMAP Writes": "sram_ofmap_writes", "DRAM IFMAP Start Cycle": "dram_ifmap_start_cycle",
    "DRAM IFMAP Stop Cycle": "dram_ifmap_stop_cycle", "DRAM IFMAP Reads": "dram_ifmap_reads",
    "DRAM Filter Start Cycle": "dram_filter_start_cycle", "DRAM Filter Stop Cycle": "dram_filter_stop_cycle",
    "DRAM Filter Reads": "dram_filter_reads", "DRAM OFMAP Start Cycle": "dram_ofmap_start_cycle",
    "DRAM OFMAP Stop Cycle": "dram_ofmap_stop_cycle", "DRAM OFMAP Writes": "dram_ofmap_writes",
}
#: Fields that add up over the per-channel runs of a depthwise layer.
ADDITIVE = {"total_cycles", "stall_cycles", "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes",
            "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes"}


def run_scalesim(cfg: SystolicConfig, layers: Iterable[Layer], workdir: str | Path | None = None,
                 gemm: bool | None = None) -> list[dict[str, Any]]:
    """SCALE-Sim's reports for ``layers`` on ``cfg``: one dict (LayerReport field names) per layer."""
    try:
        from scalesim.scale_sim import scalesim
    except ImportError:
        raise SimulationError("SCALE-Sim is not installed: pip install scalesim==2.0.2") from None
    layers = list(layers)
    if gemm is None:
        gemm = all(isinstance(layer, GemmLayer) for layer in layers)
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="imaclab-scalesim-"))
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        run_cfg = cfg.model_copy(update={"run_name": "scalesim_run", "topology_csv": None})
        cfg_path = run_cfg.to_scalesim_cfg(workdir / "config.cfg")
        topo_path = save_topology(layers, workdir / "topology.csv", gemm=gemm)
        with contextlib.redirect_stdout(io.StringIO()):
            sim = scalesim(save_disk_space=True, verbose=False, config=str(cfg_path), topology=str(topo_path),
                           input_type_gemm=gemm)
            sim.run_scale(top_path=str(workdir / "out"))
        run_dir = workdir / "out" / "scalesim_run"
        rows: list[dict[str, Any]] = [{} for _ in range(len(read_scalesim_csv(run_dir / "COMPUTE_REPORT.csv")))]
        for name in ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv"):
            for row, values in zip(rows, read_scalesim_csv(run_dir / name)):
                for column, value in values.items():
                    if column in COLUMN_FIELDS:
                        row[COLUMN_FIELDS[column]] = value
    # fold SCALE-Sim's per-channel rows of depthwise layers back into one row per layer
    out: list[dict[str, Any]] = []
    index = 0
    for layer in layers:
        count = layer.instances
        group = rows[index:index + count]
        index += count
        merged = dict(group[0])
        for field in ADDITIVE:
            merged[field] = sum(r[field] for r in group)
        for field, value in list(merged.items()):
            if field.endswith(("cycles", "reads", "writes", "cycle")) and float(value).is_integer():
                merged[field] = int(value)
        out.append(merged)
    return out
