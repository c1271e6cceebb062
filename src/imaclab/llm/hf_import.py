"""Read an :class:`LlmSpec` from a local Hugging Face ``config.json`` (no network).

Supported ``model_type`` values: ``gpt2``, ``opt``, and the LLaMA family
(``llama``, ``mistral``, ``bitnet``).  Defaults for absent keys follow the
``transformers`` configuration classes of each family.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imaclab.errors import ConfigError, InputError
from imaclab.llm.architecture import LlmSpec

#: transformers' GPT2Config default context when neither n_positions nor n_ctx is given
GPT2_DEFAULT_POSITIONS = 1024
#: OPT's learned position table has max_position_embeddings + 2 rows (OPTLearnedPositionalEmbedding offset)
OPT_POSITION_OFFSET = 2
LLAMA_FAMILY = ("llama", "mistral", "bitnet")

_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "gelu_fast": "gelu",
                "relu": "relu", "silu": "silu", "swish": "silu", "relu2": "relu2"}


def _need(cfg: dict[str, Any], key: str, where: str) -> Any:
    if key not in cfg or cfg[key] is None:
        raise InputError(f"{where}: config.json has no '{key}' (needed for model_type '{cfg.get('model_type')}')")
    return cfg[key]


def _activation(name: str, where: str) -> str:
    if name not in _ACTIVATIONS:
        raise InputError(f"{where}: activation '{name}' is not modelled (known: {', '.join(sorted(_ACTIVATIONS))})")
    return _ACTIVATIONS[name]


def spec_from_hf_dict(cfg: dict[str, Any], *, name: str, where: str = "config.json") -> LlmSpec:
    """Build an LlmSpec from the parsed contents of a ``config.json``."""
    model_type = str(cfg.get("model_type", "")).lower()
    if model_type == "gpt2":
        hidden = _need(cfg, "n_embd", where)
        heads = _need(cfg, "n_head", where)
        positions = cfg.get("n_positions") or cfg.get("n_ctx") or GPT2_DEFAULT_POSITIONS
        fields = dict(
            family="gpt2", num_layers=_need(cfg, "n_layer", where), hidden_size=hidden, num_heads=heads,
            num_kv_heads=heads, head_dim=hidden // heads, ffn_size=cfg.get("n_inner") or 4 * hidden,
            ffn_kind="mlp", activation=_activation(cfg.get("activation_function", "gelu_new"), where),
            vocab_size=_need(cfg, "vocab_size", where), tied_embeddings=cfg.get("tie_word_embeddings", True),
            max_context=positions, position_embedding="learned", position_table_rows=positions,
            norm="layernorm", attention_bias=True, mlp_bias=True)
    elif model_type == "opt":
        hidden = _need(cfg, "hidden_size", where)
        heads = _need(cfg, "num_attention_heads", where)
        max_pos = _need(cfg, "max_position_embeddings", where)
        embed = cfg.get("word_embed_proj_dim") or hidden
        bias = cfg.get("enable_bias", True)
        pre_ln = cfg.get("do_layer_norm_before", True)
        fields = dict(
            family="opt", num_layers=_need(cfg, "num_hidden_layers", where), hidden_size=hidden, num_heads=heads,
            num_kv_heads=heads, head_dim=hidden // heads, ffn_size=_need(cfg, "ffn_dim", where), ffn_kind="mlp",
            activation=_activation(cfg.get("activation_function", "relu"), where),
            vocab_size=_need(cfg, "vocab_size", where), tied_embeddings=cfg.get("tie_word_embeddings", True),
            max_context=max_pos, embed_dim=embed if embed != hidden else None, position_embedding="learned",
            position_table_rows=max_pos + OPT_POSITION_OFFSET, norm="layernorm",
            final_norm=bool(pre_ln and not cfg.get("_remove_final_layer_norm", False)),
            attention_bias=bias, mlp_bias=bias)
    elif model_type in LLAMA_FAMILY:
        hidden = _need(cfg, "hidden_size", where)
        heads = _need(cfg, "num_attention_heads", where)
        fields = dict(
            family=model_type, num_layers=_need(cfg, "num_hidden_layers", where), hidden_size=hidden,
            num_heads=heads, num_kv_heads=cfg.get("num_key_value_heads") or heads,
            head_dim=cfg.get("head_dim") or hidden // heads, ffn_size=_need(cfg, "intermediate_size", where),
            ffn_kind="gated", activation=_activation(cfg.get("hidden_act", "silu"), where),
            vocab_size=_need(cfg, "vocab_size", where), tied_embeddings=cfg.get("tie_word_embeddings", False),
            max_context=_need(cfg, "max_position_embeddings", where), position_embedding="rotary",
            norm="rmsnorm", sub_norms=model_type == "bitnet", attention_bias=cfg.get("attention_bias", False),
            mlp_bias=cfg.get("mlp_bias", False), sliding_window=cfg.get("sliding_window"))
    else:
        raise InputError(f"{where}: model_type '{model_type or '(missing)'}' is not supported "
                         f"(supported: gpt2, opt, {', '.join(LLAMA_FAMILY)})")
    fields.update(name=name.lower(), source=f"imported from {where}")
    return LlmSpec.from_dict(fields, source=where)


def load_hf_config(path: str | Path, *, name: str | None = None) -> LlmSpec:
    """Read ``config.json`` (or a directory holding one) into an LlmSpec.

    The model name defaults to the ``_name_or_path`` key, else the directory name.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise InputError(f"{path}: config.json not found (give a Hugging Face config.json or its directory)")
    try:
        cfg = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}:{err.lineno}: not valid JSON: {err.msg}") from None
    if not isinstance(cfg, dict):
        raise InputError(f"{path}: expected a JSON object of config keys")
    default_name = str(cfg.get("_name_or_path") or path.parent.name or path.stem).rstrip("/").split("/")[-1]
    return spec_from_hf_dict(cfg, name=name or default_name, where=str(path))
