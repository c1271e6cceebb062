"""Per-layer results and SCALE-Sim's three CSV reports.

:class:`LayerReport` holds what SCALE-Sim reports for a layer (``COMPUTE_REPORT``,
``BANDWIDTH_REPORT``, ``DETAILED_ACCESS_REPORT``) plus peak bandwidths, seconds
and bytes.  Counts of a layer that runs several identical instances (a depthwise
convolution = one instance per channel) are totals over the instances; start and
stop cycles are those of one instance, as SCALE-Sim simulates each separately.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

OPERANDS = ("ifmap", "filter", "ofmap")

COMPUTE_HEADER = ["LayerID", "Total Cycles", "Stall Cycles", "Overall Util %", "Mapping Efficiency %",
                  "Compute Util %"]
BANDWIDTH_HEADER = ["LayerID", "Avg IFMAP SRAM BW", "Avg FILTER SRAM BW", "Avg OFMAP SRAM BW",
                    "Avg IFMAP DRAM BW", "Avg FILTER DRAM BW", "Avg OFMAP DRAM BW"]
DETAIL_HEADER = ["LayerID",
                 "SRAM IFMAP Start Cycle", "SRAM IFMAP Stop Cycle", "SRAM IFMAP Reads",
                 "SRAM Filter Start Cycle", "SRAM Filter Stop Cycle", "SRAM Filter Reads",
                 "SRAM OFMAP Start Cycle", "SRAM OFMAP Stop Cycle", "SRAM OFMAP Writes",
                 "DRAM IFMAP Start Cycle", "DRAM IFMAP Stop Cycle", "DRAM IFMAP Reads",
                 "DRAM Filter Start Cycle", "DRAM Filter Stop Cycle", "DRAM Filter Reads",
                 "DRAM OFMAP Start Cycle", "DRAM OFMAP Stop Cycle", "DRAM OFMAP Writes"]


@dataclass(frozen=True)
class LayerReport:
    """Cycles, utilization and memory traffic of one layer on one systolic array.

    Utilizations and efficiencies are fractions (0..1); ``*_pct`` give SCALE-Sim's
    percentages.  Bandwidths are in words per cycle unless the name says bytes/s.
    """

    name: str
    kind: str
    dataflow: str
    array_rows: int
    array_cols: int
    m: int                      # SCALE-Sim M of one instance: ofmap pixels per filter / GEMM rows
    n: int                      # SCALE-Sim N: filters / GEMM output columns
    k: int                      # SCALE-Sim K: window size / reduction length
    instances: int              # identical runs (depthwise: channels)
    macs: int
    total_cycles: int
    stall_cycles: int
    mapping_efficiency: float
    compute_utilization: float
    sram_ifmap_reads: int
    sram_filter_reads: int
    sram_ofmap_writes: int
    dram_ifmap_reads: int
    dram_filter_reads: int
    dram_ofmap_writes: int
    sram_ifmap_start_cycle: int
    sram_ifmap_stop_cycle: int
    sram_filter_start_cycle: int
    sram_filter_stop_cycle: int
    sram_ofmap_start_cycle: int
    sram_ofmap_stop_cycle: int
    dram_ifmap_start_cycle: int
    dram_ifmap_stop_cycle: int
    dram_filter_start_cycle: int
    dram_filter_stop_cycle: int
    dram_ofmap_start_cycle: int
    dram_ofmap_stop_cycle: int
    peak_sram_ifmap_bw: float
    peak_sram_filter_bw: float
    peak_sram_ofmap_bw: float
    peak_dram_ifmap_bw: float
    peak_dram_filter_bw: float
    peak_dram_ofmap_bw: float
    clock_hz: float
    word_size_bytes: int
    bandwidth_mode: str         # "CALC" or "USER"

    # ------------------------------------------------------------------ derived
    @property
    def compute_cycles(self) -> int:
        """Cycles without stalls."""
        return self.total_cycles - self.stall_cycles

    @property
    def num_pes(self) -> int:
        return self.array_rows * self.array_cols

    @property
    def overall_utilization(self) -> float:
        """MACs / (total cycles x PEs)."""
        return self.macs / (self.total_cycles * self.num_pes)

    @property
    def overall_util_pct(self) -> float:
        # SCALE-Sim: (num_compute * 100) / (total_cycles * num_mac_unit), in that order
        return (self.macs * 100) / (self.total_cycles * self.num_pes)

    @property
    def mapping_efficiency_pct(self) -> float:
        return self.mapping_efficiency * 100

    @property
    def compute_util_pct(self) -> float:
        return self.compute_utilization * 100

    @property
    def latency_s(self) -> float:
        return self.total_cycles / self.clock_hz

    @property
    def sram_reads(self) -> dict[str, int]:
        return {"ifmap": self.sram_ifmap_reads, "filter": self.sram_filter_reads}

    @property
    def sram_writes(self) -> dict[str, int]:
        return {"ofmap": self.sram_ofmap_writes}

    @property
    def dram_reads(self) -> dict[str, int]:
        return {"ifmap": self.dram_ifmap_reads, "filter": self.dram_filter_reads}

    @property
    def dram_writes(self) -> dict[str, int]:
        return {"ofmap": self.dram_ofmap_writes}

    @property
    def dram_words(self) -> int:
        return self.dram_ifmap_reads + self.dram_filter_reads + self.dram_ofmap_writes

    @property
    def dram_bytes(self) -> int:
        return self.dram_words * self.word_size_bytes

    def avg_sram_bw(self, operand: str) -> float:
        """SCALE-Sim's average SRAM bandwidth: accesses / total cycles (words/cycle)."""
        count = {"ifmap": self.sram_ifmap_reads, "filter": self.sram_filter_reads,
                 "ofmap": self.sram_ofmap_writes}[operand]
        return count / self.total_cycles

    def avg_dram_bw(self, operand: str) -> float:
        """SCALE-Sim's average DRAM bandwidth: words / (stop - start + 1) of the DRAM trace (words/cycle)."""
        count = {"ifmap": self.dram_ifmap_reads, "filter": self.dram_filter_reads,
                 "ofmap": self.dram_ofmap_writes}[operand] / self.instances
        start = getattr(self, f"dram_{operand}_start_cycle")
        stop = getattr(self, f"dram_{operand}_stop_cycle")
        return count / (stop - start + 1) if count else 0.0

    def dram_bw_bytes_per_s(self, operand: str, peak: bool = False) -> float:
        words = getattr(self, f"peak_dram_{operand}_bw") if peak else self.avg_dram_bw(operand)
        return words * self.word_size_bytes * self.clock_hz

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update({
            "compute_cycles": self.compute_cycles,
            "overall_utilization": self.overall_utilization,
            "latency_s": self.latency_s,
            "dram_bytes": self.dram_bytes,
            **{f"avg_sram_{op}_bw": self.avg_sram_bw(op) for op in OPERANDS},
            **{f"avg_dram_{op}_bw": self.avg_dram_bw(op) for op in OPERANDS},
            **{f"avg_dram_{op}_bytes_per_s": self.dram_bw_bytes_per_s(op) for op in OPERANDS},
            **{f"peak_dram_{op}_bytes_per_s": self.dram_bw_bytes_per_s(op, peak=True) for op in OPERANDS},
        })
        return data

    def compute_row(self) -> list:
        return [self.total_cycles, self.stall_cycles, self.overall_util_pct, self.mapping_efficiency_pct,
                self.compute_util_pct]

    def bandwidth_row(self) -> list:
        return [self.avg_sram_bw(op) for op in OPERANDS] + [self.avg_dram_bw(op) for op in OPERANDS]

    def detail_row(self) -> list:
        row = []
        for op, access in (("ifmap", "reads"), ("filter", "reads"), ("ofmap", "writes")):
            row += [getattr(self, f"sram_{op}_start_cycle"), getattr(self, f"sram_{op}_stop_cycle"),
                    getattr(self, f"sram_{op}_{access}")]
        for op, access in (("ifmap", "reads"), ("filter", "reads"), ("ofmap", "writes")):
            row += [getattr(self, f"dram_{op}_start_cycle"), getattr(self, f"dram_{op}_stop_cycle"),
                    getattr(self, f"dram_{op}_{access}")]
        return row


