"""Read a sweep's store: status, a results table, export, Pareto fronts."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from imaclab.errors import ConfigError, ImaclabError
from imaclab.result import Table
from imaclab.sweep.spec import MAX_POINTS, SweepSpec
from imaclab.sweep.store import ResultStore, SweepLock

#: Columns of the results table that describe how a point ran (after the axes and metrics).
RUN_COLUMNS = ("error_type", "error", "attempts", "run_s", "elapsed_s", "started_at", "finished_at", "worker",
               "version", "key")
#: Prefix of metric columns whose name collides with an axis column.
METRIC_PREFIX = "metric."
#: Prefix of full-config columns in an export with ``full_config``.
CONFIG_PREFIX = "config."


# ------------------------------------------------------------------------------ table
def _flatten(prefix: str, data: Any, out: dict[str, Any]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out)
    elif isinstance(data, list):
        out[prefix] = str(data)
    else:
        out[prefix] = data


def results_frame(directory: str | Path, *, full_config: bool = False) -> pd.DataFrame:
    """One row per stored point: index, status, axis columns, metrics, then run details.

    Axis columns are the config fields the spec varied (dotted paths) and its free
    variables; metric columns carry the metric's name (``metric.<name>`` if that name
    is also an axis column).  ``full_config`` adds every config field as ``config.<path>``.
    """
    with ResultStore.open_existing(directory) as store:
        rows = list(store.rows())
        sweep_name = store.meta().get("name", "")
    axis_columns: list[str] = []
    metric_names: list[str] = []
    for row in rows:
        for name in [*row["overrides"], *row["variables"]]:
            if name not in axis_columns:
                axis_columns.append(name)
        for name in row["metrics"]:
            if name not in metric_names:
                metric_names.append(name)
    metric_columns = {m: (METRIC_PREFIX + m if m in axis_columns or m in RUN_COLUMNS or m in ("index", "status")
                          else m) for m in metric_names}
    records = []
    for row in rows:
        record: dict[str, Any] = {"index": row["point_index"], "status": row["status"]}
        record.update({name: row["overrides"].get(name, row["variables"].get(name)) for name in axis_columns})
        record.update({metric_columns[m]: row["metrics"].get(m) for m in metric_names})
        record.update({c: row[c] for c in RUN_COLUMNS})
        if full_config:
            flat: dict[str, Any] = {}
            _flatten("", row["config"], flat)
            record.update({CONFIG_PREFIX + k: v for k, v in flat.items()})
        records.append(record)
    columns = ["index", "status", *axis_columns, *metric_columns.values(), *RUN_COLUMNS]
    frame = pd.DataFrame.from_records(records, columns=columns if not full_config else None)
    frame.attrs["name"] = sweep_name
    frame.attrs["axis_columns"] = axis_columns
    frame.attrs["metric_columns"] = list(metric_columns.values())
    return frame


def resolve_column(frame: pd.DataFrame, name: str, what: str) -> str:
    """The column called ``name``; a metric renamed ``metric.<name>`` (a name clash) is found first for metrics."""
    order = (METRIC_PREFIX + name, name) if what == "metric" else (name, CONFIG_PREFIX + name, METRIC_PREFIX + name)
    for candidate in order:
        if candidate in frame.columns:
            return candidate
    known = [*frame.attrs.get("axis_columns", []), *frame.attrs.get("metric_columns", [])]
    from imaclab.errors import unknown_name

    raise unknown_name(what, name, known or list(frame.columns))


# ------------------------------------------------------------------------------ export
ExportFormat = Literal["csv", "parquet"]


def export_results(*, directory: str | Path, format: ExportFormat = "csv", output: str | Path | None = None,
                   full_config: bool = False) -> Path:
    """Write the results table as CSV or Parquet; returns the file written.

    Default output: ``DIR/results.csv`` or ``DIR/results.parquet``; written atomically (a
    kill leaves the previous file), and a device, a folder or a read-only folder is refused.
    """
    from imaclab.files import check_writable_file, write_csv, write_with

    if format not in ("csv", "parquet"):
        raise ConfigError(f"unknown export format '{format}': use csv or parquet")
    path = Path(output) if output is not None else Path(directory) / f"results.{format}"
    frame = results_frame(directory, full_config=full_config)
    check_writable_file(path)  # a device (/dev/full), a folder, a read-only folder: refused, nothing written
    if format == "csv":
        write_csv(path, frame)
    else:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError("Parquet export needs pyarrow: pip install pyarrow (or use --format csv)") from None
        # Mixed-type object columns (e.g. a value axis of ints and strings) become strings for Arrow.
        for column in frame.columns:
            if frame[column].dtype == object:
                kinds = {type(v) for v in frame[column] if v is not None and v == v}
                if len(kinds) > 1:
                    frame[column] = frame[column].map(lambda v: None if v is None else str(v))
        write_with(path, lambda tmp: frame.to_parquet(tmp, index=False))
    return path


# ------------------------------------------------------------------------------ status
@dataclass
class SweepStatus:
    """How far a sweep is, from its store."""

    directory: str
    name: str
    target: str
    planned: int | None  # points in the last spec run here (None if its target cannot be loaded here)
    ok: int
    failed: int
    pending: int | None  # planned points not stored yet
    extra: int  # stored points that are not in the last spec (from earlier specs)
    runs: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # per error type: count and one example
    mean_run_s: float = 0.0
    total_run_s: float = 0.0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def tables(self) -> list[Table]:
        """The failures by error type (if any) and the runs (what ``imaclab sweep status`` prints)."""
        tables = []
        if self.errors:
            tables.append(Table("failures", ("error type", "count", "example"),
                                tuple((e["error_type"], str(e["count"]), e["example"]) for e in self.errors)))
        keys = ("run_id", "status", "executor", "workers", "to_run", "ok", "failed", "version")
        tables.append(Table("runs", ("run", "status", "executor", "workers", "to run", "ok", "failed", "version"),
                            tuple(tuple(str(run[k]) for k in keys) for run in self.runs), text_columns=3))
        return tables

    def notes(self) -> list[str]:
        """The counts, the run time and why a count is missing."""
        planned = "?" if self.planned is None else self.planned
        pending = "?" if self.pending is None else self.pending
        extra = f", {self.extra} from earlier specs" if self.extra else ""
        lines = [f"{self.name} ({self.target}) in {self.directory}: {self.ok} ok, {self.failed} failed, "
                 f"{pending} pending of {planned} planned{extra}",
                 f"run time per ok point: mean {self.mean_run_s:.3g} s, total {self.total_run_s:.3g} s"]
        return lines + ([self.note] if self.note else [])


def sweep_status(*, directory: str | Path, check: bool = False) -> SweepStatus:
    """Counts of done/failed/pending points, error summary and run history of a sweep directory.

    ``check``: run SQLite's full integrity check whatever the store's size (see
    :data:`imaclab.sweep.store.FULL_CHECK_MAX_BYTES`).
    """
    from imaclab.sweep.plan import plan_sweep

    # Look at the lock before the rows: a run that ends in between then reads as running, not killed.
    running_now = SweepLock.held(Path(directory))
    with ResultStore.open_existing(directory, full_check=True if check else None) as store:
        meta = store.meta()
        stored = store.stored_status()
        runs = store.runs()
        rows = list(store.conn.execute("SELECT status, error_type, error, run_s FROM points"))
    planned = pending = None
    extra = 0
    note = ""
    if "spec" in meta:
        try:
            plan = plan_sweep(SweepSpec.from_yaml(meta["spec"]), max_points=None)
            if plan.size <= MAX_POINTS:
                planned = in_plan = 0
                for point in plan.iter_points():  # one at a time: never the whole plan in memory
                    planned += 1
                    in_plan += point.key in stored
                pending = planned - in_plan
                extra = len(stored) - in_plan
            else:
                planned = plan.size
                note = (f"the spec has {plan.size} points: pending points are not counted (more than "
                        f"{MAX_POINTS})")
        except ImaclabError as err:
            note = f"cannot re-plan the stored spec here: {err}"
    errors: Counter[str] = Counter()
    example: dict[str, str] = {}
    run_times = []
    for status, error_type, error, run_s in rows:
        if status == "failed":
            errors[error_type] += 1
            example.setdefault(error_type, error)
        else:
            run_times.append(run_s)
    ok = sum(1 for s in stored.values() if s == "ok")
    for run in runs:
        if run["status"] == "running" and not running_now:
            run["status"] = "killed"  # its process died without closing the run (SIGKILL, power loss)
    return SweepStatus(
        directory=str(directory), name=meta.get("name", ""), target=meta.get("target", ""), planned=planned,
        ok=ok, failed=len(stored) - ok, pending=pending, extra=extra,
        runs=[{k: r[k] for k in ("run_id", "started_at", "finished_at", "status", "executor", "workers", "to_run",
                                 "ok", "failed", "version")} for r in runs],
        errors=[{"error_type": t, "count": n, "example": example[t]} for t, n in errors.most_common()],
        mean_run_s=sum(run_times) / len(run_times) if run_times else 0.0, total_run_s=sum(run_times), note=note)


# ------------------------------------------------------------------------------ Pareto
Objective = tuple[str, Literal["max", "min"]]


def parse_objectives(text: str) -> list[Objective]:
    """``"accuracy:max,power:min"`` -> ``[("accuracy", "max"), ("power", "min")]``."""
    objectives: list[Objective] = []
    for part in text.split(","):
        name, _, sense = part.strip().rpartition(":")
        if not name or sense not in ("max", "min"):
            raise ConfigError(f"Pareto objective '{part.strip()}': write METRIC:max or METRIC:min, "
                              f"e.g. accuracy:max,power:min")
        objectives.append((name, sense))  # type: ignore[arg-type]
    if len(objectives) != 2:
        raise ConfigError(f"a Pareto front needs exactly two objectives, got {len(objectives)} ('{text}')")
    return objectives


def pareto_front(frame: pd.DataFrame, objectives: list[Objective]) -> pd.DataFrame:
    """The successful points no other point dominates, sorted by the first objective.

    A point dominates another if it is at least as good in both objectives and
    strictly better in one.  Points with a missing (NaN) objective are left out.
    """
    columns = [resolve_column(frame, name, "metric") for name, _ in objectives]
    data = frame[frame["status"] == "ok"].dropna(subset=columns)
    if data.empty:
        return data
    # Work in "larger is better" for both: negate minimized objectives.
    values = data[columns].astype(float).to_numpy().copy()
    for j, (_, sense) in enumerate(objectives):
        if sense == "min":
            values[:, j] = -values[:, j]
    order = sorted(range(len(values)), key=lambda i: (-values[i, 0], -values[i, 1]))
    keep = []
    best_second = float("-inf")
    for i in order:  # sweep by the first objective, best first; keep strict improvements in the second
        if values[i, 1] > best_second:
            keep.append(i)
            best_second = values[i, 1]
    front = data.iloc[keep].sort_values(columns[0], ascending=objectives[0][1] == "min").reset_index(drop=True)
    front.attrs = {**frame.attrs, "objective_columns": columns}
    return front
