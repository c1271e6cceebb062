"""GEMM decomposition against hand-counted MAC/FLOP totals."""

import pytest

from imaclab.errors import ConfigError
from imaclab.llm.catalog import get_model
from imaclab.llm.workload import (ACTIVATION_OPS_PER_ELEMENT, LAYERNORM_OPS_PER_ELEMENT, WorkloadConfig,
                                  build_workload, parse_phase)


def _projection_macs_per_token(spec):
    h, f = spec.hidden_size, spec.ffn_size
    attn = h * spec.num_heads * spec.head_dim * 2 + 2 * h * spec.num_kv_heads * spec.head_dim
    ffn = (3 if spec.ffn_kind == "gated" else 2) * h * f
    return spec.num_layers * (attn + ffn)


@pytest.mark.parametrize("name", ["opt-1.3b", "llama-7b", "llama-2-70b", "gpt2-medium", "bitnet-b1.58-2b-4t"])
@pytest.mark.parametrize("batch", [1, 4])
def test_decode_macs_match_hand_count(name, batch):
    spec = get_model(name)
    length = 512
    w = build_workload(spec, WorkloadConfig(phase="decode", context_tokens=length, batch=batch))
    macs = w.macs_by_category()
    assert macs["projection"] == batch * _projection_macs_per_token(spec)
    # the projection MACs of one token equal the projection parameters (each weight used once)
    assert macs["projection"] == batch * spec.parameter_counts()["projection"]
    # QK^T and scores.V: every query head dots L keys of head_dim, then weights L values
    assert macs["attention"] == batch * spec.num_layers * spec.num_heads * 2 * length * spec.head_dim
    assert macs["head"] == batch * spec.vocab_size * spec.hidden_size
    assert macs["other"] == 0


def test_opt_350m_projects_in_and_out():
    spec = get_model("opt-350m")
    w = build_workload(spec, WorkloadConfig(phase="decode", context_tokens=128))
    names = {op.name: op for op in w.gemms}
    assert (names["project_in"].n, names["project_in"].k) == (1024, 512)
    assert (names["project_out"].n, names["project_out"].k) == (512, 1024)
    assert (names["lm_head"].n, names["lm_head"].k) == (50272, 512)
    assert w.macs_by_category()["head"] == 2 * 512 * 1024 + 50272 * 512


def test_prefill_causal_counts_exact_triangle_with_unit_blocks_and_full_square_with_one_block():
    spec = get_model("opt-125m")
    length, d, heads, layers = 300, spec.head_dim, spec.num_heads, spec.num_layers
    exact = build_workload(spec, WorkloadConfig(phase="prefill", context_tokens=length, causal_block_tokens=1))
    assert exact.macs_by_category()["attention"] == layers * heads * 2 * d * length * (length + 1) // 2
    one_block = build_workload(spec, WorkloadConfig(phase="prefill", context_tokens=length,
                                                    causal_block_tokens=length))
    full = build_workload(spec, WorkloadConfig(phase="prefill", context_tokens=length, attention_mask="full"))
    assert one_block.macs_by_category()["attention"] == full.macs_by_category()["attention"] \
        == layers * heads * 2 * d * length * length
    blocked = build_workload(spec, WorkloadConfig(phase="prefill", context_tokens=length, causal_block_tokens=64))
    # blocks of 64: each block of rows r ending at e attends e keys
    expected = sum(min(64, length - s) * min(s + 64, length) for s in range(0, length, 64))
    assert blocked.macs_by_category()["attention"] == layers * heads * 2 * d * expected


def test_prefill_projection_and_head_rows():
    spec = get_model("llama-7b")
    cfg = WorkloadConfig(phase="prefill", context_tokens=256, batch=2)
    w = build_workload(spec, cfg)
    assert w.macs_by_category()["projection"] == 2 * 256 * spec.parameter_counts()["projection"]
    assert w.macs_by_category()["head"] == 2 * spec.vocab_size * spec.hidden_size  # last token only
    all_logits = build_workload(spec, cfg.with_overrides({"prefill_logits": "all"}))
    assert all_logits.macs_by_category()["head"] == 2 * 256 * spec.vocab_size * spec.hidden_size


def test_gqa_stacking_keeps_macs_and_shares_kv():
    spec = get_model("llama-2-70b")
    stacked = build_workload(spec, WorkloadConfig(phase="decode", context_tokens=1024, batch=3))
    per_head = build_workload(spec, WorkloadConfig(phase="decode", context_tokens=1024, batch=3,
                                                   stack_gqa_queries=False))
    assert stacked.macs_by_category() == per_head.macs_by_category()
    qk = next(op for op in stacked.gemms if op.name == "qk")
    assert (qk.m, qk.n, qk.k, qk.repeat) == (8, 1024, 128, 3 * 8)
    qk_head = next(op for op in per_head.gemms if op.name == "qk")
    assert (qk_head.m, qk_head.repeat) == (1, 3 * 64)
    # K/V operand elements: shared per group when stacked
    assert qk.operand_elements["b"] * 8 == qk_head.operand_elements["b"]


def test_sliding_window_limits_keys():
    spec = get_model("mistral-7b")
    w = build_workload(spec, WorkloadConfig(phase="decode", context_tokens=8192))
    qk = next(op for op in w.gemms if op.name == "qk")
    assert qk.n == 4096
    window, length = 4096, 6000
    exact = build_workload(spec, WorkloadConfig(phase="prefill", context_tokens=length, causal_block_tokens=1))
    keys = sum(min(i + 1, window) for i in range(length))
    assert exact.macs_by_category()["attention"] == spec.num_layers * spec.num_heads * 2 * spec.head_dim * keys


def test_flops_and_vector_ops():
    spec = get_model("gpt2-medium")
    length = 100
    w = build_workload(spec, WorkloadConfig(phase="decode", context_tokens=length))
    flops = w.flops_by_category()
    macs = w.macs_by_category()
    assert flops["projection"] == 2 * macs["projection"]
    vec = {v.name: v for v in w.vectors}
    assert vec["softmax"].elements == spec.num_heads * length
    assert vec["attn_norm"].ops == spec.hidden_size * LAYERNORM_OPS_PER_ELEMENT
    assert vec["activation_gelu"].ops == spec.ffn_size * ACTIVATION_OPS_PER_ELEMENT["gelu"]
    assert "position_add" in vec and "rotary" not in vec
    llama = build_workload(get_model("llama-7b"), WorkloadConfig(phase="decode", context_tokens=10))
    assert {"rotary", "gate_multiply"} <= {v.name for v in llama.vectors}
    assert flops["other"] == sum(v.ops * w.occurrences(v) for v in w.vectors)


def test_context_limits_and_phase_parsing():
    spec = get_model("gpt2-medium")
    with pytest.raises(ConfigError, match="exceeds its max context 1024"):
        build_workload(spec, WorkloadConfig(phase="prefill", context_tokens=2048))
    w = build_workload(spec, WorkloadConfig(phase="prefill", context_tokens=2048, allow_beyond_max_context=True))
    assert w.config.tokens_per_pass == 2048
    assert parse_phase("both") == ["decode", "prefill"]
    with pytest.raises(ConfigError):
        parse_phase("train")


def test_workload_config_round_trip(tmp_path):
    cfg = WorkloadConfig(phase="prefill", context_tokens=777, batch=3, attention_mask="full")
    assert WorkloadConfig.load(cfg.save(tmp_path / "w.yaml")) == cfg
