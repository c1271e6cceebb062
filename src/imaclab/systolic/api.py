"""The systolic room's job and its one entry point: ``run(TpuJob(...)) -> TpuResult``.

>>> from imaclab.systolic import TpuJob, run
>>> result = run(TpuJob(systolic="edge-32x32", topology="resnet18"))
>>> result.totals["total_cycles"], result.reports[0].overall_utilization

``imaclab tpu simulate`` builds a :class:`TpuJob` from its options and prints the
result's table; a sweep (target ``tpu.simulate``) stores :meth:`TpuResult.metrics`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from imaclab.config import ConfigModel
from imaclab.errors import ImaclabError, InputError
from imaclab.result import Result, Table, flat_scalars
from imaclab.systolic.config import SystolicConfig
from imaclab.systolic.energy import ENERGY_PARTS, LayerEnergy, SystolicEnergy, energy_totals, layer_energy, total_energy
from imaclab.systolic.layers import Layer
from imaclab.systolic.model import check_work, simulate_layer
from imaclab.systolic.report import LayerReport, summarize, write_energy_report, write_scalesim_reports
from imaclab.systolic.topology import detect_gemm, load_topology, resolve_topology


class TpuJob(ConfigModel):
    """One systolic-array simulation: the array config and the topology it runs."""

    systolic: SystolicConfig = Field(default_factory=SystolicConfig, description=(
        "the array: its fields, or a preset name / SCALE-Sim .cfg / YAML file, expanded to its fields "
        "(so a base preset can be varied by axes such as systolic.array_rows, and an axis can list presets)"))
    topology: str = Field(description="SCALE-Sim topology CSV path, or the name of a topology shipped with "
                                      "imaclab.systolic (e.g. resnet18)")
    gemm: bool | None = Field(None, description="the CSV is in GEMM format (Layer, M, N, K); None = detect "
                                                "from the header")
    dataflow: Literal["os", "ws", "is"] | None = Field(None, description="override the array's dataflow: os, ws, "
                                                                          "is; None = the array's own")
    energy: SystolicEnergy = Field(default_factory=SystolicEnergy, description=(
        "per-operation energies (MAC by operand bits, SRAM per access by size and word, DRAM per byte, "
        "leakage); defaults Horowitz ISSCC 2014, 45 nm (docs/systolic.md)"))

    @field_validator("systolic", mode="before")
    @classmethod
    def _expand_preset(cls, value: Any) -> Any:
        return SystolicConfig.resolve(value) if isinstance(value, (str, Path)) else value

    @field_validator("dataflow", mode="before")
    @classmethod
    def _lower_dataflow(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    def array_config(self) -> SystolicConfig:
        """The array the job runs on (:attr:`systolic` with the :attr:`dataflow` override)."""
        return self.systolic.with_overrides({"dataflow": self.dataflow}) if self.dataflow else self.systolic


@dataclass
class TpuResult(Result):
    """Per-layer reports of one topology on one array, and their totals."""

    kind: ClassVar[str] = "tpu.simulate"

    job: TpuJob
    #: The array simulated (the job's, with its dataflow override applied).
    config: SystolicConfig
    #: The topology file read.
    topology: Path
    gemm: bool
    reports: list[LayerReport]
    #: Set when a layer failed: how far the run got.
    incomplete: str | None = None
    #: Energy of each layer (same order as ``reports``); computed from the reports when not given.
    energies: list[LayerEnergy] | None = None

    def __post_init__(self) -> None:
        if self.energies is None:
            self.energies = [layer_energy(r, self.config, self.job.energy) for r in self.reports]

    @property
    def energy(self) -> LayerEnergy:
        """Total energy over layers (:class:`imaclab.systolic.energy.LayerEnergy`)."""
        return total_energy(self.energies or [])

    @property
    def totals(self) -> dict[str, Any]:
        """Totals over layers (:func:`imaclab.systolic.summarize`)."""
        return summarize(self.reports)

    def to_dict(self) -> dict[str, Any]:
        cfg = self.config
        data: dict[str, Any] = {"config": cfg.to_dict(), "topology": str(self.topology),
                                "dram": {"bandwidth_words_per_cycle": None if cfg.calc_bandwidth
                                         else cfg.dram_bandwidth_words_per_cycle,
                                         "mode": "CALC" if cfg.calc_bandwidth else "USER",
                                         "stall_model": None if cfg.calc_bandwidth else cfg.dram_model},
                                "gemm_format": self.gemm, "totals": self.totals,
                                "energy": {**energy_totals(self.energies or []),
                                           "parameters": self.job.energy.to_dict()},
                                "layers": [{**r.to_dict(), "energy": e.to_dict()}
                                           for r, e in zip(self.reports, self.energies or [])]}
        if self.incomplete:
            data["incomplete"] = self.incomplete
        return data

    def metrics(self) -> dict[str, Any]:
        """The totals: cycles, stalls, MACs, utilization, latency, SRAM and DRAM traffic
        (:func:`imaclab.systolic.summarize`'s keys, unchanged), and the energy totals in joules:
        ``energy_j`` and ``energy_<part>_j`` for MAC, SRAM (and its ifmap/filter/ofmap shares), DRAM and
        leakage (:func:`imaclab.systolic.energy.energy_totals`), so a sweep over ``tpu`` sees energy."""
        return {**flat_scalars(self.totals), **energy_totals(self.energies or [])}

    def tables(self) -> list[Table]:
        cfg = self.config
        bandwidth = ("CALC" if cfg.calc_bandwidth else
                     f"{cfg.dram_bandwidth_words_per_cycle} words/cycle, "
                     + ("SCALE-Sim USER stall model" if cfg.dram_model == "scalesim" else "bound stall model"))
        columns = ("layer", "M", "N", "K", "cycles", "stalls", "util %", "map eff %", "DRAM rd words",
                   "DRAM wr words")
        rows = [(r.name, str(r.m), str(r.n), str(r.k), f"{r.total_cycles:,}", f"{r.stall_cycles:,}",
                 f"{r.overall_util_pct:.2f}", f"{r.mapping_efficiency_pct:.2f}",
                 f"{r.dram_ifmap_reads + r.dram_filter_reads:,}", f"{r.dram_ofmap_writes:,}") for r in self.reports]
        if self.reports:
            totals = self.totals
            rows.append(("total", "", "", "", f"{totals['total_cycles']:,}", f"{totals['stall_cycles']:,}",
                         f"{100 * totals['overall_utilization']:.2f}", "",
                         f"{totals['dram_ifmap_reads'] + totals['dram_filter_reads']:,}",
                         f"{totals['dram_ofmap_writes']:,}"))
        title = f"{self.topology.name} on {cfg.array_rows}x{cfg.array_cols} {cfg.dataflow} ({bandwidth})"
        return [Table(title, columns, tuple(rows)), self.energy_table()]

    def energy_table(self) -> Table:
        """Energy per layer and in total, uJ, by part (MAC, SRAM, DRAM, leakage)."""
        columns = ("layer", "MAC uJ", "SRAM uJ", "DRAM uJ", "leakage uJ", "total uJ", "pJ/MAC")
        energies = list(self.energies or [])
        items = [(e, r.macs) for e, r in zip(energies, self.reports)]
        if energies:
            items.append((self.energy, sum(r.macs for r in self.reports)))
        rows = tuple((e.name, *(f"{getattr(e, f'{p}_j') * 1e6:.4g}" for p in ENERGY_PARTS), f"{e.total_j * 1e6:.4g}",
                      f"{e.total_j / macs * 1e12:.3g}" if macs else "") for e, macs in items)
        bits = self.job.energy.operand_bits_of(self.config)
        return Table(f"energy ({bits:g}-bit MACs at {self.job.energy.mac_energy(bits) * 1e12:.3g} pJ; "
                     f"DRAM {self.job.energy.dram_j_per_byte * 1e12:.3g} pJ/B)", columns, rows)

    def notes(self) -> list[str]:
        lines = []
        if self.reports:
            line = (f"{self.totals['latency_s'] * 1e3:.4g} ms at {self.config.clock_hz / 1e6:g} MHz, "
                    f"{self.energy.total_j * 1e6:.4g} uJ")
            if "compute" in self.files:
                line += f"; reports in {self.files['compute'].parent}"
            lines.append(line)
        if self.incomplete:
            lines.append(f"incomplete: {self.incomplete}")
        return lines

    def write_files(self, out_dir: Path) -> dict[str, Path]:
        """SCALE-Sim's three CSV reports, ``ENERGY_REPORT.csv`` and the array as a SCALE-Sim ``config.cfg``."""
        files = write_scalesim_reports(self.reports, out_dir)
        files["energy"] = write_energy_report(self.energies or [], out_dir)
        files["config_cfg"] = self.config.to_scalesim_cfg(Path(out_dir) / "config.cfg")
        return files


@functools.lru_cache(maxsize=16)
def _layers(path: str, gemm: bool, mtime_ns: int) -> tuple[Layer, ...]:
    # a sweep runs many points on one topology: read it once per process
    return tuple(load_topology(path, gemm=gemm))


def run(job: TpuJob, *, out_dir: str | Path | None = None, progress: bool = False) -> TpuResult:
    """Simulate ``job.topology`` on ``job.systolic``; with ``out_dir``, write the run folder.

    The run folder holds ``config.yaml`` (the job), SCALE-Sim's ``COMPUTE_REPORT.csv``,
    ``BANDWIDTH_REPORT.csv``, ``DETAILED_ACCESS_REPORT.csv``, ``config.cfg`` and
    ``summary.json`` (totals, every layer's report).  ``progress`` is accepted for the
    shape every room shares (a topology runs in seconds; nothing is shown).  Layers too large to simulate are
    refused before any work (:func:`imaclab.systolic.model.check_work`).  If a layer fails,
    the reports of the layers before it are still written (without ``summary.json``).
    """
    from imaclab.files import check_writable_dir

    if out_dir is not None:
        check_writable_dir(out_dir)
    path = resolve_topology(job.topology)
    if not path.is_file():
        raise InputError(f"topology '{job.topology}' not found (give a SCALE-Sim CSV path or a shipped topology "
                         f"name)")
    gemm = detect_gemm(path) if job.gemm is None else job.gemm
    cfg = job.array_config()
    layers = _layers(str(path.resolve()), gemm, path.stat().st_mtime_ns)
    check_work(cfg, layers)
    reports: list[LayerReport] = []
    for layer in layers:
        try:
            reports.append(simulate_layer(cfg, layer))
        except ImaclabError:
            if out_dir is not None:
                partial = TpuResult(job=job, config=cfg, topology=path, gemm=gemm, reports=reports,
                                    incomplete=f"stopped after {len(reports)} of {len(layers)} layers")
                partial.write_files(Path(out_dir))
            raise
    result = TpuResult(job=job, config=cfg, topology=path, gemm=gemm, reports=reports)
    result.write_run(out_dir)
    return result


def preset_table() -> list[dict[str, Any]]:
    """One row per shipped preset: name and its main parameters (``imaclab tpu presets``)."""
    rows = []
    for name in SystolicConfig.presets():
        cfg = SystolicConfig.preset(name)
        rows.append({"name": name, "array": f"{cfg.array_rows}x{cfg.array_cols}", "dataflow": cfg.dataflow,
                     "ifmap_sram_kb": cfg.ifmap_sram_kb, "filter_sram_kb": cfg.filter_sram_kb,
                     "ofmap_sram_kb": cfg.ofmap_sram_kb,
                     "dram_bandwidth": "CALC" if cfg.calc_bandwidth else cfg.dram_bandwidth_words_per_cycle,
                     "word_size_bytes": cfg.word_size_bytes, "clock_mhz": cfg.clock_hz / 1e6})
    return rows


@dataclass
class PresetListing(Result):
    """The shipped systolic-array presets, one row each (``imaclab tpu presets``)."""

    kind: ClassVar[str] = "tpu.presets"

    rows: list[dict[str, Any]]  # see :func:`preset_table`

    def to_dict(self) -> dict[str, Any]:
        return {"presets": self.rows}

    def tables(self) -> list[Table]:
        labels = {"ifmap_sram_kb": "ifmap kB", "filter_sram_kb": "filter kB", "ofmap_sram_kb": "ofmap kB",
                  "dram_bandwidth": "DRAM words/cycle", "word_size_bytes": "word B", "clock_mhz": "MHz"}
        columns = tuple(labels.get(key, key) for key in self.rows[0])
        cells = tuple(tuple(f"{v:g}" if isinstance(v, float) else str(v) for v in row.values()) for row in self.rows)
        return [Table("imaclab systolic-array presets (use with -c NAME)", columns, cells, text_columns=3)]


def preset_listing() -> PresetListing:
    """:func:`preset_table` as a result whose table the CLI prints."""
    return PresetListing(rows=preset_table())
