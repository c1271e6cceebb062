"""One keyword-only entry point per job of the ``imaclab llm`` commands."""

from __future__ import annotations

from typing import Any

from imaclab.errors import ConfigError
from imaclab.llm.architecture import CATEGORIES
from imaclab.llm.catalog import get_model, list_models
from imaclab.llm.costs import VectorUnitConfig, systolic_cost
from imaclab.llm.hardware import DEFAULT_DATAFLOW, clock_of, resolve_systolic, systolic_label
from imaclab.llm.precision import PrecisionConfig, bytes_by_category
from imaclab.llm.study import StudyConfig, StudyResult, run_study
from imaclab.llm.workload import WorkloadConfig, build_workload


def catalog_table() -> list[dict[str, Any]]:
    """One summary row per catalog model."""
    return [spec.summary() for spec in list_models()]


def workload_report(*, model: str, phase: str = "decode", context: int = 512, batch: int = 1,
                    hardware: str = "edge", array: str | None = None, dataflow: str = DEFAULT_DATAFLOW,
                    precision: str = "fp16", attention_mask: str = "causal", clock_hz: float | None = None,
                    vector_lanes: int | None = None) -> dict[str, Any]:
    """Cycles, bytes and MACs by category of one forward pass of ``model`` on a systolic array."""
    spec = get_model(model)
    wcfg = WorkloadConfig.from_dict({"phase": phase, "context_tokens": context, "batch": batch,
                                     "attention_mask": attention_mask}, source="workload options")
    workload = build_workload(spec, wcfg)
    systolic = resolve_systolic(hardware, array=array, dataflow=dataflow)
    clock = clock_of(systolic, clock_hz)
    cost = systolic_cost(workload, systolic, VectorUnitConfig(lanes=vector_lanes))
    prec = PrecisionConfig.parse(precision)
    traffic = bytes_by_category(workload, prec)
    seconds = cost.in_seconds(clock).total
    return {
        "model": spec.name, "phase": wcfg.phase, "context": wcfg.context_tokens, "batch": wcfg.batch,
        "layers": spec.num_layers, "parameters": spec.total_parameters(),
        "parameters_by_group": spec.parameter_counts(),
        "hardware": {"name": systolic_label(hardware), "array_rows": systolic.array_rows,
                     "array_cols": systolic.array_cols, "dataflow": str(getattr(systolic, "dataflow", "")),
                     "clock_hz": clock, "vector_lanes": cost.detail["vector_lanes"]},
        "workload": wcfg.to_dict(), "precision": prec.to_dict(),
        "cycles_by_category": cost.by_category(),
        "cycles_per_layer_by_category": dict(cost.per_layer),
        "cycles_outside_layers_by_category": dict(cost.outside_layers),
        "cycles_total": cost.total, "cycle_fractions": cost.fractions(),
        "seconds": seconds, "tokens_per_s": wcfg.tokens_per_pass / seconds if seconds else None,
        "bytes_by_category": {c: traffic[c]["total"] for c in CATEGORIES},
        "bytes_by_kind": traffic,
        "macs_by_category": workload.macs_by_category(), "flops_by_category": workload.flops_by_category(),
        "gemms": workload.gemm_table(),
    }


def amdahl_study(*, models: str = "all", contexts: str | None = None, hardware: str = "edge,cloud",
                 phase: str = "both", batch: int = 1, improve: str = "projection", factors: str | None = None,
                 attention_factor: float | None = None, precision: str = "w1.58a8", array: str | None = None,
                 dataflow: str = DEFAULT_DATAFLOW, roofline: str | None = None, clock_hz: float | None = None,
                 vector_lanes: int | None = None) -> StudyResult:
    """The Amdahl study from comma-separated command-line values (defaults: the full study)."""
    from imaclab.llm.workload import parse_phase

    def numbers(text: str, kind: type) -> list:
        try:
            return [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise ConfigError(f"cannot read '{text}' as a comma-separated list of numbers") from None

    fields: dict[str, Any] = {
        "models": [m.strip() for m in models.split(",") if m.strip()],
        "hardware": [h.strip() for h in hardware.split(",") if h.strip()],
        "phases": parse_phase(phase), "batch": batch,
        "improved": [c.strip() for c in improve.split(",") if c.strip()], "attention_factor": attention_factor,
        "quantized_precision": precision, "array": array, "dataflow": dataflow, "roofline": roofline,
        "clock_hz": clock_hz, "vector_unit": {"lanes": vector_lanes}}
    if contexts:
        fields["contexts"] = numbers(contexts, int)
    if factors:
        fields["factors"] = numbers(factors, float)
    return run_study(config=StudyConfig.from_dict(fields, source="llm amdahl options"))
