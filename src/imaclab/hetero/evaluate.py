"""The TPU-only vs TPU-IMAC pipeline: trace, place, cost, score, write.

Entry points (keyword-only):

* :func:`cost_designs` -- costs of both designs for any ``nn.Module`` (no accuracy): trace
  the layers, place them, simulate the systolic layers once each, add IMAC measurements and
  hand-offs.
* :func:`evaluate_run` -- a trained TPU-IMAC run folder (``imaclab.nn.training``) and,
  optionally, the TPU-only 8-bit run of the same model: costs, IMAC measured by the IMAC
  room on the images the TPU part hands over, and accuracy of both designs on the same test
  images; writes CSV/JSON/plots when given ``out_dir``.
* :func:`compare_runs` -- :func:`evaluate_run` over several models, one table.

Run folders: ``checkpoint`` is either the TPU-IMAC run itself, or a folder holding
``tpu-imac/`` and ``tpu-int8/`` runs of one model (the layout :func:`compare_runs` reads
under ``runs_dir/<model>/``).
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imaclab.config import json_default
from imaclab.errors import ConfigError, ImaclabError, InputError
from imaclab.hetero.config import HeteroConfig
from imaclab.hetero.costs import (DesignCost, ImacLayerMeasurement, LayerCost, handoff_cost, imac_layer_cost,
                                  simulate_systolic, tpu_layer_cost, vector_layer_cost)
from imaclab.hetero.layers import LayerSpec, extract_layers, layer_counts
from imaclab.hetero.mapping import DesignMapping, map_design

TPU_IMAC_DIR, TPU_INT8_DIR = "tpu-imac", "tpu-int8"
"""Sub-folders of a model folder: the TPU-IMAC run and the TPU-only 8-bit run."""
PUBLISHED = {"speedup_max": 2.59, "memory_reduction_max": 0.88,
             "source": "Elbtity, Reidy, Amin, Zand, 'Heterogeneous Integration of In-Memory Analog Computing "
                       "Architectures with Tensor Processing Units', GLSVLSI 2023 (arXiv:2304.09258), abstract"}
"""The published TPU-IMAC claims this tool is compared with (docs/tpu-imac.md)."""


# ------------------------------------------------------------------------------ costing
def cost_design(mapping: DesignMapping, *, systolic_cfg, config: HeteroConfig,
                imac: list[ImacLayerMeasurement] | None = None, input_mode: str = "analog",
                reports: dict | None = None) -> DesignCost:
    """Per-layer costs of one placed design, hand-offs inserted where they occur.

    ``reports`` caches :func:`imaclab.systolic.simulate_layer` results by layer name (both
    designs run the same convolutions: each is simulated once).
    """
    reports = {} if reports is None else reports
    by_name = {m.name: m for m in (imac or [])}
    costs: list[LayerCost] = []
    handoffs = {}
    for h in mapping.handoffs:
        handoffs.setdefault(h.before, []).append(h)
    for i, mapped in enumerate(mapping.layers):
        for h in handoffs.get(i, []):
            costs.append(handoff_cost(h, config.handoff, systolic_cfg, config.energy, input_mode=input_mode))
        if mapped.unit == "tpu":
            key = mapped.layer.name
            if key not in reports:
                reports[key] = simulate_systolic(mapped, systolic_cfg)
            report, repeats = reports[key]
            costs.append(tpu_layer_cost(mapped, report, systolic_cfg, config.energy, repeats=repeats))
        elif mapped.unit == "vector":
            costs.append(vector_layer_cost(mapped, systolic_cfg, config.energy))
        else:
            if mapped.layer.name not in by_name:
                raise InputError(f"no IMAC measurement for layer {mapped.layer.name}: evaluate the IMAC part first")
            costs.append(imac_layer_cost(mapped, by_name[mapped.layer.name], systolic_cfg.clock_hz))
    for h in handoffs.get(len(mapping.layers), []):
        costs.append(handoff_cost(h, config.handoff, systolic_cfg, config.energy, input_mode=input_mode))
    return DesignCost(mapping.design, costs, pipeline=config.pipeline if mapping.design == "tpu-imac" else False,
                      clock_hz=systolic_cfg.clock_hz)


def design_ratios(tpu_only: DesignCost, tpu_imac: DesignCost) -> dict[str, float]:
    """Speedup, throughput gain, memory reduction, traffic and energy ratios (TPU-only / TPU-IMAC)."""
    a, b = tpu_only.total, tpu_imac.total

    def ratio(x, y):
        return x / y if y > 0 else math.inf

    return {
        "speedup": ratio(tpu_only.latency_s, tpu_imac.latency_s),
        "throughput_gain": ratio(tpu_imac.throughput_per_s, tpu_only.throughput_per_s),
        "memory_reduction": 1.0 - (b.weight_bytes / a.weight_bytes if a.weight_bytes > 0 else 1.0),
        "dram_traffic_reduction": 1.0 - (b.dram_bytes / a.dram_bytes if a.dram_bytes > 0 else 1.0),
        "sram_traffic_reduction": 1.0 - (b.sram_bytes / a.sram_bytes if a.sram_bytes > 0 else 1.0),
        "energy_ratio": ratio(tpu_only.energy_j, tpu_imac.energy_j),
    }


@dataclass
class DesignComparison:
    """Both designs of one model: layers, mappings, costs, ratios (no accuracy)."""

    model: str
    layers: list[LayerSpec]
    mappings: dict[str, DesignMapping]
    designs: dict[str, DesignCost]
    systolic: Any = field(repr=False, default=None)

    @property
    def ratios(self) -> dict[str, float]:
        return design_ratios(self.designs["tpu-only"], self.designs["tpu-imac"])

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "layer_counts": layer_counts(self.layers),
                "layers": [layer.to_dict() for layer in self.layers],
                "mappings": {k: v.to_dict() for k, v in self.mappings.items()},
                "designs": {k: v.to_dict() for k, v in self.designs.items()}, "ratios": self.ratios,
                "systolic": self.systolic.to_dict() if self.systolic is not None else None}


def cost_designs(*, model, config: HeteroConfig | None = None, sample=None, input_shape=None,
                 imac: list[ImacLayerMeasurement] | None = None, input_mode: str = "analog",
                 name: str | None = None) -> DesignComparison:
    """Trace ``model`` and cost it as TPU-only and as TPU-IMAC (costs only).

    ``imac`` gives the measurements of the layers TPU-IMAC puts on crossbars (from
    :func:`~imaclab.hetero.imac_part.measure_imac`); without them the model must not map any
    layer to IMAC (``imac_layers: none``).
    """
    config = config or HeteroConfig()
    layers = extract_layers(model, sample, input_shape=input_shape)
    systolic_cfg = config.systolic()
    mappings = {"tpu-only": map_design(layers, "tpu-only"),
                "tpu-imac": map_design(layers, "tpu-imac", imac_layers=config.imac_layers)}
    reports: dict = {}
    designs = {d: cost_design(m, systolic_cfg=systolic_cfg, config=config, imac=imac, input_mode=input_mode,
                              reports=reports) for d, m in mappings.items()}
    label = name or getattr(model, "name", type(model).__name__)
    return DesignComparison(label, layers, mappings, designs, systolic_cfg)


# ------------------------------------------------------------------------------ trained runs
def resolve_runs(checkpoint: str | Path, tpu_checkpoint: str | Path | None = None) -> tuple[Path, Path | None]:
    """``(TPU-IMAC run, TPU-only run or None)`` from a run folder or a model folder."""
    root = Path(checkpoint)
    if not root.is_dir():
        raise InputError(f"{root}: checkpoint folder not found (train first: imaclab train ... -o {root})")
    if (root / TPU_IMAC_DIR).is_dir():
        imac_dir = root / TPU_IMAC_DIR
        tpu_dir = Path(tpu_checkpoint) if tpu_checkpoint else (root / TPU_INT8_DIR if (root / TPU_INT8_DIR).is_dir()
                                                                 else None)
    else:
        imac_dir = root
        tpu_dir = Path(tpu_checkpoint) if tpu_checkpoint else None
    if tpu_dir is not None and not tpu_dir.is_dir():
        raise InputError(f"{tpu_dir}: TPU-only checkpoint folder not found")
    return imac_dir, tpu_dir


def policy_named(layers: list[LayerSpec], model) -> list[LayerSpec]:
    """Layers renamed to the names precision policies use (``classifier.layers.<i>`` for every FC layer,
    wherever the trained head put it), as :func:`imaclab.nn.export.layer_table` reports them, so the
    two designs and the TPU-only run name the same layer alike."""
    from dataclasses import replace

    from imaclab.nn.export import layer_table

    names = {r["name"]: r.get("policy_name", r["name"]) for r in layer_table(model)}
    return [replace(layer, name=names.get(layer.name, layer.name)) for layer in layers]


def _same_data(a: str, b: str) -> bool:
    def key(name: str) -> str:
        k = name.strip().lower().replace("_", "-")
        return "fashion-mnist" if k in ("fashion", "fashionmnist") else k

    return key(a) == key(b)


def _test_set(run, data: str | None, data_root: str | None):
    """The test split of the data set ``run`` was trained on (``data``, when given, must name it)."""
    from imaclab.data.datasets import load_dataset

    cfg = run.config
    if data is not None and not _same_data(data, cfg.data):
        raise InputError(f"{run.run_dir} was trained on {cfg.data}, not {data}: score it on the data it was "
                         "trained for")
    return load_dataset(cfg.data, split="test", root=data_root or cfg.data_root, crop=cfg.crop, resize=cfg.resize)


def _digital_accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    from imaclab.nn.training import predict

    return float((predict(model, x) == y).mean())


@dataclass
class HeteroResult:
    """One model's comparison with accuracy: what ``imaclab hetero evaluate`` reports."""

    comparison: DesignComparison
    accuracy: dict[str, Any]
    imac: Any
    runs: dict[str, str | None]
    config: HeteroConfig
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    files: dict[str, str] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.comparison.model

    def summary(self) -> dict[str, Any]:
        """One flat row: the headline numbers of both designs."""
        d = self.comparison.designs
        a, b = d["tpu-only"], d["tpu-imac"]
        row = {"model": self.model, "tpu": self.config.tpu_label,
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
        return row

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "published": PUBLISHED, "accuracy": self.accuracy,
                "comparison": self.comparison.to_dict(), "imac": self.imac.to_dict() if self.imac else None,
                "runs": self.runs, "config": self.config.to_dict(), "notes": self.notes, "wall_s": self.wall_s,
                "files": self.files}


