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
import itertools
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imaclab.errors import ConfigError, ImaclabError
from imaclab.sweep.executors import Executor, ExecutorSettings, make_executor
from imaclab.sweep.plan import Point, SweepPlan, plan_sweep
from imaclab.sweep.result import PointResult, SweepSummary
from imaclab.sweep.spec import MAX_POINTS, SweepSpec, load_spec
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
#: Without a terminal, progress is one plain line per point up to this many points ...
PLAIN_EVERY_POINT_MAX = 20
#: ... and otherwise one line each time this many more percent are done,
PLAIN_STEP_PCT = 5
#: or when this many seconds passed since the last line.
PLAIN_MAX_SILENCE_S = 60.0

Info = dict[str, Any]


def default_directory(spec: SweepSpec) -> Path:
    return DEFAULT_ROOT / (spec.name or "sweep")


# ------------------------------------------------------------------------------ stages
@dataclass
class Tally:
    """What :func:`pending` has seen of the plan so far."""

    seen: int = 0  # plan points examined
    skipped: int = 0  # ... of which stored already (and not retried)
    pending: int = 0  # ... of which handed on to run
    exhausted: bool = False  # every point of the plan was examined (the counts are final)
    done: bool = False  # nothing more will be handed on (plan exhausted or limit reached): ``pending`` is final


def pending(points: Iterable[Point], stored: Mapping[str, str] | Callable[[str], str | None], *,
            retry_failed: bool, limit: int | None = None, tally: Tally | None = None) -> Iterator[Point]:
    """Points not yet stored (and stored failures, with ``retry_failed``), at most ``limit``.

    ``stored`` answers a key's stored status (``ResultStore.status_of``: one indexed lookup
    per point, as the points are reached) or is a ``{key: status}`` mapping.
    """
    status_of = stored.get if isinstance(stored, Mapping) else stored
    tally = tally if tally is not None else Tally()
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1, got {limit}")
    for point in points:
        tally.seen += 1
        status = status_of(point.key)
        if status is None or (status == "failed" and retry_failed):
            tally.pending += 1
            yield point
            if limit is not None and tally.pending >= limit:
                tally.done = True
                return
        else:
            tally.skipped += 1
    tally.exhausted = tally.done = True


def execute(points: Iterable[Point], executor: Executor, *, target: str, timeout_s: float | None,
            max_attempts: int, workdir_root: Path | None = None) -> Iterator[tuple[PointResult, Info]]:
    """Run points on ``executor``, keeping it full; retry points whose worker died.

    With ``workdir_root``, each point gets ``workdir_root/<first 16 hex of its key>`` for
    artifacts (the same folder on a retry or a resume, so a job can pick up its checkpoint).
    """
    source = iter(points)  # taken one at a time as the executor has room: never expanded whole
    queue: deque[Point] = deque()  # points handed back (requeued, retried): they go first
    in_flight: dict[str, tuple[Point, float]] = {}  # key -> (point, submitted at)
    attempts: dict[str, int] = {}  # key -> attempts started, for points not yet settled
    retried = 0
    more = True  # the source may have more points
    failure: list[ImaclabError] = []  # raised by the source; re-raised once the points in flight are stored

    def refill() -> None:
        nonlocal more
        while len(in_flight) < executor.capacity:
            point: Point | None = queue.popleft() if queue else None
            if point is None:
                try:
                    point = next(source, None) if more else None
                except ImaclabError as err:  # a lazily planned point is invalid: finish what runs, then stop
                    failure.append(err)
                if point is None:
                    more = False
                    return
            attempts[point.key] = attempts.get(point.key, 0) + 1
            executor.submit({"key": point.key, "target": target, "config": point.config,
                             "attempt": attempts[point.key], "timeout_s": timeout_s,
                             "workdir": str(workdir_root / point.key[:WORKDIR_KEY_CHARS]) if workdir_root else None})
            in_flight[point.key] = (point, time.monotonic())

    while True:
        refill()
        if not (queue or in_flight or more):
            if failure:
                raise failure[0]
            return
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


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def track(results: Iterable[tuple[PointResult, Info]], *, title: str, total: int, show: bool,
          tally: Tally | None = None, stream: Any = None) -> Iterator[tuple[PointResult, Info]]:
    """Show progress on stderr (done/failed/running, ETA); pass results through.

    On a terminal: a live bar.  Otherwise (a log file, a pipe, a batch job): plain lines,
    one per point for up to :data:`PLAIN_EVERY_POINT_MAX` points, else one per
    :data:`PLAIN_STEP_PCT` percent or :data:`PLAIN_MAX_SILENCE_S`.  ``total`` may be an
    estimate (a lazily planned sweep); once ``tally`` is done it is exact.
    """
    if not show:
        yield from results
        return
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        yield from _track_bar(results, title=title, total=total, tally=tally)
    else:
        yield from _track_lines(results, title=title, total=total, tally=tally, stream=stream)


