"""The Amdahl study: every (model, phase, context, hardware) with all costs and speedups.

One row per case holds the systolic cycles by category, the improved fraction
``f`` and ceiling under each cost (systolic, memory, roofline), the speedup for
every swept ``s``, and the speedups for ``s`` derived from hardware (memory at
the quantized precision, a bit-serial PE, the hybrid PIM design).  Cases a
model cannot run (context above its max context) are listed as skipped.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from imaclab.config import ConfigModel, json_default
from imaclab.errors import ConfigError, ImaclabError
from imaclab.llm.amdahl import amdahl, amdahl_ceiling, amdahl_speedup, general_ceiling, general_speedup
from imaclab.llm.architecture import CATEGORIES
from imaclab.llm.catalog import resolve_models
from imaclab.llm.costs import (
    MemoryConfig,
    VectorUnitConfig,
    check_categories,
    memory_cost,
    roofline_cost,
    systolic_cost,
)
from imaclab.llm.hardware import DEFAULT_DATAFLOW, clock_of, resolve_systolic, roofline_for, systolic_label
from imaclab.imac.tiles import TileSpec
from imaclab.llm.energy import energy_amdahl, hybrid_pim_design, tpu_design
from imaclab.llm.improve import ComputeImprovementConfig, PimCrossbarConfig, compute_improvement, hybrid_pim_improvement
from imaclab.llm.precision import PrecisionConfig, bytes_by_category
from imaclab.llm.roofline import RooflineHardware
from imaclab.llm.workload import Workload, WorkloadConfig, build_workload
from imaclab.result import Result, flat_scalars
from imaclab.systolic.energy import SystolicEnergy

DEFAULT_CONTEXTS = [128, 256, 512, 1024, 2048, 4096]
DEFAULT_FACTORS = [2.0, 4.0, 8.0, 16.0, 64.0]


class StudyConfig(ConfigModel):
    """What the Amdahl study covers."""

    models: list[str] = Field(default=["all"], description="catalog names or config.json paths; 'all' = catalog")
    contexts: list[int] = Field(default=DEFAULT_CONTEXTS, description="context lengths L, tokens")
    hardware: list[str] = Field(default=["edge", "cloud"], description=(
        "systolic arrays: edge (edge-32x32), cloud (cloud-128x128), any systolic preset or config file"))
    phases: list[Literal["decode", "prefill"]] = Field(default=["decode", "prefill"], description="phases")
    batch: int = Field(default=1, gt=0, description="sequences per pass")
    array: str | None = Field(default=None, description="override array size of every hardware, e.g. 64x64")
    dataflow: str = Field(default=DEFAULT_DATAFLOW, description=(
        "dataflow of every array: os (default), ws, is, or 'preset' to keep each preset's own"))
    improved: list[str] = Field(default=["projection"], description="categories that improve")
    factors: list[float] = Field(default=DEFAULT_FACTORS, description="improvement factors s to sweep")
    attention_factor: float | None = Field(default=None, gt=0, description=(
        "general form: attention also improves by this factor (adds speedup_general_s<s> columns)"))
    baseline_precision: str = Field(default="fp16", description="precision of the baseline pass")
    quantized_precision: str = Field(default="w1.58a8", description="precision after quantization (w<W>a<A>)")
    bit_serial_baseline_bits: float = Field(default=8, gt=0, description="weight bits of the baseline bit-serial PE")
    roofline: str | None = Field(default=None, description=(
        "roofline device for memory/roofline costs; None pairs edge->edge-npu, cloud->tpu-v4"))
    clock_hz: float | None = Field(default=None, gt=0, description=(
        "clock for cycles -> seconds, Hz; None = the systolic config's clock_hz"))
    crossbar: PimCrossbarConfig = Field(default_factory=PimCrossbarConfig, description=(
        "hybrid PIM crossbars (speedup_hybrid_pim): the operation latency of the measured rows x rows tile by "
        "default (device kind and output converters of `tile`, drivers of input_bits_per_operation; "
        "characterized once, cached); crossbar.operation_latency_s=1e-7 gives ISAAC's published 100 ns"))
    vector_unit: VectorUnitConfig = Field(default_factory=VectorUnitConfig, description=(
        "vector unit for norms/softmax/activations (default: one lane per array column)"))
    workload: WorkloadConfig = Field(default_factory=WorkloadConfig, description=(
        "workload options (mask, causal block, logits); phase/context/batch are set per case"))
    energy: SystolicEnergy = Field(default_factory=SystolicEnergy, description=(
        "per-operation energies of the systolic array (energy columns: tpu design at the quantized precision)"))
    pim_tiles: bool = Field(default=False, description=(
        "also cost hybrid-pim on crossbar tiles measured by the circuit room (tile): time, energy, energy "
        "Amdahl and tokens/J columns (the tile is characterized once and cached)"))
    tile: TileSpec = Field(default_factory=lambda: TileSpec(size=128, device="ternary", input_driver="binary",
                                                            output="adc", adc_bits=8), description=(
        "hybrid-pim crossbar tile for pim_tiles (default: 128x128 ternary, bit-serial drivers, 8-bit ADCs)"))

    @field_validator("contexts")
    @classmethod
    def _contexts(cls, value: list[int]) -> list[int]:
        if not value or any(v < 1 for v in value):
            raise ValueError("give at least one context length >= 1")
        return sorted(set(value))

    @field_validator("factors")
    @classmethod
    def _factors(cls, value: list[float]) -> list[float]:
        if any(v <= 0 for v in value):
            raise ValueError("improvement factors must be > 0")
        return sorted(set(value))

    @field_validator("improved")
    @classmethod
    def _improved(cls, value: list[str]) -> list[str]:
        check_categories(value)
        if not value:
            raise ValueError("name at least one improved category")
        return value


def factor_column(s: float) -> str:
    return f"speedup_s{s:g}"


@dataclass
class StudyResult(Result):
    """Rows of the study (one per case), skipped cases, and the time it took.

    ``save(dir)`` writes ``config.yaml``, ``amdahl.csv``, ``study.json`` and ``summary.json``;
    ``plot(dir)`` the f heatmaps (``job.heatmaps``, default systolic), speedup curves and cost shares.
    """

    kind: ClassVar[str] = "llm.amdahl"

    config: StudyConfig
    rows: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    elapsed_s: float
    hardware_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The job that asked for the study (an AmdahlJob, or an AmdahlCaseJob for one case); None = ``config``.
    job: Any = None
    #: Seconds of the study with its files and plots (set by ``imaclab.llm.run`` with ``out_dir``).
    total_s: float | None = None

    def job_config(self) -> Any:
        return self.job if self.job is not None else self.config

    def columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update(dict.fromkeys(row))
        return list(seen)

    def csv_text(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns())
        writer.writeheader()
        writer.writerows(self.rows)
        return buffer.getvalue()

    def write_csv(self, path: str | Path) -> Path:
        from imaclab.files import write_text

        return write_text(path, self.csv_text())

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "elapsed_s": self.elapsed_s, "cases": len(self.rows),
                "skipped": self.skipped, "hardware": self.hardware_info, "headline": self.headline()}

    def write_json(self, path: str | Path) -> Path:
        from imaclab.files import write_text

        return write_text(path, json.dumps(self.to_dict(), indent=2, default=json_default))

    def metrics(self) -> dict[str, Any]:
        """One case: its row's scalars and ``f``, ``ceiling`` (systolic cost) and, with one factor, ``speedup``
        (what the sweep target ``llm.amdahl`` stores); several: cases, skipped and seconds."""
        if len(self.rows) == 1:
            row = dict(self.rows[0])
            row["f"] = row["f_systolic"]
            row["ceiling"] = row["ceiling_systolic"]
            if len(self.config.factors) == 1:
                row["speedup"] = row[factor_column(self.config.factors[0])]
            return flat_scalars(row)
        return {"cases": len(self.rows), "skipped": len(self.skipped), "elapsed_s": self.elapsed_s}

    def notes(self) -> list[str]:
        lines = []
        for entry in self.headline():
            lo, hi = entry["min_f"], entry["max_f"]
            lines.append(f"{entry['phase']:7s} {entry['hardware']:14s} f from {lo['f_systolic']:.3f} "
                         f"({lo['model']}, L={lo['context']}, ceiling {lo['ceiling_systolic']:.3g}x) to "
                         f"{hi['f_systolic']:.3f} ({hi['model']}, L={hi['context']}, ceiling "
                         f"{hi['ceiling_systolic']:.3g}x)")
        pim = [r for r in self.rows if r.get("tokens_per_j_hybrid_pim")]
        if pim:
            gains = [r["energy_gain_hybrid_pim"] for r in pim]
            speed = [r["speedup_hybrid_pim_tile"] for r in pim]
            lines.append(f"hybrid-pim on measured tiles vs tpu: tokens/J x{min(gains):.3g} to x{max(gains):.3g}, "
                         f"tokens/s x{min(speed):.3g} to x{max(speed):.3g} (energy_vs_speed.png)")
        timing = f"study {self.elapsed_s:.2f} s"
        if self.total_s is not None:
            timing += f", with files and plots {self.total_s:.2f} s"
        lines.append(f"{len(self.rows)} cases, {len(self.skipped)} skipped (context above max); {timing}")
        lines += [f"  {name}: {path}" for name, path in self.files.items()]
        return lines

    def write_files(self, out_dir: Path) -> dict[str, Path]:
        """``amdahl.csv`` (one row per case) and ``study.json`` (config, skipped cases, headline)."""
        out = Path(out_dir)
        return {"csv": self.write_csv(out / "amdahl.csv"), "json": self.write_json(out / "study.json")}

    def plot(self, out_dir: str | Path) -> dict[str, Path]:
        """f heatmaps, speedup curves and cost shares (:mod:`imaclab.report.llm_plots`)."""
        from imaclab.report.llm_plots import plot_study

        heatmaps = tuple(getattr(self.job_config(), "heatmaps", None) or ("systolic",))
        files = plot_study(self, out_dir=out_dir, heatmap_costs=heatmaps)
        self.files.update(files)
        return files

    def headline(self) -> list[dict[str, Any]]:
        """For each (phase, hardware): the cases with the smallest and the largest f (systolic cost)."""
        out = []
        for phase in self.config.phases:
            for hw in dict.fromkeys(r["hardware"] for r in self.rows):
                rows = [r for r in self.rows if r["phase"] == phase and r["hardware"] == hw]
                if not rows:
                    continue
                lo = min(rows, key=lambda r: r["f_systolic"])
                hi = max(rows, key=lambda r: r["f_systolic"])
                out.append({"phase": phase, "hardware": hw,
                            "min_f": {k: lo[k] for k in ("model", "context", "f_systolic", "ceiling_systolic")},
                            "max_f": {k: hi[k] for k in ("model", "context", "f_systolic", "ceiling_systolic")}})
        return out


@dataclass(frozen=True)
class _Plan:
    """What every case of a study shares."""

    config: StudyConfig
    baseline: PrecisionConfig
    quantized: PrecisionConfig
    improved: tuple[str, ...]
    systolic_improved: tuple[str, ...]   # 'other' runs on the vector unit, not the PEs
    hybrid_improved: tuple[str, ...]     # only weight-stationary GEMMs fit on crossbars
    tile: Any = None                     # TileCosts of the hybrid-pim tiles (pim_tiles)
    crossbar: Any = None                 # the PimCrossbarConfig with its operation latency resolved


@dataclass(frozen=True)
class _Hardware:
    """One systolic array with its clock and its paired roofline device."""

    label: str
    systolic: Any
    clock_hz: float
    device: RooflineHardware
    memory: MemoryConfig
    bit_serial: ComputeImprovementConfig

    def info(self) -> dict[str, Any]:
        return {"array": f"{self.systolic.array_rows}x{self.systolic.array_cols}",
                "dataflow": str(getattr(self.systolic, "dataflow", "")), "clock_hz": self.clock_hz,
                "roofline": self.device.name,
                "memory_bandwidth_bytes_per_s": self.device.memory_bandwidth_bytes_per_s}


def run_study(*, config: StudyConfig | None = None) -> StudyResult:
    """Run the study described by ``config`` (the default: whole catalog, 6 contexts, edge+cloud, both phases)."""
    cfg = config or StudyConfig()
    start = time.perf_counter()
    specs = resolve_models(cfg.models)
    if not specs:
        raise ConfigError("no models selected")
    baseline = PrecisionConfig.parse(cfg.baseline_precision)
    quantized = PrecisionConfig.parse(cfg.quantized_precision, base=baseline)
    improved = tuple(cfg.improved)
    hybrid_improved = tuple(c for c in improved if c in ("projection", "head"))
    tile = None
    if cfg.pim_tiles and hybrid_improved:
        from imaclab.imac.tiles import characterize_tile

        tile = characterize_tile(cfg.tile)
    # a measured operation latency (crossbar.operation_latency_s = None) is characterized once, here
    crossbar = cfg.crossbar.measured(cfg.tile) if hybrid_improved else cfg.crossbar
    plan = _Plan(cfg, baseline, quantized, improved, tuple(c for c in improved if c != "other"), hybrid_improved,
                 tile, crossbar)
    workloads: list[Workload] = []
    skipped: list[dict[str, Any]] = []
    for spec in specs:
        for phase in cfg.phases:
            for context in cfg.contexts:
                if context > spec.max_context and not cfg.workload.allow_beyond_max_context:
                    skipped.append({"model": spec.name, "phase": phase, "context": context,
                                    "reason": f"context above max context {spec.max_context}"})
                    continue
                wcfg = cfg.workload.with_overrides({"phase": phase, "context_tokens": context, "batch": cfg.batch})
                workloads.append(build_workload(spec, wcfg))
    rows: list[dict[str, Any]] = []
    hardware_info: dict[str, dict[str, Any]] = {}
    for hw_name in cfg.hardware:
        systolic = resolve_systolic(hw_name, array=cfg.array, dataflow=cfg.dataflow)
        device = roofline_for(hw_name, cfg.roofline)
        hw = _Hardware(systolic_label(hw_name), systolic, clock_of(systolic, cfg.clock_hz), device,
                       MemoryConfig(bandwidth_bytes_per_s=device.memory_bandwidth_bytes_per_s),
                       ComputeImprovementConfig(pe_kind="bit_serial", baseline_weight_bits=cfg.bit_serial_baseline_bits,
                                                weight_bits=quantized.projection_weight_bits))
        hardware_info[hw.label] = hw.info()
        for workload, cycles in zip(workloads, _batched_cycles(systolic, workloads)):
            try:
                rows.append(_case_row(plan, hw, workload, cycles))
            except ImaclabError as err:  # keep the rows already computed; record why this case stopped
                skipped.append({"model": workload.model.name, "phase": workload.config.phase,
                                "context": workload.config.context_tokens, "hardware": hw.label,
                                "reason": str(err)})
    return StudyResult(cfg, rows, skipped, time.perf_counter() - start, hardware_info)


def _batched_cycles(systolic: Any, workloads: list[Workload]) -> list[np.ndarray]:
    """Per-workload instance cycles from one vectorized call over every distinct GEMM shape."""
    from imaclab.systolic import compute_cycles

    shapes = [np.array([(op.m, op.n, op.k) for op in w.gemms], dtype=np.int64) for w in workloads]
    if not shapes:
        return []
    unique, inverse = np.unique(np.concatenate(shapes), axis=0, return_inverse=True)
    cycles = np.asarray(compute_cycles(systolic, unique[:, 0], unique[:, 1], unique[:, 2]), dtype=float)
    flat = cycles[inverse.reshape(-1)]
    bounds = np.cumsum([0] + [len(s) for s in shapes])
    return [flat[bounds[i]:bounds[i + 1]] for i in range(len(workloads))]


def _case_row(plan: _Plan, hw: _Hardware, workload: Workload, instance_cycles: np.ndarray) -> dict[str, Any]:
    """Every cost and speedup of one (model, phase, context) on one hardware."""
    spec, wcfg, cfg = workload.model, workload.config, plan.config
    tokens = wcfg.tokens_per_pass
    cost = systolic_cost(workload, hw.systolic, cfg.vector_unit, gemm_instance_cycles=instance_cycles)
    row: dict[str, Any] = {
        "model": spec.name, "phase": wcfg.phase, "context": wcfg.context_tokens, "batch": wcfg.batch,
        "hardware": hw.label, "array": f"{hw.systolic.array_rows}x{hw.systolic.array_cols}",
        "dataflow": str(getattr(hw.systolic, "dataflow", "")), "clock_hz": hw.clock_hz,
        "parameters": spec.total_parameters(), "layers": spec.num_layers, "improved": "+".join(plan.improved)}
    for category, value in cost.by_category().items():
        row[f"cycles_{category}"] = value
    row["cycles_total"] = cost.total
    f = cost.fraction(plan.improved)
    row["f_systolic"] = f
    row["ceiling_systolic"] = float(amdahl_ceiling(f))
    row["tokens_per_s_systolic"] = tokens / cost.in_seconds(hw.clock_hz).total
    for s in cfg.factors:
        row[factor_column(s)] = float(amdahl_speedup(f, s))
    if cfg.attention_factor and "attention" not in plan.improved:
        fractions = cost.fractions()
        others = {"attention": cfg.attention_factor}
        for s in cfg.factors:
            factors = {**dict.fromkeys(plan.improved, s), **others}
            row[f"speedup_general_s{s:g}"] = general_speedup(fractions, factors)
        row["ceiling_general"] = general_ceiling(fractions, plan.improved, others)
    if plan.systolic_improved:
        serial = compute_improvement(workload, hw.systolic, hw.bit_serial, improved=plan.systolic_improved,
                                     clock_hz=hw.clock_hz, vector_unit=cfg.vector_unit, baseline=cost)
        row["s_bit_serial"] = serial.factor
        row["speedup_bit_serial"] = serial.speedup
    if plan.hybrid_improved:
        hybrid = hybrid_pim_improvement(workload, hw.systolic, plan.crossbar, clock_hz=hw.clock_hz,
                                        improved=plan.hybrid_improved, vector_unit=cfg.vector_unit, baseline=cost,
                                        precision=plan.quantized)
        row["s_hybrid_pim"] = hybrid.factor
        row["speedup_hybrid_pim"] = hybrid.speedup
        row["tokens_per_s_hybrid_pim"] = hybrid.tokens_per_s_after
        row["crossbar_latency_s_hybrid_pim"] = plan.crossbar.operation_latency_s
    _energy_columns(row, plan, hw, workload, cost)
    before_bytes = bytes_by_category(workload, plan.baseline)
    for category in CATEGORIES:
        row[f"bytes_{category}"] = before_bytes[category]["total"]
    mem = amdahl(memory_cost(workload, plan.baseline, hw.memory), improved=plan.improved,
                 improved_cost=memory_cost(workload, plan.quantized, hw.memory), tokens_per_pass=tokens)
    row.update(f_memory=mem.fraction, ceiling_memory=mem.ceiling, s_memory=mem.factor, speedup_memory=mem.speedup,
               tokens_per_s_memory_before=mem.tokens_per_s_before, tokens_per_s_memory_after=mem.tokens_per_s_after)
    roof = amdahl(roofline_cost(workload, plan.baseline, hw.device), improved=plan.improved,
                  improved_cost=roofline_cost(workload, plan.quantized, hw.device), tokens_per_pass=tokens)
    row.update(roofline=hw.device.name, f_roofline=roof.fraction, ceiling_roofline=roof.ceiling,
               s_roofline=roof.factor, speedup_roofline=roof.speedup,
               tokens_per_s_roofline_before=roof.tokens_per_s_before,
               tokens_per_s_roofline_after=roof.tokens_per_s_after)
    return row


def _energy_columns(row: dict[str, Any], plan: _Plan, hw: _Hardware, workload: Workload, cost) -> None:
    """Energy of the pass on the tpu design and, with ``pim_tiles``, on hybrid-pim; Amdahl's law for energy.

    Both designs run the quantized model (``quantized_precision``), so only the crossbar categories and
    the DRAM traffic (weights the crossbars hold are not moved) differ: ``f_energy`` is their share of
    the tpu design's energy.
    """
    cfg = plan.config
    tpu = tpu_design(workload, hw.systolic, clock_hz=hw.clock_hz, precision=plan.quantized, energy=cfg.energy,
                     vector_unit=cfg.vector_unit, cycles=cost)
    changing = (*plan.hybrid_improved, "data_movement")
    row["energy_j_tpu"] = tpu.energy_j
    row["tokens_per_j_tpu"] = tpu.tokens_per_j
    f = tpu.energy_fraction(changing)
    row["f_energy"] = f
    row["ceiling_energy"] = float(amdahl_ceiling(f))
    if plan.tile is None:
        return
    hybrid = hybrid_pim_design(workload, hw.systolic, plan.tile, clock_hz=hw.clock_hz, precision=plan.quantized,
                               energy=cfg.energy, improved=plan.hybrid_improved,
                               crossbars_available=cfg.crossbar.crossbars_available, vector_unit=cfg.vector_unit,
                               cycles=cost)
    law = energy_amdahl(tpu, hybrid, changing)
    row.update(energy_j_hybrid_pim=hybrid.energy_j, tokens_per_j_hybrid_pim=hybrid.tokens_per_j,
               tokens_per_s_hybrid_pim_tile=hybrid.tokens_per_s, s_energy_hybrid_pim=law["s_energy"],
               energy_gain_hybrid_pim=law["energy_gain"], speedup_hybrid_pim_tile=tpu.seconds / hybrid.seconds,
               tiles_hybrid_pim=hybrid.detail["tiles_required"],
               crossbar_area_mm2_hybrid_pim=hybrid.detail["crossbar_area_mm2"])
