"""The hetero room's API: job configs, ``run(job)``, and the results it returns.

    from imaclab.hetero import HeteroJob, run
    result = run(HeteroJob(checkpoint="runs/vgg-small", tpu="edge"), out_dir="out/hetero")
    result.summary()["speedup"], result.metrics()["tpu_imac_accuracy"]

* :class:`HeteroJob` -- one trained network costed and scored as TPU-only and as TPU-IMAC
  (every :class:`~imaclab.hetero.config.HeteroConfig` field plus the run folders);
  ``run`` returns a :class:`HeteroResult` (``imaclab hetero evaluate``).
* :class:`HeteroCompareJob` -- the same for several models of a runs folder; ``run`` returns
  a :class:`CompareResult` (``imaclab hetero compare``).

With ``out_dir`` the folder is checked writable before any work, then the result is saved
there (``config.yaml`` replays the run with ``-c``; ``summary.json`` is written last) and
plotted.  With ``progress`` each stage prints one plain line on stderr (also without a
terminal).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from imaclab.errors import ConfigError, ImaclabError, InputError
from imaclab.hetero.config import HeteroConfig
from imaclab.hetero.evaluate import (
    COMPARE_COLUMNS,
    LAYER_COLUMNS,
    PUBLISHED,
    DesignComparison,
    cost_design,
    csv_text,
    digital_accuracy,
    imac_tile_costs,
    layer_rows,
    measure_run_imac,
    policy_named,
    resolve_runs,
    test_set,
)
from imaclab.progress import progress_line
from imaclab.result import Result, Scalar, Table, flat_scalars

#: The zoo models ``hetero compare`` reads by default (the six networks of docs/tpu-imac.md).
DEFAULT_MODELS = ("lenet5", "vgg_small", "mobilenet_v1", "mobilenet_v2", "shufflenet_v2", "resnet18")


# ------------------------------------------------------------------------------------- jobs
class HeteroJob(HeteroConfig):
    """A TPU-IMAC vs TPU-only comparison (every HeteroConfig field) of one trained run."""

    checkpoint: str | None = Field(None, description=(
        "TPU-IMAC training run folder (imaclab train ... --policy tpu-imac -o DIR), or a model folder holding "
        "tpu-imac/ and tpu-int8/ runs; required"))
    tpu_checkpoint: str | None = Field(None, description=(
        "TPU-only 8-bit run folder (--policy tpu-int8), for its accuracy; default: tpu-int8/ beside tpu-imac/"))
    data: str | None = Field(None, description="test data set; must be the one the run was trained on "
                                               "(default: the run's own)")
    data_root: str | None = Field(None, description="folder of the data files (default: the run's)")
    model: str | None = Field(None, description="zoo model the run must hold (a check; default: any)")


class HeteroCompareJob(HeteroConfig):
    """The comparison for several trained models: ``runs_dir/<model>/tpu-imac`` and ``tpu-int8`` runs."""

    models: list[str] = Field(default_factory=lambda: list(DEFAULT_MODELS), description=(
        "zoo models to compare (a list, or one comma-separated string)"))
    runs_dir: str | None = Field(None, description=(
        "folder holding <model>/tpu-imac and <model>/tpu-int8 training runs; required"))
    data: str | None = Field(None, description="test data set; must be the one the runs were trained on "
                                               "(default: each run's own)")
    data_root: str | None = Field(None, description="folder of the data files (default: each run's)")

    @field_validator("models", mode="before")
    @classmethod
    def _split_models(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [m.strip() for m in value.split(",") if m.strip()]
        if isinstance(value, (list, tuple)):
            return [str(m).strip() for m in value if str(m).strip()]
        return value


def _settings(job: HeteroConfig) -> dict[str, Any]:
    """The HeteroConfig fields of a job."""
    data = job.to_dict()
    return {k: data[k] for k in HeteroConfig.model_fields}


def _stage(progress: bool, message: str) -> None:
    if progress:
        progress_line(f"hetero: {message}")


# ------------------------------------------------------------------------------------- results
def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.4g}"


@dataclass
class HeteroResult(Result):
    """One model's comparison with accuracy: what ``imaclab hetero evaluate`` reports."""

    kind: ClassVar[str] = "hetero.evaluate"

    job: HeteroJob
    comparison: DesignComparison
    accuracy: dict[str, Any]
    imac: Any
    runs: dict[str, Any]
    #: Warnings of the run (trained-model fields that replaced settings, missing TPU-only run, ...).
    warnings: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def config(self) -> HeteroJob:
        """The job (a :class:`HeteroConfig` with the run folders)."""
        return self.job

    @property
    def model(self) -> str:
        return self.comparison.model

    def summary(self) -> dict[str, Any]:
        """One flat row: the headline numbers of both designs (``summary.csv``; a sweep's columns)."""
        d = self.comparison.designs
        a, b = d["tpu-only"], d["tpu-imac"]
        return {"model": self.model, "tpu": self.job.tpu_label,
                "tpu_only_latency_s": a.latency_s, "tpu_imac_latency_s": b.latency_s,
                "tpu_only_throughput_per_s": a.throughput_per_s, "tpu_imac_throughput_per_s": b.throughput_per_s,
                "tpu_only_energy_j": a.energy_j, "tpu_imac_energy_j": b.energy_j,
                "tpu_only_weight_bytes": a.total.weight_bytes, "tpu_imac_weight_bytes": b.total.weight_bytes,
                "tpu_imac_crossbar_weight_bits": b.total.imac_weight_bits,
                "tpu_only_dram_bytes": a.total.dram_bytes, "tpu_imac_dram_bytes": b.total.dram_bytes,
                "tpu_only_dram_weight_bytes": a.total.dram_weight_bytes,
                "tpu_imac_dram_weight_bytes": b.total.dram_weight_bytes,
                "tpu_only_fc_cycles": sum(c.tpu_cycles for c in a.layers if c.kind == "linear"),
                "tpu_only_cycles": a.total.tpu_cycles, "tpu_imac_cycles": b.total.tpu_cycles,
                "imac_latency_s": sum(c.latency_s for c in b.layers if c.unit == "imac"),
                "handoff_latency_s": sum(c.latency_s for c in b.layers if c.unit == "handoff"),
                **self.comparison.ratios,
                "tpu_only_accuracy": self.accuracy.get("tpu_only"),
                "tpu_imac_accuracy": self.accuracy.get("tpu_imac_circuit"),
                "tpu_imac_digital_accuracy": self.accuracy.get("tpu_imac_digital"),
                "accuracy_samples": self.accuracy.get("samples")}

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "published": PUBLISHED, "accuracy": self.accuracy,
                "comparison": self.comparison.to_dict(), "imac": self.imac.to_dict() if self.imac else None,
                "runs": self.runs, "config": self.job.to_dict(), "notes": list(self.warnings), "wall_s": self.wall_s}

    def metrics(self) -> dict[str, Scalar]:
        """Every entry of :meth:`summary` (same names), plus the IMAC part's power and circuit agreement."""
        out = flat_scalars(self.summary())
        out["imac_power_w"] = self.imac.power_w if self.imac is not None else None
        out["circuit_software_agreement"] = self.accuracy.get("circuit_software_agreement")
        out["wall_s"] = self.wall_s
        return out

    def headline(self) -> str:
        """The one-line verdict the CLI prints under the tables."""
        s = self.summary()
        acc = {k: ("n/a" if s[k] is None else f"{100 * s[k]:.2f}%")
               for k in ("tpu_only_accuracy", "tpu_imac_accuracy", "tpu_imac_digital_accuracy")}
        scored = (f"accuracy TPU only {acc['tpu_only_accuracy']}, TPU-IMAC {acc['tpu_imac_accuracy']} (circuit, "
                  f"{s['accuracy_samples']} images; digital {acc['tpu_imac_digital_accuracy']})"
                  if s["accuracy_samples"] else "accuracy not scored")
        return (f"speedup {s['speedup']:.3f}x, throughput {s['throughput_gain']:.3f}x, weight memory "
                f"-{100 * s['memory_reduction']:.1f}%, DRAM traffic -{100 * s['dram_traffic_reduction']:.1f}%, "
                f"energy ratio {s['energy_ratio']:.3f}x; {scored}")

    def tables(self) -> list[Table]:
        """Per design: one row per layer / hand-off and the total."""
        tables = []
        for name, design in self.comparison.designs.items():
            rows = tuple((c.name, c.kind, c.unit, f"{c.tpu_cycles:,.0f}", _us(c.latency_s), f"{c.energy_j * 1e9:.4g}",
                          f"{c.weight_bytes:,.0f}", f"{c.dram_bytes:,.0f}") for c in [*design.layers, design.total])
            tables.append(Table(f"{self.model} on {name} ({self.job.tpu_label})",
                                ("layer", "kind", "unit", "cycles", "latency us", "energy nJ", "weight B", "DRAM B"),
                                rows, text_columns=3))
        return tables

    def notes(self) -> list[str]:
        return [self.headline(), *(f"note: {w}" for w in self.warnings),
                *(f"  {name}: {path}" for name, path in self.files.items())]

    def write_files(self, out_dir: Path) -> dict[str, Path]:
        """``layers.csv`` (every layer and hand-off of both designs, then the totals) and ``summary.csv``."""
        from imaclab.files import write_text

        return {"layers": write_text(out_dir / "layers.csv", csv_text(layer_rows(self.comparison), LAYER_COLUMNS)),
                "summary_csv": write_text(out_dir / "summary.csv", csv_text([self.summary()]))}

    def plot(self, out_dir: str | Path) -> dict[str, Path]:
        """``latency_per_layer.png`` and ``summary.png`` (drawn by :mod:`imaclab.report.hetero_plots`)."""
        from imaclab.report.hetero_plots import plot_layer_latency, plot_summary

        out_dir = Path(out_dir)
        files = {"latency_plot": plot_layer_latency(self.comparison, out_dir / "latency_per_layer.png"),
                 "summary_plot": plot_summary(self.comparison, self.accuracy, out_dir / "summary.png")}
        self.files.update(files)
        return files


