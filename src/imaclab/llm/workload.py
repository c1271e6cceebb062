"""One forward pass of a decoder LLM as a table of GEMMs and vector operations.

A :class:`Workload` lists every matrix multiply (M, N, K) with how often it
repeats and its category (``projection``, ``attention``, ``head``), plus the
vector operations (norms, softmax, activations, residual adds; category
``other``) with element counts.  GEMM convention, shared with
:mod:`imaclab.systolic`: ``m`` rows of the streamed operand (tokens),
``n`` output features, ``k`` the reduction.

Phases
------
* ``prefill``: a prompt of ``L = context_tokens`` tokens per sequence.
* ``decode``: one new token per sequence whose attention spans ``L`` keys; the
  KV cache includes the new token's own key (so ``L - 1`` earlier tokens).

Attention is one GEMM per (sequence, KV head): the ``num_heads / num_kv_heads``
query heads that share a K/V head are stacked as rows of one GEMM
(``stack_gqa_queries``), so grouped-query attention reads each K/V once.
Causal prefill (the default) skips masked work at the granularity of query
blocks of ``causal_block_tokens`` rows, as FlashAttention-style kernels do;
``causal_block_tokens=1`` counts exactly the lower triangle, a block as long
as the prompt (or ``attention_mask='full'``) the full square.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Literal

from pydantic import Field

from imaclab.config import ConfigModel
from imaclab.errors import ConfigError
from imaclab.llm.architecture import CATEGORIES, LlmSpec, check_context

# Arithmetic operations per element of each vector operation (counted as the
# elementwise steps of the textbook formula; used for vector-unit cycles and
# roofline vector time, never for the GEMM work).
LAYERNORM_OPS_PER_ELEMENT = 8   # mean (add), variance (sub, mul, add), normalize (sub, mul), affine (mul, add)
RMSNORM_OPS_PER_ELEMENT = 4     # square, accumulate, scale by 1/rms, weight
SOFTMAX_OPS_PER_ELEMENT = 5     # running max, subtract, exp, accumulate, normalize (1/sqrt(d) folded into Q)
ROTARY_OPS_PER_ELEMENT = 3      # x*cos + rotate_half(x)*sin
ADD_OPS_PER_ELEMENT = 1         # residual add, position-embedding add, gate multiply
ACTIVATION_OPS_PER_ELEMENT = {
    "relu": 1,      # max(x, 0)
    "relu2": 2,     # max(x, 0), square (BitNet b1.58 2B4T)
    "silu": 4,      # negate, exp, add 1, divide
    "gelu": 8,      # tanh approximation: x^3, scale, add, scale, tanh, add 1, times x, times 0.5
}
# Element transfers to or from memory per element (reads + writes), when the
# operation is not fused with its neighbours.
UNARY_PASSES = 2    # read input, write output
BINARY_PASSES = 3   # read two inputs, write output

OperandKind = Literal["activation", "weight", "kv", "onchip"]


class WorkloadConfig(ConfigModel):
    """What one forward pass computes."""

    phase: Literal["prefill", "decode"] = Field(default="decode", description="prefill a prompt or decode a token")
    context_tokens: int = Field(default=512, gt=0, description=(
        "prefill: prompt length L; decode: keys the new token attends to, its own included"))
    batch: int = Field(default=1, gt=0, description="sequences processed together")
    attention_mask: Literal["causal", "full"] = Field(default="causal", description=(
        "prefill attention: 'causal' computes only unmasked query blocks, 'full' the whole L x L square"))
    causal_block_tokens: int = Field(default=64, gt=0, description=(
        "query rows per causal block (FlashAttention-2 uses 64-128); 1 = exact lower triangle"))
    prefill_logits: Literal["last", "all"] = Field(default="last", description=(
        "prefill LM head for the last token only (generation) or for every prompt token (scoring)"))
    stack_gqa_queries: bool = Field(default=True, description=(
        "stack the query heads sharing a K/V head into one GEMM (K/V read once per group)"))
    fused_attention: bool = Field(default=True, description=(
        "scores and probabilities stay on chip (FlashAttention); only traffic accounting changes"))
    allow_beyond_max_context: bool = Field(default=False, description=(
        "allow context_tokens above the model's max_context (shapes only; the model was not trained for it)"))

    @property
    def new_tokens(self) -> int:
        """Tokens entering the model per sequence in this pass."""
        return self.context_tokens if self.phase == "prefill" else 1

    @property
    def tokens_per_pass(self) -> int:
        """Tokens processed per pass over the batch (for tokens/s)."""
        return self.batch * self.new_tokens


@dataclass(frozen=True)
class GemmOp:
    """One matrix multiply ``C[m, n] = A[m, k] @ B[k, n]`` repeated ``repeat`` times.

    ``per_layer``: it occurs once in every decoder layer (else once per pass).
    Operand kinds decide which precision its traffic is counted at:
    ``weight`` (stationary weights), ``kv`` (KV cache), ``activation``, ``onchip`` (no traffic).
    """

    name: str
    category: str
    m: int
    n: int
    k: int
    repeat: int
    per_layer: bool
    a_kind: OperandKind = "activation"
    b_kind: OperandKind = "weight"
    c_kind: OperandKind = "activation"

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one occurrence (all repeats, one layer)."""
        return self.m * self.n * self.k * self.repeat

    @property
    def operand_elements(self) -> dict[str, int]:
        """Elements of A, B, C for one occurrence (all repeats)."""
        return {"a": self.m * self.k * self.repeat, "b": self.k * self.n * self.repeat,
                "c": self.m * self.n * self.repeat}


