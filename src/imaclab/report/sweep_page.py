"""A sweep folder's part of the HTML page: progress, the Pareto front, a scatter with each point's config.

Reads the sweep store read-only through :mod:`imaclab.sweep.results`; safe to run while the
sweep is running (the page then shows the points stored so far and the run as running).
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any

from imaclab.report.format import format_value, label_of
from imaclab.report.page import Headline, Plots, esc, table_html

if TYPE_CHECKING:
    from imaclab.report.html import Parts, Run

#: words of metric names that are better when larger (the rest are better when smaller)
_MAXIMIZE = (
    "accuracy",
    "speedup",
    "throughput",
    "gain",
    "reduction",
    "ratio",
    "tokens_per_s",
    "utilization",
    "agreement",
    "series",
)


def _spec_objectives(spec_text: str | None) -> list[tuple[str, str]]:
    """Objectives the spec names (``objectives: "a:max,b:min"``, a list, or a mapping; also under ``pareto``)."""
    if not spec_text:
        return []
    import yaml

    try:
        spec = yaml.safe_load(spec_text)
    except yaml.YAMLError:
        return []
    if not isinstance(spec, dict):
        return []
    value: Any = spec.get("objectives") or spec.get("pareto")
    if isinstance(value, dict) and "objectives" in value:
        value = value["objectives"]
    out: list[tuple[str, str]] = []
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if isinstance(value, dict):
        value = [f"{k}:{v}" for k, v in value.items()]
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                name, sense = item.get("metric") or item.get("name"), item.get("sense") or item.get("goal") or "min"
            else:
                name, _, sense = str(item).rpartition(":")
            if name and sense in ("max", "min"):
                out.append((str(name), str(sense)))
    return out[:2] if len(out) >= 2 else []


def _sense(name: str) -> str:
    return "max" if any(word in name.lower() for word in _MAXIMIZE) else "min"


def render_sweep(run: Run, plots: Plots, parts: Parts) -> None:
    from imaclab.sweep.results import pareto_front, results_frame, sweep_status
    from imaclab.sweep.store import ResultStore

    status = sweep_status(directory=run.path)
    with ResultStore.open_existing(run.path) as store:
        meta = store.meta()
    frame = results_frame(run.path)
    running = any(r.get("status") == "running" for r in status.runs)
    pending = status.pending if status.pending is not None else 0
    in_flight = min(pending, max((r.get("workers") or 1) for r in status.runs)) if running and status.runs else 0
    parts.extra_headlines += [
        Headline("Points done", status.ok, source="sweep", key="ok"),
        Headline("Failed", status.failed, source="sweep", key="failed"),
        Headline(
            "Running now",
            in_flight,
            source="sweep",
            key="running",
            text=f"{in_flight}" if running else "0 (sweep not running)",
        ),
        Headline(
            "Pending",
            pending,
            source="sweep",
            key="pending",
            text=str(pending) if status.pending is not None else "unknown",
        ),
        Headline("Planned", status.planned, source="sweep", key="planned"),
        Headline("Mean time per point", status.mean_run_s, source="sweep", key="mean_run_s"),
    ]
    total = max(1, (status.planned or 0) if status.planned else status.ok + status.failed)
    bar = "".join(
        f'<div class="{cls}" style="width:{100 * n / total:.2f}%" title="{esc(label)}: {n}"></div>'
        for cls, n, label in (
            ("ok", status.ok, "done"),
            ("failed", status.failed, "failed"),
            ("running", in_flight, "running"),
        )
        if n
    )
    parts.notes.append(
        f"sweep <b>{esc(status.name or run.path.name)}</b>, target <code>{esc(status.target)}</code>: "
        f"{status.ok} done, {status.failed} failed, {in_flight} running, {pending} pending"
        f"{' of ' + str(status.planned) + ' planned' if status.planned is not None else ''}"
        f"{' · RUNNING' if running else ''}"
    )
    parts.notes.append(f'<div class="progress">{bar}</div>')
    if status.note:
        parts.notes.append(esc(status.note))
    for error in status.errors:
        parts.notes.append(
            f'<span class="error">{error["count"]} × {esc(error["error_type"])}</span>: {esc(error["example"])}'
        )
    if status.runs:
        keys = ("run_id", "status", "executor", "workers", "to_run", "ok", "failed", "version")
        parts.tables.append(
            table_html(
                "Runs of this sweep",
                keys,
                [[r.get(k) for k in keys] for r in status.runs],
                names=[k if k != "run_id" else "run" for k in keys],
            )
        )
    axes = list(frame.attrs.get("axis_columns", []))
    metrics = [c for c in frame.attrs.get("metric_columns", []) if c in frame.columns]
    numeric_metrics = []
    ok = frame[frame["status"] == "ok"]
    for column in metrics:
        values = [
            v
            for v in ok[column]
            if isinstance(v, numbers.Real) and not isinstance(v, bool) and not math.isnan(float(v))
        ]
        if values and len(set(values)) > 1:
            numeric_metrics.append(column)
    objectives = _spec_objectives(meta.get("spec"))
    named = bool(objectives)
    if not objectives and len(numeric_metrics) >= 2:
        objectives = [
            (numeric_metrics[0], _sense(numeric_metrics[0])),
            (numeric_metrics[1], _sense(numeric_metrics[1])),
        ]
    front = None
    if objectives:
        try:
            front = pareto_front(frame, objectives)  # type: ignore[arg-type]
        except Exception as err:  # an objective the store does not have: say so, draw the rest
            parts.notes.append(f'<span class="warn">no Pareto front: {esc(err)}</span>')
            front = None
    if front is not None and objectives:
        x_col, y_col = front.attrs.get("objective_columns", [o[0] for o in objectives])
        parts.notes.append(
            f"Pareto front of {esc(objectives[0][0])} ({objectives[0][1]}) and {esc(objectives[1][0])} "
            f"({objectives[1][1]}) -- {'named by the spec' if named else 'the first two varying metrics'}"
            f": {len(front)} of {len(ok)} points"
        )
        _scatter(plots, parts, ok, front, x_col, y_col, axes, objectives)
        shown = ["index", *axes, *[c for c in metrics if c in front.columns]]
        parts.tables.append(
            table_html("Pareto front", shown, front[shown].itertuples(index=False, name=None), names=shown)
        )
    columns = ["index", "status", *axes, *metrics, "run_s", "error_type", "error"]
    columns = [c for c in columns if c in frame.columns]
    rows = [[_cell(v) for v in row] for row in frame[columns].itertuples(index=False, name=None)]
    classes = ["failed" if s != "ok" else "" for s in frame["status"]]
    parts.tables.append(
        table_html(
            "Points",
            [label_of(c) if c in ("run_s", "error_type") else c for c in columns],
            rows,
            names=columns,
            row_classes=classes,
            source="results.sqlite (imaclab sweep export)",
        )
    )


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _scatter(
    plots: Plots,
    parts: Parts,
    ok: Any,
    front: Any,
    x_col: str,
    y_col: str,
    axes: list[str],
    objectives: list[tuple[str, str]],
) -> None:
    import plotly.graph_objects as go

    def hover(frame: Any) -> list[str]:
        out = []
        for _, row in frame.iterrows():
            lines = [f"point {int(row['index'])}"]
            lines += [f"{esc(a)} = {esc(format_value(a, _cell(row[a])))}" for a in axes if a in row.index]
            lines += [f"<b>{esc(c)} = {esc(format_value(c, _cell(row[c])))}</b>" for c in (x_col, y_col)]
            out.append("<br>".join(lines))
        return out

    data = ok.dropna(subset=[x_col, y_col])
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=data[x_col].astype(float).tolist(),
            y=data[y_col].astype(float).tolist(),
            mode="markers",
            name="points",
            text=hover(data),
            hovertemplate="%{text}<extra></extra>",
            marker={"color": "#8aa2c8", "size": 8, "opacity": 0.8},
        )
    )
    if len(front):
        fig.add_trace(
            go.Scatter(
                x=front[x_col].astype(float).tolist(),
                y=front[y_col].astype(float).tolist(),
                mode="lines+markers",
                name="Pareto front",
                text=hover(front),
                hovertemplate="%{text}<extra>Pareto</extra>",
                line={"color": "#c9483f"},
                marker={"color": "#c9483f", "size": 10},
            )
        )
    fig.update_xaxes(title=f"{x_col} ({objectives[0][1]})")
    fig.update_yaxes(title=f"{y_col} ({objectives[1][1]})")
    for column, setter in ((x_col, fig.update_xaxes), (y_col, fig.update_yaxes)):
        values = [float(v) for v in data[column] if float(v) > 0]
        if len(values) == len(data) and values and max(values) / min(values) > 100:
            setter(type="log", exponentformat="power")
    parts.plots.append(plots.figure(fig, f"{y_col} vs {x_col}: every point, Pareto front in red"))
