"""The llm room's jobs and its one entry point ``run(job)``.

* :class:`LlmWorkloadJob` -> :class:`WorkloadResult`: cycles, bytes and MACs by category of one
  forward pass of a model on a systolic array (``imaclab llm workload``);
* :class:`AmdahlJob` -> :class:`~imaclab.llm.study.StudyResult`: the Amdahl study over models x
  contexts x hardware x phases (``imaclab llm amdahl``, ``imaclab llm study``);
* :class:`AmdahlCaseJob` -> :class:`~imaclab.llm.study.StudyResult` of one case: one model, phase,
  context and factor ``s`` (the sweep target ``llm.amdahl``); its ``metrics()`` hold ``f``,
  ``ceiling`` and ``speedup`` beside the case's row.

>>> from imaclab.llm import AmdahlJob, LlmWorkloadJob, run
>>> run(LlmWorkloadJob(model="opt-1.3b", context=256)).cycles_total
>>> run(AmdahlJob(models=["opt-1.3b"], contexts=[512], hardware=["edge"])).rows[0]["f_systolic"]
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from imaclab.config import ConfigModel, json_default
from imaclab.errors import ConfigError
from imaclab.llm.architecture import CATEGORIES
from imaclab.llm.catalog import get_model, list_models
from imaclab.llm.costs import VectorUnitConfig, systolic_cost
from imaclab.llm.hardware import DEFAULT_DATAFLOW, clock_of, resolve_systolic, systolic_label
from imaclab.llm.energy import ENERGY_CATEGORIES, hybrid_pim_design, roofline_design, tpu_design
from imaclab.llm.improve import PimCrossbarConfig
from imaclab.llm.precision import PrecisionConfig, bytes_by_category
from imaclab.llm.study import StudyConfig, StudyResult, factor_column, run_study
from imaclab.llm.workload import WorkloadConfig, build_workload
from imaclab.result import Result, Table
from imaclab.imac.tiles import TileSpec
from imaclab.systolic.energy import SystolicEnergy

#: The hybrid design's default tile: ISAAC-like 128x128 crossbars of ternary devices, bit-serial binary
#: input drivers and an 8-bit ADC per column.
DEFAULT_PIM_TILE = {"size": 128, "device": "ternary", "input_driver": "binary", "output": "adc", "adc_bits": 8}

HeatmapCost = Literal["systolic", "memory", "roofline"]


# ------------------------------------------------------------------------------ jobs
class LlmWorkloadJob(ConfigModel):
    """One forward pass of a model on a systolic array."""

    model: str = Field("llama-2-7b", description="catalog name (imaclab llm models) or a Hugging Face config.json "
                                                 "path")
    phase: Literal["decode", "prefill"] = Field("decode", description="decode (one new token) or prefill (a prompt)")
    context: int = Field(512, ge=1, description="prompt length / keys attended, tokens")
    batch: int = Field(1, ge=1, description="sequences per pass")
    hardware: str = Field("edge", description="edge (edge-32x32), cloud (cloud-128x128), a systolic preset or file")
    array: str | None = Field(None, description="array size override, ROWSxCOLS (e.g. 32x32)")
    dataflow: str = Field(DEFAULT_DATAFLOW, description="dataflow: os, ws, is, or preset (keep the preset's own)")
    precision: str = Field("fp16", description="precision for bytes: fp16, int8, w1.58a8, w1a8, w2a8, ...")
    attention_mask: Literal["causal", "full"] = Field("causal", description="prefill attention mask: causal or full")
    clock_hz: float | None = Field(None, gt=0, description="clock for seconds and tokens/s, Hz; None = the array's")
    vector_lanes: int | None = Field(None, ge=1, description="vector-unit lanes; None = the array's columns")
    ops_per_lane_per_cycle: int = Field(1, ge=1, description="vector-unit operations per lane per cycle")
    workload: WorkloadConfig = Field(default_factory=WorkloadConfig, description=(
        "further workload options (causal block, logits, GQA stacking); phase, context, batch and the mask "
        "are set above"))
    design: str = Field("tpu", description=(
        "design costed for seconds and energy: tpu (every GEMM on the array), hybrid-pim (projections on "
        "crossbar tiles measured by the circuit room, the rest on the array), or a roofline preset "
        "(h100-sxm, a100-sxm, tpu-v4, edge-npu)"))
    allow_beyond_max_context: bool = Field(False, description=(
        "run a context above the model's max context (shapes only; published studies run OPT at 4096)"))
    energy: SystolicEnergy = Field(default_factory=SystolicEnergy, description=(
        "per-operation energies of the systolic array (Horowitz ISSCC 2014, 45 nm; docs/systolic.md)"))
    tile: TileSpec = Field(default_factory=lambda: TileSpec(**DEFAULT_PIM_TILE), description=(
        "hybrid-pim: the crossbar tile (size, device kind, input drivers, output converters), characterized "
        "once by the fast solver with parasitics and cached"))
    crossbars_available: int | None = Field(None, gt=0, description=(
        "hybrid-pim: crossbar tiles on chip; None = enough for every projection weight (fewer: rounds)"))
    pim_improved: list[str] = Field(["projection"], description="hybrid-pim: categories on crossbars "
                                                                "(projection, head)")

    def workload_config(self) -> WorkloadConfig:
        extra = {"allow_beyond_max_context": True} if self.allow_beyond_max_context else {}
        return self.workload.with_overrides({"phase": self.phase, "context_tokens": self.context,
                                             "batch": self.batch, "attention_mask": self.attention_mask, **extra})


class AmdahlJob(StudyConfig):
    """The Amdahl study (every :class:`~imaclab.llm.study.StudyConfig` field) and the plots to draw."""

    heatmaps: list[HeatmapCost] = Field(default=["systolic"], description=(
        "costs to draw f heatmaps for: systolic, memory, roofline"))


class AmdahlCaseJob(ConfigModel):
    """One Amdahl case: a model, a phase, a context length, a batch, a hardware and a factor s."""

    model: str = Field("llama-2-7b", description="catalog name or a Hugging Face config.json path")
    phase: Literal["decode", "prefill"] = Field("decode", description="inference phase")
    context: int = Field(1024, ge=1, description="context length L, tokens")
    batch: int = Field(1, gt=0, description="sequences per pass")
    hardware: str = Field("edge", description="systolic array: edge, cloud, a systolic preset or config file")
    array: str | None = Field(None, description="override the array size, e.g. 64x64")
    dataflow: str | None = Field(None, description="dataflow (os, ws, is, or 'preset'); None = the study's "
                                                   "default")
    s: float = Field(8.0, gt=0, description="improvement factor of the improved categories")
    improved: list[str] = Field(["projection"], description="categories that improve")
    baseline_precision: str = Field("fp16", description="precision of the baseline pass")
    quantized_precision: str = Field("w1.58a8", description="precision after quantization (w<W>a<A>)")
    roofline: str | None = Field(None, description="roofline device; None pairs edge->edge-npu, cloud->tpu-v4")
    clock_hz: float | None = Field(None, gt=0, description="clock for cycles->seconds; None = the array's")
    crossbar: PimCrossbarConfig = Field(default_factory=PimCrossbarConfig, description="hybrid PIM crossbars")
    workload: WorkloadConfig = Field(default_factory=WorkloadConfig, description="workload options "
                                                                                 "(phase/context/batch set above)")
    pim_tiles: bool = Field(False, description=(
        "also cost hybrid-pim on a crossbar tile measured by the circuit room (energy Amdahl, tokens/J)"))
    tile: TileSpec = Field(default_factory=lambda: TileSpec(**DEFAULT_PIM_TILE), description=(
        "the hybrid-pim tile for pim_tiles (sweep tile.size, tile.adc_bits, tile.device)"))
    energy: SystolicEnergy = Field(default_factory=SystolicEnergy, description="systolic per-operation energies")

    def study(self) -> AmdahlJob:
        """The one-case study this case is."""
        fields = {
            "models": [self.model], "contexts": [self.context], "hardware": [self.hardware],
            "phases": [self.phase], "batch": self.batch, "array": self.array, "dataflow": self.dataflow,
            "improved": self.improved, "factors": [self.s], "baseline_precision": self.baseline_precision,
            "quantized_precision": self.quantized_precision, "roofline": self.roofline,
            "clock_hz": self.clock_hz, "crossbar": self.crossbar.to_dict(), "workload": self.workload.to_dict(),
            "pim_tiles": self.pim_tiles, "tile": self.tile.to_dict(), "energy": self.energy.to_dict()}
        # unset options take the study's own defaults
        return AmdahlJob.from_dict({k: v for k, v in fields.items() if v is not None}, source="llm.amdahl case")


# ------------------------------------------------------------------------------ workload result
@dataclass
class WorkloadResult(Result):
    """Cycles, bytes and MACs by category of one forward pass (the keys of ``imaclab llm workload --json``)."""

    kind: ClassVar[str] = "llm.workload"

    job: LlmWorkloadJob
    model: str
    phase: str
    context: int
    batch: int
    layers: int
    parameters: int
    parameters_by_group: dict[str, int]
    hardware: dict[str, Any]
    workload: dict[str, Any]
    precision: dict[str, Any]
    cycles_by_category: dict[str, float]
    cycles_per_layer_by_category: dict[str, float]
    cycles_outside_layers_by_category: dict[str, float]
    cycles_total: float
    cycle_fractions: dict[str, float]
    seconds: float
    tokens_per_s: float | None
    bytes_by_category: dict[str, float]
    bytes_by_kind: dict[str, Any]
    macs_by_category: dict[str, int]
    flops_by_category: dict[str, int]
    gemms: list[dict[str, Any]]
    design: str = "tpu"
    tokens_per_j: float | None = None
    energy_j: float = 0.0
    energy_j_by_category: dict[str, float] | None = None
    seconds_by_category: dict[str, float] | None = None
    design_detail: dict[str, Any] | None = None

    #: The report's keys, in the order ``--json`` prints them.
    KEYS: ClassVar[tuple[str, ...]] = (
        "model", "phase", "context", "batch", "layers", "parameters", "parameters_by_group", "hardware",
        "workload", "precision", "cycles_by_category", "cycles_per_layer_by_category",
        "cycles_outside_layers_by_category", "cycles_total", "cycle_fractions", "seconds", "tokens_per_s",
        "bytes_by_category", "bytes_by_kind", "macs_by_category", "flops_by_category", "gemms",
        "design", "tokens_per_j", "energy_j", "energy_j_by_category", "seconds_by_category", "design_detail")

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.KEYS}

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=json_default)

    def tables(self) -> list[Table]:
        hw = self.hardware
        title = (f"{self.model} {self.phase} L={self.context} B={self.batch} on {hw['name']} "
                 f"{hw['array_rows']}x{hw['array_cols']} {hw['dataflow']} ({self.layers} layers)")
        columns = ("category", "cycles/layer", "cycles total", "share", "MACs", f"bytes ({self.job.precision})")
        rows = [(cat, f"{self.cycles_per_layer_by_category[cat]:,.0f}", f"{total:,.0f}",
                 f"{100 * self.cycle_fractions[cat]:.1f}%", f"{self.macs_by_category[cat]:,}",
                 f"{self.bytes_by_category[cat]:,.0f}") for cat, total in self.cycles_by_category.items()]
        rows.append(("total", "", f"{self.cycles_total:,.0f}", "100%", "", ""))
        return [Table(title, columns, tuple(rows)), self.energy_table()]

    def energy_table(self) -> Table:
        """Seconds and joules of the pass by category on the design."""
        secs, joules = self.seconds_by_category or {}, self.energy_j_by_category or {}
        whole = self.energy_j or 1.0
        rows = [(cat, f"{secs.get(cat, 0.0) * 1e3:.4g}", f"{joules.get(cat, 0.0) * 1e3:.4g}",
                 f"{100 * joules.get(cat, 0.0) / whole:.1f}%") for cat in ENERGY_CATEGORIES]
        rows.append(("total", f"{self.seconds * 1e3:.4g}", f"{self.energy_j * 1e3:.4g}", "100%"))
        return Table(f"design {self.design}: time and energy per pass", ("category", "ms", "mJ", "energy share"),
                     tuple(rows))

    def notes(self) -> list[str]:
        line = (f"{self.seconds * 1e3:.4g} ms per pass at {self.hardware['clock_hz'] / 1e9:g} GHz = "
                f"{self.tokens_per_s:.4g} tokens/s" if self.tokens_per_s else
                f"{self.seconds * 1e3:.4g} ms per pass at {self.hardware['clock_hz'] / 1e9:g} GHz")
        if self.design != "tpu":
            line = f"design {self.design}: " + line.split(" at ")[0] + (
                f" = {self.tokens_per_s:.4g} tokens/s" if self.tokens_per_s else "")
        lines = [line]
        if self.tokens_per_j:
            lines.append(f"{self.energy_j * 1e3:.4g} mJ per pass = {self.tokens_per_j:.4g} tokens/J")
        detail = self.design_detail or {}
        if "tiles_required" in detail:
            fits = "" if detail.get("crossbars_available") is None else (
                "; fits the budget" if detail["weights_fit"] else f"; more than the {detail['crossbars_available']}"
                f" available: the weights do not fit (a GEMM larger than the budget runs in rounds; reprogramming "
                f"between GEMMs is not modelled)")
            lines.append(f"{detail['tiles_required']:,} crossbar tiles ({detail['tile']['label']}), "
                         f"{detail['crossbar_area_mm2']:.4g} mm^2{fits}")
        return lines + super().notes()


# ------------------------------------------------------------------------------ run
@functools.singledispatch
def run(job: Any, *, out_dir: str | Path | None = None, progress: bool = False) -> Result:
    """Run an llm job: :class:`LlmWorkloadJob`, :class:`AmdahlJob` (or a StudyConfig) or :class:`AmdahlCaseJob`."""
    raise ConfigError(f"imaclab.llm.run: cannot run a {type(job).__name__}; give an LlmWorkloadJob, AmdahlJob or "
                      f"AmdahlCaseJob")


@run.register(LlmWorkloadJob)
def _run_workload(job: LlmWorkloadJob, *, out_dir: str | Path | None = None,
                  progress: bool = False) -> WorkloadResult:
    """Cycles, bytes and MACs by category of one forward pass of ``job.model`` on a systolic array."""
    from imaclab.files import check_writable_dir

    if out_dir is not None:
        check_writable_dir(out_dir)
    spec = get_model(job.model)
    wcfg = job.workload_config()
    workload = build_workload(spec, wcfg)
    systolic = resolve_systolic(job.hardware, array=job.array, dataflow=job.dataflow)
    clock = clock_of(systolic, job.clock_hz)
    cost = systolic_cost(workload, systolic, VectorUnitConfig(lanes=job.vector_lanes,
                                                              ops_per_lane_per_cycle=job.ops_per_lane_per_cycle))
    prec = PrecisionConfig.parse(job.precision)
    traffic = bytes_by_category(workload, prec)
    seconds = cost.in_seconds(clock).total
    design = design_of(job, workload, systolic, clock, prec, cost)
    if job.design != "tpu":
        seconds = design.seconds
    result = WorkloadResult(
        job=job, model=spec.name, phase=wcfg.phase, context=wcfg.context_tokens, batch=wcfg.batch,
        layers=spec.num_layers, parameters=spec.total_parameters(), parameters_by_group=spec.parameter_counts(),
        hardware={"name": systolic_label(job.hardware), "array_rows": systolic.array_rows,
                  "array_cols": systolic.array_cols, "dataflow": str(getattr(systolic, "dataflow", "")),
                  "clock_hz": clock, "vector_lanes": cost.detail["vector_lanes"]},
        workload=wcfg.to_dict(), precision=prec.to_dict(),
        cycles_by_category=cost.by_category(), cycles_per_layer_by_category=dict(cost.per_layer),
        cycles_outside_layers_by_category=dict(cost.outside_layers), cycles_total=cost.total,
        cycle_fractions=cost.fractions(), seconds=seconds,
        tokens_per_s=wcfg.tokens_per_pass / seconds if seconds else None,
        bytes_by_category={c: traffic[c]["total"] for c in CATEGORIES}, bytes_by_kind=traffic,
        macs_by_category=workload.macs_by_category(), flops_by_category=workload.flops_by_category(),
        gemms=workload.gemm_table(), design=design.design, tokens_per_j=design.tokens_per_j,
        energy_j=design.energy_j, energy_j_by_category=design.energy_j_by_category,
        seconds_by_category=design.seconds_by_category, design_detail=design.detail)
    result.write_run(out_dir)
    return result


def design_of(job: LlmWorkloadJob, workload, systolic, clock_hz: float, precision: PrecisionConfig, cycles):
    """The :class:`~imaclab.llm.energy.DesignCost` of ``job.design`` for one pass."""
    from imaclab.llm.roofline import RooflineHardware

    name = job.design.strip().lower()
    vector_unit = VectorUnitConfig(lanes=job.vector_lanes, ops_per_lane_per_cycle=job.ops_per_lane_per_cycle)
    if name == "tpu":
        return tpu_design(workload, systolic, clock_hz=clock_hz, precision=precision, energy=job.energy,
                          vector_unit=vector_unit, cycles=cycles)
    if name in ("hybrid-pim", "hybrid_pim", "pim"):
        from imaclab.imac.tiles import characterize_tile

        tile = characterize_tile(job.tile)
        return hybrid_pim_design(workload, systolic, tile, clock_hz=clock_hz, precision=precision,
                                 energy=job.energy, improved=job.pim_improved,
                                 crossbars_available=job.crossbars_available, vector_unit=vector_unit, cycles=cycles)
    return roofline_design(workload, precision, RooflineHardware.preset(job.design))


@run.register(StudyConfig)
def _run_study(job: StudyConfig, *, out_dir: str | Path | None = None, progress: bool = False) -> StudyResult:
    """The Amdahl study; with ``out_dir``: ``amdahl.csv``, ``study.json``, the plots, ``config.yaml`` and
    ``summary.json``."""
    from imaclab.files import check_writable_dir

    started = time.perf_counter()
    if out_dir is not None:
        check_writable_dir(out_dir)
    result = run_study(config=job)
    if out_dir is not None:
        result.write_run(out_dir)
        result.total_s = time.perf_counter() - started
    return result


@run.register(AmdahlCaseJob)
def _run_case(job: AmdahlCaseJob, *, out_dir: str | Path | None = None, progress: bool = False) -> StudyResult:
    """One case of the study; refused with one line when the case cannot run (context above the model's max)."""
    from imaclab.files import check_writable_dir

    if out_dir is not None:
        check_writable_dir(out_dir)
    result = run_study(config=job.study())
    if not result.rows:
        reason = result.skipped[0]["reason"] if result.skipped else "no case"
        raise ConfigError(f"llm.amdahl: {job.model} {job.phase} L={job.context} was not run: {reason}")
    result.job = job
    result.write_run(out_dir)
    return result


# ------------------------------------------------------------------------------ listings
def catalog_table() -> list[dict[str, Any]]:
    """One summary row per catalog model (``imaclab llm models``)."""
    return [spec.summary() for spec in list_models()]


@dataclass
class CatalogListing(Result):
    """The model catalog, one summary row per model (``imaclab llm models``)."""

    kind: ClassVar[str] = "llm.models"

    rows: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"models": self.rows}

    def tables(self) -> list[Table]:
        cells = tuple(tuple(f"{v / 1e6:,.1f}" if key.endswith("parameters") else str(v) for key, v in row.items())
                      for row in self.rows)
        return [Table("imaclab LLM catalog (parameters in millions)", tuple(self.rows[0]), cells, text_columns=1)]


def catalog_listing() -> CatalogListing:
    """:func:`catalog_table` as a result whose table the CLI prints."""
    return CatalogListing(rows=catalog_table())


__all__ = ["AmdahlCaseJob", "AmdahlJob", "CatalogListing", "LlmWorkloadJob", "StudyResult", "WorkloadResult",
           "catalog_listing", "catalog_table", "factor_column", "run"]
