"""One self-contained HTML page for a run folder, a sweep folder or a folder of runs.

:func:`write_index` reads only the FILES of a folder (``summary.json``, ``config.yaml``, the
room's CSV/JSON/PNG files, a sweep's ``results.sqlite``) and writes ``index.html`` beside them:

* a summary at the top: the run's headline figures with units, the config it used, the
  software version and when it ran;
* the room's tables (sortable) and plots: interactive (plotly, embedded) where a person
  explores -- the LLM f heatmap, speedup curves with model toggles, a sweep's scatter and
  Pareto front with each point's config on hover, accuracy per epoch, per-layer latency and
  cycles -- and the room's PNG images (base64) beside them;
* a folder of runs (``make demo``'s report, a ``hetero compare`` folder, a training run's
  ``baseline/``) gets a section per run and a table of contents.

The kind of a run is ``summary.json``'s ``"kind"`` when present, else it is read from the
files the folder holds (folders written before runs recorded their kind).
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imaclab.errors import InputError
from imaclab.report.format import format_value, label_of
from imaclab.report.page import Headline, Plots, esc, headlines_html, image_html, key_value_table, page_html, table_html
from imaclab.result import CONFIG_FILE, SUMMARY_FILE, flat_scalars

INDEX_FILE = "index.html"
#: sub-folders never taken for runs
_SKIP_DIRS = {"logs", "plots", "__pycache__", "checkpoints", "cache"}
#: how deep a folder of runs is searched for runs
MAX_DEPTH = 3
#: points drawn in a per-sample scatter (more are thinned evenly)
MAX_SCATTER_POINTS = 2000
#: files that carry a run's figures when it has no summary.json (older folders)
_LEGACY_JSON = ("report.json", "study.json", "compare.json")


# ------------------------------------------------------------------------------ reading a folder
def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def read_csv(path: Path) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a CSV, numbers parsed (SCALE-Sim's trailing commas and spaces dropped)."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        rows = [r for r in reader]
    if not rows:
        return [], []
    header = [h.strip() for h in rows[0]]
    while header and header[-1] == "":
        header.pop()
    out = []
    for row in rows[1:]:
        cells = [_number(c.strip()) for c in row[: len(header)]]
        if any(c not in ("", None) for c in cells):
            out.append(cells + [None] * (len(header) - len(cells)))
    return header, out


def _number(text: str) -> Any:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value


def detect_kind(folder: Path) -> str | None:
    """The kind of run a folder holds (``summary.json``'s ``"kind"``, else read from its files); None if none."""
    folder = Path(folder)
    if (folder / "results.sqlite").is_file():
        return "sweep"
    summary = _load_json(folder / SUMMARY_FILE) if (folder / SUMMARY_FILE).is_file() else None
    if isinstance(summary, dict):
        if isinstance(summary.get("kind"), str):
            return summary["kind"]
        if "stages" in summary:
            return "demo"
        if "totals" in summary or (folder / "COMPUTE_REPORT.csv").is_file():
            return "tpu.simulate"
        if "comparison" in summary or (isinstance(summary.get("summary"), dict) and "speedup" in summary["summary"]):
            return "hetero.evaluate"
        if "accuracy" in summary and ("mean_power_w" in summary or (folder / "samples.csv").is_file()):
            return "imac.run"
        if (folder / "report.json").is_file():
            return "train"
        return "run"
    if (folder / "compare.json").is_file() or (folder / "compare.csv").is_file():
        return "hetero.compare"
    if (folder / "study.json").is_file() or (folder / "amdahl.csv").is_file():
        return "llm.amdahl"
    if (folder / "report.json").is_file():
        return "train"
    if (folder / CONFIG_FILE).is_file() and not _child_runs(folder, depth=1):
        return "unfinished"
    return None


#: kinds written under another name that share a view (``train.run`` is the nn room's ``train``)
KIND_VIEWS = {"train.run": "train", "nn.train": "train", "llm.amdahl_study": "llm.amdahl"}


def view_of(kind: str) -> str:
    """The view (headlines, tables, plots) a kind of run gets."""
    return KIND_VIEWS.get(kind, kind)


def _child_runs(folder: Path, depth: int) -> list[Path]:
    """Sub-folders holding runs (or runs further down), sorted by name; symbolic links are not followed."""
    if depth > MAX_DEPTH:
        return []
    out = []
    try:
        entries = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []
    for path in entries:
        if path.name.startswith(".") or path.name in _SKIP_DIRS:
            continue
        if detect_kind(path) is not None or _child_runs(path, depth + 1):
            out.append(path)
    return out


@dataclass
class Run:
    """A run folder as read from its files."""

    path: Path
    kind: str
    summary: dict[str, Any] = field(default_factory=dict)
    #: flat scalars of each JSON file of the run, by file name (summary.json first)
    flat: dict[str, dict[str, Any]] = field(default_factory=dict)
    json: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path, kind: str) -> Run:
        run = cls(Path(path), kind)
        for name in (SUMMARY_FILE, *_LEGACY_JSON):
            if (run.path / name).is_file():
                data = _load_json(run.path / name)
                if isinstance(data, dict):
                    run.json[name] = data
                    run.flat[name] = flat_scalars(data)
        run.summary = run.json.get(SUMMARY_FILE, {})
        return run

    def find(self, *candidates: str) -> tuple[str, str, Any] | None:
        """(file, key, value) of the first candidate found: an exact dotted key, else a key ending in it."""
        for candidate in candidates:
            for source, flat in self.flat.items():
                if candidate in flat and flat[candidate] is not None:
                    return source, candidate, flat[candidate]
            for source, flat in self.flat.items():
                matches = sorted((k for k in flat if k.endswith("." + candidate) and flat[k] is not None), key=len)
                if matches:
                    return source, matches[0], flat[matches[0]]
        return None

    def headline(self, label: str, *candidates: str) -> Headline | None:
        found = self.find(*candidates)
        if found is None:
            return None
        source, key, value = found
        return Headline(label, value, source=source, key=key)

    def csv(self, name: str) -> tuple[list[str], list[list[Any]]] | None:
        path = self.path / name
        if not path.is_file():
            return None
        try:
            return read_csv(path)
        except (OSError, UnicodeDecodeError, csv.Error):
            return None