@dataclass(frozen=True)
class VectorOp:
    """An elementwise or row-wise vector operation over ``elements`` values."""

    name: str
    category: str
    elements: int
    ops_per_element: int
    memory_passes: int
    per_layer: bool

    @property
    def ops(self) -> int:
        return self.elements * self.ops_per_element


@dataclass(frozen=True)
class Workload:
    """Every GEMM and vector operation of one forward pass of ``model``."""

    model: LlmSpec
    config: WorkloadConfig
    gemms: tuple[GemmOp, ...]
    vectors: tuple[VectorOp, ...]

    @property
    def num_layers(self) -> int:
        return self.model.num_layers

    def occurrences(self, op: GemmOp | VectorOp) -> int:
        """How many times ``op`` occurs in the pass (num_layers or 1)."""
        return self.num_layers if op.per_layer else 1

    def macs_by_category(self) -> dict[str, int]:
        """Multiply-accumulates of the whole pass by category (``other`` has none)."""
        out = dict.fromkeys(CATEGORIES, 0)
        for op in self.gemms:
            out[op.category] += op.macs * self.occurrences(op)
        return out

    def vector_ops_by_category(self) -> dict[str, int]:
        out = dict.fromkeys(CATEGORIES, 0)
        for op in self.vectors:
            out[op.category] += op.ops * self.occurrences(op)
        return out

    def flops_by_category(self) -> dict[str, int]:
        """2 x MACs for GEMMs plus the vector operations' arithmetic."""
        macs, vec = self.macs_by_category(), self.vector_ops_by_category()
        return {c: 2 * macs[c] + vec[c] for c in CATEGORIES}

    def gemm_table(self) -> list[dict[str, object]]:
        """One row per GEMM (for tables, CSV, JSON)."""
        return [{**asdict(op), "occurrences": self.occurrences(op), "macs_total": op.macs * self.occurrences(op)}
                for op in self.gemms]

    def vector_table(self) -> list[dict[str, object]]:
        return [{**asdict(op), "occurrences": self.occurrences(op)} for op in self.vectors]

    def to_dict(self) -> dict[str, object]:
        return {"model": self.model.name, "layers": self.num_layers, "workload": self.config.to_dict(),
                "macs_by_category": self.macs_by_category(), "flops_by_category": self.flops_by_category(),
                "gemms": self.gemm_table(), "vectors": self.vector_table()}


def _attention_gemms(spec: LlmSpec, cfg: WorkloadConfig) -> list[GemmOp]:
    """QK^T and scores.V of one layer, stacked per K/V head when allowed."""
    group = spec.gqa_group if cfg.stack_gqa_queries else 1
    units = cfg.batch * (spec.num_kv_heads if cfg.stack_gqa_queries else spec.num_heads)
    d = spec.head_dim
    window = spec.sliding_window
    score_kind: OperandKind = "onchip" if cfg.fused_attention else "activation"
    # (query rows, keys) -> how many such blocks per unit
    blocks: dict[tuple[int, int], int] = defaultdict(int)
    length = cfg.context_tokens
    if cfg.phase == "decode":
        blocks[(1, min(length, window) if window else length)] += 1
    elif cfg.attention_mask == "full":
        blocks[(length, length)] += 1
    else:
        step = min(cfg.causal_block_tokens, length)
        for start in range(0, length, step):
            end = min(start + step, length)
            first_key = max(0, start - window + 1) if window else 0
            blocks[(end - start, end - first_key)] += 1
    gemms = []
    for index, ((rows, keys), count) in enumerate(sorted(blocks.items())):
        suffix = "" if len(blocks) == 1 else f"[{index}]"
        gemms.append(GemmOp(f"qk{suffix}", "attention", m=group * rows, n=keys, k=d, repeat=units * count,
                            per_layer=True, a_kind="activation", b_kind="kv", c_kind=score_kind))
        gemms.append(GemmOp(f"sv{suffix}", "attention", m=group * rows, n=d, k=keys, repeat=units * count,
                            per_layer=True, a_kind=score_kind, b_kind="kv", c_kind="activation"))
    return gemms


