"""Improvement factors derived from hardware instead of given by hand.

* memory: fewer bytes at lower weight/activation precision (:func:`memory_improvement`);
* compute: cheaper or fewer cycles on the systolic array for the improved part
  (:func:`compute_improvement`): a given PE speedup, a weight-bit-serial PE, or a
  multiplier-free PE whose smaller area buys a larger array in the same silicon;
* hybrid PIM: the improved GEMMs run on analog crossbars holding the weights while
  attention and vector work stay on the systolic array (:func:`hybrid_pim_improvement`).

Each returns an :class:`~imaclab.llm.amdahl.AmdahlResult` built from the baseline
cost and the cost of the same pass on the improved design.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Literal

from pydantic import Field

from imaclab.config import ConfigModel
from imaclab.errors import ConfigError
from imaclab.llm.amdahl import DEFAULT_IMPROVED, AmdahlResult, amdahl
from imaclab.llm.architecture import CATEGORIES
from imaclab.llm.costs import (
    CostBreakdown,
    MemoryConfig,
    VectorUnitConfig,
    check_categories,
    gemm_cycles,
    memory_cost,
    systolic_cost,
)
from imaclab.llm.crossbar import crossbar_gemm_schedule, crossbars_for, operations_per_row
from imaclab.llm.precision import PrecisionConfig
from imaclab.llm.workload import Workload

# ISAAC (Shafiee et al., ISCA 2016): 128x128 memristor crossbars read in 100 ns with 1-bit
# inputs applied bit-serially; PimCrossbarConfig's geometry follows it, its operation latency is the
# measured tile's unless operation_latency_s = ISAAC_READ_LATENCY_S is given.
ISAAC_CROSSBAR_SIZE = 128
ISAAC_READ_LATENCY_S = 100e-9
#: Activation bits of a crossbar GEMM when neither the crossbar nor a precision says (A8, as BitNet).
DEFAULT_ACTIVATION_BITS = 8


def memory_improvement(workload: Workload, *, baseline: PrecisionConfig, quantized: PrecisionConfig,
                       memory: MemoryConfig, improved: Iterable[str] = DEFAULT_IMPROVED) -> AmdahlResult:
    """Memory-bound Amdahl: the pass at ``baseline`` precision vs at ``quantized`` precision.

    Only the operand classes that ``quantized`` changes move fewer bytes; when those lie
    outside ``improved`` (e.g. a narrower KV cache) the general form accounts for them.
    """
    before = memory_cost(workload, baseline, memory)
    after = memory_cost(workload, quantized, memory)
    return amdahl(before, improved=improved, improved_cost=after, tokens_per_pass=workload.config.tokens_per_pass,
                  note=f"memory traffic at {memory.bandwidth_bytes_per_s:.3g} B/s")


class ComputeImprovementConfig(ConfigModel):
    """How the improved part's GEMMs get cheaper on the systolic array."""

    pe_kind: Literal["factor", "bit_serial", "multiplier_free"] = Field(default="bit_serial", description=(
        "'factor': cycles divided by `factor`; 'bit_serial': a PE taking one cycle per weight bit, "
        "so cycles scale with ceil(weight bits); 'multiplier_free': an add/subtract PE `pe_area_ratio` "
        "times smaller, the saved area spent on a larger array for the improved GEMMs"))
    factor: float = Field(default=1.0, gt=0, description="cycle reduction for pe_kind='factor'")
    baseline_weight_bits: float = Field(default=8, gt=0, description="weight bits of the baseline bit-serial PE")
    weight_bits: float = Field(default=1.58, gt=0, description="weight bits after quantization (1, 1.58, 2, ...)")
    pe_area_ratio: float = Field(default=1.0, ge=1, description=(
        "baseline MAC PE area / multiplier-free PE area (same silicon: sqrt(ratio) more rows and columns)"))


def bit_serial_factor(baseline_weight_bits: float, weight_bits: float) -> float:
    """Cycle ratio of a weight-bit-serial PE: ``ceil(baseline) / ceil(quantized)`` (ternary = 2 bits)."""
    return math.ceil(baseline_weight_bits - 1e-9) / math.ceil(weight_bits - 1e-9)


def _resized_array(systolic_config: Any, area_ratio: float) -> Any:
    scale = math.sqrt(area_ratio)
    rows = max(1, math.floor(systolic_config.array_rows * scale))
    cols = max(1, math.floor(systolic_config.array_cols * scale))
    return systolic_config.with_overrides({"array_rows": rows, "array_cols": cols})


