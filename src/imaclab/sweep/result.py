"""What a point produced, and what a sweep run did."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from imaclab.sweep.plan import Point

Status = Literal["ok", "failed"]

#: ``error_type`` of a point whose worker process died on every attempt (killed, OOM, segfault).
WORKER_DIED = "WorkerDied"
#: ``error_type`` of a point that ran past ``execution.timeout_s`` and was killed.
TIMEOUT = "Timeout"


@dataclass
class PointResult:
    """The outcome of one point, as stored: metrics or the error, with timings."""

    point: Point
    status: Status
    metrics: dict[str, Any] = field(default_factory=dict)
    error_type: str = ""
    error: str = ""
    traceback: str = ""
    attempts: int = 1
    run_s: float = 0.0  # seconds inside the worker: config validation + the job itself
    elapsed_s: float = 0.0  # seconds from submission to the result reaching the client
    started_at: float = 0.0  # unix time the worker started the point
    finished_at: float = 0.0  # unix time the worker finished it
    worker: str = ""  # host:pid of the process that ran it

    @property
    def key(self) -> str:
        return self.point.key

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["point"] = self.point.to_dict()
        return out


@dataclass
class SweepSummary:
    """What one ``run_sweep`` call did."""

    name: str
    target: str
    directory: str
    planned: int  # points in the spec (after removing duplicates); for a lazily planned sweep the run did
    # not examine whole (a --limit on > 20,000 points), the product of the axis lengths
    skipped: int  # already stored (ok, or failed without --retry-failed); of the points examined
    ran: int  # points run in this call
    ok: int
    failed: int
    retried: int  # extra attempts after a worker died
    wall_s: float  # the whole run, executor start-up included
    executor: str
    workers: int
    failures: list[dict[str, Any]] = field(default_factory=list)  # first few failures: key, index, error
    startup_s: float = 0.0  # starting the executor (runner processes, a Dask cluster)

    @property
    def remaining(self) -> int:
        """Planned points neither stored before nor run now (left by ``limit`` or an interruption)."""
        return self.planned - self.skipped - self.ran

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "remaining": self.remaining}

    def tables(self) -> list[Any]:
        return []

    def notes(self) -> list[str]:
        """One line of counts, then one per failure listed (what ``imaclab sweep run`` prints)."""
        line = (f"{self.name}: {self.ok} ok, {self.failed} failed, {self.skipped} already stored of {self.planned} "
                f"points ({self.executor}, {self.workers} workers, {self.wall_s:.1f} s) -> {self.directory}"
                + (f"; {self.remaining} still pending" if self.remaining else ""))
        return [line, *(f"  point {f['index']} ({f['error_type']}): {f['error']}" for f in self.failures)]

