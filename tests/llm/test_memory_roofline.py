"""Byte accounting, memory cost, roofline cost and memory-derived improvement factors."""

import pytest

from imaclab.errors import ConfigError, UnknownNameError
from imaclab.llm.catalog import get_model
from imaclab.llm.costs import MemoryConfig, memory_cost, roofline_cost
from imaclab.llm.improve import memory_improvement
from imaclab.llm.precision import PrecisionConfig, bytes_by_category, weight_storage_bytes
from imaclab.llm.roofline import RooflineHardware
from imaclab.llm.workload import WorkloadConfig, build_workload

FP16 = PrecisionConfig()
W158A8 = PrecisionConfig.parse("w1.58a8")


def test_precision_parsing():
    assert W158A8.projection_weight_bits == 1.58 and W158A8.projection_activation_bits == 8
    assert W158A8.kv_cache_bits == 16 and W158A8.head_weight_bits == 16
    assert PrecisionConfig.parse("int8").kv_cache_bits == 8
    assert PrecisionConfig.parse("W2A8", base=PrecisionConfig.parse("int8")).head_weight_bits == 8
    with pytest.raises(ConfigError, match="unknown precision"):
        PrecisionConfig.parse("q4_k_m")


def test_precision_round_trip(tmp_path):
    assert PrecisionConfig.load(W158A8.save(tmp_path / "p.json")) == W158A8


@pytest.mark.parametrize("batch", [1, 8])
def test_decode_bytes_hand_count(batch):
    spec = get_model("llama-2-70b")
    length = 1024
    w = build_workload(spec, WorkloadConfig(phase="decode", context_tokens=length, batch=batch))
    b = bytes_by_category(w, FP16)
    # weights read once per pass whatever the batch
    assert b["projection"]["weight"] == spec.parameter_counts()["projection"] * 2
    assert b["head"]["weight"] == spec.vocab_size * spec.hidden_size * 2
    # attention reads the K and V caches: L keys of kv_width per layer and sequence
    assert b["attention"]["kv"] == spec.num_layers * batch * 2 * length * spec.kv_width * 2
    # K and V projections write the new token's entries into the cache
    assert b["projection"]["kv"] == spec.num_layers * batch * 2 * spec.kv_width * 2
    quantized = bytes_by_category(w, W158A8)
    assert quantized["projection"]["weight"] == pytest.approx(spec.parameter_counts()["projection"] * 1.58 / 8)
    assert quantized["attention"] == b["attention"]
    no_act = bytes_by_category(w, FP16, activation_traffic=False)
    assert no_act["projection"]["activation"] == 0 and no_act["other"]["total"] == 0


def test_weight_storage():
    spec = get_model("llama-7b")
    w = build_workload(spec, WorkloadConfig(context_tokens=16))
    storage = weight_storage_bytes(w, W158A8)
    assert storage["projection"] == pytest.approx(spec.parameter_counts()["projection"] * 1.58 / 8)
    assert storage["projection"] + storage["non_projection"] == pytest.approx(
        spec.parameter_counts()["projection"] * 1.58 / 8
        + (spec.total_parameters() - spec.parameter_counts()["projection"]) * 2)


def test_memory_cost_is_bytes_over_bandwidth():
    w = build_workload(get_model("opt-1.3b"), WorkloadConfig(phase="decode", context_tokens=512))
    memory = MemoryConfig(bandwidth_bytes_per_s=1e11)
    cost = memory_cost(w, FP16, memory)
    totals = bytes_by_category(w, FP16)
    for category, seconds in cost.by_category().items():
        assert seconds == pytest.approx(totals[category]["total"] / 1e11)
    assert cost.detail["bytes_by_category"]["projection"] == pytest.approx(totals["projection"]["total"])


def test_memory_improvement_factor_is_the_byte_ratio():
    w = build_workload(get_model("llama-7b"), WorkloadConfig(phase="decode", context_tokens=256))
    memory = MemoryConfig(bandwidth_bytes_per_s=1e12)
    result = memory_improvement(w, baseline=FP16, quantized=W158A8, memory=memory)
    before, after = bytes_by_category(w, FP16), bytes_by_category(w, W158A8)
    assert result.factor == pytest.approx(before["projection"]["total"] / after["projection"]["total"])
    total_before = sum(v["total"] for v in before.values())
    total_after = sum(v["total"] for v in after.values())
    assert result.speedup == pytest.approx(total_before / total_after)
    assert result.fraction == pytest.approx(before["projection"]["total"] / total_before)
    assert result.tokens_per_s_before == pytest.approx(1e12 / total_before)


def test_roofline_presets_and_precision_lookup():
    h100 = RooflineHardware.preset("H100")
    assert h100.name == "h100-sxm"
    assert h100.peak_for_bits(1.58) == h100.peak_for_bits(8) == pytest.approx(1.979e15)
    assert h100.peak_for_bits(16) == pytest.approx(0.989e15)
    assert RooflineHardware.preset("a100").peak_for_bits(2) == pytest.approx(1.248e15)
    assert set(RooflineHardware.preset_names()) >= {"h100-sxm", "tpu-v4", "edge-npu"}
    with pytest.raises(ConfigError, match="no peak rate for 32-bit"):
        RooflineHardware.preset("tpu-v4").peak_for_bits(32)
    with pytest.raises(UnknownNameError, match="h100-sxm"):
        RooflineHardware.preset("h100-sxn")


def test_roofline_is_max_of_compute_and_memory_per_operation():
    spec = get_model("llama-7b")
    hw = RooflineHardware.preset("h100-sxm")
    decode = build_workload(spec, WorkloadConfig(phase="decode", context_tokens=1024))
    cost = roofline_cost(decode, FP16, hw)
    # decode projections: each weight read once for 2 FLOPs -> memory-bound
    assert cost.detail["memory_bound_share"]["projection"] == 1.0
    q = next(op for op in decode.gemms if op.name == "q_proj")
    q_bytes = (q.m * q.k + q.k * q.n + q.m * q.n) * 2
    assert q_bytes / hw.memory_bandwidth_bytes_per_s > 2 * q.macs / hw.peak_for_bits(16)
    prefill = build_workload(spec, WorkloadConfig(phase="prefill", context_tokens=2048))
    pcost = roofline_cost(prefill, FP16, hw)
    assert pcost.detail["memory_bound_share"]["projection"] == 0.0
    assert pcost.by_category()["projection"] == pytest.approx(2 * prefill.macs_by_category()["projection"]
                                                              / hw.peak_for_bits(16))
    mem = memory_cost(prefill, FP16, MemoryConfig(bandwidth_bytes_per_s=hw.memory_bandwidth_bytes_per_s))
    for category in ("projection", "attention", "head"):
        assert pcost.by_category()[category] >= mem.by_category()[category] * (1 - 1e-12)
