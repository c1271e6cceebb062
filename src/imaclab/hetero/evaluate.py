"""The TPU-only vs TPU-IMAC pipeline's parts: trace, place, cost, find and score trained runs.

* :func:`cost_designs` -- costs of both designs for any ``nn.Module`` (no accuracy): trace
  the layers, place them, simulate the systolic layers once each, add IMAC measurements and
  hand-offs.
* :func:`resolve_runs`, :func:`policy_named`, :func:`test_set`, :func:`digital_accuracy`,
  :func:`measure_run_imac` -- the steps :func:`imaclab.hetero.run` takes on a trained run.
* :func:`layer_rows`, :func:`csv_text` -- the rows of ``layers.csv`` and the CSV text.

Run folders: ``checkpoint`` is either the TPU-IMAC run itself, or a folder holding
``tpu-imac/`` and ``tpu-int8/`` runs of one model (the layout ``hetero compare`` reads
under ``runs_dir/<model>/``).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imaclab.errors import InputError
from imaclab.hetero.config import HeteroConfig
from imaclab.hetero.costs import (
    DesignCost,
    ImacLayerMeasurement,
    LayerCost,
    handoff_cost,
    imac_layer_cost,
    simulate_systolic,
    tile_measurements,
    tpu_layer_cost,
    vector_layer_cost,
)
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
    handoffs: dict[int, list] = {}
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


def imac_tile_costs(config: HeteroConfig, mapping: DesignMapping, tile: Any = None
                    ) -> list[ImacLayerMeasurement]:
    """The IMAC layers of ``mapping`` costed on the tile ``tile`` (default: ``config.imac_tile``,
    characterized once and cached by :func:`imaclab.imac.tiles.characterize_tile`)."""
    layers = mapping.on("imac")
    if not layers:
        return []
    if tile is None:
        from imaclab.imac.tiles import characterize_tile

        tile = characterize_tile(config.imac_tile)
    return tile_measurements(layers, tile)


def cost_designs(*, model, config: HeteroConfig | None = None, sample=None, input_shape=None,
                 imac: list[ImacLayerMeasurement] | None = None, input_mode: str = "analog",
                 name: str | None = None, tile: Any = None) -> DesignComparison:
    """Trace ``model`` and cost it as TPU-only and as TPU-IMAC (costs only).

    ``imac`` gives the measurements of the layers TPU-IMAC puts on crossbars (from
    :func:`~imaclab.hetero.imac_part.measure_imac`); without them the model must not map any
    layer to IMAC (``imac_layers: none``), unless ``config.imac_costs`` is ``tiles``: then the
    IMAC layers are costed on the tile (``tile``, a :class:`~imaclab.imac.tiles.TileCosts`, or
    ``config.imac_tile`` characterized and cached) and ``imac`` is not used.
    """
    config = config or HeteroConfig()
    layers = extract_layers(model, sample, input_shape=input_shape)
    systolic_cfg = config.systolic()
    mappings = {"tpu-only": map_design(layers, "tpu-only"),
                "tpu-imac": map_design(layers, "tpu-imac", imac_layers=config.imac_layers)}
    if config.imac_costs == "tiles":
        imac = imac_tile_costs(config, mappings["tpu-imac"], tile)
    reports: dict = {}
    designs = {d: cost_design(m, systolic_cfg=systolic_cfg, config=config, imac=imac, input_mode=input_mode,
                              reports=reports) for d, m in mappings.items()}
    label = str(name or getattr(model, "name", None) or type(model).__name__)
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


def test_set(run, data: str | None, data_root: str | None):
    """The test split of the data set ``run`` was trained on (``data``, when given, must name it)."""
    from imaclab.data.datasets import load_dataset

    cfg = run.config
    if data is not None and not _same_data(data, cfg.data):
        raise InputError(f"{run.run_dir} was trained on {cfg.data}, not {data}: score it on the data it was "
                         "trained for")
    return load_dataset(cfg.data, split="test", root=data_root or cfg.data_root, crop=cfg.crop, resize=cfg.resize)


def digital_accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    from imaclab.nn.training import predict

    return float((predict(model, x) == y).mean())


def measure_run_imac(run, imac_dir: Path, x: np.ndarray, y: np.ndarray, config: HeteroConfig,
                     layer_names: list[str], progress: bool = False):
    """The IMAC room's measurement of a run's crossbar part, fed with what its TPU part hands over."""
    from imaclab.hetero.imac_part import measure_imac
    from imaclab.imac import load_mlp
    from imaclab.nn.export import imac_inputs

    if run.imac_npz is None:
        raise InputError(f"{imac_dir}: no imac.npz export (the run has not finished)")
    mlp = load_mlp(run.imac_npz)
    return measure_imac(mlp=mlp, inputs01=imac_inputs(run.model, x), labels=y, imac_config=config.imac,
                        accuracy=config.accuracy, layer_names=layer_names, progress=progress)


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


def csv_text(rows: list[dict[str, Any]], columns=None) -> str:
    """``rows`` as CSV text (floats to 6 significant digits, None empty), columns in the given order."""
    columns = list(columns or (rows[0].keys() if rows else []))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    return buffer.getvalue()


def _csv_value(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


# ------------------------------------------------------------------------------ zoo comparison
COMPARE_COLUMNS = ("model", "tpu", "status", "tpu_only_latency_s", "tpu_imac_latency_s", "speedup", "throughput_gain",
                   "tpu_only_weight_bytes", "tpu_imac_weight_bytes", "memory_reduction", "tpu_only_dram_bytes",
                   "tpu_imac_dram_bytes", "dram_traffic_reduction", "tpu_only_dram_weight_bytes",
                   "tpu_imac_dram_weight_bytes", "tpu_only_energy_j", "tpu_imac_energy_j",
                   "energy_ratio", "tpu_only_fc_cycles", "imac_latency_s", "handoff_latency_s", "tpu_only_accuracy",
                   "tpu_imac_accuracy", "tpu_imac_digital_accuracy", "accuracy_samples", "error")