# ------------------------------------------------------------------------------ headlines by kind
HEADLINES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "imac.run": [
        ("Circuit accuracy", ("accuracy",)),
        ("Software accuracy", ("software_accuracy",)),
        ("Mean power", ("mean_power_w", "power_w")),
        ("Mean latency", ("mean_latency_s",)),
        ("Worst latency", ("worst_latency_s",)),
        ("Area", ("area_um2.total_um2", "total_um2", "area_um2")),
        ("Samples", ("samples",)),
        ("Simulation per sample", ("simulation_s_per_sample",)),
    ],
    "imac.validate": [
        ("Samples", ("samples",)),
        ("Max output difference", ("max_abs_diff_v", "max_abs_v")),
        ("Fast accuracy", ("fast_accuracy", "fast.accuracy")),
        ("SPICE accuracy", ("spice_accuracy", "spice.accuracy")),
        ("Agreement", ("agreement", "prediction_agreement")),
    ],
    "tpu.simulate": [
        ("Total cycles", ("totals.total_cycles", "total_cycles")),
        ("Stall cycles", ("totals.stall_cycles", "stall_cycles")),
        ("Latency", ("totals.latency_s", "latency_s")),
        ("Utilization", ("totals.overall_utilization", "overall_utilization")),
        ("MACs", ("totals.macs", "macs")),
        ("DRAM traffic", ("totals.dram_bytes", "dram_bytes")),
        ("Layers", ("totals.layers",)),
        ("Clock", ("config.clock_hz", "clock_hz")),
    ],
    "train": [
        ("Test accuracy", ("test_accuracy",)),
        ("FP32 baseline", ("baseline.test_accuracy",)),
        ("Drop vs FP32", ("accuracy_drop_points",)),
        ("Best test accuracy", ("best_test_accuracy",)),
        ("Epochs", ("epochs_completed",)),
        ("Parameters", ("parameters",)),
        ("Seconds per epoch", ("seconds_per_epoch",)),
    ],
    "hetero.evaluate": [
        ("Speedup", ("summary.speedup", "speedup")),
        ("Energy ratio", ("summary.energy_ratio", "energy_ratio")),
        ("Weight memory reduction", ("summary.memory_reduction", "memory_reduction")),
        ("TPU-only latency", ("summary.tpu_only_latency_s", "tpu_only_latency_s")),
        ("TPU-IMAC latency", ("summary.tpu_imac_latency_s", "tpu_imac_latency_s")),
        ("Accuracy TPU only", ("summary.tpu_only_accuracy", "tpu_only_accuracy")),
        ("Accuracy TPU-IMAC", ("summary.tpu_imac_accuracy", "tpu_imac_accuracy")),
    ],
    "llm.amdahl": [("Cases", ("cases",)), ("Study time", ("elapsed_s",))],
    "llm.study": [("Cases", ("cases",)), ("Study time", ("elapsed_s",))],
    "llm.workload": [
        ("Total cycles", ("cycles_total", "total_cycles")),
        ("Tokens/s", ("tokens_per_s",)),
        ("Time per pass", ("seconds", "latency_s")),
        ("Parameters", ("parameters",)),
        ("Context", ("context", "workload.context_tokens")),
        ("Batch", ("batch",)),
    ],
    "demo": [],
}

_GENERIC_SKIP = ("offset", "seed", "index", "kind")


