"""Published 1-bit LLM measurements and what this model predicts for them.

Each :class:`PublishedResult` is one measured number from a paper, with the
closest catalog shape and the precision pair to predict it with.  The
predictions are the memory-bound decode speedup (bytes before / bytes after,
bandwidth cancels), the roofline decode speedup on the named device, and the
weight-storage ratio: upper bounds that ignore kernel overheads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

from imaclab.llm.amdahl import amdahl
from imaclab.llm.catalog import get_model
from imaclab.llm.costs import MemoryConfig, memory_cost, roofline_cost
from imaclab.llm.precision import PrecisionConfig, weight_storage_bytes
from imaclab.llm.roofline import RooflineHardware
from imaclab.llm.workload import WorkloadConfig, build_workload
from imaclab.result import Result, Table

BITNET_B158 = "Ma et al. 2024, The Era of 1-bit LLMs (arXiv:2402.17764)"
BITNET_CPP = "Wang et al. 2024, bitnet.cpp (arXiv:2410.16144)"
BITNET_2B4T = "Ma et al. 2025, BitNet b1.58 2B4T Technical Report (arXiv:2504.12285)"
#: decode context used for the predictions (the papers time short generations)
PREDICTION_CONTEXT = 512


@dataclass(frozen=True)
class PublishedResult:
    """One published measurement and how to predict it."""

    source: str
    hardware: str
    measured_model: str
    metric: Literal["decode_speedup", "memory_ratio", "projection_storage_gb"]
    published: float
    catalog_model: str
    baseline: str
    quantized: str
    roofline: str | None = None
    note: str = ""


PUBLISHED: tuple[PublishedResult, ...] = (
    PublishedResult(BITNET_B158, "GPU, FasterTransformer + Ladder 2-bit kernel", "BitNet b1.58 3B vs LLaMA 3B",
                    "decode_speedup", 2.71, "openllama-3b", "fp16", "w2a8", "a100-sxm",
                    "Table 1: 5.07 ms -> 1.87 ms per output token"),
    PublishedResult(BITNET_B158, "GPU, FasterTransformer + Ladder 2-bit kernel", "BitNet b1.58 3B vs LLaMA 3B",
                    "memory_ratio", 3.55, "openllama-3b", "fp16", "w2a8", None,
                    "Table 1: 7.89 GB -> 2.22 GB GPU memory"),
    PublishedResult(BITNET_B158, "GPU, FasterTransformer + Ladder 2-bit kernel", "BitNet b1.58 70B vs LLaMA 70B",
                    "decode_speedup", 4.10, "llama-2-70b", "fp16", "w2a8", "a100-sxm",
                    "Figure 2; the paper's 70B is LLaMA-alike, Llama-2-70B shape used here"),
    PublishedResult(BITNET_B158, "GPU, FasterTransformer + Ladder 2-bit kernel", "BitNet b1.58 70B vs LLaMA 70B",
                    "memory_ratio", 7.16, "llama-2-70b", "fp16", "w2a8", None, "Figure 2"),
    PublishedResult(BITNET_CPP, "Apple M2 Ultra (ARM), TL1 kernel, vs llama.cpp FP16", "smallest model of the sweep",
                    "decode_speedup", 1.37, "opt-125m", "fp16", "w2a8", None,
                    "range 1.37x-5.07x over models of 125M-100B, larger models gaining more; OPT-125M shape"),
    PublishedResult(BITNET_CPP, "Apple M2 Ultra (ARM), TL1 kernel, vs llama.cpp FP16", "largest model of the sweep",
                    "decode_speedup", 5.07, "llama-65b", "fp16", "w2a8", None,
                    "upper end of the ARM range; LLaMA-65B shape for the 100B model"),
    PublishedResult(BITNET_CPP, "Intel i7-13700H (x86), TL2 kernel, vs llama.cpp FP16", "smallest model of the sweep",
                    "decode_speedup", 2.37, "opt-125m", "fp16", "w1.67a8", None,
                    "range 2.37x-6.17x; TL2 packs 3 weights in 5 bits = 1.67 bits; OPT-125M shape"),
    PublishedResult(BITNET_CPP, "Intel i7-13700H (x86), TL2 kernel, vs llama.cpp FP16", "largest model of the sweep",
                    "decode_speedup", 6.17, "llama-65b", "fp16", "w1.67a8", None,
                    "upper end of the x86 range; LLaMA-65B shape for the 100B model"),
    PublishedResult(BITNET_2B4T, "model file", "BitNet b1.58 2B4T", "projection_storage_gb", 0.4,
                    "bitnet-b1.58-2b-4t", "fp16", "w1.58a8", None, "Table 1: non-embedding memory 0.4 GB"),
)


def predict(result: PublishedResult) -> dict[str, float | None]:
    """Model predictions for one published measurement."""
    spec = get_model(result.catalog_model)
    workload = build_workload(spec, WorkloadConfig(phase="decode", context_tokens=PREDICTION_CONTEXT))
    baseline = PrecisionConfig.parse(result.baseline)
    quantized = PrecisionConfig.parse(result.quantized, base=baseline)
    out: dict[str, float | None] = {}
    if result.metric == "decode_speedup":
        # any bandwidth: the memory-bound ratio does not depend on it
        memory = MemoryConfig(bandwidth_bytes_per_s=1.0)
        mem = amdahl(memory_cost(workload, baseline, memory), improved_cost=memory_cost(workload, quantized, memory))
        out.update(predicted=mem.speedup, memory_bound_speedup=mem.speedup, f_memory=mem.fraction,
                   ceiling=mem.ceiling)
        if result.roofline:
            device = RooflineHardware.preset(result.roofline)
            roof = amdahl(roofline_cost(workload, baseline, device),
                          improved_cost=roofline_cost(workload, quantized, device))
            out.update(predicted=roof.speedup, roofline_speedup=roof.speedup)
    elif result.metric == "memory_ratio":
        before = sum(weight_storage_bytes(workload, baseline).values())
        after = sum(weight_storage_bytes(workload, quantized).values())
        out["predicted"] = before / after
    else:
        out["predicted"] = weight_storage_bytes(workload, quantized)["projection"] / 1e9
    return out


def published_comparison() -> list[dict[str, Any]]:
    """Every published result with the model's prediction beside it."""
    return [{**asdict(r), **predict(r)} for r in PUBLISHED]


@dataclass
class PublishedComparison(Result):
    """The published results beside the predictions (``imaclab llm published``)."""

    kind: ClassVar[str] = "llm.published"

    rows: list[dict[str, Any]]  # one per published result: its fields and ``predicted``

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def tables(self) -> list[Table]:
        cells = tuple((r["source"].split(",")[0] + ", " + r["source"].split("(")[-1].rstrip(")"), r["hardware"],
                       r["measured_model"], r["metric"], f"{r['published']:g}", f"{r['predicted']:.2f}",
                       f"{r['catalog_model']} {r['baseline']}->{r['quantized']}") for r in self.rows)
        return [Table("published vs predicted (decode, batch 1; predictions are upper bounds)",
                      ("source", "hardware", "measured", "metric", "published", "predicted", "shape used"), cells,
                      text_columns=4)]


def published_table() -> PublishedComparison:
    """:func:`published_comparison` as a result whose table the CLI prints."""
    return PublishedComparison(rows=published_comparison())