@dataclass
class CompareResult(Result):
    """Several models' comparisons in one table: what ``imaclab hetero compare`` reports."""

    kind: ClassVar[str] = "hetero.compare"

    job: HeteroCompareJob
    #: One row per model: its :meth:`HeteroResult.summary` with ``status`` ok, or ``status`` failed and ``error``.
    rows: list[dict[str, Any]]
    results: dict[str, HeteroResult]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The rows of the models that failed."""
        return [row for row in self.rows if row["status"] != "ok"]

    @property
    def all_failed(self) -> bool:
        return bool(self.rows) and len(self.failed) == len(self.rows)

    def failure_summary(self) -> str:
        """One line: how many models failed, which, and the first error."""
        failed = self.failed
        if not failed:
            return ""
        who = ", ".join(row["model"] for row in failed)
        first = failed[0]["error"].splitlines()[0] if failed[0].get("error") else "unknown error"
        head = (f"all {len(failed)} models failed" if self.all_failed
                else f"{len(failed)} of {len(self.rows)} models failed")
        return f"{head} ({who}); {failed[0]['model']}: {first}"

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "published": PUBLISHED}

    def metrics(self) -> dict[str, Scalar]:
        """Counts, and every model's summary entries as ``<model>.<entry>``."""
        out: dict[str, Scalar] = {"models": len(self.rows), "models_ok": len(self.rows) - len(self.failed),
                                  "models_failed": len(self.failed)}
        for row in self.rows:
            out.update(flat_scalars({k: v for k, v in row.items() if k != "model"}, f"{row['model']}."))
        return out

    def tables(self) -> list[Table]:
        def pct(v: float | None) -> str:
            return "n/a" if v is None else f"{100 * v:.2f}"

        rows = []
        for row in self.rows:
            if row["status"] != "ok":
                rows.append((row["model"], "failed", "", "", "", "", "", ""))
                continue
            rows.append((row["model"], f"{row['speedup']:.3f}", f"{row['throughput_gain']:.3f}",
                         f"{100 * row['memory_reduction']:.1f}", f"{100 * row['dram_traffic_reduction']:.1f}",
                         f"{row['energy_ratio']:.3f}", pct(row["tpu_only_accuracy"]), pct(row["tpu_imac_accuracy"])))
        return [Table("TPU-IMAC vs TPU only (published: up to 2.59x speedup, 88% memory reduction)",
                      ("model", "speedup", "throughput", "weight mem -%", "DRAM -%", "energy x", "acc TPU",
                       "acc TPU-IMAC"), tuple(rows))]

    def notes(self) -> list[str]:
        lines = [f"{row['model']} failed: {row['error']}" for row in self.failed]
        if self.failed:
            lines.append(self.failure_summary())
        return lines + [f"  {name}: {path}" for name, path in self.files.items()]

    def write_files(self, out_dir: Path) -> dict[str, Path]:
        """``compare.csv`` and ``compare.json`` (the table so far; rewritten after every model)."""
        from imaclab.files import write_json, write_text

        return {"compare_csv": write_text(out_dir / "compare.csv", csv_text(self.rows, COMPARE_COLUMNS)),
                "compare_json": write_json(out_dir / "compare.json", {"rows": self.rows, "published": PUBLISHED})}

    def plot(self, out_dir: str | Path) -> dict[str, Path]:
        """``compare.png``: speedup, memory reduction and energy ratio across models."""
        from imaclab.report.hetero_plots import plot_compare

        files = {"compare_plot": plot_compare(self.rows, Path(out_dir) / "compare.png")}
        self.files.update(files)
        return files


