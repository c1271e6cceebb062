"""What ``imaclab sweep run --dry-run`` and ``imaclab sweep targets`` show, as data.

:func:`plan_listing` plans a spec (running nothing) and keeps its first points;
:func:`target_list` lists the registered targets.  Both return a small
:class:`~imaclab.result.Result` whose :meth:`tables` the CLI prints with its one renderer.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from imaclab.result import Result, Table
from imaclab.sweep.spec import MAX_POINTS, SweepSpec

#: Points listed by ``sweep run --dry-run``.
DRY_RUN_POINTS = 20


@dataclass
class PlanListing(Result):
    """A planned sweep: its size and its first points (``sweep run --dry-run``)."""

    kind: ClassVar[str] = "sweep.plan"

    name: str
    target: str
    size: int  # points of the product, duplicates included
    count: int  # points to run: without duplicates when the plan is expanded, else ``size``
    duplicates: int | None  # duplicates dropped (None: a lazily planned sweep, not counted)
    columns: list[str]  # axis fields/vars and derived fields, in spec order
    points: list[dict[str, Any]] = field(default_factory=list)  # the first points: index and column values

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "size": self.size, "count": self.count,
                "duplicates": self.duplicates, "columns": self.columns, "points": self.points}

    def tables(self) -> list[Table]:
        dropped = f" ({self.duplicates} duplicates dropped)" if self.duplicates else ""
        listed = f", the first {len(self.points)} listed" if self.count > len(self.points) else ""
        rows = tuple((str(p["index"]), *[str(p["values"].get(c, "")) for c in self.columns]) for p in self.points)
        return [Table(f"{self.name}: {self.count} points of {self.target}{dropped}{listed}", ("#", *self.columns),
                      rows)]

    def notes(self) -> list[str]:
        if self.size > MAX_POINTS:
            return [f"more than {MAX_POINTS} points: `sweep run` refuses this spec unless --limit N "
                    f"(N <= {MAX_POINTS}) runs a part of it"]
        return []


def plan_listing(spec: SweepSpec | str | Path, points: int = DRY_RUN_POINTS) -> PlanListing:
    """Validate and plan ``spec`` (counted as a product, listed lazily); keep its first ``points`` points."""
    from imaclab.sweep.pipeline import plan_spec

    plan = plan_spec(spec=spec, max_points=None)
    shown = list(itertools.islice(plan.iter_points(), points))
    return PlanListing(name=plan.spec.name or "sweep", target=plan.target.name, size=plan.size,
                       count=len(plan.points) if plan.expanded else plan.size,
                       duplicates=plan.duplicates if plan.expanded else None, columns=list(plan.columns),
                       points=[{"index": p.index, "values": {**p.variables, **p.overrides}} for p in shown])


@dataclass
class TargetList(Result):
    """The registered sweep targets and whether each loads in this install (``sweep targets``)."""

    kind: ClassVar[str] = "sweep.targets"

    rows: list[dict[str, Any]]  # name, summary, available, config, reason

    def to_dict(self) -> dict[str, Any]:
        return {"targets": self.rows}

    def tables(self) -> list[Table]:
        rows = tuple((r["name"], "yes" if r["available"] else f"no: {r['reason']}", r["config"], r["summary"])
                     for r in self.rows)
        return [Table("sweep targets (or any package.module:function taking one ConfigModel)",
                      ("target", "available", "config", "computes"), rows, text_columns=4)]


def target_list() -> TargetList:
    """Every registered target with whether it loads in this install (and why not)."""
    from imaclab.sweep.targets import list_targets

    return TargetList(rows=list_targets())
