"""Catalog shapes, parameter counts (hand-counted and published), config.json import."""

import json

import pytest

from imaclab.errors import ConfigError, InputError, UnknownNameError
from imaclab.llm.architecture import LlmSpec
from imaclab.llm.catalog import get_model, list_models, model_names, resolve_models
from imaclab.llm.hf_import import load_hf_config

REQUIRED = ["gpt2-medium", "gpt2-large", "gpt2-xl", "opt-125m", "opt-350m", "opt-1.3b", "opt-2.7b", "opt-6.7b",
            "opt-13b", "opt-30b", "opt-66b", "llama-7b", "llama-13b", "llama-65b", "llama-2-70b", "llama-3-8b",
            "mistral-7b", "bitnet-b1.58-2b-4t"]


def test_catalog_holds_the_required_models():
    names = model_names()
    assert len(names) >= 16
    assert set(REQUIRED) <= set(names)


def test_lookup_is_case_insensitive_and_unknown_names_suggest():
    assert get_model("OPT-1.3B").hidden_size == 2048
    assert get_model("  Llama-2-70B ").num_kv_heads == 8
    with pytest.raises(UnknownNameError) as err:
        get_model("opt-1.3")
    message = str(err.value)
    assert "unknown model 'opt-1.3'" in message and "opt-1.3b" in message and "\n" not in message


def test_resolve_all_and_lists():
    assert [m.name for m in resolve_models("all")] == model_names()
    assert [m.name for m in resolve_models("opt-125m, gpt2-xl")] == ["opt-125m", "gpt2-xl"]


def _gpt2_params(layers, h, vocab, positions):
    # per layer: c_attn h x 3h + 3h, c_proj h x h + h, c_fc h x 4h + 4h, c_proj 4h x h + h, 2 LayerNorms 4h
    return layers * (12 * h * h + 13 * h) + vocab * h + positions * h + 2 * h


def _opt_params(layers, h, ffn, vocab, embed=None, final_norm=True):
    embed = embed or h
    per_layer = 4 * (h * h + h) + (h * ffn + ffn) + (ffn * h + h) + 4 * h
    extra = 2 * embed * h if embed != h else 0
    return layers * per_layer + vocab * embed + 2050 * h + extra + (2 * h if final_norm else 0)


def _llama_params(layers, h, heads, kv_heads, d, ffn, vocab, tied=False, sub_norms=False):
    per_layer = h * heads * d * 2 + 2 * h * kv_heads * d + 3 * h * ffn + 2 * h
    if sub_norms:
        per_layer += heads * d + ffn
    return layers * per_layer + vocab * h * (1 if tied else 2) + h


@pytest.mark.parametrize("name, expected", [
    ("gpt2-medium", _gpt2_params(24, 1024, 50257, 1024)),
    ("gpt2-xl", _gpt2_params(48, 1600, 50257, 1024)),
    ("opt-125m", _opt_params(12, 768, 3072, 50272)),
    ("opt-350m", _opt_params(24, 1024, 4096, 50272, embed=512, final_norm=False)),
    ("opt-66b", _opt_params(64, 9216, 36864, 50272)),
    ("llama-7b", _llama_params(32, 4096, 32, 32, 128, 11008, 32000)),
    ("llama-2-70b", _llama_params(80, 8192, 64, 8, 128, 28672, 32000)),
    ("mistral-7b", _llama_params(32, 4096, 32, 8, 128, 14336, 32000)),
    ("bitnet-b1.58-2b-4t", _llama_params(30, 2560, 20, 5, 128, 6912, 128256, tied=True, sub_norms=True)),
])
def test_parameter_count_matches_hand_count(name, expected):
    assert get_model(name).total_parameters() == expected


def test_known_exact_totals():
    # values the published weights hold (transformers' num_parameters())
    assert get_model("opt-350m").total_parameters() == 331_196_416
    assert get_model("llama-2-70b").total_parameters() == 68_976_648_192
    assert get_model("llama-3-8b").total_parameters() == 8_030_261_248


