"""``run_sweep``: the one entry point, a pipeline of small generator stages.

    plan -> pending -> execute -> save -> track -> summarize

Each stage after ``pending`` yields ``(PointResult, info)`` and passes results
through (``save`` commits rows before passing them on; ``track`` draws the
progress bar); ``summarize`` reduces them to a :class:`SweepSummary`.  Results are
committed by the client as each point finishes, so an interrupted sweep resumes
where it stopped: points already stored are skipped.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from imaclab.errors import ConfigError
from imaclab.sweep.executors import Executor, ExecutorSettings, make_executor
from imaclab.sweep.plan import Point, SweepPlan, plan_sweep
from imaclab.sweep.result import PointResult, SweepSummary
from imaclab.sweep.spec import SweepSpec, load_spec
from imaclab.sweep.store import ResultStore, SweepLock

#: Seconds between checks of the executor while points run (bounds Ctrl-C latency too).
POLL_S = 0.5
#: Failures listed in a summary (all of them are in the store).
SUMMARY_FAILURES = 10
#: Hex characters of a point's key naming its work directory (64 bits: collisions are negligible).
WORKDIR_KEY_CHARS = 16
#: Folder of per-point work directories inside a sweep directory.
POINTS_DIR = "points"
#: Default parent of sweep directories: sweeps/<spec name>.
DEFAULT_ROOT = Path("sweeps")

Info = dict[str, Any]


def default_directory(spec: SweepSpec) -> Path:
    return DEFAULT_ROOT / (spec.name or "sweep")


# ------------------------------------------------------------------------------ stages
def pending(points: Iterable[Point], stored: dict[str, str], *, retry_failed: bool) -> Iterator[Point]:
    """Points not yet stored (and stored failures, with ``retry_failed``)."""
    for point in points:
        status = stored.get(point.key)
        if status is None or (status == "failed" and retry_failed):
            yield point


def execute(points: Iterable[Point], executor: Executor, *, target: str, timeout_s: float | None,
            max_attempts: int, workdir_root: Path | None = None) -> Iterator[tuple[PointResult, Info]]:
    """Run points on ``executor``, keeping it full; retry points whose worker died.

    With ``workdir_root``, each point gets ``workdir_root/<first 16 hex of its key>`` for
    artifacts (the same folder on a retry or a resume, so a job can pick up its checkpoint).
    """
    queue = deque(points)
    in_flight: dict[str, tuple[Point, float]] = {}  # key -> (point, submitted at)
    attempts: dict[str, int] = {}  # key -> attempts started, for points not yet settled
    retried = 0

    def refill() -> None:
        while queue and len(in_flight) < executor.capacity:
            point = queue.popleft()
            attempts[point.key] = attempts.get(point.key, 0) + 1
            executor.submit({"key": point.key, "target": target, "config": point.config,
                             "attempt": attempts[point.key], "timeout_s": timeout_s,
                             "workdir": str(workdir_root / point.key[:WORKDIR_KEY_CHARS]) if workdir_root else None})
            in_flight[point.key] = (point, time.monotonic())

    while queue or in_flight:
        refill()
        batch: list[PointResult] = []
        for reply in executor.wait(POLL_S):
            if reply.get("key") not in in_flight:
                continue  # a late reply to a point already settled
            point, submitted = in_flight.pop(reply["key"])
            status = reply.get("status")
            if status == "requeue":  # queued behind a point that killed its worker; never started
                attempts[point.key] -= 1
                queue.appendleft(point)
                continue
            if status == "crashed" and attempts[point.key] < max_attempts:
                retried += 1
                queue.appendleft(point)
                continue
            attempt = attempts.pop(point.key)
            failed = status != "ok"
            error = reply.get("error", "") if failed else ""
            if status == "crashed":
                error = f"{error}; gave up after {attempt} attempts"
            batch.append(PointResult(
                point=point, status="failed" if failed else "ok", metrics=reply.get("metrics") or {},
                error_type=reply.get("error_type", "") if failed else "", error=error,
                traceback=reply.get("traceback", ""), attempts=attempt, run_s=float(reply.get("run_s", 0.0)),
                elapsed_s=time.monotonic() - submitted, started_at=float(reply.get("started_at", 0.0)),
                finished_at=float(reply.get("finished_at", time.time())), worker=reply.get("worker", "")))
        # Keep the workers busy while the results below are stored and displayed.
        refill()
        for i, result in enumerate(batch):
            # in flight includes points queued behind the running ones; at most one runs per worker
            running = min(len(in_flight), executor.workers)
            yield result, {"running": running, "retried": retried, "batch_end": i == len(batch) - 1}


def save(results: Iterable[tuple[PointResult, Info]], store: ResultStore,
         run_id: int) -> Iterator[tuple[PointResult, Info]]:
    """Commit results to the store, then pass them on.

    Results that arrived together (``info["batch_end"]`` marks the last) share one
    transaction: one fsync per batch instead of per point, nothing held back longer.
    """
    pending_batch: list[tuple[PointResult, Info]] = []
    for result, info in results:
        pending_batch.append((result, info))
        if info.get("batch_end", True):
            store.record_many([r for r, _ in pending_batch], run_id)
            yield from pending_batch
            pending_batch = []
    if pending_batch:
        store.record_many([r for r, _ in pending_batch], run_id)
        yield from pending_batch


def track(results: Iterable[tuple[PointResult, Info]], *, title: str, total: int,
          show: bool) -> Iterator[tuple[PointResult, Info]]:
    """Draw a progress bar (done/failed/running, ETA) on stderr; pass results through."""
    if not show:
        yield from results
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("[red]{task.fields[failed]} failed"), TextColumn("{task.fields[running]} running"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    failed = 0
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(title, total=total, failed=0, running=0)
        for result, info in results:
            if result.status == "failed":
                failed += 1
                bar.console.print(f"[red]point {result.point.index} failed[/] ({result.error_type}): "
                                  f"{result.error}", markup=True, highlight=False, soft_wrap=True)
            bar.update(task, advance=1, failed=failed, running=info.get("running", 0))
            yield result, info


def summarize(results: Iterable[tuple[PointResult, Info]], summary: SweepSummary) -> SweepSummary:
    """Reduce the results into the summary (counts, retries, first failures)."""
    for result, info in results:
        summary.ran += 1
        summary.retried = info.get("retried", summary.retried)
        if result.status == "ok":
            summary.ok += 1
        else:
            summary.failed += 1
            if len(summary.failures) < SUMMARY_FAILURES:
                summary.failures.append({"index": result.point.index, "key": result.key[:12],
                                         "error_type": result.error_type, "error": result.error})
    return summary


# ------------------------------------------------------------------------------ entry points
@contextlib.contextmanager
def terminate_as_exit() -> Iterator[None]:
    """While a sweep runs in the main thread, SIGTERM unwinds like Ctrl-C (exit status 143): the
    runners are stopped, the run is marked interrupted, stored rows stay."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def plan_spec(*, spec: SweepSpec | str | Path) -> SweepPlan:
    """Validate a spec (or spec file) and expand it into points, running nothing."""
    return plan_sweep(load_spec(spec) if isinstance(spec, (str, Path)) else spec)


