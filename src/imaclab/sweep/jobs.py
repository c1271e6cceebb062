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
        dataflow: str | None = Field(None, description="dataflow (os, ws, is, or 'preset'); None = the study's "
                                                       "default")
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
        fields = {
            "models": [config.model], "contexts": [config.context], "hardware": [config.hardware],
            "phases": [config.phase], "batch": config.batch, "array": config.array, "dataflow": config.dataflow,
            "improved": config.improved, "factors": [config.s], "baseline_precision": config.baseline_precision,
            "quantized_precision": config.quantized_precision, "roofline": config.roofline,
            "clock_hz": config.clock_hz, "crossbar": config.crossbar.to_dict(),
            "workload": config.workload.to_dict()}
        # Unset options take the study's own defaults.
        study = StudyConfig.from_dict({k: v for k, v in fields.items() if v is not None}, source="llm.amdahl")
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
@functools.cache
def _tpu_job_class() -> type:
    from pydantic import Field, field_validator

    from imaclab.config import ConfigModel
    from imaclab.systolic import SystolicConfig

    class TpuSimulateJob(ConfigModel):
        """One systolic-array simulation: the array config and the topology it runs."""

        systolic: SystolicConfig = Field(default_factory=SystolicConfig, description=(
            "the array: its fields, or a preset name / SCALE-Sim .cfg / YAML file, expanded to its fields "
            "(so a base preset can be varied by axes such as systolic.array_rows, and an axis can list presets)"))
        topology: str = Field(description="SCALE-Sim topology CSV path, or the name of a topology shipped with "
                                          "imaclab.systolic")
        gemm: bool | None = Field(None, description="the CSV is in GEMM format (Layer, M, N, K); None = detect "
                                                    "from the header")

        @field_validator("systolic", mode="before")
        @classmethod
        def _expand_preset(cls, value: Any) -> Any:
            return SystolicConfig.resolve(value) if isinstance(value, str) else value

    return TpuSimulateJob


def _is_gemm_csv(path: Path) -> bool:
    header = [f.strip().lower() for f in path.read_text().splitlines()[0].split(",") if f.strip()]
    return header[1:4] == ["m", "n", "k"]


def tpu_simulate() -> tuple[Any, ...]:
    """``tpu.simulate``: the systolic model over a topology (cycles, stalls, utilization, SRAM/DRAM traffic)."""
    from imaclab.systolic import load_topology, simulate_topology, summarize
    from imaclab.systolic.topology import resolve_topology

    @functools.lru_cache(maxsize=16)
    def layers(path: str, gemm: bool, mtime_ns: int) -> tuple[Any, ...]:
        return tuple(load_topology(path, gemm=gemm))

    def run(config: Any) -> dict[str, Any]:
        path = resolve_topology(config.topology)
        if not path.is_file():
            raise ConfigError(f"tpu.simulate: topology '{config.topology}' not found")
        gemm = _is_gemm_csv(path) if config.gemm is None else config.gemm
        reports = simulate_topology(config.systolic, layers(str(path.resolve()), gemm, path.stat().st_mtime_ns))
        return scalars(summarize(reports))

    return _tpu_job_class(), run


# ------------------------------------------------------------------------------ imac.evaluate
@functools.cache
def _imac_job_class() -> type:
    from pydantic import Field

    from imaclab.imac import ImacConfig

    class ImacEvaluateJob(ImacConfig):
        """An IMAC evaluation: the circuit config (every ImacConfig field) plus the network and data set."""

        model: str = Field(description="trained MLP: .npz (imaclab.nn export, examples/train_digits_mlp.py), "
                                       ".pt state_dict or a folder of W1.csv/B1.csv; relative to the directory "
                                       "the sweep is run from")
        data: str = Field("digits", description="test data set (imaclab.data.datasets.DATASETS)")
        data_root: str | None = Field(None, description="folder of the data files (mnist, cifar10)")
        crop: int | None = Field(None, ge=1, description="centre crop to crop x crop pixels (20 -> 400 inputs)")
        resize: int | None = Field(None, ge=1, description="resize images to resize x resize pixels")

    return ImacEvaluateJob


def imac_evaluate() -> tuple[Any, ...]:
    """``imac.evaluate``: an MLP on IMAC crossbars (:func:`imaclab.imac.evaluate`): accuracy, power, latency, area."""
    from imaclab.imac import evaluate, load_mlp
    from imaclab.data.datasets import load_dataset

    #: Metrics of ImacResult.to_dict() kept per point (the rest are arrays and descriptions).
    keys = ("accuracy", "software_accuracy", "software_accuracy_unloaded", "agreement", "samples", "samples_ok",
            "mean_power_w", "mean_latency_s", "worst_latency_s", "simulation_s", "simulation_s_per_sample")

    @functools.lru_cache(maxsize=4)
    def dataset(name: str, root: str | None, crop: int | None, resize: int | None) -> Any:
        # A worker runs many points on the same data: read it once per process.
        return load_dataset(name, split="test", root=root, crop=crop, resize=resize, flatten=True)

    @functools.lru_cache(maxsize=8)
    def network(path: str, mtime_ns: int) -> Any:
        return load_mlp(path)

    def run(config: Any) -> dict[str, Any]:
        model_path = Path(config.model)
        if not model_path.exists():
            raise ConfigError(f"imac.evaluate: model '{config.model}' not found (paths are relative to the "
                              f"directory the sweep is run from)")
        mlp = network(str(model_path.resolve()), model_path.stat().st_mtime_ns)
        data = dataset(config.data, config.data_root, config.crop, config.resize)
        result = evaluate(config=config, model=mlp, dataset=data, progress=False).to_dict()
        metrics = {k: result[k] for k in keys if k in result}
        metrics.update(scalars(result.get("mean_power_by_component_w") or {}, "power_w."))
        metrics.update(scalars(result.get("area_um2") or {}, "area_um2."))
        metrics["crossbars"] = sum(result.get("crossbars_per_layer") or [])
        return metrics

    return _imac_job_class(), run


# ------------------------------------------------------------------------------ hetero.evaluate
@functools.cache
def _hetero_job_class() -> type:
    from pydantic import Field

    from imaclab.hetero import HeteroConfig

    class HeteroEvaluateJob(HeteroConfig):
        """A TPU-IMAC vs TPU-only comparison (every HeteroConfig field) of a trained run."""

        checkpoint: str = Field(description="TPU-IMAC training run folder (imaclab train ... -o DIR), or a model "
                                            "folder holding tpu-imac/ and tpu-int8/ runs")
        tpu_checkpoint: str | None = Field(None, description="TPU-only 8-bit run folder, for its accuracy")
        data: str | None = Field(None, description="test data set (default: the run's own)")
        data_root: str | None = Field(None, description="folder of the data files")

    return HeteroEvaluateJob


def hetero_evaluate() -> tuple[Any, ...]:
    """``hetero.evaluate``: :func:`imaclab.hetero.evaluate_run`: latency, throughput, energy, memory, accuracy."""
    from imaclab.hetero import evaluate_run

    def run(config: Any) -> dict[str, Any]:
        result = evaluate_run(checkpoint=config.checkpoint, tpu_checkpoint=config.tpu_checkpoint, data=config.data,
                              data_root=config.data_root, config=config)
        return scalars(result.summary())

    return _hetero_job_class(), run