def _generic_headlines(run: Run, limit: int = 8) -> list[Headline]:
    """The first numeric top-level figures of summary.json (a kind this page does not know)."""
    out = []
    for source, flat in run.flat.items():
        for key, value in flat.items():
            if "." in key or not isinstance(value, numbers.Real) or isinstance(value, bool):
                continue
            if any(word in key for word in _GENERIC_SKIP):
                continue
            out.append(Headline(label_of(key), value, source=source, key=key))
            if len(out) >= limit:
                return out
        if out:
            break
    return out


def headlines(run: Run) -> list[Headline]:
    spec = HEADLINES.get(view_of(run.kind))
    found = [h for h in (run.headline(label, *c) for label, c in spec or []) if h is not None]
    if run.kind == "demo":
        return found
    return (
        found
        if len(found) >= 2
        else found + [h for h in _generic_headlines(run) if h.key not in {f.key for f in found}]
    )


# ------------------------------------------------------------------------------ per kind: tables and plots
@dataclass
class Parts:
    """What a run's section shows below its headlines."""

    tables: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra_headlines: list[Headline] = field(default_factory=list)
    #: CSV files already shown (the generic pass skips them)
    shown: set[str] = field(default_factory=set)
    #: child folders already shown inside this section
    children_shown: set[str] = field(default_factory=set)


def _go():
    import plotly.graph_objects as go

    return go


def _csv_table(
    run: Run,
    name: str,
    parts: Parts,
    *,
    title: str | None = None,
    columns: Iterable[str] | None = None,
    status_column: str | None = None,
) -> tuple[list[str], list[list[Any]]] | None:
    data = run.csv(name)
    if data is None:
        return None
    header, rows = data
    parts.shown.add(name)
    if columns is not None:
        keep = [c for c in columns if c in header]
        if keep:
            idx = [header.index(c) for c in keep]
            shown_rows = [[r[i] for i in idx] for r in rows]
        else:
            keep, shown_rows = header, rows
    else:
        keep, shown_rows = header, rows
    classes = None
    if status_column and status_column in header:
        j = header.index(status_column)
        classes = ["failed" if r[j] not in ("ok", None) else "" for r in rows]
    parts.tables.append(
        table_html(
            title or name,
            [label_of(c) if c == c.lower() else c for c in keep],
            shown_rows,
            names=keep,
            source=name,
            row_classes=classes,
        )
    )
    return header, rows


def _column(header: list[str], rows: list[list[Any]], name: str) -> list[Any]:
    j = header.index(name)
    return [r[j] for r in rows]


def _render_imac(run: Run, plots: Plots, parts: Parts) -> None:
    power = run.summary.get("mean_power_by_component_w")
    if isinstance(power, dict):
        parts.tables.append(key_value_table("Mean power by component", {f"{k}_w": v for k, v in power.items()}))
    area = run.summary.get("area_um2")
    if isinstance(area, dict):
        parts.tables.append(key_value_table("Area", area))
    data = _csv_table(
        run,
        "samples.csv",
        parts,
        title="Samples",
        columns=("sample", "label", "predicted", "software_predicted", "ok", "power_w", "latency_s"),
    )
    if data:
        header, rows = data
        go = _go()
        if "latency_s" in header and "power_w" in header:
            lat = [v * 1e12 if isinstance(v, numbers.Real) else None for v in _column(header, rows, "latency_s")]
            pw = [v * 1e3 if isinstance(v, numbers.Real) else None for v in _column(header, rows, "power_w")]
            if {"label", "predicted"} <= set(header):  # the circuit's answer against the label
                right = [a == b for a, b in zip(_column(header, rows, "label"), _column(header, rows, "predicted"))]
            else:
                right = [True] * len(rows)
            samples = _column(header, rows, "sample") if "sample" in header else list(range(len(rows)))
            if len(rows) > MAX_SCATTER_POINTS:  # an even subset keeps the page quick to open
                step = math.ceil(len(rows) / MAX_SCATTER_POINTS)
                keep = set(range(0, len(rows), step))
                lat = [v if i in keep else None for i, v in enumerate(lat)]
                parts.notes.append(f"latency/power plot: every {step}th of {len(rows):,} samples")
            fig = go.Figure()
            for flag, name, color in ((True, "correct", "#3b8f55"), (False, "wrong", "#c9483f")):
                sel = [i for i in range(len(rows)) if right[i] == flag and lat[i] is not None and pw[i] is not None]
                if sel:
                    fig.add_trace(
                        go.Scatter(
                            x=[lat[i] for i in sel],
                            y=[pw[i] for i in sel],
                            mode="markers",
                            name=name,
                            marker={"color": color, "size": 6, "opacity": 0.75},
                            text=[f"sample {samples[i]}" for i in sel],
                            hovertemplate="%{text}<br>latency %{x:.4g} ps<br>power %{y:.4g} mW<extra></extra>",
                        )
                    )
            if fig.data:
                fig.update_xaxes(title="latency (ps)")
                fig.update_yaxes(title="power (mW)")
                parts.plots.append(plots.figure(fig, "Latency and power per sample"))