def _track_bar(results: Iterable[tuple[PointResult, Info]], *, title: str, total: int,
               tally: Tally | None) -> Iterator[tuple[PointResult, Info]]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

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
            if tally is not None and tally.done:
                bar.update(task, total=tally.pending)
            bar.update(task, advance=1, failed=failed, running=info.get("running", 0))
            yield result, info


def _track_lines(results: Iterable[tuple[PointResult, Info]], *, title: str, total: int, tally: Tally | None,
                 stream: Any) -> Iterator[tuple[PointResult, Info]]:
    start = last_line = time.monotonic()
    done = failed = running = 0
    next_pct = PLAIN_STEP_PCT
    printed_at = -1

    def line() -> None:
        nonlocal last_line, printed_at
        exact = tally is None or tally.done
        known = tally.pending if tally is not None and tally.done else total
        known = max(known, done)
        elapsed = time.monotonic() - start
        eta = elapsed / done * (known - done) if done else 0.0
        pct = 100.0 * done / known if known else 100.0
        print(f"{title}: {done}/{'' if exact else '~'}{known} points ({pct:.0f}%), {failed} failed, "
              f"{running} running, {_duration(elapsed)} elapsed, ETA {_duration(eta)}", file=stream, flush=True)
        last_line, printed_at = time.monotonic(), done

    for result, info in results:
        done += 1
        running = info.get("running", 0)
        if result.status == "failed":
            failed += 1
            print(f"point {result.point.index} failed ({result.error_type}): {result.error}", file=stream,
                  flush=True)
        known = tally.pending if tally is not None and tally.done else total
        pct = 100.0 * done / known if known else 100.0
        if (known <= PLAIN_EVERY_POINT_MAX or pct >= next_pct or done >= known
                or time.monotonic() - last_line >= PLAIN_MAX_SILENCE_S):
            line()
            while next_pct <= pct:
                next_pct += PLAIN_STEP_PCT
        yield result, info
    if printed_at != done:
        line()


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


def plan_spec(*, spec: SweepSpec | str | Path, max_points: int | None = MAX_POINTS) -> SweepPlan:
    """Validate a spec (or spec file) and plan its points (lazily for large sweeps), running nothing.

    ``max_points``: refuse a sweep of more points (None: any size, e.g. for a dry run).
    """
    return plan_sweep(load_spec(spec) if isinstance(spec, (str, Path)) else spec, max_points=max_points)


#: The copy of the spec a run writes into its sweep directory (the store keeps it too).
SPEC_COPY = "spec.yaml"


