"""Systolic costs against imaclab.systolic directly, and hardware-derived improvement factors."""

import math

import numpy as np
import pytest

from imaclab.errors import ConfigError
from imaclab.llm.amdahl import amdahl_speedup
from imaclab.llm.catalog import get_model
from imaclab.llm.costs import VectorUnitConfig, systolic_cost
from imaclab.llm.hardware import resolve_systolic
from imaclab.llm.improve import (ComputeImprovementConfig, PimCrossbarConfig, bit_serial_factor, compute_improvement,
                                 hybrid_pim_improvement)
from imaclab.llm.workload import WorkloadConfig, build_workload
from imaclab.systolic import GemmLayer, SystolicConfig, compute_cycles, simulate_layer


def _direct_cycles(cfg, workload):
    """Sum simulate_layer(...).total_cycles over the GEMM list, by category, whole pass."""
    out = {"projection": 0, "attention": 0, "head": 0}
    for op in workload.gemms:
        layer = GemmLayer(name=op.name, m=op.m, n=op.n, k=op.k)
        out[op.category] += simulate_layer(cfg, layer).total_cycles * op.repeat * workload.occurrences(op)
    return out


@pytest.mark.parametrize("hardware, dataflow, phase, context", [
    ("edge", None, "decode", 64), ("edge", None, "prefill", 40), ("edge", "ws", "decode", 64),
    ("edge", "ws", "prefill", 40), ("edge", "is", "decode", 64), ("cloud", None, "prefill", 40)])
def test_summed_cycles_equal_simulate_layer(hardware, dataflow, phase, context):
    cfg = resolve_systolic(hardware, dataflow=dataflow)
    workload = build_workload(get_model("opt-125m"), WorkloadConfig(phase=phase, context_tokens=context,
                                                                    causal_block_tokens=16))
    cost = systolic_cost(workload, cfg)
    totals = cost.by_category()
    for category, cycles in _direct_cycles(cfg, workload).items():
        assert totals[category] == pytest.approx(cycles, rel=1e-12), category


def test_hardware_names_and_overrides():
    assert resolve_systolic("edge") == SystolicConfig.preset("edge-32x32")
    assert resolve_systolic("cloud", dataflow="preset") == SystolicConfig.preset("cloud-128x128")
    assert resolve_systolic("cloud").dataflow == "os"  # output stationary unless told otherwise
    cfg = resolve_systolic("cloud-256x256", array="16x8", dataflow="WS")
    assert (cfg.array_rows, cfg.array_cols, cfg.dataflow) == (16, 8, "ws")
    with pytest.raises(ConfigError, match="ROWSxCOLS"):
        resolve_systolic("edge", array="32by32")


def test_vector_work_on_the_vector_unit():
    cfg = resolve_systolic("edge")
    workload = build_workload(get_model("gpt2-medium"), WorkloadConfig(phase="decode", context_tokens=100))
    cost = systolic_cost(workload, cfg, VectorUnitConfig(lanes=16))
    expected_layer = sum(math.ceil(v.ops / 16) for v in workload.vectors if v.per_layer)
    expected_outside = sum(math.ceil(v.ops / 16) for v in workload.vectors if not v.per_layer)
    assert cost.per_layer["other"] == expected_layer
    assert cost.by_category()["other"] == workload.num_layers * expected_layer + expected_outside
    default = systolic_cost(workload, cfg)
    assert default.detail["vector_lanes"] == cfg.array_cols


def test_bit_serial_and_pe_factor():
    assert bit_serial_factor(8, 1.58) == 4
    assert bit_serial_factor(8, 1) == 8
    assert bit_serial_factor(16, 2) == 8
    cfg = resolve_systolic("edge")
    workload = build_workload(get_model("llama-7b"), WorkloadConfig(phase="decode", context_tokens=256))
    base = systolic_cost(workload, cfg)
    result = compute_improvement(workload, cfg, ComputeImprovementConfig(pe_kind="bit_serial"),
                                 clock_hz=cfg.clock_hz)
    assert result.factor == pytest.approx(4.0)
    assert result.speedup == pytest.approx(amdahl_speedup(base.fraction(["projection"]), 4.0))
    given = compute_improvement(workload, cfg, ComputeImprovementConfig(pe_kind="factor", factor=3.0),
                                improved=["projection", "head"])
    assert given.speedup == pytest.approx(amdahl_speedup(base.fraction(["projection", "head"]), 3.0))
    with pytest.raises(ConfigError, match="vector work"):
        compute_improvement(workload, cfg, ComputeImprovementConfig(), improved=["other"])


def test_multiplier_free_pe_runs_projections_on_a_larger_array():
    cfg = resolve_systolic("edge")  # 32x32
    workload = build_workload(get_model("opt-350m"), WorkloadConfig(phase="prefill", context_tokens=64))
    result = compute_improvement(workload, cfg, ComputeImprovementConfig(pe_kind="multiplier_free",
                                                                         pe_area_ratio=4.0))
    bigger = cfg.with_overrides({"array_rows": 64, "array_cols": 64})
    projections = [op for op in workload.gemms if op.category == "projection"]
    cycles = compute_cycles(bigger, np.array([op.m for op in projections]), np.array([op.n for op in projections]),
                            np.array([op.k for op in projections]))
    expected = sum(float(c) * op.repeat * workload.num_layers for c, op in zip(cycles, projections))
    assert result.improved_by_category["projection"] == pytest.approx(expected)
    assert result.improved_by_category["attention"] == result.baseline_by_category["attention"]
    assert result.factor > 1


def test_hybrid_pim_closed_form():
    cfg = resolve_systolic("edge")
    spec = get_model("llama-7b")
    workload = build_workload(spec, WorkloadConfig(phase="decode", context_tokens=512, batch=2))
    crossbar = PimCrossbarConfig(rows=128, cols=128, operation_latency_s=100e-9, input_bits_per_operation=1,
                              activation_bits=8, columns_per_weight=2)
    result = hybrid_pim_improvement(workload, cfg, crossbar, clock_hz=cfg.clock_hz)
    # decode: every projection GEMM has m = batch rows; all its tiles work in parallel
    projection_s = spec.num_layers * 7 * 2 * 8 * 100e-9
    assert result.improved_by_category["projection"] == pytest.approx(projection_s)
    base_s = systolic_cost(workload, cfg).in_seconds(cfg.clock_hz)
    assert result.baseline_seconds == pytest.approx(base_s.total)
    assert result.speedup == pytest.approx(base_s.total / (base_s.total - base_s.by_category()["projection"]
                                                           + projection_s))
    tiles = sum(math.ceil(k / 128) * math.ceil(2 * n / 128) for k, n in spec.projection_weight_shapes().values())
    assert result.extra["crossbars_required"] == tiles * spec.num_layers
    limited = hybrid_pim_improvement(workload, cfg, crossbar.with_overrides({"crossbars_available": 100}),
                                     clock_hz=cfg.clock_hz)
    assert limited.extra["weights_fit"] is False
    assert limited.improved_by_category["projection"] > result.improved_by_category["projection"]
    with pytest.raises(ConfigError, match="crossbars"):
        hybrid_pim_improvement(workload, cfg, crossbar, clock_hz=cfg.clock_hz, improved=["attention"])