def evaluate_run(*, checkpoint: str | Path, tpu_checkpoint: str | Path | None = None, data: str | None = None,
                 data_root: str | None = None, config: HeteroConfig | None = None, model: str | None = None,
                 out_dir: str | Path | None = None) -> HeteroResult:
    """Cost and score a trained TPU-IMAC run against the TPU-only 8-bit design.

    The TPU-IMAC accuracy is circuit-level: the trained model's digital part (convolutions,
    8-bit) computes the features, which go through the crossbar network via the IMAC room
    (``config.accuracy.backend``: the fast solver or ngspice).  The TPU-only accuracy is the
    8-bit run's (``tpu_checkpoint``) on the same test images; without such a run it is
    reported as missing.  ``model``, when given, must name the run's model.  With ``out_dir``, every result file is written there (also the
    costs when scoring fails, before the error is raised).
    """
    from imaclab.nn.training import load_run

    start = time.perf_counter()
    config = config or HeteroConfig()
    imac_dir, tpu_dir = resolve_runs(checkpoint, tpu_checkpoint)
    run = load_run(imac_dir)
    if model is not None:
        from imaclab.nn.zoo import canonical_model_name

        if canonical_model_name(model) != canonical_model_name(run.config.model):
            raise InputError(f"{imac_dir} holds a {run.config.model} run, not {model}")
    notes: list[str] = []
    layers = policy_named(extract_layers(run.model), run.model)
    imac_names = [layer.name for layer in layers if layer.target == "imac"]
    tpu_imac_map = map_design(layers, "tpu-imac", imac_layers=config.imac_layers)
    mapped_imac = [m.layer.name for m in tpu_imac_map.on("imac")]
    if mapped_imac and mapped_imac != imac_names:
        raise ConfigError(f"imac_layers puts {', '.join(mapped_imac)} on IMAC but the trained model's crossbar "
                          f"layers are {', '.join(imac_names) or 'none'}: use imac_layers: auto for a trained run")
    test = _test_set(run, data, data_root)
    n = len(test) if config.accuracy.test_samples is None else min(config.accuracy.test_samples, len(test))
    scoring = config.accuracy.enabled
    if not scoring:  # costs only: enough images to measure the IMAC part's power and settling time
        n = min(n, config.accuracy.latency_samples + 1)
    x, y = test.x[:n], test.y[:n]

    systolic_cfg = config.systolic()
    mappings = {"tpu-only": map_design(layers, "tpu-only"), "tpu-imac": tpu_imac_map}
    reports: dict = {}
    # the TPU-only design needs no IMAC measurement: cost it first, so a failing circuit run keeps it
    designs = {"tpu-only": cost_design(mappings["tpu-only"], systolic_cfg=systolic_cfg, config=config,
                                       reports=reports)}
    imac = None
    accuracy: dict[str, Any] = {"samples": n, "data": test.name}
    if mapped_imac:
        try:
            imac = _measure_run_imac(run, imac_dir, x, y, config, mapped_imac)
        except ImaclabError as err:
            if out_dir is not None:
                _write_partial(Path(out_dir), run.config.model, designs["tpu-only"], config, str(err))
                raise type(err)(f"{err} (TPU-only costs written to {Path(out_dir) / 'partial.json'})") from None
            raise
        notes += imac.notes
        if scoring:
            accuracy["tpu_imac_circuit"] = imac.accuracy
            accuracy["tpu_imac_circuit_software_reference"] = imac.software_accuracy
            accuracy["circuit_software_agreement"] = imac.agreement
            accuracy["backend"] = imac.backend
    if scoring:
        accuracy["tpu_imac_digital"] = _digital_accuracy(run.model, x, y)
    else:
        accuracy = {"samples": None, "data": test.name}
        notes.append(f"accuracy not scored (accuracy.enabled: false); IMAC measured on {n} images")
    input_mode = str(imac.config.inputs.mode) if imac is not None else "analog"
    designs["tpu-imac"] = cost_design(tpu_imac_map, systolic_cfg=systolic_cfg, config=config,
                                      imac=imac.measurements if imac else None, input_mode=input_mode,
                                      reports=reports)
    comparison = DesignComparison(run.config.model, layers, mappings, designs, systolic_cfg)
    if tpu_dir is not None:
        tpu_run = load_run(tpu_dir)
        if tpu_run.config.model != run.config.model or tpu_run.config.width != run.config.width:
            raise InputError(f"{tpu_dir} holds {tpu_run.config.model} (width {tpu_run.config.width}) but {imac_dir} "
                             f"holds {run.config.model} (width {run.config.width}): compare the same network")
        tpu_layers = extract_layers(tpu_run.model)
        if [(t.kind, t.macs) for t in tpu_layers] != [(t.kind, t.macs) for t in layers]:
            notes.append("the TPU-only run's layer list differs from the TPU-IMAC run's; costs use the TPU-IMAC "
                         "run's architecture")
        accuracy["tpu_only"] = _digital_accuracy(tpu_run.model, x, y) if scoring else None
    else:
        accuracy["tpu_only"] = None
    if tpu_dir is None and scoring:
        notes.append("no TPU-only 8-bit run given (--tpu-checkpoint, or a tpu-int8/ folder next to tpu-imac/): "
                     "its accuracy is not reported")
    runs = {"tpu_imac": str(imac_dir), "tpu_only": str(tpu_dir) if tpu_dir else None,
            "tpu_imac_train_accuracy": run.report.get("test_accuracy"), "width": run.config.width,
            "train_samples": run.report.get("data", {}).get("train_samples"), "epochs": run.epoch}
    result = HeteroResult(comparison, accuracy, imac, runs, config, notes, wall_s=time.perf_counter() - start)
    if out_dir is not None:
        result.files = write_result(result, Path(out_dir))
    return result


