"""Three costs of a workload, each split by category and by decoder layer.

* :func:`systolic_cost`: cycles of every GEMM on a systolic array, from
  :func:`imaclab.systolic.compute_cycles` (the SCALE-Sim-equal model); vector
  operations on a vector unit of ``lanes`` ALUs beside the array.
* :func:`memory_cost`: bytes moved at the chosen precisions; time = bytes / bandwidth.
* :func:`roofline_cost`: per operation ``max(ops / peak(bits), bytes / bandwidth)``.

All return a :class:`CostBreakdown`; the Amdahl analysis only needs its
per-category totals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import Field

from imaclab.config import ConfigModel
from imaclab.errors import ConfigError
from imaclab.llm.architecture import CATEGORIES
from imaclab.llm.precision import BITS_PER_BYTE, PrecisionConfig, bytes_split, gemm_bytes
from imaclab.llm.roofline import RooflineHardware
from imaclab.llm.workload import GemmOp, Workload


@dataclass(frozen=True)
class CostBreakdown:
    """A cost of one forward pass: one decoder layer and the part outside the layers, by category."""

    kind: str
    unit: str
    num_layers: int
    per_layer: dict[str, float]
    outside_layers: dict[str, float]
    detail: dict[str, Any] = field(default_factory=dict)

    def by_category(self) -> dict[str, float]:
        """Totals of the whole pass: ``num_layers * per_layer + outside_layers``."""
        return {c: self.per_layer.get(c, 0.0) * self.num_layers + self.outside_layers.get(c, 0.0)
                for c in CATEGORIES}

    @property
    def total(self) -> float:
        return float(sum(self.by_category().values()))

    def fraction(self, categories: Iterable[str]) -> float:
        """Share of the total spent in ``categories``."""
        cats = check_categories(categories)
        totals = self.by_category()
        whole = sum(totals.values())
        if whole <= 0:
            raise ConfigError(f"{self.kind} cost is zero; no fraction can be formed")
        return float(sum(totals[c] for c in cats) / whole)

    def fractions(self) -> dict[str, float]:
        whole = self.total
        return {c: (v / whole if whole else 0.0) for c, v in self.by_category().items()}

    def scaled(self, factors: dict[str, float], kind: str | None = None) -> CostBreakdown:
        """The same cost with each category divided by its improvement factor."""
        check_categories(factors)
        return CostBreakdown(kind or self.kind, self.unit, self.num_layers,
                             {c: v / factors.get(c, 1.0) for c, v in self.per_layer.items()},
                             {c: v / factors.get(c, 1.0) for c, v in self.outside_layers.items()})

    def in_seconds(self, clock_hz: float) -> CostBreakdown:
        """Cycles converted to seconds at ``clock_hz`` (a cost already in seconds is returned as is)."""
        if self.unit == "s":
            return self
        if self.unit != "cycles":
            raise ConfigError(f"cannot convert a cost in {self.unit} to seconds")
        if clock_hz <= 0:
            raise ConfigError(f"clock frequency must be > 0 Hz, got {clock_hz}")
        return CostBreakdown(self.kind, "s", self.num_layers,
                             {c: v / clock_hz for c, v in self.per_layer.items()},
                             {c: v / clock_hz for c, v in self.outside_layers.items()}, self.detail)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "unit": self.unit, "layers": self.num_layers,
                "by_category": self.by_category(), "per_layer_by_category": dict(self.per_layer),
                "outside_layers_by_category": dict(self.outside_layers), "total": self.total,
                "fractions": self.fractions(), **({"detail": self.detail} if self.detail else {})}


def check_categories(categories: Iterable[str]) -> list[str]:
    cats = list(categories)
    bad = [c for c in cats if c not in CATEGORIES]
    if bad:
        raise ConfigError(f"unknown cost categor{'y' if len(bad) == 1 else 'ies'} {', '.join(bad)}: "
                          f"use {', '.join(CATEGORIES)}")
    return cats


# --------------------------------------------------------------------------- systolic
class VectorUnitConfig(ConfigModel):
    """The vector unit that runs norms, softmax, activations and adds beside the array."""

    lanes: int | None = Field(default=None, gt=0, description=(
        "parallel ALUs; None = as many as array columns (a TPU-style unit under the array outputs)"))
    ops_per_lane_per_cycle: int = Field(default=1, gt=0, description="arithmetic operations per lane per cycle")


def gemm_cycles(systolic_config: Any, gemms: Iterable[GemmOp]) -> np.ndarray:
    """Cycles of one instance of each GEMM on ``systolic_config`` (vectorized, deduplicated shapes)."""
    from imaclab.systolic import compute_cycles

    ops = list(gemms)
    if not ops:
        return np.zeros(0)
    shapes = np.array([(op.m, op.n, op.k) for op in ops], dtype=np.int64)
    unique, inverse = np.unique(shapes, axis=0, return_inverse=True)
    cycles = np.asarray(compute_cycles(systolic_config, unique[:, 0], unique[:, 1], unique[:, 2]), dtype=float)
    return cycles[inverse.reshape(-1)]


def systolic_cost(workload: Workload, systolic_config: Any, vector_unit: VectorUnitConfig | None = None, *,
                  gemm_instance_cycles: np.ndarray | None = None) -> CostBreakdown:
    """Cycles of one forward pass: every GEMM instance on the array, vector work on the vector unit.

    A GEMM's cycles are ``compute_cycles(cfg, m, n, k)`` times its repeat count; the array
    runs one GEMM at a time (no overlap between operations).  ``gemm_instance_cycles``
    lets a caller pass cycles already computed for ``workload.gemms`` (batched studies).
    """
    vector_unit = vector_unit or VectorUnitConfig()
    lanes = (vector_unit.lanes or systolic_config.array_cols) * vector_unit.ops_per_lane_per_cycle
    cycles = gemm_instance_cycles if gemm_instance_cycles is not None else gemm_cycles(systolic_config,
                                                                                        workload.gemms)
    per_layer = dict.fromkeys(CATEGORIES, 0.0)
    outside = dict.fromkeys(CATEGORIES, 0.0)
    for op, instance in zip(workload.gemms, cycles):
        (per_layer if op.per_layer else outside)[op.category] += float(instance) * op.repeat
    for vop in workload.vectors:
        (per_layer if vop.per_layer else outside)[vop.category] += math.ceil(vop.ops / lanes)
    return CostBreakdown("systolic", "cycles", workload.num_layers, per_layer, outside,
                         {"vector_lanes": lanes})


# --------------------------------------------------------------------------- memory
class MemoryConfig(ConfigModel):
    """How traffic is counted and how fast memory is."""

    bandwidth_bytes_per_s: float = Field(gt=0, description="DRAM/HBM bandwidth, bytes/s")
    activation_traffic: bool = Field(default=True, description=(
        "count activations read and written by every operation; False: only weights and KV cache"))


def memory_cost(workload: Workload, precision: PrecisionConfig, memory: MemoryConfig) -> CostBreakdown:
    """Seconds to move the pass's bytes at ``precision`` over ``memory``; bytes in ``detail``."""
    per_layer_b, outside_b = bytes_split(workload, precision, activation_traffic=memory.activation_traffic)
    bw = memory.bandwidth_bytes_per_s
    per_layer = {c: sum(per_layer_b[c].values()) / bw for c in CATEGORIES}
    outside = {c: sum(outside_b[c].values()) / bw for c in CATEGORIES}
    totals = {c: {k: per_layer_b[c][k] * workload.num_layers + outside_b[c][k] for k in per_layer_b[c]}
              for c in CATEGORIES}
    return CostBreakdown("memory", "s", workload.num_layers, per_layer, outside,
                         {"bytes_by_category": {c: sum(v.values()) for c, v in totals.items()},
                          "bytes_by_kind": totals, "bandwidth_bytes_per_s": bw})