# ------------------------------------------------------------------------------------- run
@functools.singledispatch
def run(job: Any, *, out_dir: str | Path | None = None, progress: bool = False) -> Result:
    """Run a hetero job: :class:`HeteroJob` -> :class:`HeteroResult`, :class:`HeteroCompareJob` ->
    :class:`CompareResult`.  With ``out_dir``: checked writable first, then saved and plotted there."""
    raise ConfigError(f"imaclab.hetero.run takes a HeteroJob or a HeteroCompareJob, not {type(job).__name__}")


@run.register
def _run_evaluate(job: HeteroJob, *, out_dir: str | Path | None = None, progress: bool = False) -> HeteroResult:
    """Cost and score a trained TPU-IMAC run against the TPU-only 8-bit design.

    The TPU-IMAC accuracy is circuit-level: the trained model's digital part (convolutions,
    8-bit) computes the features, which go through the crossbar network via the IMAC room
    (``accuracy.backend``: the fast solver or ngspice).  The TPU-only accuracy is the 8-bit
    run's (``tpu_checkpoint``) on the same test images; without such a run it is reported as
    missing.  When the circuit run fails with ``out_dir`` given, the TPU-only costs are written
    to ``partial.json`` before the error is raised.
    """
    from imaclab.files import check_writable_dir, write_json
    from imaclab.hetero.layers import extract_layers
    from imaclab.hetero.mapping import map_design
    from imaclab.nn.training import load_run

    start = time.perf_counter()
    if job.checkpoint is None:
        raise ConfigError("no checkpoint: give --checkpoint DIR (a trained TPU-IMAC run, or a folder with tpu-imac/ "
                          "and tpu-int8/ runs) or checkpoint: in the job config")
    imac_dir, tpu_dir = resolve_runs(job.checkpoint, job.tpu_checkpoint)
    out = check_writable_dir(out_dir) if out_dir is not None else None
    run_ = load_run(imac_dir)
    if job.model is not None:
        from imaclab.nn.zoo import canonical_model_name

        if canonical_model_name(job.model) != canonical_model_name(run_.config.model):
            raise InputError(f"{imac_dir} holds a {run_.config.model} run, not {job.model}")
    name = run_.config.model
    _stage(progress, f"{name}: tracing the layers of {imac_dir}")
    warnings: list[str] = []
    layers = policy_named(extract_layers(run_.model), run_.model)
    imac_names = [layer.name for layer in layers if layer.target == "imac"]
    tpu_imac_map = map_design(layers, "tpu-imac", imac_layers=job.imac_layers)
    mapped_imac = [m.layer.name for m in tpu_imac_map.on("imac")]
    if mapped_imac and mapped_imac != imac_names:
        raise ConfigError(f"imac_layers puts {', '.join(mapped_imac)} on IMAC but the trained model's crossbar "
                          f"layers are {', '.join(imac_names) or 'none'}: use imac_layers: auto for a trained run")
    test = test_set(run_, job.data, job.data_root)
    n = len(test) if job.accuracy.test_samples is None else min(job.accuracy.test_samples, len(test))
    scoring = job.accuracy.enabled
    if not scoring:  # costs only: enough images to measure the IMAC part's power and settling time
        n = min(n, job.accuracy.latency_samples + 1)
    x, y = test.x[:n], test.y[:n]

    systolic_cfg = job.systolic()
    mappings = {"tpu-only": map_design(layers, "tpu-only"), "tpu-imac": tpu_imac_map}
    reports: dict = {}
    # the TPU-only design needs no IMAC measurement: cost it first, so a failing circuit run keeps it
    _stage(progress, f"{name}: simulating {len(layers)} layers on the TPU-only design ({job.tpu_label})")
    designs = {"tpu-only": cost_design(mappings["tpu-only"], systolic_cfg=systolic_cfg, config=job, reports=reports)}
    imac = None
    accuracy: dict[str, Any] = {"samples": n, "data": test.name}
    if mapped_imac:
        _stage(progress, f"{name}: measuring the IMAC part ({len(mapped_imac)} crossbar layers) on {n} images "
                         f"({job.accuracy.backend})")
        try:
            imac = measure_run_imac(run_, imac_dir, x, y, job, mapped_imac, progress=progress)
        except ImaclabError as err:
            if out is not None:
                write_json(out / "partial.json", {"model": name, "status": "failed", "error": str(err),
                                                  "designs": {"tpu-only": designs["tpu-only"].to_dict()},
                                                  "config": job.to_dict()})
                raise type(err)(f"{err} (TPU-only costs written to {out / 'partial.json'})") from None
            raise
        warnings += imac.notes
        if scoring:
            accuracy["tpu_imac_circuit"] = imac.accuracy
            accuracy["tpu_imac_circuit_software_reference"] = imac.software_accuracy
            accuracy["circuit_software_agreement"] = imac.agreement
            accuracy["backend"] = imac.backend
    if scoring:
        _stage(progress, f"{name}: scoring the digital models on {n} images")
        accuracy["tpu_imac_digital"] = digital_accuracy(run_.model, x, y)
    else:
        accuracy = {"samples": None, "data": test.name}
        warnings.append(f"accuracy not scored (accuracy.enabled: false); IMAC measured on {n} images")
    input_mode = str(imac.config.inputs.mode) if imac is not None else "analog"
    _stage(progress, f"{name}: costing the TPU-IMAC design")
    measurements: list | None
    if job.imac_costs == "tiles":  # the circuit run above scored the accuracy; the costs come from the tile
        measurements = imac_tile_costs(job, tpu_imac_map)
        if measurements:
            warnings.append(f"IMAC layer costs from the crossbar tile {job.imac_tile.label} (imac_costs: tiles), "
                            f"not from this network's circuit run: {measurements[0].source}")
    else:
        measurements = imac.measurements if imac else None
    designs["tpu-imac"] = cost_design(tpu_imac_map, systolic_cfg=systolic_cfg, config=job,
                                      imac=measurements, input_mode=input_mode, reports=reports)
    comparison = DesignComparison(name, layers, mappings, designs, systolic_cfg)
    if tpu_dir is not None:
        tpu_run = load_run(tpu_dir)
        if tpu_run.config.model != run_.config.model or tpu_run.config.width != run_.config.width:
            raise InputError(f"{tpu_dir} holds {tpu_run.config.model} (width {tpu_run.config.width}) but {imac_dir} "
                             f"holds {run_.config.model} (width {run_.config.width}): compare the same network")
        tpu_layers = extract_layers(tpu_run.model)
        if [(t.kind, t.macs) for t in tpu_layers] != [(t.kind, t.macs) for t in layers]:
            warnings.append("the TPU-only run's layer list differs from the TPU-IMAC run's; costs use the TPU-IMAC "
                            "run's architecture")
        if scoring:
            _stage(progress, f"{name}: scoring the TPU-only run {tpu_dir} on {n} images")
        accuracy["tpu_only"] = digital_accuracy(tpu_run.model, x, y) if scoring else None
    else:
        accuracy["tpu_only"] = None
    if tpu_dir is None and scoring:
        warnings.append("no TPU-only 8-bit run given (--tpu-checkpoint, or a tpu-int8/ folder next to tpu-imac/): "
                        "its accuracy is not reported")
    runs = {"tpu_imac": str(imac_dir), "tpu_only": str(tpu_dir) if tpu_dir else None,
            "tpu_imac_train_accuracy": run_.report.get("test_accuracy"), "width": run_.config.width,
            "train_samples": run_.report.get("data", {}).get("train_samples"), "epochs": run_.epoch}
    result = HeteroResult(job=job, comparison=comparison, accuracy=accuracy, imac=imac, runs=runs, warnings=warnings,
                          wall_s=time.perf_counter() - start)
    if out is not None:
        _stage(progress, f"{name}: writing {out}")
        result.write_run(out)
    return result


