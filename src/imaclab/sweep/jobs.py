"""Adapters from each room's job to a sweep target: (config class, run function[, base resolver]).

Each adapter imports its room when called (never at import time), so a room that is
missing or unfinished only makes its own target unavailable.  A run function takes
the validated config (and, if it asks for it, ``workdir``: a per-point folder in the
sweep directory for artifacts such as checkpoints) and returns flat metrics.  A base
resolver expands shorthand in the spec's base config before the axes are applied
(a policy preset name -> the full policy), so axes can reach the fields inside it.

Where a room exposes no single job config, the wrapper config lives here.
"""

from __future__ import annotations

import functools
import numbers
from pathlib import Path
from typing import Any

from imaclab.errors import ConfigError


def scalars(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The scalar entries of a (nested) report, flattened with dots; lists and the like are skipped."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(scalars(value, f"{name}."))
        elif value is None or isinstance(value, (bool, str, numbers.Number)):
            out[name] = value
    return out


# ------------------------------------------------------------------------------ train
def train() -> tuple[Any, ...]:
    """``train``: hardware-aware training (:func:`imaclab.nn.training.train`); artifacts in the point's workdir."""
    from imaclab.nn.training import TrainConfig, train as train_network

    #: Report entries that are metrics of the trained network (the rest describes the run).
    metric_keys = ("test_accuracy", "best_test_accuracy", "epochs_completed", "parameters", "seconds_per_epoch",
                   "train_seconds_this_call", "accuracy_drop_points")

    def run(config: TrainConfig, *, workdir: Path) -> dict[str, Any]:
        report = train_network(config, workdir / "train").report
        metrics = {k: report[k] for k in metric_keys if k in report}
        metrics.update(scalars(report.get("device_noise_eval", {}), "device_noise."))
        if "baseline" in report:
            metrics["baseline_test_accuracy"] = report["baseline"]["test_accuracy"]
        return metrics

    def resolve(data: dict[str, Any]) -> dict[str, Any]:
        # A policy preset name becomes the full policy, so axes such as
        # policy.imac.devices.sigma reach inside it.
        return TrainConfig.from_dict(data, source="train base config").resolved().to_dict()

    return TrainConfig, run, resolve


# ------------------------------------------------------------------------------ llm.amdahl
@functools.cache
def _llm_job_class() -> type:
    from typing import Literal

    from pydantic import Field

    from imaclab.config import ConfigModel
    from imaclab.llm.improve import CrossbarConfig
    from imaclab.llm.workload import WorkloadConfig

    class LlmAmdahlJob(ConfigModel):
        """One Amdahl case: a model, a phase, a context length, a batch, a hardware and a factor s."""

        model: str = Field("llama-2-7b", description="catalog name or a Hugging Face config.json path")
        phase: Literal["decode", "prefill"] = Field("decode", description="inference phase")
        context: int = Field(1024, ge=1, description="context length L, tokens")
        batch: int = Field(1, gt=0, description="sequences per pass")
        hardware: str = Field("edge", description="systolic array: edge, cloud, a systolic preset or config file")
        array: str | None = Field(None, description="override the array size, e.g. 64x64")
        dataflow: str | None = Field(None, description="override the dataflow (os, ws, is)")
        s: float = Field(8.0, gt=0, description="improvement factor of the improved categories")
        improved: list[str] = Field(["projection"], description="categories that improve")
        baseline_precision: str = Field("fp16", description="precision of the baseline pass")
        quantized_precision: str = Field("w1.58a8", description="precision after quantization (w<W>a<A>)")
        roofline: str | None = Field(None, description="roofline device; None pairs edge->edge-npu, cloud->tpu-v4")
        clock_hz: float | None = Field(None, gt=0, description="clock for cycles->seconds; None = the array's")
        crossbar: CrossbarConfig = Field(default_factory=CrossbarConfig, description="hybrid PIM crossbars")
        workload: WorkloadConfig = Field(default_factory=WorkloadConfig, description="workload options "
                                                                                     "(phase/context/batch set above)")

    return LlmAmdahlJob


def llm_amdahl() -> tuple[Any, ...]:
    """``llm.amdahl``: one case of :func:`imaclab.llm.study.run_study`: f, ceiling and speedup at s."""
    from imaclab.llm.study import StudyConfig, factor_column, run_study

    job_class = _llm_job_class()

    def run(config: Any) -> dict[str, Any]:
        study = StudyConfig.from_dict({
            "models": [config.model], "contexts": [config.context], "hardware": [config.hardware],
            "phases": [config.phase], "batch": config.batch, "array": config.array, "dataflow": config.dataflow,
            "improved": config.improved, "factors": [config.s], "baseline_precision": config.baseline_precision,
            "quantized_precision": config.quantized_precision, "roofline": config.roofline,
            "clock_hz": config.clock_hz, "crossbar": config.crossbar.to_dict(),
            "workload": config.workload.to_dict()}, source="llm.amdahl")
        result = run_study(config=study)
        if not result.rows:
            reason = result.skipped[0]["reason"] if result.skipped else "no case"
            raise ConfigError(f"llm.amdahl: {config.model} {config.phase} L={config.context} was not run: {reason}")
        row = dict(result.rows[0])
        row["f"] = row["f_systolic"]
        row["ceiling"] = row["ceiling_systolic"]
        row["speedup"] = row[factor_column(config.s)]
        return scalars(row)

    return job_class, run


# ------------------------------------------------------------------------------ tpu.simulate
def tpu_simulate() -> tuple[Any, ...]:
    """``tpu.simulate``: the systolic model over a topology (cycles, stalls, utilization, traffic)."""
    from imaclab.systolic import SimulateJob, run_simulate_job  # the systolic room's job API

    def run(config: Any) -> dict[str, Any]:
        return scalars(run_simulate_job(config))

    return SimulateJob, run


# ------------------------------------------------------------------------------ imac.evaluate
def imac_evaluate() -> tuple[Any, ...]:
    """``imac.evaluate``: an MLP on IMAC crossbars (accuracy, power, latency, area)."""
    from imaclab.imac import ImacConfig, evaluate

    def run(config: Any) -> dict[str, Any]:
        result = evaluate(config)
        return scalars(result.to_dict() if hasattr(result, "to_dict") else result)

    return ImacConfig, run


# ------------------------------------------------------------------------------ hetero.evaluate
def hetero_evaluate() -> tuple[Any, ...]:
    """``hetero.evaluate``: TPU-IMAC heterogeneous accelerator against a TPU-only baseline."""
    from imaclab.hetero import HeteroConfig, evaluate

    def run(config: Any) -> dict[str, Any]:
        result = evaluate(config)
        return scalars(result.to_dict() if hasattr(result, "to_dict") else result)

    return HeteroConfig, run