def run_sweep(*, spec: SweepSpec | str | Path, directory: str | Path | None = None,
              executor: ExecutorSettings | None = None, retry_failed: bool = False, limit: int | None = None,
              progress: bool = False) -> SweepSummary:
    """Run (or resume) a sweep; every finished point is committed to ``directory``'s store.

    Args:
        spec: a :class:`SweepSpec` or the path of its YAML file.
        directory: the sweep directory (default ``sweeps/<spec name>``); holds
            ``results.sqlite``, ``spec.yaml`` (the spec of the last run) and worker logs.
        executor: where to run points (default: local processes, one per core).
        retry_failed: also rerun points stored as failed.
        limit: run at most this many of the pending points (in spec order), e.g. to try
            a large sweep on a few points first; the rest stay pending.  Points are planned
            as they are reached, so ``limit=1`` on a sweep of 10^8 points starts at once.
        progress: show progress on stderr (a bar on a terminal, plain lines otherwise).
    """
    from imaclab.files import check_writable_dir

    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1, got {limit}")
    spec = load_spec(spec) if isinstance(spec, (str, Path)) else spec
    directory = Path(directory) if directory is not None else default_directory(spec)
    check_writable_dir(directory)  # an existing file, a read-only folder: refused before any work
    bound = MAX_POINTS if limit is None or limit > MAX_POINTS else None
    plan = plan_sweep(spec, max_points=bound)
    settings = executor or ExecutorSettings()
    lock = SweepLock(directory)
    lock.acquire()
    try:
        with terminate_as_exit(), ResultStore.open_for_run(directory, target=plan.target.name,
                                                           name=spec.name or "sweep") as store:
            return _run(plan, store, directory, settings, retry_failed=retry_failed, limit=limit, progress=progress)
    finally:
        lock.release()


def _run(plan: SweepPlan, store: ResultStore, directory: Path, settings: ExecutorSettings, *,
         retry_failed: bool, limit: int | None, progress: bool) -> SweepSummary:
    spec = plan.spec
    tally = Tally()
    todo = pending(plan.iter_points(), store.status_of, retry_failed=retry_failed, limit=limit, tally=tally)
    first = next(todo, None)  # plans (and looks up) only up to the first pending point
    execution = spec.execution
    runner = make_executor(settings, target=plan.target.name, default_workers=execution.workers,
                           timeout_s=execution.timeout_s, log_dir=directory / "logs",
                           threads=execution.threads_per_worker)
    planned = len(plan.points) if plan.expanded else plan.size
    if plan.expanded:  # small plans: exact counts up front
        skipped = sum(1 for p in plan.points if (s := store.status_of(p.key)) is not None
                      and not (retry_failed and s == "failed"))
        to_run = planned - skipped
    else:  # large plans: estimates (exact once every point was examined)
        skipped = tally.skipped
        to_run = max(1, planned - sum(store.count().values()))
    if limit is not None:
        to_run = min(to_run, limit)
    summary = SweepSummary(name=spec.name or "sweep", target=plan.target.name, directory=str(directory),
                           planned=planned, skipped=skipped, ran=0, ok=0, failed=0, retried=0, wall_s=0.0,
                           executor=runner.name, workers=0)
    if first is None:
        summary.planned, summary.skipped = (tally.seen, tally.skipped) if tally.exhausted else (planned, skipped)
        return summary
    spec.save(directory / SPEC_COPY)
    start = time.perf_counter()
    run_id = store.begin_run(spec_yaml=spec.to_yaml(), executor=runner.name,
                             workers=getattr(runner, "workers", 0), planned=planned, to_run=to_run)
    status = "interrupted"
    try:
        runner.start()
        summary.startup_s = time.perf_counter() - start
        summary.workers = runner.workers
        workdirs = (directory / POINTS_DIR).resolve() if plan.target.uses_workdir else None
        results = execute(itertools.chain([first], todo), runner, target=plan.target.name,
                          timeout_s=execution.timeout_s, max_attempts=execution.max_attempts, workdir_root=workdirs)
        results = save(results, store, run_id)
        results = track(results, title=spec.name or "sweep", total=to_run, show=progress,
                        tally=None if plan.expanded else tally)  # an expanded plan's total is exact
        summarize(results, summary)
        status = "finished"
    finally:
        runner.close()
        summary.wall_s = time.perf_counter() - start
        if tally.exhausted and not plan.expanded:
            summary.planned, summary.skipped = tally.seen, tally.skipped
        store.end_run(run_id, status=status, ok=summary.ok, failed=summary.failed,
                      to_run=tally.pending if tally.exhausted else None)
    return summary