def _render_tpu(run: Run, plots: Plots, parts: Parts) -> None:
    layers = run.summary.get("layers")
    if isinstance(layers, list) and layers and isinstance(layers[0], dict):
        cols = [
            c
            for c in (
                "name",
                "kind",
                "m",
                "n",
                "k",
                "macs",
                "total_cycles",
                "stall_cycles",
                "overall_utilization",
                "mapping_efficiency",
                "latency_s",
                "dram_bytes",
            )
            if c in layers[0]
        ]
        rows = [[layer.get(c) for c in cols] for layer in layers]
        parts.tables.append(
            table_html(
                "Layers", [label_of(c) if c not in ("m", "n", "k") else c.upper() for c in cols], rows, names=cols
            )
        )
        names = [str(layer.get("name", i)) for i, layer in enumerate(layers)]
        total = [layer.get("total_cycles") or 0 for layer in layers]
        stall = [layer.get("stall_cycles") or 0 for layer in layers]
        util = [layer.get("overall_utilization") for layer in layers]
        go = _go()
        fig = go.Figure()
        fig.add_trace(
            go.Bar(
                x=names,
                y=[t - s for t, s in zip(total, stall)],
                name="compute",
                customdata=[[u * 100 if isinstance(u, numbers.Real) else float("nan")] for u in util],
                hovertemplate="%{x}<br>%{y:,} compute cycles<br>utilization %{customdata[0]:.1f} %<extra></extra>",
            )
        )
        fig.add_trace(
            go.Bar(x=names, y=stall, name="stall", hovertemplate="%{x}<br>%{y:,} stall cycles<extra></extra>")
        )
        fig.update_layout(barmode="stack")
        fig.update_yaxes(title="cycles")
        parts.plots.append(plots.figure(fig, "Cycles per layer"))
        for name in ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv"):
            parts.shown.add(name)
        parts.notes.append("SCALE-Sim reports: COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv, DETAILED_ACCESS_REPORT.csv")
    else:
        _csv_table(run, "COMPUTE_REPORT.csv", parts, title="Compute report")


def _history(run: Run) -> list[dict[str, Any]]:
    for source in (SUMMARY_FILE, "report.json"):
        history = run.json.get(source, {}).get("history")
        if isinstance(history, list) and history and isinstance(history[0], dict):
            return history
    return []


