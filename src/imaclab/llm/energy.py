"""LLM designs costed in time and energy: ``tpu``, ``hybrid-pim`` and the roofline presets.

:func:`design_cost` returns a :class:`DesignCost`: seconds and joules of one forward pass by
category (``projection``, ``attention``, ``head``, ``other``, and ``data_movement`` for DRAM/HBM
traffic), tokens/s and tokens/J.

``tpu``
    Every GEMM on the systolic array: seconds = the SCALE-Sim-equal cycles
    (:func:`imaclab.llm.costs.systolic_cost`) / clock.  Energy (:class:`imaclab.systolic.energy.
    SystolicEnergy`, Horowitz 2014): MACs x E_mac(compute bits of the category); SRAM accesses of
    the fold schedule (:func:`imaclab.systolic.schedule.sram_accesses`, as SCALE-Sim counts them) x
    operand bytes x E_sram(operand SRAM size); vector ops x E_vector plus their SRAM traffic;
    data movement = the pass's DRAM bytes (weights, KV cache, activations at the precision,
    :func:`imaclab.llm.precision.bytes_by_category`) x E_dram; leakage x seconds, shared by time.
``hybrid-pim``
    Projections (and the head when asked) on weight-stationary crossbar tiles characterized by
    the circuit room (:func:`imaclab.imac.tiles.characterize_tile`): a k x n weight takes
    ``ceil(k / tile.inputs) * ceil(n / tile.outputs)`` tiles, all working on one input row at
    once; each of the ``m`` rows goes through ``ceil(activation bits / tile.input_bits)``
    products of ``tile.latency_s`` (DAC, settling, ADC) and ``tile.energy_j`` (crossbar,
    amplifiers, neurons, ADCs, DACs) per tile, plus the digital shift-and-add of partial sums
    (``accumulate_j`` each).  Tiles beyond ``crossbars_available`` run in rounds (reprogramming
    not modelled).  No DRAM weight traffic for what the crossbars hold.  Attention and vector
    work stay on the systolic array, costed as ``tpu``.
``<roofline preset>``
    Seconds = :func:`imaclab.llm.costs.roofline_cost`; energy = ops x energy_per_op(bits) +
    bytes x energy_per_byte of the preset (``roofline_presets.yaml``, with sources).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from imaclab.errors import ConfigError
from imaclab.llm.architecture import CATEGORIES
from imaclab.llm.costs import CostBreakdown, VectorUnitConfig, roofline_cost, systolic_cost
from imaclab.llm.crossbar import crossbar_gemm_schedule
from imaclab.llm.precision import BITS_PER_BYTE, PrecisionConfig, bytes_by_category, gemm_bytes
from imaclab.llm.workload import GemmOp, VectorOp, Workload

#: Energy categories of a design: the workload's categories and the DRAM/HBM traffic.
ENERGY_CATEGORIES = (*CATEGORIES, "data_movement")
DESIGNS = ("tpu", "hybrid-pim")


@dataclass
class DesignCost:
    """Seconds and joules of one forward pass of a design."""

    design: str
    tokens_per_pass: int
    seconds_by_category: dict[str, float]
    energy_j_by_category: dict[str, float]
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return float(sum(self.seconds_by_category.values()))

    @property
    def energy_j(self) -> float:
        return float(sum(self.energy_j_by_category.values()))

    @property
    def tokens_per_s(self) -> float | None:
        return self.tokens_per_pass / self.seconds if self.seconds > 0 else None

    @property
    def tokens_per_j(self) -> float | None:
        return self.tokens_per_pass / self.energy_j if self.energy_j > 0 else None

    def energy_fraction(self, categories) -> float:
        whole = self.energy_j
        return sum(self.energy_j_by_category[c] for c in categories) / whole if whole > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": self.seconds, "energy_j": self.energy_j,
                "tokens_per_s": self.tokens_per_s, "tokens_per_j": self.tokens_per_j}


def _split(workload: Workload, per_op) -> dict[str, float]:
    out = dict.fromkeys(CATEGORIES, 0.0)
    ops: list[GemmOp | VectorOp] = [*workload.gemms, *workload.vectors]
    for op in ops:
        value = per_op(op)
        if value:
            out[op.category] += value * workload.occurrences(op)
    return out


def _sram_bytes_per_gemm(systolic: Any, op, precision: PrecisionConfig) -> dict[str, float]:
    """SRAM bytes of one instance of ``op`` on ``systolic`` by operand (fold schedule counts)."""
    from imaclab.systolic.schedule import fold_geometry, sram_accesses

    geom = fold_geometry(systolic.dataflow, systolic.array_rows, systolic.array_cols, op.m, op.n, op.k)
    ifmap, filt, ofmap = (float(x) for x in sram_accesses(geom))
    a_bits = precision.operand_bits(op, op.a_kind) if op.a_kind != "onchip" else precision.activation_bits(op.category)
    b_bits = precision.operand_bits(op, op.b_kind) if op.b_kind != "onchip" else precision.activation_bits(op.category)
    c_bits = precision.operand_bits(op, op.c_kind) if op.c_kind != "onchip" else precision.activation_bits(op.category)
    return {"ifmap": ifmap * a_bits / BITS_PER_BYTE, "filter": filt * b_bits / BITS_PER_BYTE,
            "ofmap": ofmap * c_bits / BITS_PER_BYTE}


def digital_energy(workload: Workload, systolic: Any, precision: PrecisionConfig, energy: Any,
                   categories=CATEGORIES) -> dict[str, float]:
    """Joules of the GEMMs and vector ops in ``categories`` on the systolic array (no DRAM, no leakage)."""
    per_byte = energy.operand_sram_energies(systolic)
    cats = set(categories)
    cache: dict[tuple, float] = {}

    def gemm(op) -> float:
        if op.category not in cats or not hasattr(op, "m"):
            return 0.0
        key = (op.m, op.n, op.k, op.category, op.a_kind, op.b_kind, op.c_kind)
        if key not in cache:
            sram = _sram_bytes_per_gemm(systolic, op, precision)
            cache[key] = sum(sram[o] * per_byte[o] for o in sram)
        mac = op.m * op.n * op.k * energy.mac_energy(precision.compute_bits(op.category))
        return (mac + cache[key]) * op.repeat

    def vector(op) -> float:
        if op.category not in cats or hasattr(op, "m"):
            return 0.0
        act_bytes = precision.activation_bits(op.category) / BITS_PER_BYTE
        return op.ops * energy.vector_op_j + op.elements * op.memory_passes * act_bytes * per_byte["ofmap"]

    return _split(workload, lambda op: gemm(op) + vector(op))


def _with_leakage(seconds: dict[str, float], energy_by_cat: dict[str, float], leakage_w: float) -> dict[str, float]:
    return {c: energy_by_cat.get(c, 0.0) + leakage_w * seconds.get(c, 0.0) for c in CATEGORIES}


def tpu_design(workload: Workload, systolic: Any, *, clock_hz: float, precision: PrecisionConfig, energy: Any,
               vector_unit: VectorUnitConfig | None = None, cycles: CostBreakdown | None = None) -> DesignCost:
    """Every GEMM on the systolic array (see the module docstring)."""
    cost = (cycles or systolic_cost(workload, systolic, vector_unit)).in_seconds(clock_hz)
    seconds = cost.by_category()
    compute = digital_energy(workload, systolic, precision, energy)
    traffic = bytes_by_category(workload, precision)
    dram_bytes = sum(traffic[c]["total"] for c in CATEGORIES)
    by_cat = _with_leakage(seconds, compute, energy.leakage_power(systolic))
    by_cat["data_movement"] = dram_bytes * energy.dram_j_per_byte
    return DesignCost("tpu", workload.config.tokens_per_pass, {**seconds, "data_movement": 0.0}, by_cat,
                      {"dram_bytes": dram_bytes, "mac_j_by_bits": {str(b): energy.mac_energy(b) for b in
                                                                  sorted({precision.compute_bits(c)
                                                                          for c in CATEGORIES})}})


def crossbar_gemm_costs(workload: Workload, tile: Any, precision: PrecisionConfig, energy: Any, categories,
                        crossbars_available: int | None = None) -> tuple[dict[str, float], dict[str, float], int]:
    """``(seconds by category, joules by category, tiles required)`` of the GEMMs in ``categories`` on
    crossbar tiles ``tile`` (:class:`imaclab.imac.tiles.TileCosts`): the schedule of
    :func:`imaclab.llm.crossbar.crossbar_gemm_schedule` (the one the Amdahl column uses) on
    ``tile.inputs x tile.outputs`` signed weights per tile, ``tile.input_bits`` per product, the
    activation bits of ``precision``; joules = products x ``tile.energy_j`` + partial sums x
    ``energy.accumulate_j``."""
    schedule = crossbar_gemm_schedule(workload, categories, rows=tile.inputs, cols=tile.outputs,
                                      latency_s=tile.latency_s, input_bits_per_operation=tile.input_bits,
                                      activation_bits=precision.activation_bits,
                                      crossbars_available=crossbars_available)
    joules = {c: schedule.products[c] * tile.energy_j + schedule.partial_sums[c] * energy.accumulate_j
              for c in CATEGORIES}
    return schedule.seconds(), joules, schedule.crossbars_required


def hybrid_pim_design(workload: Workload, systolic: Any, tile: Any, *, clock_hz: float, precision: PrecisionConfig,
                      energy: Any, improved=("projection",), crossbars_available: int | None = None,
                      vector_unit: VectorUnitConfig | None = None, cycles: CostBreakdown | None = None) -> DesignCost:
    """Projections (and ``improved``) on crossbar tiles, the rest on the systolic array."""
    improved = tuple(improved)
    bad = [c for c in improved if c not in ("projection", "head")]
    if bad:
        raise ConfigError(f"only projection and head GEMMs can sit on crossbars, not {', '.join(bad)} (attention "
                          "operands change every token; vector work is digital)")
    base = (cycles or systolic_cost(workload, systolic, vector_unit)).in_seconds(clock_hz).by_category()
    xb_s, xb_j, required = crossbar_gemm_costs(workload, tile, precision, energy, improved, crossbars_available)
    digital_cats = [c for c in CATEGORIES if c not in improved]
    seconds = {c: (xb_s[c] if c in improved else base[c]) for c in CATEGORIES}
    compute = digital_energy(workload, systolic, precision, energy, digital_cats)
    leak = energy.leakage_power(systolic)
    by_cat = {c: (xb_j[c] if c in improved else compute[c] + leak * seconds[c]) for c in CATEGORIES}
    # the array idles (leaks) while the crossbars work
    for c in improved:
        by_cat[c] += leak * seconds[c]
    traffic = bytes_by_category(workload, precision)
    dram_bytes = sum(traffic[c]["total"] - (traffic[c]["weight"] if c in improved else 0.0) for c in CATEGORIES)
    by_cat["data_movement"] = dram_bytes * energy.dram_j_per_byte
    fits = crossbars_available is None or crossbars_available >= required
    return DesignCost("hybrid-pim", workload.config.tokens_per_pass, {**seconds, "data_movement": 0.0}, by_cat,
                      {"dram_bytes": dram_bytes, "tiles_required": required, "weights_fit": fits,
                       "crossbar_area_mm2": required * tile.area_um2 * 1e-6, "tile": tile.to_dict(),
                       "crossbars_available": crossbars_available, "improved": list(improved)})


def roofline_design(workload: Workload, precision: PrecisionConfig, hardware: Any) -> DesignCost:
    """A roofline preset: its seconds, and ops x energy per op + bytes x energy per byte."""
    if hardware.energy_per_byte_j is None or not hardware.energy_per_op_j:
        raise ConfigError(f"roofline device {hardware.name} has no energy figures (energy_per_op_j, "
                          "energy_per_byte_j)")
    cost = roofline_cost(workload, precision, hardware)
    seconds = cost.by_category()

    def compute(op) -> float:
        if hasattr(op, "m"):
            return 2.0 * op.macs * hardware.energy_for_bits(precision.compute_bits(op.category))
        return op.ops * hardware.energy_for_bits(precision.activation_bits(op.category))

    by_cat = _split(workload, compute)
    nbytes = 0.0
    for op in workload.gemms:
        nbytes += sum(gemm_bytes(op, precision).values()) * workload.occurrences(op)
    for vop in workload.vectors:
        nbytes += (vop.elements * vop.memory_passes * precision.activation_bits(vop.category) / BITS_PER_BYTE
                   * workload.occurrences(vop))
    by_cat["data_movement"] = nbytes * hardware.energy_per_byte_j
    return DesignCost(hardware.name, workload.config.tokens_per_pass, {**seconds, "data_movement": 0.0}, by_cat,
                      {"bytes": nbytes, "energy_source": hardware.energy_source})


def energy_amdahl(before: DesignCost, after: DesignCost, improved) -> dict[str, float]:
    """Amdahl's law for energy: the improved share ``f_E`` of the baseline's energy, its factor ``s_E``
    (baseline / design energy of the improved categories), the ceiling ``1 / (1 - f_E)`` and the overall
    energy ratio ``1 / ((1 - f_E) + f_E / s_E)`` (= before / after when only ``improved`` change)."""
    f = before.energy_fraction(improved)
    part_before = sum(before.energy_j_by_category[c] for c in improved)
    part_after = sum(after.energy_j_by_category[c] for c in improved)
    s = part_before / part_after if part_after > 0 else math.inf
    ceiling = 1.0 / (1.0 - f) if f < 1 else math.inf
    gain = 1.0 / ((1.0 - f) + f / s) if s > 0 else math.inf
    return {"f_energy": f, "s_energy": s, "ceiling_energy": ceiling, "energy_gain_amdahl": gain,
            "energy_gain": before.energy_j / after.energy_j if after.energy_j > 0 else math.inf}


__all__ = ["DESIGNS", "ENERGY_CATEGORIES", "DesignCost", "crossbar_gemm_costs", "design_names", "digital_energy",
           "energy_amdahl", "hybrid_pim_design", "roofline_design", "tpu_design"]


def design_names() -> list[str]:
    from imaclab.llm.roofline import RooflineHardware

    return [*DESIGNS, *RooflineHardware.preset_names()]

