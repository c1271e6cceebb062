"""Decoder-only transformer architecture, as published in a model's config.

One :class:`LlmSpec` holds every shape a forward pass needs (layers, widths,
heads, FFN kind, vocabulary, embeddings) plus the small facts that decide an
exact parameter count (biases, norm kind, learned position table, OPT-350m's
``project_in``/``project_out``).  Parameter counts are derived here, once, and
split into the categories the Amdahl analysis uses.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from imaclab.config import ConfigModel
from imaclab.errors import ConfigError

#: Categories of matrix work; "other" is vector work (norms, softmax, activations, adds).
CATEGORIES: tuple[str, ...] = ("projection", "attention", "head", "other")
#: The four attention-side projection matrices of a layer; the rest of a layer's projections are FFN.
ATTENTION_PROJECTIONS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


class LlmSpec(ConfigModel):
    """Architecture of one decoder-only LLM (shapes as in its Hugging Face ``config.json``)."""

    name: str = Field(description="catalog name, lower case (e.g. 'opt-1.3b')")
    family: Literal["gpt2", "opt", "llama", "mistral", "bitnet", "other"] = Field(
        description="architecture family; decides which config.json keys were read")
    num_layers: int = Field(gt=0, description="decoder layers (num_hidden_layers / n_layer)")
    hidden_size: int = Field(gt=0, description="residual-stream width d_model (hidden_size / n_embd)")
    num_heads: int = Field(gt=0, description="query heads per layer")
    num_kv_heads: int = Field(gt=0, description="key/value heads per layer (< num_heads: grouped-query attention)")
    head_dim: int = Field(gt=0, description="width of one attention head")
    ffn_size: int = Field(gt=0, description="FFN inner width (intermediate_size / ffn_dim / n_inner)")
    ffn_kind: Literal["mlp", "gated"] = Field(
        description="'mlp': two matrices up/down; 'gated': three matrices gate/up/down (SwiGLU-style)")
    activation: Literal["gelu", "relu", "silu", "relu2"] = Field(description="FFN activation function")
    vocab_size: int = Field(gt=0, description="vocabulary size (rows of the token embedding)")
    tied_embeddings: bool = Field(description="LM head shares the token-embedding matrix")
    max_context: int = Field(gt=0, description="longest sequence the model was trained for, tokens")
    embed_dim: int | None = Field(
        default=None, description="token-embedding width when it differs from hidden_size "
        "(OPT-350m word_embed_proj_dim=512, projected in/out by project_in/project_out)")
    position_embedding: Literal["learned", "rotary"] = Field(description="learned table or rotary (RoPE)")
    position_table_rows: int = Field(
        default=0, ge=0, description="rows of a learned position table (GPT-2: n_positions; OPT: max+2 offset)")
    norm: Literal["layernorm", "rmsnorm"] = Field(description="LayerNorm (weight+bias) or RMSNorm (weight)")
    final_norm: bool = Field(default=True, description="a norm after the last layer (False for post-LN OPT-350m)")
    sub_norms: bool = Field(default=False, description="BitNet 'subln': extra norms before o_proj and down_proj")
    attention_bias: bool = Field(default=False, description="Q/K/V/O projections carry biases")
    mlp_bias: bool = Field(default=False, description="FFN matrices carry biases")
    sliding_window: int | None = Field(
        default=None, gt=0, description="sliding-window attention span in tokens (Mistral 7B v0.1: 4096)")
    published_parameters: int | None = Field(
        default=None, gt=0, description="parameter count stated by the publisher (see `source`)")
    source: str = Field(default="", description="where the shapes and published size come from")

    @model_validator(mode="after")
    def _check_shapes(self) -> LlmSpec:
        problems = []
        if self.num_heads % self.num_kv_heads:
            problems.append(f"num_heads {self.num_heads} is not a multiple of num_kv_heads {self.num_kv_heads}")
        if self.position_embedding == "learned" and self.position_table_rows == 0:
            problems.append("learned position embedding needs position_table_rows > 0")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # derived shapes ---------------------------------------------------------------
    @property
    def token_embed_dim(self) -> int:
        """Width of the token embedding (= hidden_size unless projected in/out)."""
        return self.embed_dim if self.embed_dim is not None else self.hidden_size

    @property
    def query_width(self) -> int:
        """num_heads * head_dim: output width of Q, input width of the output projection."""
        return self.num_heads * self.head_dim

    @property
    def kv_width(self) -> int:
        """num_kv_heads * head_dim: output width of K and of V."""
        return self.num_kv_heads * self.head_dim

    @property
    def gqa_group(self) -> int:
        """Query heads sharing one key/value head (1 = multi-head attention)."""
        return self.num_heads // self.num_kv_heads

    @property
    def has_embed_projection(self) -> bool:
        return self.embed_dim is not None and self.embed_dim != self.hidden_size

    # parameters -------------------------------------------------------------------
    def projection_weight_shapes(self) -> dict[str, tuple[int, int]]:
        """(in_features, out_features) of every projection matrix of one decoder layer."""
        h, f = self.hidden_size, self.ffn_size
        shapes = {"q_proj": (h, self.query_width), "k_proj": (h, self.kv_width),
                  "v_proj": (h, self.kv_width), "o_proj": (self.query_width, h)}
        if self.ffn_kind == "gated":
            shapes.update(gate_proj=(h, f), up_proj=(h, f), down_proj=(f, h))
        else:
            shapes.update(up_proj=(h, f), down_proj=(f, h))
        return shapes

    def parameter_counts(self) -> dict[str, int]:
        """Parameters by group, whole model.

        Groups: ``projection`` (the matrices 1-bit LLMs quantize), ``projection_bias``,
        ``norm``, ``token_embedding``, ``position_embedding``, ``embed_projection``
        (OPT-350m project_in/out), ``head`` (untied LM head only; a tied head adds none).
        """
        shapes = self.projection_weight_shapes()
        per_layer_proj = sum(i * o for i, o in shapes.values())
        per_layer_bias = 0
        if self.attention_bias:
            per_layer_bias += self.query_width + 2 * self.kv_width + self.hidden_size
        if self.mlp_bias:
            per_layer_bias += sum(o for name, (_, o) in shapes.items() if name not in ATTENTION_PROJECTIONS)
        norm_params = 2 if self.norm == "layernorm" else 1
        per_layer_norm = 2 * self.hidden_size * norm_params
        if self.sub_norms:
            per_layer_norm += (self.query_width + self.ffn_size) * norm_params
        e = self.token_embed_dim
        return {
            "projection": self.num_layers * per_layer_proj,
            "projection_bias": self.num_layers * per_layer_bias,
            "norm": self.num_layers * per_layer_norm + (self.hidden_size * norm_params if self.final_norm else 0),
            "token_embedding": self.vocab_size * e,
            "position_embedding": self.position_table_rows * self.hidden_size,
            "embed_projection": 2 * e * self.hidden_size if self.has_embed_projection else 0,
            "head": 0 if self.tied_embeddings else self.vocab_size * e,
        }

    def total_parameters(self) -> int:
        """Every stored parameter (a tied LM head counted once)."""
        return sum(self.parameter_counts().values())

    def summary(self) -> dict[str, object]:
        """One row for a catalog listing."""
        return {
            "name": self.name, "layers": self.num_layers, "hidden": self.hidden_size, "heads": self.num_heads,
            "kv_heads": self.num_kv_heads, "head_dim": self.head_dim, "ffn": self.ffn_size,
            "ffn_kind": self.ffn_kind, "vocab": self.vocab_size, "tied": self.tied_embeddings,
            "max_context": self.max_context, "parameters": self.total_parameters(),
            "projection_parameters": self.parameter_counts()["projection"],
        }


def check_context(spec: LlmSpec, context_tokens: int) -> None:
    """Raise ConfigError when ``context_tokens`` is outside what ``spec`` can process."""
    if context_tokens < 1:
        raise ConfigError(f"context length must be >= 1 token, got {context_tokens}")
    if context_tokens > spec.max_context:
        raise ConfigError(f"{spec.name}: context {context_tokens} exceeds its max context {spec.max_context} "
                          f"tokens (use a shorter --context, or --allow-beyond-max-context / "
                          f"workload.allow_beyond_max_context=true to run it anyway)")