def run_sweep(*, spec: SweepSpec | str | Path, directory: str | Path | None = None,
              executor: ExecutorSettings | None = None, retry_failed: bool = False, limit: int | None = None,
              progress: bool = False) -> SweepSummary:
    """Run (or resume) a sweep; every finished point is committed to ``directory``'s store.

    Args:
        spec: a :class:`SweepSpec` or the path of its YAML file.
        directory: the sweep directory (default ``sweeps/<spec name>``); holds
            ``results.sqlite`` and worker logs.
        executor: where to run points (default: local processes, one per core).
        retry_failed: also rerun points stored as failed.
        limit: run at most this many of the pending points (in spec order), e.g. to try
            a large sweep on a few points first; the rest stay pending.
        progress: draw a progress bar on stderr.
    """
    plan = plan_spec(spec=spec)
    spec = plan.spec
    directory = Path(directory) if directory is not None else default_directory(spec)
    settings = executor or ExecutorSettings()
    directory.mkdir(parents=True, exist_ok=True)
    lock = SweepLock(directory)
    lock.acquire()
    try:
        with terminate_as_exit(), ResultStore.open_for_run(directory, target=plan.target.name,
                                                           name=spec.name or "sweep") as store:
            return _run(plan, store, directory, settings, retry_failed=retry_failed, limit=limit, progress=progress)
    finally:
        lock.release()


def stored_before(plan: SweepPlan, store: ResultStore, retry_failed: bool) -> list[str]:
    """Keys of the plan's points that this run skips because they are stored."""
    stored = store.stored_status()
    return [p.key for p in plan.points
            if p.key in stored and not (retry_failed and stored[p.key] == "failed")]


def _run(plan: SweepPlan, store: ResultStore, directory: Path, settings: ExecutorSettings, *,
         retry_failed: bool, limit: int | None, progress: bool) -> SweepSummary:
    spec = plan.spec
    todo = list(pending(plan.points, store.stored_status(), retry_failed=retry_failed))
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"limit must be at least 1, got {limit}")
        todo = todo[:limit]
    execution = spec.execution
    runner = make_executor(settings, target=plan.target.name, default_workers=execution.workers,
                           timeout_s=execution.timeout_s, log_dir=directory / "logs",
                           threads=execution.threads_per_worker)
    summary = SweepSummary(name=spec.name or "sweep", target=plan.target.name, directory=str(directory),
                           planned=len(plan.points), skipped=len(stored_before(plan, store, retry_failed)), ran=0,
                           ok=0, failed=0,
                           retried=0, wall_s=0.0, executor=runner.name, workers=0)
    if not todo:
        return summary
    start = time.perf_counter()
    run_id = store.begin_run(spec_yaml=spec.to_yaml(), executor=runner.name,
                             workers=getattr(runner, "workers", 0), planned=len(plan.points), to_run=len(todo))
    status = "interrupted"
    try:
        runner.start()
        summary.startup_s = time.perf_counter() - start
        summary.workers = runner.workers
        workdirs = (directory / POINTS_DIR).resolve() if plan.target.uses_workdir else None
        results = execute(todo, runner, target=plan.target.name, timeout_s=execution.timeout_s,
                          max_attempts=execution.max_attempts, workdir_root=workdirs)
        results = save(results, store, run_id)
        results = track(results, title=spec.name or "sweep", total=len(todo), show=progress)
        summarize(results, summary)
        status = "finished"
    finally:
        runner.close()
        summary.wall_s = time.perf_counter() - start
        store.end_run(run_id, status=status, ok=summary.ok, failed=summary.failed)
    return summary


