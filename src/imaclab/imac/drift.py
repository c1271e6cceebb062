"""Accuracy over time after programming: ``imaclab imac run ... --at 1s,1h,1d,30d,1y --trials N``.

A :class:`DriftJob` is an :class:`~imaclab.imac.api.ImacJob` plus the read times ``at`` (seconds
after programming), the number of seeded ``trials`` and optionally several ``lines`` (device
presets or files, each optionally with ``+comp``: global drift compensation).  For every line,
trial ``k`` (devices seeded ``devices.seed + k``: the same physical devices at every time) and
time ``t``, the network is evaluated on its circuit (``devices.time_s = t``; the fast backend,
latency off) and its accuracy kept.  :class:`DriftResult` prints mean, spread (std), min and max
per line and time, writes ``accuracy_vs_time.csv`` (per line and time) and
``accuracy_trials.csv`` (every evaluation), and draws ``accuracy_vs_time.png``.
"""

from __future__ import annotations

import re
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from imaclab.errors import ConfigError
from imaclab.imac.api import ImacJob, _prepare, run
from imaclab.progress import progress_line
from imaclab.result import Result, Scalar, Table

#: Unit suffixes of ``--at`` and their seconds.
TIME_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0,
              "mo": 30 * 86400.0, "y": 365.25 * 86400.0}


def parse_time(text: str | float) -> float:
    """``'1s' | '1h' | '30d' | '1y' | 5`` -> seconds (bare numbers are seconds)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
        unit = match.group(2).lower() if match else None
        if match is None or (unit and unit not in TIME_UNITS):
            raise ConfigError(f"time '{text}': use a number of seconds or one with a unit "
                              f"({', '.join(TIME_UNITS)}), e.g. 1s, 1h, 1d, 30d, 1y")
        value = float(match.group(1)) * (TIME_UNITS[unit] if unit else 1.0)
    if value < 0:
        raise ConfigError(f"time '{text}' must be >= 0")
    return value


def parse_times(text: str | list) -> list[float]:
    """``'1s,1h,1d'`` (or a list) -> seconds."""
    items = text if isinstance(text, list) else [p for p in str(text).split(",") if p.strip()]
    if not items:
        raise ConfigError("--at: give at least one time, e.g. --at 1s,1h,1d,30d,1y")
    return [parse_time(p) for p in items]


def time_label(t: float) -> str:
    """Seconds as the largest whole unit: 3600 -> '1h', 31557600 -> '1y'."""
    if t == 0:
        return "0"
    for unit in ("y", "d", "h", "min", "s"):
        value = t / TIME_UNITS[unit]
        if value >= 1 and abs(value - round(value)) < 1e-9 * max(1.0, value):
            return f"{round(value)}{unit}"
    return f"{t:g}s"


class DriftJob(ImacJob):
    """``imaclab imac run --at ...``: accuracy at several times after programming, over seeded trials."""

    at: list[float] = Field(default_factory=lambda: [0.0], description="read times after programming, s "
                                                                       "(the CLI's --at 1s,1h,1d,30d,1y)")
    trials: int = Field(5, ge=1, description="seeded device draws per time (devices.seed + k)")
    lines: list[str] = Field(default_factory=list, description="device presets or YAML files, one line each; "
                                                               "NAME+comp adds global drift compensation; "
                                                               "empty: the job's own devices")

    @field_validator("at", mode="before")
    @classmethod
    def _times(cls, value: Any) -> Any:
        return parse_times(value) if isinstance(value, (str, list)) else value

    @field_validator("lines", mode="before")
    @classmethod
    def _lines(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    def check_backend(self) -> None:
        """ngspice for one evaluation only (one time, one trial, one line); else the fast backend."""
        if self.simulation.backend == "spice" and (len(self.at) > 1 or self.trials > 1 or len(self.lines) > 1):
            raise ConfigError("a time sweep runs on the fast backend (--backend fast, simulation.backend: fast); "
                              "ngspice only for one time, one trial and one line (--trials 1)")

    def line_jobs(self) -> list[tuple[str, ImacJob]]:
        """(label, ImacJob) per line: the job's devices replaced by each preset (with ``+comp``: compensated)."""
        from imaclab.devices.presets import device_overrides

        base = ImacJob.from_dict({k: v for k, v in self.to_dict().items() if k not in ("at", "trials", "lines")})
        if not self.lines:
            label = base.devices.preset or "devices"
            return [(label + ("+comp" if base.devices.drift_compensation else ""), base)]
        out = []
        for item in self.lines:
            name, _, flag = item.partition("+")
            if flag and flag != "comp":
                raise ConfigError(f"line '{item}': use NAME or NAME+comp")
            job = base.with_overrides({**device_overrides(name),
                                       "devices.drift_compensation": bool(flag) or base.devices.drift_compensation})
            out.append((item, job))
        return out