def compute_improvement(workload: Workload, systolic_config: Any, improvement: ComputeImprovementConfig, *,
                        improved: Iterable[str] = DEFAULT_IMPROVED, clock_hz: float | None = None,
                        vector_unit: VectorUnitConfig | None = None,
                        baseline: CostBreakdown | None = None) -> AmdahlResult:
    """Compute-bound Amdahl on the systolic array with a cheaper PE for the improved GEMMs."""
    improved = tuple(check_categories(improved))
    if "other" in improved:
        raise ConfigError("vector work ('other') does not run on the PE array; leave it out of the improved set")
    base = baseline or systolic_cost(workload, systolic_config, vector_unit)
    if improvement.pe_kind == "multiplier_free":
        bigger = _resized_array(systolic_config, improvement.pe_area_ratio)
        cycles = gemm_cycles(bigger, workload.gemms)
        resized = systolic_cost(workload, systolic_config, vector_unit, gemm_instance_cycles=cycles)
        per_layer = {c: (resized.per_layer[c] if c in improved else base.per_layer[c]) for c in CATEGORIES}
        outside = {c: (resized.outside_layers[c] if c in improved else base.outside_layers[c]) for c in CATEGORIES}
        after = CostBreakdown("systolic", "cycles", base.num_layers, per_layer, outside)
        note = (f"multiplier-free PE, area ratio {improvement.pe_area_ratio:g}: improved GEMMs on a "
                f"{bigger.array_rows}x{bigger.array_cols} array")
    else:
        factor = (improvement.factor if improvement.pe_kind == "factor"
                  else bit_serial_factor(improvement.baseline_weight_bits, improvement.weight_bits))
        after = base.scaled({c: factor for c in improved})
        note = (f"PE {factor:g}x fewer cycles" if improvement.pe_kind == "factor" else
                f"bit-serial PE, {improvement.baseline_weight_bits:g}-bit -> {improvement.weight_bits:g}-bit "
                f"weights: {factor:g}x fewer cycles")
    return amdahl(base, improved=improved, improved_cost=after, tokens_per_pass=workload.config.tokens_per_pass,
                  clock_hz=clock_hz, note=note)


class PimCrossbarConfig(ConfigModel):
    """Analog crossbars that hold the improved GEMMs' weights (the hybrid PIM design)."""

    rows: int | None = Field(default=None, gt=0, description=(
        "crossbar rows (inputs); None = cols if set, else the measured tile's size (the study's tile.size, "
        "default 128 as ISAAC)"))
    cols: int | None = Field(default=None, gt=0, description=(
        "crossbar columns (outputs); None = rows if set, else the measured tile's size (the study's tile.size, "
        "default 128)"))
    operation_latency_s: float | None = Field(default=None, gt=0, description=(
        "seconds per crossbar operation (one input vector slice in, all columns read out); None (the default) = "
        "measured: the latency (DAC + settling + ADC) of the rows x rows crossbar tile characterized by the "
        "circuit room (imaclab.imac.tiles; needs rows = cols; characterized once per machine, then cached). "
        "1e-7 = ISAAC's 100 ns read (Shafiee et al. ISCA 2016), the published whole-design figure"))
    input_bits_per_operation: float = Field(default=1, gt=0, description=(
        "activation bits applied per operation (1 = bit-serial DAC, as ISAAC)"))
    activation_bits: float | None = Field(default=None, gt=0, description=(
        "activation bits of every crossbar GEMM; None = the precision's activation bits of each GEMM's "
        "category (the study's quantized_precision: 8 for w1.58a8 projections, 16 for the head), or "
        "DEFAULT_ACTIVATION_BITS (8, A8 as BitNet) when no precision is given"))
    columns_per_weight: int = Field(default=2, gt=0, description=(
        "columns per weight: 2 = differential pair for signed/ternary weights"))
    crossbars_available: int | None = Field(default=None, gt=0, description=(
        "crossbars on chip; None = enough to hold every improved weight at once. Fewer time-multiplexes "
        "one GEMM's tiles (reprogramming time not modelled)"))

    @property
    def operations_per_vector(self) -> int:
        """Operations per input row at ``activation_bits`` (or the 8-bit default)."""
        return operations_per_row(self.activation_bits or DEFAULT_ACTIVATION_BITS, self.input_bits_per_operation)

    def activation_bits_of(self, precision: PrecisionConfig | None = None):
        """``category -> activation bits`` of the crossbar GEMMs: ``activation_bits`` when set, else the
        precision's (``precision.activation_bits``), else 8 bits."""
        if self.activation_bits is not None:
            fixed = float(self.activation_bits)
            return lambda _category: fixed
        if precision is not None:
            return precision.activation_bits
        return lambda _category: float(DEFAULT_ACTIVATION_BITS)

    def size(self, base: Any = None) -> tuple[int, int]:
        """``(rows, cols)``: as set (one of them set: a square crossbar of that size), else the size of the
        tile ``base`` (default ISAAC's 128)."""
        default = int(base.size) if base is not None else ISAAC_CROSSBAR_SIZE
        return (self.rows or self.cols or default), (self.cols or self.rows or default)

    def tiles(self, k: int, n: int) -> int:
        """Crossbars holding a k x n weight matrix."""
        rows, cols = self.size()
        k_parts, n_parts = crossbars_for(k, n, rows=rows, cols=cols, columns_per_weight=self.columns_per_weight)
        return k_parts * n_parts

    def tile_spec(self, base: Any = None) -> Any:
        """The circuit-room tile (:class:`imaclab.imac.tiles.TileSpec`) whose measured latency stands for
        one operation: ``rows x rows``, driven by binary (bit-serial) drivers when
        ``input_bits_per_operation`` is 1, else by DACs of that many bits; device kind, output converters,
        parasitics and seed from ``base`` (default: the TileSpec defaults, ternary devices, 8-bit ADCs)."""
        from imaclab.imac.tiles import TileSpec

        rows, cols = self.size(base)
        if rows != cols:
            raise ConfigError(f"crossbar {rows}x{cols}: a measured tile is square; set rows = cols or "
                              "give operation_latency_s")
        bits = self.input_bits_per_operation
        if bits != int(bits):
            raise ConfigError(f"input_bits_per_operation {bits:g}: a measured tile's drivers take whole bits; "
                              "give operation_latency_s")
        drivers = {"input_driver": "binary"} if bits == 1 else {"input_driver": "dac", "dac_bits": int(bits)}
        return (base or TileSpec()).with_overrides({"size": rows, **drivers})

    def measured(self, base: Any = None) -> PimCrossbarConfig:
        """This config resolved: ``rows``/``cols`` from :meth:`size` when None, and ``operation_latency_s``
        from the measured tile (:meth:`tile_spec`, characterized once and cached) when None."""
        rows, cols = self.size(base)
        resolved = self if (self.rows, self.cols) == (rows, cols) else self.with_overrides({"rows": rows,
                                                                                           "cols": cols})
        if resolved.operation_latency_s is not None:
            return resolved
        from imaclab.imac.tiles import characterize_tile

        latency = characterize_tile(resolved.tile_spec(base)).latency_s
        return resolved.with_overrides({"operation_latency_s": latency})