def _scalesim_csv_text(header: list[str], rows: Iterable[list]) -> str:
    # SCALE-Sim's format: ", " separated, a trailing comma on every line
    lines = [", ".join(header) + ","] + [", ".join(str(x) for x in row) + "," for row in rows]
    return "\n".join(lines) + "\n"


def write_scalesim_reports(reports: list[LayerReport], outdir: str | Path) -> dict[str, Path]:
    """Write ``COMPUTE_REPORT.csv``, ``BANDWIDTH_REPORT.csv``, ``DETAILED_ACCESS_REPORT.csv`` (SCALE-Sim's
    columns) into ``outdir``, each atomically; returns their paths."""
    from imaclab.files import write_text

    outdir = Path(outdir)
    paths = {
        "compute": outdir / "COMPUTE_REPORT.csv",
        "bandwidth": outdir / "BANDWIDTH_REPORT.csv",
        "detail": outdir / "DETAILED_ACCESS_REPORT.csv",
    }
    write_text(paths["compute"],
               _scalesim_csv_text(COMPUTE_HEADER, ([i] + r.compute_row() for i, r in enumerate(reports))))
    write_text(paths["bandwidth"], _scalesim_csv_text(BANDWIDTH_HEADER,
                                                      ([i] + r.bandwidth_row() for i, r in enumerate(reports))))
    write_text(paths["detail"],
               _scalesim_csv_text(DETAIL_HEADER, ([i] + r.detail_row() for i, r in enumerate(reports))))
    return paths


