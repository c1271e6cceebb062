"""imaclab.sweep: design-space sweeps over any imaclab job.

A YAML spec names a target job (``imac.evaluate``, ``tpu.simulate``, ``llm.amdahl``,
``hetero.evaluate``, ``train``), a base config and axes over its fields; every point
runs in an isolated worker process (local pool or Dask) and is committed to a
durable SQLite store as it finishes, so sweeps resume after any interruption.

Entry points::

    run_sweep(spec=..., directory=..., executor=ExecutorSettings(...), retry_failed=False)
    sweep_status(directory=...)          export_results(directory=..., format="csv")
    plot_sweep(directory=..., x=..., y=..., hue=...)     pareto_front(frame, objectives)

Names are imported lazily so worker processes load only what they use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SweepSpec": "spec", "Axis": "spec", "RandomAxis": "spec", "Span": "spec", "Execution": "spec",
    "load_spec": "spec", "spec_with_set": "spec",
    "SweepPlan": "plan", "Point": "plan", "plan_sweep": "plan", "point_key": "plan",
    "run_sweep": "pipeline", "plan_spec": "pipeline",
    "ExecutorSettings": "executors", "available_cores": "executors",
    "ResultStore": "store", "STORE_FILENAME": "store",
    "PointResult": "result", "SweepSummary": "result",
    "results_frame": "results", "export_results": "results", "sweep_status": "results", "SweepStatus": "results",
    "pareto_front": "results", "parse_objectives": "results",
    "plot_sweep": "plots", "SweepPlot": "plots", "SweepFigure": "plots", "sweep_figure": "plots",
    "plan_listing": "listings", "PlanListing": "listings", "target_list": "listings", "TargetList": "listings",
    "TARGETS": "targets", "load_target": "targets", "list_targets": "targets", "Target": "targets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"imaclab.sweep.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'imaclab.sweep' has no attribute '{name}'")