def test_parameter_counts_within_one_percent_of_published():
    checked = 0
    for spec in list_models():
        if spec.published_parameters:
            assert spec.total_parameters() == pytest.approx(spec.published_parameters, rel=0.01), spec.name
            checked += 1
    assert checked >= 8


def test_projection_share_of_bitnet_matches_its_reported_memory():
    # Ma et al. 2025 (BitNet b1.58 2B4T) report 0.4 GB of non-embedding weights at 1.58 bits
    spec = get_model("bitnet-b1.58-2b-4t")
    projection_gb = spec.parameter_counts()["projection"] * 1.58 / 8 / 1e9
    assert projection_gb == pytest.approx(0.4, abs=0.02)


def test_spec_round_trips_and_validates(tmp_path):
    spec = get_model("llama-2-70b")
    assert LlmSpec.load(spec.save(tmp_path / "m.yaml")) == spec
    assert LlmSpec.load(spec.save(tmp_path / "m.json")) == spec
    with pytest.raises(ConfigError, match="multiple of num_kv_heads"):
        spec.with_overrides({"num_kv_heads": 7})


HF_CONFIGS = {
    "gpt2-large": {"model_type": "gpt2", "n_layer": 36, "n_embd": 1280, "n_head": 20, "n_inner": None,
                   "n_positions": 1024, "n_ctx": 1024, "vocab_size": 50257, "activation_function": "gelu_new"},
    "opt-350m": {"model_type": "opt", "num_hidden_layers": 24, "hidden_size": 1024, "num_attention_heads": 16,
                 "ffn_dim": 4096, "vocab_size": 50272, "max_position_embeddings": 2048,
                 "word_embed_proj_dim": 512, "do_layer_norm_before": False, "activation_function": "relu",
                 "enable_bias": True},
    "llama-2-70b": {"model_type": "llama", "num_hidden_layers": 80, "hidden_size": 8192,
                    "num_attention_heads": 64, "num_key_value_heads": 8, "intermediate_size": 28672,
                    "vocab_size": 32000, "max_position_embeddings": 4096, "hidden_act": "silu",
                    "tie_word_embeddings": False},
    "mistral-7b": {"model_type": "mistral", "num_hidden_layers": 32, "hidden_size": 4096,
                   "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
                   "vocab_size": 32000, "max_position_embeddings": 32768, "sliding_window": 4096,
                   "hidden_act": "silu", "tie_word_embeddings": False},
    "bitnet-b1.58-2b-4t": {"model_type": "bitnet", "num_hidden_layers": 30, "hidden_size": 2560,
                           "num_attention_heads": 20, "num_key_value_heads": 5, "intermediate_size": 6912,
                           "vocab_size": 128256, "max_position_embeddings": 4096, "hidden_act": "relu2",
                           "tie_word_embeddings": True},
}
SHAPE_FIELDS = ["num_layers", "hidden_size", "num_heads", "num_kv_heads", "head_dim", "ffn_size", "ffn_kind",
                "activation", "vocab_size", "tied_embeddings", "max_context", "embed_dim", "position_embedding",
                "position_table_rows", "norm", "final_norm", "sub_norms", "attention_bias", "mlp_bias",
                "sliding_window"]


@pytest.mark.parametrize("name", sorted(HF_CONFIGS))
def test_hf_config_import_matches_catalog(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(HF_CONFIGS[name]))
    imported = load_hf_config(folder)
    catalog = get_model(name)
    assert imported.name == name
    assert {f: getattr(imported, f) for f in SHAPE_FIELDS} == {f: getattr(catalog, f) for f in SHAPE_FIELDS}
    assert imported.total_parameters() == catalog.total_parameters()
    assert get_model(str(folder / "config.json")).total_parameters() == catalog.total_parameters()


def test_hf_import_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_hf_config(tmp_path / "nothing.json")
    bad = tmp_path / "config.json"
    bad.write_text(json.dumps({"model_type": "t5"}))
    with pytest.raises(InputError, match="not supported"):
        load_hf_config(bad)
    bad.write_text(json.dumps({"model_type": "llama", "hidden_size": 64}))
    with pytest.raises(InputError, match="has no .num_attention_heads"):
        load_hf_config(bad)
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_hf_config(bad)