ENERGY_HEADER = ["LayerID", "Layer", "MAC J", "SRAM J", "SRAM IFMAP J", "SRAM Filter J", "SRAM OFMAP J", "DRAM J",
                 "Leakage J", "Total J"]


def write_energy_report(energies: list, outdir: str | Path) -> Path:
    """``ENERGY_REPORT.csv``: one row per layer (:class:`imaclab.systolic.energy.LayerEnergy`), joules, in
    SCALE-Sim's CSV style."""
    from imaclab.files import write_text

    rows = ([i, e.name, e.mac_j, e.sram_j, e.sram_ifmap_j, e.sram_filter_j, e.sram_ofmap_j, e.dram_j, e.leakage_j,
             e.total_j] for i, e in enumerate(energies))
    return write_text(Path(outdir) / "ENERGY_REPORT.csv", _scalesim_csv_text(ENERGY_HEADER, rows))


def write_reports(reports: list[LayerReport], outdir: str | Path,
                  summary: dict[str, Any] | None = None) -> dict[str, Path]:
    """The three SCALE-Sim CSVs (:func:`write_scalesim_reports`) and ``summary.json`` (totals, layers), atomically."""
    from imaclab.files import write_json

    paths = write_scalesim_reports(reports, outdir)
    data = dict(summary or {})
    data.setdefault("totals", summarize(reports))
    data["layers"] = [r.to_dict() for r in reports]
    paths["summary"] = write_json(Path(outdir) / "summary.json", data)
    return paths


def summarize(reports: list[LayerReport]) -> dict[str, Any]:
    """Totals over layers (layers run one after another)."""
    if not reports:
        return {"layers": 0}
    cycles = sum(r.total_cycles for r in reports)
    macs = sum(r.macs for r in reports)
    pes = reports[0].num_pes
    return {
        "layers": len(reports),
        "total_cycles": cycles,
        "stall_cycles": sum(r.stall_cycles for r in reports),
        "macs": macs,
        "overall_utilization": macs / (cycles * pes),
        "latency_s": sum(r.latency_s for r in reports),
        **{f"sram_{op}_{a}": sum(getattr(r, f"sram_{op}_{a}") for r in reports)
           for op, a in (("ifmap", "reads"), ("filter", "reads"), ("ofmap", "writes"))},
        **{f"dram_{op}_{a}": sum(getattr(r, f"dram_{op}_{a}") for r in reports)
           for op, a in (("ifmap", "reads"), ("filter", "reads"), ("ofmap", "writes"))},
        "dram_bytes": sum(r.dram_bytes for r in reports),
    }


def read_scalesim_csv(path: str | Path) -> list[dict[str, float]]:
    """Read one of SCALE-Sim's report CSVs (``", "``-separated, trailing commas) into dicts."""
    rows = []
    with Path(path).open() as fh:
        reader = csv.reader(fh, skipinitialspace=True)
        header = [h.strip() for h in next(reader) if h.strip()]
        for raw in reader:
            values = [v.strip() for v in raw if v.strip()]
            if not values:
                continue
            rows.append({h: float(v) for h, v in zip(header, values)})
    return rows