def _measure_run_imac(run, imac_dir: Path, x: np.ndarray, y: np.ndarray, config: HeteroConfig,
                      layer_names: list[str]):
    """The IMAC room's measurement of a run's crossbar part, fed with what its TPU part hands over."""
    from imaclab.hetero.imac_part import measure_imac
    from imaclab.imac import load_mlp
    from imaclab.nn.export import imac_inputs

    if run.imac_npz is None:
        raise InputError(f"{imac_dir}: no imac.npz export (the run has not finished)")
    mlp = load_mlp(run.imac_npz)
    return measure_imac(mlp=mlp, inputs01=imac_inputs(run.model, x), labels=y, imac_config=config.imac,
                        accuracy=config.accuracy, layer_names=layer_names)


def _write_partial(out_dir: Path, model: str, tpu_only: DesignCost, config: HeteroConfig, error: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(out_dir / "partial.json", {"model": model, "status": "failed", "error": error,
                                           "designs": {"tpu-only": tpu_only.to_dict()}, "config": config.to_dict()})


# ------------------------------------------------------------------------------ output files
LAYER_COLUMNS = ("design", "position", "name", "kind", "unit", "stage", "macs", "tpu_cycles", "stall_cycles",
                 "latency_s", "energy_j", "energy_mac_j", "energy_sram_j", "energy_dram_j", "energy_static_j",
                 "energy_imac_j", "energy_conversion_j", "weight_bytes", "imac_weight_bits", "imac_devices",
                 "imac_crossbars", "sram_read_bytes", "sram_write_bytes", "dram_read_bytes", "dram_write_bytes",
                 "dram_weight_bytes")


def layer_rows(comparison: DesignComparison) -> list[dict[str, Any]]:
    """One row per layer / hand-off of each design, then each design's total."""
    rows = []
    for design, cost in comparison.designs.items():
        for pos, c in enumerate([*cost.layers, cost.total]):
            d = c.to_dict()
            rows.append({"design": design, "position": pos if c.unit != "total" else "total",
                         **{k: d[k] for k in LAYER_COLUMNS if k in d}})
    return rows


def _write_csv(path: Path, rows: list[dict[str, Any]], columns=None) -> Path:
    columns = list(columns or (rows[0].keys() if rows else []))
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    tmp.replace(path)
    return path


def _csv_value(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


def _write_json(path: Path, data: Any) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=json_default, allow_nan=True))
    tmp.replace(path)
    return path