def build_workload(spec: LlmSpec, config: WorkloadConfig | None = None) -> Workload:
    """The GEMMs and vector operations of one forward pass of ``spec`` under ``config``."""
    cfg = config or WorkloadConfig()
    if not cfg.allow_beyond_max_context:
        check_context(spec, cfg.context_tokens)
    rows = cfg.batch * cfg.new_tokens
    head_rows = rows if (cfg.phase == "decode" or cfg.prefill_logits == "all") else cfg.batch
    h, f, e = spec.hidden_size, spec.ffn_size, spec.token_embed_dim
    gemms: list[GemmOp] = []
    for name, (fan_in, fan_out) in spec.projection_weight_shapes().items():
        writes_cache = name in ("k_proj", "v_proj")
        gemms.append(GemmOp(name, "projection", m=rows, n=fan_out, k=fan_in, repeat=1, per_layer=True,
                            c_kind="kv" if writes_cache else "activation"))
    gemms.extend(_attention_gemms(spec, cfg))
    if spec.has_embed_projection:
        gemms.append(GemmOp("project_in", "head", m=rows, n=h, k=e, repeat=1, per_layer=False))
        gemms.append(GemmOp("project_out", "head", m=head_rows, n=e, k=h, repeat=1, per_layer=False))
    gemms.append(GemmOp("lm_head", "head", m=head_rows, n=spec.vocab_size, k=e, repeat=1, per_layer=False))

    norm_ops = LAYERNORM_OPS_PER_ELEMENT if spec.norm == "layernorm" else RMSNORM_OPS_PER_ELEMENT
    scores = sum(op.m * op.n * op.repeat for op in gemms if op.name.startswith("qk"))
    softmax_passes = 0 if cfg.fused_attention else UNARY_PASSES
    vectors = [
        VectorOp("attn_norm", "other", rows * h, norm_ops, UNARY_PASSES, True),
        VectorOp("softmax", "other", scores, SOFTMAX_OPS_PER_ELEMENT, softmax_passes, True),
        VectorOp("attn_residual_add", "other", rows * h, ADD_OPS_PER_ELEMENT, BINARY_PASSES, True),
        VectorOp("ffn_norm", "other", rows * h, norm_ops, UNARY_PASSES, True),
        VectorOp(f"activation_{spec.activation}", "other", rows * f, ACTIVATION_OPS_PER_ELEMENT[spec.activation],
                 UNARY_PASSES, True),
        VectorOp("ffn_residual_add", "other", rows * h, ADD_OPS_PER_ELEMENT, BINARY_PASSES, True),
    ]
    if spec.position_embedding == "rotary":
        vectors.append(VectorOp("rotary", "other", rows * (spec.query_width + spec.kv_width),
                                ROTARY_OPS_PER_ELEMENT, UNARY_PASSES, True))
    if spec.ffn_kind == "gated":
        vectors.append(VectorOp("gate_multiply", "other", rows * f, ADD_OPS_PER_ELEMENT, BINARY_PASSES, True))
    if spec.sub_norms:
        vectors.append(VectorOp("attn_sub_norm", "other", rows * spec.query_width, norm_ops, UNARY_PASSES, True))
        vectors.append(VectorOp("ffn_sub_norm", "other", rows * f, norm_ops, UNARY_PASSES, True))
    # Outside the layers: the embedding gather moves rows but does no arithmetic.
    vectors.append(VectorOp("embedding_gather", "other", rows * e, 0, UNARY_PASSES, False))
    if spec.position_embedding == "learned":
        vectors.append(VectorOp("position_add", "other", rows * h, ADD_OPS_PER_ELEMENT, BINARY_PASSES, False))
    if spec.final_norm:
        vectors.append(VectorOp("final_norm", "other", head_rows * h, norm_ops, UNARY_PASSES, False))
    return Workload(model=spec, config=cfg, gemms=tuple(gemms), vectors=tuple(vectors))


def parse_phase(text: str) -> list[str]:
    """``'decode'``, ``'prefill'`` or ``'both'`` -> list of phases."""
    key = text.strip().lower()
    if key == "both":
        return ["decode", "prefill"]
    if key in ("decode", "prefill"):
        return [key]
    raise ConfigError(f"unknown phase '{text}': use decode, prefill or both")
