"""Number formats per category, and the bytes a workload moves at those formats.

1-bit LLMs quantize only the projection weights (W1, W1.58 = ternary, W2) and
the activations entering them (A8); attention, its KV cache, the LM head and
vector work keep a higher precision.  :class:`PrecisionConfig` holds one bit
width per (category, operand) so that split can be expressed exactly.

Bits may be fractional: 1.58 = log2(3), the information content of a ternary
weight.  Real packings store 2 bits (bitnet.cpp I2_S, TL1) or 5 bits per 3
weights = 1.67 (TL2); pass those values to model a kernel's actual storage.
"""

from __future__ import annotations

import re

from pydantic import Field

from imaclab.config import ConfigModel
from imaclab.errors import ConfigError
from imaclab.llm.architecture import CATEGORIES
from imaclab.llm.workload import GemmOp, Workload

BITS_PER_BYTE = 8
_FORMAT = re.compile(r"^w(?P<w>\d+(\.\d+)?)a(?P<a>\d+(\.\d+)?)$")


class PrecisionConfig(ConfigModel):
    """Bit widths of every operand class, by category."""

    projection_weight_bits: float = Field(default=16, gt=0, le=32, description="Q/K/V/O and FFN weights, bits")
    projection_activation_bits: float = Field(default=16, gt=0, le=32,
                                              description="activations into and out of projections, bits")
    attention_activation_bits: float = Field(default=16, gt=0, le=32,
                                             description="Q, scores (unfused) and attention output, bits")
    kv_cache_bits: float = Field(default=16, gt=0, le=32, description="K and V cache entries, bits")
    head_weight_bits: float = Field(default=16, gt=0, le=32, description="LM head (and OPT project_in/out), bits")
    head_activation_bits: float = Field(default=16, gt=0, le=32, description="LM head inputs and logits, bits")
    other_activation_bits: float = Field(default=16, gt=0, le=32, description="vector-operation operands, bits")

    @classmethod
    def parse(cls, text: str, base: PrecisionConfig | None = None) -> PrecisionConfig:
        """``'fp16'``/``'bf16'`` (all 16 bits), ``'fp32'``, ``'int8'``, or ``'w<bits>a<bits>'``.

        ``w<W>a<A>`` sets only the projection weights and activations (e.g. ``w1.58a8``
        = BitNet b1.58); every other class keeps ``base`` (FP16 by default).
        """
        key = text.strip().lower()
        base = base or cls()
        uniform = {"fp16": 16, "bf16": 16, "fp32": 32, "int8": 8}
        if key in uniform:
            bits = uniform[key]
            return cls(**dict.fromkeys(cls.model_fields, bits))
        match = _FORMAT.match(key)
        if not match:
            raise ConfigError(f"unknown precision '{text}': use fp16, bf16, fp32, int8 or w<bits>a<bits> "
                              f"(e.g. w1.58a8, w1a8, w2a8, w4a16)")
        return base.with_overrides({"projection_weight_bits": float(match["w"]),
                                    "projection_activation_bits": float(match["a"])})

    def weight_bits(self, category: str) -> float:
        return self.head_weight_bits if category == "head" else self.projection_weight_bits

    def activation_bits(self, category: str) -> float:
        return {"projection": self.projection_activation_bits, "attention": self.attention_activation_bits,
                "head": self.head_activation_bits}.get(category, self.other_activation_bits)

    def operand_bits(self, op: GemmOp, kind: str) -> float:
        """Bits per element of one operand class of ``op``."""
        if kind == "weight":
            return self.weight_bits(op.category)
        if kind == "kv":
            return self.kv_cache_bits
        if kind == "activation":
            return self.activation_bits(op.category)
        return 0.0

    def compute_bits(self, category: str) -> float:
        """Width the arithmetic of a category runs at: the wider of its two operands."""
        if category == "attention":
            return max(self.attention_activation_bits, self.kv_cache_bits)
        if category == "other":
            return self.other_activation_bits
        return max(self.weight_bits(category), self.activation_bits(category))


TRAFFIC_KINDS = ("weight", "activation", "kv")


def gemm_bytes(op: GemmOp, precision: PrecisionConfig, *, activation_traffic: bool = True) -> dict[str, float]:
    """Bytes of one occurrence of ``op`` (all repeats) by traffic kind: weight, activation, kv.

    Each operand crosses the memory interface once (weights and K/V read once per GEMM,
    activations read and written once); ``activation_traffic=False`` keeps activations on chip.
    """
    elements = op.operand_elements
    out = dict.fromkeys(TRAFFIC_KINDS, 0.0)
    for slot, kind in (("a", op.a_kind), ("b", op.b_kind), ("c", op.c_kind)):
        if kind == "onchip" or (kind == "activation" and not activation_traffic):
            continue
        out[kind] += elements[slot] * precision.operand_bits(op, kind) / BITS_PER_BYTE
    return out


def bytes_split(workload: Workload, precision: PrecisionConfig, *, activation_traffic: bool = True
                ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Bytes ``(one decoder layer, outside the layers)``, each ``{category: {weight, activation, kv}}``."""
    per_layer = {c: dict.fromkeys(TRAFFIC_KINDS, 0.0) for c in CATEGORIES}
    outside = {c: dict.fromkeys(TRAFFIC_KINDS, 0.0) for c in CATEGORIES}
    for op in workload.gemms:
        target = per_layer if op.per_layer else outside
        for kind, value in gemm_bytes(op, precision, activation_traffic=activation_traffic).items():
            target[op.category][kind] += value
    if activation_traffic:
        for vop in workload.vectors:
            target = per_layer if vop.per_layer else outside
            target[vop.category]["activation"] += (vop.elements * vop.memory_passes
                                                   * precision.activation_bits(vop.category) / BITS_PER_BYTE)
    return per_layer, outside


def bytes_by_category(workload: Workload, precision: PrecisionConfig, *,
                      activation_traffic: bool = True) -> dict[str, dict[str, float]]:
    """Bytes of the whole pass, ``{category: {weight, activation, kv, total}}``."""
    per_layer, outside = bytes_split(workload, precision, activation_traffic=activation_traffic)
    out = {}
    for c in CATEGORIES:
        row = {k: per_layer[c][k] * workload.num_layers + outside[c][k] for k in TRAFFIC_KINDS}
        row["total"] = sum(row.values())
        out[c] = row
    return out


def weight_storage_bytes(workload: Workload, precision: PrecisionConfig) -> dict[str, float]:
    """Bytes to store the weights: projections at their bits; embeddings, LM head, norms,
    biases and position tables at the head (high-precision) bits, as BitNet keeps them."""
    counts = workload.model.parameter_counts()
    rest = sum(v for k, v in counts.items() if k != "projection")
    return {"projection": counts["projection"] * precision.projection_weight_bits / BITS_PER_BYTE,
            "non_projection": rest * precision.head_weight_bits / BITS_PER_BYTE}