def model_job(job: HeteroCompareJob, checkpoint: str | Path) -> HeteroJob:
    """The :class:`HeteroJob` of one model of a compare job (its settings, data and run folder)."""
    return HeteroJob.from_dict({**_settings(job), "checkpoint": str(checkpoint), "data": job.data,
                                "data_root": job.data_root}, source="hetero compare")


@run.register
def _run_compare(job: HeteroCompareJob, *, out_dir: str | Path | None = None, progress: bool = False) -> CompareResult:
    """:class:`HeteroJob` for each model (folders ``runs_dir/<model>/tpu-imac`` and ``tpu-int8``).

    A model that fails is recorded with its error and the others go on; with ``out_dir`` the
    table (``compare.csv``/``compare.json``) is rewritten after every model, so finished models
    are never lost, and each model's files go to ``out_dir/<model>/``.
    """
    from imaclab.files import check_writable_dir
    from imaclab.nn.zoo import canonical_model_name

    if not job.models:
        raise ConfigError("no models to compare: give e.g. --models lenet5,mobilenet_v2")
    if job.runs_dir is None:
        raise ConfigError("no runs folder: give --runs DIR (holding <model>/tpu-imac and <model>/tpu-int8 runs) "
                          "or runs_dir: in the job config")
    runs_dir = Path(job.runs_dir)
    if not runs_dir.is_dir():
        raise InputError(f"{runs_dir}: runs folder not found (train first: imaclab train ... -o "
                         f"{runs_dir}/<model>/tpu-imac)")
    keys = [canonical_model_name(name) for name in job.models]  # an unknown name stops before any work
    out = check_writable_dir(out_dir) if out_dir is not None else None
    result = CompareResult(job=job, rows=[], results={})
    for i, (name, key) in enumerate(zip(job.models, keys), 1):
        folder = runs_dir / key
        if not folder.is_dir() and (runs_dir / name).is_dir():
            folder = runs_dir / name
        _stage(progress, f"compare: model {i}/{len(job.models)}: {key}")
        try:
            res = _run_evaluate(model_job(job, folder), out_dir=(out / key) if out is not None else None,
                                progress=progress)
            result.results[key] = res
            result.rows.append({**res.summary(), "status": "ok", "error": ""})
        except ImaclabError as err:
            _stage(progress, f"compare: {key} failed: {err}")
            result.rows.append({"model": key, "tpu": job.tpu_label, "status": "failed", "error": str(err)})
        if out is not None:
            result.files.update(result.write_files(out))
    result.write_run(out)
    return result