def _render_train(run: Run, plots: Plots, parts: Parts) -> None:
    history = _history(run)
    baseline = None
    base_dir = run.path / "baseline"
    if base_dir.is_dir():
        base = Run.read(base_dir, "train")
        baseline = _history(base)
    if history:
        cols = [
            c
            for c in ("epoch", "lr", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds")
            if c in history[0]
        ]
        parts.tables.append(
            table_html("Epochs", [label_of(c) for c in cols], [[h.get(c) for c in cols] for h in history], names=cols)
        )
        go = _go()
        fig = go.Figure()
        epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
        for key, name, dash in (("train_accuracy", "train", "dot"), ("test_accuracy", "test", "solid")):
            if key in history[0]:
                fig.add_trace(
                    go.Scatter(
                        x=epochs,
                        y=[100 * h[key] for h in history],
                        mode="lines+markers",
                        name=f"{name}",
                        line={"dash": dash, "color": "#2f5fb3"},
                        hovertemplate=f"epoch %{{x}}<br>{name} %{{y:.2f}} %<extra></extra>",
                    )
                )
        if baseline:
            be = [h.get("epoch", i + 1) for i, h in enumerate(baseline)]
            for key, name, dash in (("train_accuracy", "FP32 train", "dot"), ("test_accuracy", "FP32 test", "solid")):
                if key in baseline[0]:
                    fig.add_trace(
                        go.Scatter(
                            x=be,
                            y=[100 * h[key] for h in baseline],
                            mode="lines+markers",
                            name=name,
                            line={"dash": dash, "color": "#999999"},
                            hovertemplate=f"epoch %{{x}}<br>{name} %{{y:.2f}} %<extra></extra>",
                        )
                    )
        fig.update_xaxes(title="epoch", dtick=1 if len(epochs) <= 20 else None)
        fig.update_yaxes(title="accuracy (%)")
        parts.plots.append(plots.figure(fig, "Accuracy per epoch"))
    layers = run.json.get("report.json", run.summary).get("layers")
    if isinstance(layers, dict) and layers:
        parts.tables.append(table_html("Layer precision", ("layer", "mapped to"), list(layers.items()), formatted=True))


def _render_hetero(run: Run, plots: Plots, parts: Parts) -> None:
    data = _csv_table(
        run,
        "layers.csv",
        parts,
        title="Layers",
        columns=(
            "design",
            "name",
            "kind",
            "unit",
            "macs",
            "tpu_cycles",
            "stall_cycles",
            "latency_s",
            "energy_j",
            "weight_bytes",
            "dram_read_bytes",
            "dram_write_bytes",
        ),
    )
    parts.shown.add("summary.csv")
    if data:
        header, rows = data
        if {"design", "name", "latency_s"} <= set(header):
            go = _go()
            fig = go.Figure()
            designs = list(dict.fromkeys(_column(header, rows, "design")))
            for design in designs:
                sel = [
                    r
                    for r in rows
                    if r[header.index("design")] == design
                    and ("kind" not in header or r[header.index("kind")] != "total")
                ]
                names = [r[header.index("name")] for r in sel]
                lat = [r[header.index("latency_s")] for r in sel]
                units = [r[header.index("unit")] if "unit" in header else "" for r in sel]
                fig.add_trace(
                    go.Bar(
                        x=names,
                        y=[v * 1e9 if isinstance(v, numbers.Real) else None for v in lat],
                        name=design,
                        customdata=units,
                        hovertemplate="%{x}<br>%{y:.4g} ns on %{customdata}<extra>" + esc(design) + "</extra>",
                    )
                )
            fig.update_layout(barmode="group")
            fig.update_yaxes(title="latency (ns)", type="log", dtick=1, exponentformat="power")
            parts.plots.append(plots.figure(fig, "Latency per layer"))
    comparison = run.summary.get("summary") if isinstance(run.summary.get("summary"), dict) else None
    if comparison:
        parts.tables.append(
            key_value_table(
                "TPU only vs TPU-IMAC", {k: v for k, v in comparison.items() if not isinstance(v, (dict, list))}
            )
        )


def _render_hetero_compare(run: Run, plots: Plots, parts: Parts) -> None:
    data = _csv_table(run, "compare.csv", parts, title="Models", status_column="status")
    if data:
        header, rows = data
        if "model" in header and "speedup" in header:
            go = _go()
            fig = go.Figure()
            models = _column(header, rows, "model")
            for key, name in (("speedup", "speedup"), ("energy_ratio", "energy ratio")):
                if key in header:
                    fig.add_trace(
                        go.Bar(
                            x=models,
                            y=_column(header, rows, key),
                            name=name,
                            hovertemplate="%{x}<br>" + name + " %{y:.4g}×<extra></extra>",
                        )
                    )
            fig.update_layout(barmode="group")
            fig.update_yaxes(title="TPU-IMAC vs TPU only (×)", type="log", dtick=1, exponentformat="power")
            parts.plots.append(plots.figure(fig, "TPU-IMAC gains per model"))
            speedups = [v for v in _column(header, rows, "speedup") if isinstance(v, numbers.Real)]
            parts.extra_headlines.append(Headline("Models", len(rows), source="compare.csv", key="models"))
            if speedups:
                parts.extra_headlines.append(
                    Headline("Best speedup", max(speedups), source="compare.csv", key="speedup")
                )


def _render_llm(run: Run, plots: Plots, parts: Parts) -> None:
    data = run.csv("amdahl.csv")
    if data is None:
        return
    header, rows = data
    parts.shown.add("amdahl.csv")
    speed_cols = sorted(
        (c for c in header if c.startswith("speedup_s") and c[9:].replace(".", "").isdigit()),
        key=lambda c: float(c[9:]),
    )
    cols = [
        c
        for c in (
            "model",
            "phase",
            "context",
            "batch",
            "hardware",
            "f_systolic",
            "ceiling_systolic",
            "tokens_per_s_systolic",
            *speed_cols,
            "speedup_bit_serial",
            "speedup_hybrid_pim",
            "tokens_per_s_hybrid_pim",
            "f_memory",
            "ceiling_memory",
            "f_roofline",
            "ceiling_roofline",
        )
        if c in header
    ]
    idx = [header.index(c) for c in cols]
    parts.tables.append(
        table_html(
            "Cases",
            [label_of(c) if not c.startswith("speedup_s") else f"S at s={c[9:]}" for c in cols],
            [[r[i] for i in idx] for r in rows],
            names=cols,
            source="amdahl.csv (every column)",
        )
    )
    if not {"model", "context", "f_systolic"} <= set(header):
        return
    go = _go()
    col = {c: header.index(c) for c in header}
    models = list(dict.fromkeys(r[col["model"]] for r in rows))
    contexts = sorted({r[col["context"]] for r in rows})
    panels = list(
        dict.fromkeys(
            (r[col["phase"]] if "phase" in col else "", r[col["hardware"]] if "hardware" in col else "") for r in rows
        )
    )
    f_values = [r[col["f_systolic"]] for r in rows if isinstance(r[col["f_systolic"]], numbers.Real)]
    if f_values:
        lo = min(
            range(len(rows)),
            key=lambda i: (
                rows[i][col["f_systolic"]] if isinstance(rows[i][col["f_systolic"]], numbers.Real) else math.inf
            ),
        )
        hi = max(
            range(len(rows)),
            key=lambda i: (
                rows[i][col["f_systolic"]] if isinstance(rows[i][col["f_systolic"]], numbers.Real) else -math.inf
            ),
        )
        parts.extra_headlines += [
            Headline(
                "Lowest f",
                rows[lo][col["f_systolic"]],
                source="amdahl.csv",
                key="f_systolic",
                text=f"{rows[lo][col['f_systolic']]:.3f} ({rows[lo][col['model']]}, L={rows[lo][col['context']]})",
            ),
            Headline(
                "Highest f",
                rows[hi][col["f_systolic"]],
                source="amdahl.csv",
                key="f_systolic",
                text=f"{rows[hi][col['f_systolic']]:.3f} ({rows[hi][col['model']]}, L={rows[hi][col['context']]})",
            ),
        ]
        if "ceiling_systolic" in col:
            parts.extra_headlines.append(
                Headline(
                    "Highest ceiling", rows[hi][col["ceiling_systolic"]], source="amdahl.csv", key="ceiling_systolic"
                )
            )
    for phase, hw in panels[:6]:
        z, text = [], []
        for model in models:
            zr, tr = [], []
            for context in contexts:
                match = [
                    r
                    for r in rows
                    if r[col["model"]] == model
                    and r[col["context"]] == context
                    and (not phase or r[col["phase"]] == phase)
                    and (not hw or r[col["hardware"]] == hw)
                ]
                f = match[0][col["f_systolic"]] if match else None
                ceiling = match[0][col["ceiling_systolic"]] if match and "ceiling_systolic" in col else None
                zr.append(f)
                tr.append("n/a" if f is None else f"f = {f:.3f}" + (f"<br>ceiling {ceiling:.3g}×" if ceiling else ""))
            z.append(zr)
            text.append(tr)
        fig = go.Figure(
            go.Heatmap(
                z=z,
                x=[str(c) for c in contexts],
                y=models,
                zmin=0,
                zmax=1,
                colorscale="Viridis",
                text=text,
                texttemplate="%{z:.2f}",
                colorbar={"title": {"text": "f"}},
                hovertemplate="%{y}, L=%{x}<br>%{text}<extra></extra>",
            )
        )
        fig.update_xaxes(title="context (tokens)", type="category")
        fig.update_yaxes(autorange="reversed")
        parts.plots.append(
            plots.figure(fig, f"Improved fraction f (systolic cycles), {phase} on {hw}".replace(" , ", " "))
        )
    if speed_cols:
        factors = [float(c[9:]) for c in speed_cols]
        fig = go.Figure()
        palette = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
        for m, model in enumerate(models):
            first = True
            for r in rows:
                if r[col["model"]] != model:
                    continue
                label = (
                    f"L={r[col['context']]}"
                    + (f", {r[col['hardware']]}" if "hardware" in col else "")
                    + (f", {r[col['phase']]}" if "phase" in col and len(panels) > 1 else "")
                )
                ys = [r[col[c]] for c in speed_cols]
                fig.add_trace(
                    go.Scatter(
                        x=factors,
                        y=ys,
                        mode="lines+markers",
                        name=model,
                        legendgroup=model,
                        showlegend=first,
                        line={"color": palette[m % len(palette)]},
                        hovertemplate=f"{esc(model)}, {esc(label)}<br>s = %{{x:g}}<br>"
                        "speedup %{y:.3g}×<extra></extra>",
                    )
                )
                first = False
        fig.update_xaxes(
            title="improvement of the 1-bit part, s (×)",
            type="log",
            tickvals=factors,
            ticktext=[f"{f:g}" for f in factors],
        )
        fig.update_yaxes(title="end-to-end speedup (×)")
        fig.update_layout(legend={"title": {"text": "model (click to toggle)"}})
        parts.plots.append(plots.figure(fig, "Speedup curves (Amdahl)"))


def _render_workload(run: Run, plots: Plots, parts: Parts) -> None:
    """Cycles, share of cycles, bytes and MACs by category (projection, attention, head, other)."""
    by = {
        name: run.summary.get(name)
        for name in ("cycles_by_category", "cycle_fractions", "bytes_by_category", "macs_by_category")
    }
    cycles = by["cycles_by_category"]
    if not isinstance(cycles, dict) or not cycles:
        return
    names = ("cycles", "cycle share", "bytes", "MACs")
    keys = ("cycles", "cycle_fraction_utilization", "bytes", "macs")  # unit-bearing names (share shown in %)
    rows = [
        [category, *[(by[k] or {}).get(category) if isinstance(by[k], dict) else None for k in by]]
        for category in cycles
    ]
    parts.tables.append(table_html("By category", ("category", *names), rows, names=("category", *keys)))
    go = _go()
    fig = go.Figure(
        go.Bar(
            x=list(cycles),
            y=list(cycles.values()),
            marker={"color": "#2f5fb3"},
            customdata=[100 * ((by["cycle_fractions"] or {}).get(c) or 0) for c in cycles],
            hovertemplate="%{x}<br>%{y:,.0f} cycles (%{customdata:.1f} %)<extra></extra>",
        )
    )
    fig.update_yaxes(title="cycles")
    parts.plots.append(plots.figure(fig, "Cycles by category"))


def _render_demo(run: Run, plots: Plots, parts: Parts) -> None:
    stages = run.summary.get("stages", {})
    errors = run.summary.get("errors", {})
    seconds = run.summary.get("seconds", {})
    names = list(dict.fromkeys([*stages, *errors, *seconds]))
    rows, classes = [], []
    for name in names:
        link = (
            f'<a href="#{esc(_anchor(run.path / name))}">{esc(name)}</a>' if (run.path / name).is_dir() else esc(name)
        )
        status = f"failed: {errors[name]}" if name in errors else ("done" if name in stages else "not run")
        figures = ", ".join(
            f"{label_of(k)} {format_value(k, v)}"
            for k, v in flat_scalars(stages.get(name, {})).items()
            if isinstance(v, numbers.Real) and not isinstance(v, bool)
        )[:400]
        rows.append((link, esc(status), esc(format_value("seconds", seconds.get(name))), esc(figures)))
        classes.append("failed" if name in errors else "")
    if rows:
        head = "".join(f"<th>{c}</th>" for c in ("stage", "status", "time", "figures"))
        body = "".join(
            f'<tr class="{c}">' + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row, c in zip(rows, classes)
        )
        parts.tables.append(
            f'<h4>Stages</h4><div class="tablewrap"><table class="data"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>"
        )
    for name, value in stages.items():
        for key, number in flat_scalars(value).items():
            if key in ("test_accuracy", "accuracy", "total_cycles", "mean_power_w", "cases", "latency_s"):
                parts.extra_headlines.append(
                    Headline(f"{name}: {label_of(key)}", number, source=SUMMARY_FILE, key=f"stages.{name}.{key}")
                )
    for name, error in errors.items():
        parts.notes.append(f'<span class="error">stage {esc(name)} failed: {esc(error)}</span>')


def _render_sweep(run: Run, plots: Plots, parts: Parts) -> None:
    from imaclab.report.sweep_page import render_sweep

    render_sweep(run, plots, parts)


RENDERERS: dict[str, Callable[[Run, Plots, Parts], None]] = {
    "imac.run": _render_imac,
    "tpu.simulate": _render_tpu,
    "train": _render_train,
    "hetero.evaluate": _render_hetero,
    "hetero.compare": _render_hetero_compare,
    "llm.amdahl": _render_llm,
    "llm.study": _render_llm,
    "llm.workload": _render_workload,
    "demo": _render_demo,
    "sweep": _render_sweep,
}


# ------------------------------------------------------------------------------ a section per run
def _anchor(path: Path) -> str:
    return "run-" + "".join(ch if ch.isalnum() else "-" for ch in str(path.resolve()))[-80:]


def _when(run: Run) -> str:
    for key in ("finished_at", "started_at", "created_at", "timestamp"):
        value = run.summary.get(key)
        if isinstance(value, (int, float)) and value > 1e9:
            return _dt.datetime.fromtimestamp(value, _dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        if isinstance(value, str) and value:
            return value
    for name in (SUMMARY_FILE, "results.sqlite", "report.json", "study.json", "compare.json", CONFIG_FILE):
        path = run.path / name
        if path.is_file():
            stamp = path.stat().st_mtime
            return _dt.datetime.fromtimestamp(stamp, _dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "unknown"


def _version(run: Run) -> str:
    from imaclab import __version__

    found = run.find("imaclab_version", "version")
    if found and isinstance(found[2], str):
        return f"imaclab {found[2]}"
    return f"imaclab {__version__} (this report)"


def _config_html(run: Run) -> str:
    for name in (CONFIG_FILE, "config.cfg", "spec.yaml"):
        path = run.path / name
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            lines = text.count("\n") + 1
            return (
                f'<details class="config"><summary>config: {esc(name)} ({lines} lines)</summary>'
                f'<pre class="config">{esc(text)}</pre></details>'
            )
    source, config = next(
        ((name, data["config"]) for name, data in run.json.items() if isinstance(data.get("config"), dict)), ("", None)
    )
    if isinstance(config, dict):
        import yaml

        text = yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
        return (
            f'<details class="config"><summary>config (from {esc(source)})</summary>'
            f'<pre class="config">{esc(text)}</pre></details>'
        )
    return ""


def _notes(run: Run) -> list[str]:
    out = []
    for key in ("warnings", "notes"):
        items = run.summary.get(key)
        if isinstance(items, list):
            out += [f'<span class="warn">{esc(item)}</span>' for item in items if isinstance(item, str)]
    errors = run.summary.get("errors")
    if isinstance(errors, list):
        out += [f'<span class="error">{esc(e)}</span>' for e in errors if isinstance(e, str)]
    return out


def _generic_tables(run: Run, parts: Parts) -> None:
    for path in sorted(run.path.glob("*.csv")):
        if path.name in parts.shown:
            continue
        data = run.csv(path.name)
        if data is None or not data[0]:
            continue
        header, rows = data
        if len(header) > 40:
            parts.notes.append(f"{esc(path.name)}: {len(rows)} rows × {len(header)} columns (too wide to show)")
            continue
        parts.tables.append(table_html(path.name, header, rows, source=path.name))


def _images(run: Run) -> list[str]:
    out = []
    for path in sorted([*run.path.glob("*.png"), *run.path.glob("*.svg")]):
        try:
            out.append(image_html(path))
        except OSError:
            continue
    return out


def render_section(folder: Path, plots: Plots, *, level: int = 2, depth: int = 0, root: Path | None = None) -> str:
    """The HTML section of one folder: its run (if any) and the runs below it."""
    folder = Path(folder)
    kind = detect_kind(folder)
    root = root or folder
    title = folder.name if folder != root else (folder.resolve().name or str(folder))
    body: list[str] = []
    parts = Parts()
    if kind is not None and kind != "unfinished":
        run = Run.read(folder, kind)
        renderer = RENDERERS.get(view_of(kind))
        if renderer is not None:
            try:
                renderer(run, plots, parts)
            except Exception as err:  # a page must never die on one odd file: say what could not be drawn
                parts.notes.append(
                    f'<span class="error">could not draw this {esc(kind)} run: '
                    f"{esc(type(err).__name__)}: {esc(err)}</span>"
                )
        if kind != "sweep":
            _generic_tables(run, parts)
        body.append(
            f'<div class="runmeta">{esc(kind)} · {esc(_version(run))} · ran {esc(_when(run))} · {esc(folder)}</div>'
        )
        body.append(headlines_html([*headlines(run), *parts.extra_headlines]))
        body.append(_config_html(run))
        notes = [*_notes(run), *parts.notes]
        body += [f'<p class="note">{n}</p>' for n in notes]
        if parts.plots:
            body.append('<div class="plots">' + "".join(parts.plots) + "</div>")
        body += parts.tables
        images = _images(run)
        if images:
            body.append('<h4>Figures</h4><div class="images">' + "".join(images) + "</div>")
    elif kind == "unfinished":
        body.append('<p class="note warn">an unfinished run: config.yaml but no summary.json yet</p>')
        run = Run.read(folder, kind)
        body.append(_config_html(run))
    children = _child_runs(folder, depth=depth + 1) if depth < MAX_DEPTH else []
    if kind == "demo":  # the stages in the order they ran
        order = list(_load_json(folder / SUMMARY_FILE).get("seconds", {}))
        children.sort(key=lambda c: order.index(c.name) if c.name in order else len(order))
    if children:
        if kind is None:
            body.append(
                '<nav class="toc">'
                + "".join(f'<a href="#{esc(_anchor(c))}">{esc(c.name)}</a>' for c in children)
                + "</nav>"
            )
        for child in children:
            body.append(render_section(child, plots, level=min(level + 1, 3), depth=depth + 1, root=root))
    if kind is None and not children:
        return ""
    heading = f'<h{level}>{esc(title)}<span class="kind">{esc(kind or "folder of runs")}</span></h{level}>'
    return (
        f'<section class="run" id="{esc(_anchor(folder))}" data-kind="{esc(kind or "folder")}" '
        f'data-path="{esc(folder.resolve())}">{heading}' + "".join(body) + "</section>"
    )


def render_page(folder: str | Path) -> str:
    """The whole page of ``folder`` as HTML text."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    kind = detect_kind(folder)
    plots = Plots()
    section = render_section(folder, plots, level=2)
    if not section:
        raise InputError(
            f"{folder}: no run here (no summary.json, sweep store or known result files, nor sub-folders holding runs)"
        )
    from imaclab import __version__

    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    name = folder.resolve().name or str(folder)
    meta = (
        f"{esc(kind or 'folder of runs')} · {esc(folder.resolve())} · page written {esc(now)} by imaclab "
        f"{esc(__version__)} · self-contained: open it offline"
    )
    return page_html(f"imaclab: {name}", meta, section, with_plotly=plots.used)


def write_index(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML page of a run folder (or a folder of runs) to ``out`` (default ``folder/index.html``)."""
    from imaclab.files import write_text

    folder = Path(folder)
    target = Path(out) if out is not None else folder / INDEX_FILE
    return write_text(target, render_page(folder))