def write_result(result: HeteroResult, out_dir: Path) -> dict[str, str]:
    """``layers.csv``, ``summary.csv``, ``summary.json``, ``config.yaml`` and the plots."""
    from imaclab.report.hetero_plots import plot_layer_latency, plot_summary

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"layers": _write_csv(out_dir / "layers.csv", layer_rows(result.comparison), LAYER_COLUMNS),
             "summary_csv": _write_csv(out_dir / "summary.csv", [result.summary()]),
             "config": result.config.save(out_dir / "config.yaml")}
    files["latency_plot"] = plot_layer_latency(result.comparison, out_dir / "latency_per_layer.png")
    files["summary_plot"] = plot_summary(result.comparison, result.accuracy, out_dir / "summary.png")
    out = {k: str(v) for k, v in files.items()}
    out["summary_json"] = str(out_dir / "summary.json")
    result.files = out
    _write_json(out_dir / "summary.json", result.to_dict())
    return out


# ------------------------------------------------------------------------------ zoo comparison
COMPARE_COLUMNS = ("model", "tpu", "status", "tpu_only_latency_s", "tpu_imac_latency_s", "speedup", "throughput_gain",
                   "tpu_only_weight_bytes", "tpu_imac_weight_bytes", "memory_reduction", "tpu_only_dram_bytes",
                   "tpu_imac_dram_bytes", "dram_traffic_reduction", "tpu_only_dram_weight_bytes",
                   "tpu_imac_dram_weight_bytes", "tpu_only_energy_j", "tpu_imac_energy_j",
                   "energy_ratio", "tpu_only_fc_cycles", "imac_latency_s", "handoff_latency_s", "tpu_only_accuracy",
                   "tpu_imac_accuracy", "tpu_imac_digital_accuracy", "accuracy_samples", "error")