# --------------------------------------------------------------------------- roofline
def roofline_cost(workload: Workload, precision: PrecisionConfig, hardware: RooflineHardware, *,
                  activation_traffic: bool = True) -> CostBreakdown:
    """Seconds per pass, each operation at ``max(ops / peak(bits), bytes / bandwidth)``.

    ``detail['memory_bound_share']`` gives, per category, the share of its time spent in
    memory-bound operations.
    """
    bw = hardware.memory_bandwidth_bytes_per_s
    per_layer = dict.fromkeys(CATEGORIES, 0.0)
    outside = dict.fromkeys(CATEGORIES, 0.0)
    memory_bound = dict.fromkeys(CATEGORIES, 0.0)
    for op in workload.gemms:
        ops = 2.0 * op.macs
        nbytes = sum(gemm_bytes(op, precision, activation_traffic=activation_traffic).values())
        compute_s = ops / hardware.peak_for_bits(precision.compute_bits(op.category))
        memory_s = nbytes / bw
        seconds = max(compute_s, memory_s)
        (per_layer if op.per_layer else outside)[op.category] += seconds
        if memory_s >= compute_s:
            memory_bound[op.category] += seconds * workload.occurrences(op)
    for vop in workload.vectors:
        nbytes = (vop.elements * vop.memory_passes * precision.activation_bits(vop.category) / BITS_PER_BYTE
                  if activation_traffic else 0.0)
        memory_s = nbytes / bw
        compute_s = vop.ops / hardware.vector_ops_per_s if hardware.vector_ops_per_s else 0.0
        seconds = max(compute_s, memory_s)
        (per_layer if vop.per_layer else outside)[vop.category] += seconds
        if memory_s >= compute_s:
            memory_bound[vop.category] += seconds * workload.occurrences(vop)
    cost = CostBreakdown("roofline", "s", workload.num_layers, per_layer, outside)
    totals = cost.by_category()
    share = {c: (memory_bound[c] / totals[c] if totals[c] else 0.0) for c in CATEGORIES}
    return CostBreakdown("roofline", "s", workload.num_layers, per_layer, outside,
                         {"hardware": hardware.name, "memory_bound_share": share})