def crossbar_seconds(workload: Workload, crossbar: PimCrossbarConfig, categories: Iterable[str],
                     precision: PrecisionConfig | None = None) -> tuple[dict[str, float], dict[str, float], int]:
    """Seconds of the GEMMs in ``categories`` on crossbars (per layer, outside), and crossbars needed.

    The schedule of :func:`imaclab.llm.crossbar.crossbar_gemm_schedule` (the one the energy design
    uses): a GEMM's tiles all work in parallel on one input row; its ``m`` rows and their
    activation-bit slices go through one after the other: ``m * ceil(a_bits / bits_per_op)``
    operations of ``operation_latency_s``, times ``ceil(tiles / crossbars_available)``; activation
    bits from :meth:`PimCrossbarConfig.activation_bits_of` (``precision``'s when not set).
    """
    crossbar = crossbar.measured()
    rows, cols = crossbar.size()
    schedule = crossbar_gemm_schedule(
        workload, categories, rows=rows, cols=cols,
        columns_per_weight=crossbar.columns_per_weight, latency_s=float(crossbar.operation_latency_s or 0.0),
        input_bits_per_operation=crossbar.input_bits_per_operation,
        activation_bits=crossbar.activation_bits_of(precision), crossbars_available=crossbar.crossbars_available)
    return schedule.seconds_per_layer, schedule.seconds_outside, schedule.crossbars_required


def hybrid_pim_improvement(workload: Workload, systolic_config: Any, crossbar: PimCrossbarConfig, *,
                           clock_hz: float, improved: Iterable[str] = DEFAULT_IMPROVED,
                           vector_unit: VectorUnitConfig | None = None,
                           baseline: CostBreakdown | None = None,
                           precision: PrecisionConfig | None = None) -> AmdahlResult:
    """Projections (and optionally the head) on analog crossbars, the rest on the systolic array.

    Baseline: the whole pass on the systolic array at ``clock_hz``.  Attention cannot move:
    its operands (K, V) change every token, so they cannot be programmed into crossbars.
    ``precision`` (the quantized model's) gives the crossbar GEMMs' activation bits unless
    ``crossbar.activation_bits`` is set.
    """
    improved = tuple(check_categories(improved))
    if "attention" in improved or "other" in improved:
        raise ConfigError("only projection and head GEMMs can sit on crossbars (attention operands change "
                          "every token; vector work is digital)")
    base = (baseline or systolic_cost(workload, systolic_config, vector_unit)).in_seconds(clock_hz)
    crossbar = crossbar.measured()
    xbar_layer, xbar_outside, required = crossbar_seconds(workload, crossbar, improved, precision)
    per_layer = {c: (xbar_layer[c] if c in improved else base.per_layer[c]) for c in CATEGORIES}
    outside = {c: (xbar_outside[c] if c in improved else base.outside_layers[c]) for c in CATEGORIES}
    after = CostBreakdown("hybrid_pim", "s", base.num_layers, per_layer, outside)
    fits = crossbar.crossbars_available is None or crossbar.crossbars_available >= required
    result = amdahl(base, improved=improved, improved_cost=after, tokens_per_pass=workload.config.tokens_per_pass,
                    note=(f"{crossbar.rows}x{crossbar.cols} crossbars, {crossbar.operation_latency_s:.3g} s per "
                          f"operation, {crossbar.input_bits_per_operation:g} activation bit(s) per operation"))
    return replace(result, cost_kind="hybrid_pim", extra={"crossbars_required": required, "weights_fit": fits,
                                                          "operation_latency_s": crossbar.operation_latency_s})