@dataclass
class CompareResult:
    rows: list[dict[str, Any]]
    results: dict[str, HeteroResult]
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "published": PUBLISHED, "files": self.files}


def compare_runs(*, models: list[str] | str, runs_dir: str | Path, data: str | None = None,
                 data_root: str | None = None, config: HeteroConfig | None = None,
                 out_dir: str | Path | None = None) -> CompareResult:
    """:func:`evaluate_run` for each model of ``models`` (folders ``runs_dir/<model>/tpu-imac`` and ``tpu-int8``).

    A model that fails is recorded with its error and the others go on; the table
    (``compare.csv``/``compare.json``) is rewritten after every model, so finished models are
    never lost.
    """
    from imaclab.nn.zoo import canonical_model_name

    config = config or HeteroConfig()
    names = [m.strip() for m in (models.split(",") if isinstance(models, str) else models) if m.strip()]
    if not names:
        raise ConfigError("no models to compare: give e.g. --models lenet5,mobilenet_v2")
    runs_dir = Path(runs_dir)
    out = Path(out_dir) if out_dir is not None else None
    rows: list[dict[str, Any]] = []
    results: dict[str, HeteroResult] = {}
    files: dict[str, str] = {}
    for name in names:
        key = canonical_model_name(name)
        folder = runs_dir / key
        if not folder.is_dir() and (runs_dir / name).is_dir():
            folder = runs_dir / name
        try:
            res = evaluate_run(checkpoint=folder, data=data, data_root=data_root, config=config,
                               out_dir=(out / key) if out is not None else None)
            results[key] = res
            rows.append({**res.summary(), "status": "ok", "error": ""})
        except ImaclabError as err:
            rows.append({"model": key, "tpu": config.tpu_label, "status": "failed", "error": str(err)})
        if out is not None:
            files = write_compare(rows, out)
    result = CompareResult(rows, results, files)
    if out is not None:
        from imaclab.report.hetero_plots import plot_compare

        files["compare_plot"] = str(plot_compare(rows, out / "compare.png"))
        result.files = files
    return result


def write_compare(rows: list[dict[str, Any]], out_dir: Path) -> dict[str, str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    return {"compare_csv": str(_write_csv(out_dir / "compare.csv", rows, COMPARE_COLUMNS)),
            "compare_json": str(_write_json(out_dir / "compare.json", {"rows": rows, "published": PUBLISHED}))}