@dataclass
class DriftResult(Result):
    """Accuracy per (line, time, trial); :meth:`summary` the mean, std, min and max over trials."""

    kind = "imac.drift"

    job: DriftJob
    records: list[dict[str, Any]]       # line, time_s, trial, seed, accuracy, software_accuracy
    wall_s: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame.from_records(self.records)

    def summary(self) -> Any:
        """One row per (line, time): accuracy mean, std (over trials, ddof 0), min, max, trials."""
        df = self.frame()
        g = df.groupby(["line", "time_s"], sort=False)["accuracy"]
        out = g.agg(accuracy_mean="mean", accuracy_std=lambda a: float(np.std(a)), accuracy_min="min",
                    accuracy_max="max", trials="count").reset_index()
        out.insert(2, "time", [time_label(t) for t in out["time_s"]])
        return out

    def to_dict(self) -> dict[str, Any]:
        rows = self.summary().to_dict(orient="records")
        return {"model": self.job.model, "data": self.job.data, "samples": self.job.simulation.samples,
                "backend": self.job.simulation.backend, "trials": self.job.trials, "at_s": self.job.at,
                "lines": [label for label, _ in self.job.line_jobs()], "accuracy_vs_time": rows,
                "software_accuracy": float(self.records[0]["software_accuracy"]) if self.records else None,
                "wall_s": self.wall_s, "warnings": self.warnings}

    def metrics(self) -> dict[str, Scalar]:
        out: dict[str, Scalar] = {}
        for row in self.summary().to_dict(orient="records"):
            key = f"accuracy.{row['line']}.{row['time']}"
            out[key + ".mean"] = float(row["accuracy_mean"])
            out[key + ".std"] = float(row["accuracy_std"])
        return out

    def tables(self) -> list[Table]:
        rows = tuple((str(r["line"]), str(r["time"]), f"{100 * r['accuracy_mean']:.2f}",
                      f"{100 * r['accuracy_std']:.2f}", f"{100 * r['accuracy_min']:.2f}",
                      f"{100 * r['accuracy_max']:.2f}", str(int(r["trials"])))
                     for r in self.summary().to_dict(orient="records"))
        sw = self.to_dict()["software_accuracy"]
        title = (f"accuracy vs time after programming ({self.job.simulation.samples} samples, "
                 f"{self.job.simulation.backend} backend; software {100 * sw:.2f} %)" if sw is not None
                 else "accuracy vs time after programming")
        return [Table(title=title, columns=("line", "time", "mean %", "std %", "min %", "max %", "trials"),
                      rows=rows, text_columns=2)]

    def notes(self) -> list[str]:
        return [f"warning: {w}" for w in self.warnings] + [f"{k}: {v}" for k, v in self.files.items()
                                                              if k in ("accuracy_vs_time", "plot")]

    def write_files(self, out_dir: Path) -> dict[str, Path]:
        from imaclab.files import write_csv

        out_dir = Path(out_dir)
        return {"accuracy_vs_time": write_csv(out_dir / "accuracy_vs_time.csv", self.summary()),
                "accuracy_trials": write_csv(out_dir / "accuracy_trials.csv", self.frame())}

    def plot(self, out_dir: str | Path) -> dict[str, Path]:
        from imaclab.report.imac_plots import draw_accuracy_vs_time

        summary = self.summary()
        labels = {float(t): time_label(float(t)) for t in summary["time_s"]}
        path = draw_accuracy_vs_time(summary, Path(out_dir) / "accuracy_vs_time.png",
                                     title=f"{Path(self.job.model or 'model').name} on {self.job.data}: "
                                           "accuracy vs time",
                                     time_labels=labels)
        self.files["plot"] = path
        return {"plot": path}


def run_drift(job: DriftJob, *, progress: bool = False) -> DriftResult:
    """Evaluate every (line, trial, time) of ``job`` (see the module docstring)."""
    from imaclab.devices.neuron import load_neuron_curve
    from imaclab.imac.evaluate import evaluate

    job.check_backend()
    start = _time.perf_counter()
    model, data = job.load_model(), job.load_data()
    job = job.for_model(model)  # the circuit settings the model was trained for, where the user set none
    curve = load_neuron_curve(job.neuron, job.simulation.neuron_cache_dir,
                              ngspice=job.simulation.spice.ngspice_path)
    records: list[dict[str, Any]] = []
    warnings: list[str] = []
    lines = job.line_jobs()
    total = len(lines) * job.trials * len(job.at)
    done = 0
    for label, line_job in lines:
        line_job = line_job.with_overrides({"simulation.fast.latency": False})
        for k in range(job.trials):
            seed = line_job.devices.seed + k
            for t in job.at:
                cfg = line_job.with_overrides({"devices.time_s": float(t), "devices.seed": seed})
                res = evaluate(config=cfg, model=model, dataset=data, progress=False, neuron_curve=curve)
                records.append({"line": label, "time_s": float(t), "trial": k, "seed": seed,
                                "accuracy": res.accuracy, "software_accuracy": res.software_accuracy})
                for w in res.warnings:
                    if w not in warnings:
                        warnings.append(w)
                done += 1
                if progress:
                    progress_line(f"time sweep {done}/{total}: {label} t={time_label(float(t))} trial {k}: "
                                  f"{100 * res.accuracy:.2f} %")
    return DriftResult(job=job, records=records, wall_s=_time.perf_counter() - start, warnings=warnings)


@run.register
def _run_drift_job(job: DriftJob, *, out_dir: str | Path | None = None, progress: bool = False,
                   out_file: str | Path | None = None) -> DriftResult:
    """The time sweep; ``out_dir``: ``accuracy_vs_time.csv``, ``accuracy_trials.csv``, the plot,
    ``config.yaml`` and ``summary.json``."""
    if out_file is not None:
        raise ConfigError("a time sweep writes a folder: give out_dir, not out_file")
    job.check_backend()
    _prepare(out_dir, None)
    result = run_drift(job, progress=progress)
    result.write_run(out_dir)
    return result
