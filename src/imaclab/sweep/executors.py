"""Executors: where points run.  Both run each point in an isolated runner process.

* ``local``: a pool of runner processes on this machine, one per worker (default:
  the cores this process may use).
* ``dask``: tasks on a Dask cluster, either an existing one (``scheduler``
  ``tcp://HOST:PORT``) or a ``LocalCluster`` of ``dask_local`` workers started for
  the run.  Each Dask worker thread keeps its own runner process, so time limits and
  crashes behave exactly as in ``local``.

An executor has the same small interface: ``start()``, ``capacity`` (points in
flight), ``submit(task)``, ``wait(timeout) -> replies``, ``close()``.  Results never
depend on the executor: a point's result is a function of its config alone.
"""

from __future__ import annotations

import os
import queue
import selectors
import threading
import time
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import Field, model_validator

from imaclab.config import ConfigModel
from imaclab.errors import ConfigError, SimulationError
from imaclab.sweep.result import WORKER_DIED
from imaclab.sweep.runner import Runner

#: Seconds the client waits for a new runner process to import its target.
RUNNER_START_TIMEOUT_S = 300.0
#: Points in flight per local worker while points are short: the running one plus one queued
#: in its stdin, so a worker never waits while the client wakes up and commits results (an
#: fsync, ~5 ms here).  Points longer than PREFETCH_BELOW_S are not queued: that wait is
#: negligible next to them, and a point queued behind a long one would wait while another
#: worker idles at the end of a sweep.
LOCAL_TASKS_PER_WORKER = 2
PREFETCH_BELOW_S = 10.0
#: Points whose mean run time decides the local queue depth and the Dask points per task.
RECENT_POINTS = 8
#: Dask tasks in flight per worker thread, so a worker never waits for the next one (a Dask
#: round trip measured ~19 ms on the idle 2-core machine, ~25 ms under load).
DASK_TASKS_PER_THREAD = 4
#: Short points are grouped so one Dask task carries about this many seconds of work: the
#: per-task cost above is then a few percent of a task.
DASK_TASK_TARGET_S = 0.5
#: Most points grouped in one Dask task.
DASK_MAX_POINTS_PER_TASK = 64
#: Seconds to wait for a Dask scheduler to answer before giving up.
DASK_CONNECT_TIMEOUT_S = 30.0


def available_cores() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class ExecutorSettings(ConfigModel):
    """Where to run a sweep's points; none of it changes a point's result."""

    kind: Literal["local", "dask"] = Field("local", description="'local' process pool or 'dask' cluster")
    workers: int | None = Field(None, ge=1, description="local worker processes (default: spec "
                                                        "execution.workers, else the available cores)")
    scheduler: str | None = Field(None, description="address of an existing Dask scheduler, tcp://HOST:PORT")
    dask_local: int | None = Field(None, ge=1, description="start a Dask LocalCluster with this many workers")

    @model_validator(mode="before")
    @classmethod
    def _dask_implied(cls, data: Any) -> Any:
        # A scheduler address or a LocalCluster size means Dask, whatever `kind` says.
        if isinstance(data, dict) and (data.get("scheduler") or data.get("dask_local")):
            if data.get("scheduler") and data.get("dask_local"):
                raise ValueError("give either scheduler (an existing cluster) or dask_local (a new one), not both")
            data = {**data, "kind": "dask"}
        return data


class Executor(Protocol):
    name: str
    workers: int

    @property
    def capacity(self) -> int: ...

    def start(self) -> None: ...
    def submit(self, task: dict[str, Any]) -> None: ...
    def wait(self, timeout: float) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


class LocalExecutor:
    """A pool of runner processes driven by one ``select`` loop in the client."""

    name = "local"

    def __init__(self, *, target: str, workers: int, timeout_s: float | None, log_dir: Path | None,
                 threads: int | None = None):
        self.target = target
        self.workers = workers
        self.threads = threads
        self.timeout_s = timeout_s
        self.log_dir = log_dir
        self.runners: list[Runner] = []
        self._recent_run_s: list[float] = []  # run times of the last few points

    @property
    def depth(self) -> int:
        """Points per worker in flight now: queue one more only while points are short."""
        recent = self._recent_run_s
        if recent and sum(recent) / len(recent) >= PREFETCH_BELOW_S:
            return 1
        return LOCAL_TASKS_PER_WORKER

    @property
    def capacity(self) -> int:
        return self.workers * self.depth

    def _runner(self, slot: int) -> Runner:
        log = self.log_dir / f"worker-{slot}.log" if self.log_dir else None
        return Runner(target=self.target, log_path=log, label=f"local-{slot}", timeout_s=self.timeout_s,
                      threads=self.threads)

    def start(self) -> None:
        self.runners = [self._runner(slot) for slot in range(self.workers)]
        for runner in self.runners:
            runner.start()
        for runner in self.runners:
            runner.wait_ready(RUNNER_START_TIMEOUT_S)

    def submit(self, task: dict[str, Any]) -> None:
        slot = min(range(len(self.runners)), key=lambda i: len(self.runners[i].tasks))
        runner = self.runners[slot]
        if len(runner.tasks) >= self.depth:
            raise RuntimeError("LocalExecutor.submit: every worker is full (respect capacity)")
        if not runner.alive and not runner.busy:
            runner = self.runners[slot] = self._runner(slot)
            runner.start()
        runner.send(task)

    def wait(self, timeout: float) -> list[dict[str, Any]]:
        busy = [r for r in self.runners if r.busy]
        if not busy:
            time.sleep(min(timeout, 0.01))
            return []
        now = time.monotonic()
        deadlines = [r.deadline for r in busy if r.deadline is not None]
        wait = min([timeout] + [max(0.0, d - now) for d in deadlines])
        replies: list[dict[str, Any]] = []
        with selectors.DefaultSelector() as sel:
            for runner in busy:
                sel.register(runner.fileno(), selectors.EVENT_READ, runner)
            for selected, _ in sel.select(wait):
                replies.extend(selected.data.on_readable())
        for reply in replies:
            if "run_s" in reply:
                self._recent_run_s = (self._recent_run_s + [float(reply["run_s"])])[-RECENT_POINTS:]
        for runner in busy:
            if runner.busy and runner.expired():
                replies.extend(runner.timed_out())
        return replies

    def close(self) -> None:
        for runner in self.runners:
            if runner.busy:
                runner.kill()  # interrupted: do not wait for points in flight
            else:
                runner.stop()
        self.runners = []


# ------------------------------------------------------------------------------ dask
# Runner processes of this Dask worker process, one per worker thread, target and thread count.
_DASK_RUNNERS: dict[tuple[int, str, int | None], Runner] = {}


def run_on_dask_worker(task: dict[str, Any], timeout_s: float | None, threads: int | None = None) -> dict[str, Any]:
    """Run one point in this Dask worker thread's runner process."""
    slot = (threading.get_ident(), task["target"], threads)
    runner = _DASK_RUNNERS.get(slot)
    if runner is None:
        log_dir: Path | None
        try:
            from distributed import get_worker

            log_dir = Path(get_worker().local_directory)
        except (ImportError, ValueError):
            log_dir = None
        label = f"dask-{os.getpid()}-{len(_DASK_RUNNERS)}"
        runner = Runner(target=task["target"], label=label, timeout_s=timeout_s, threads=threads,
                        log_path=log_dir / f"imaclab-sweep-{label}.log" if log_dir else None)
        _DASK_RUNNERS[slot] = runner
    runner.timeout_s = timeout_s
    return runner.run(task)


def run_points_on_dask_worker(tasks: list[dict[str, Any]], timeout_s: float | None,
                              threads: int | None = None) -> list[dict[str, Any]]:
    """Dask task: run a few points one after another (each isolated and timed as on its own)."""
    return [run_on_dask_worker(task, timeout_s, threads) for task in tasks]


def stop_dask_runners() -> int:
    """Stop this Dask worker's runner processes (run on every worker when a sweep ends)."""
    stopped = 0
    for slot in list(_DASK_RUNNERS):
        _DASK_RUNNERS.pop(slot).stop()
        stopped += 1
    return stopped


class DaskExecutor:
    """Points as Dask tasks; results come back to (and are stored by) the client.

    Short points travel several to a task (about DASK_TASK_TARGET_S of work each, judged
    from the run times of recent points), so Dask's per-task cost is paid once per task.
    """

    name = "dask"

    def __init__(self, *, target: str, scheduler: str | None, local_workers: int | None, timeout_s: float | None,
                 threads: int | None = None):
        self.target = target
        self.threads = threads
        self.scheduler = scheduler
        self.local_workers = local_workers
        self.timeout_s = timeout_s
        self.client: Any = None
        self.cluster: Any = None
        self.futures: dict[Any, list[str]] = {}  # in flight -> keys of its points
        self._done: queue.Queue[Any] = queue.Queue()  # finished futures
        self._batch: list[dict[str, Any]] = []  # submitted, not yet sent
        self._recent_run_s: list[float] = []
        self.workers = 0

    @property
    def points_per_task(self) -> int:
        recent = self._recent_run_s
        if not recent:
            return 1
        mean = max(sum(recent) / len(recent), DASK_TASK_TARGET_S / DASK_MAX_POINTS_PER_TASK)
        return max(1, min(DASK_MAX_POINTS_PER_TASK, round(DASK_TASK_TARGET_S / mean)))

    @property
    def capacity(self) -> int:
        return self.workers * DASK_TASKS_PER_THREAD * self.points_per_task

    def start(self) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as err:
            raise ConfigError(f"the dask executor needs dask[distributed] ({err}); "
                              f"pip install 'dask[distributed]'") from None
        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout=DASK_CONNECT_TIMEOUT_S, set_as_default=False)
            except (OSError, TimeoutError) as err:
                raise SimulationError(f"cannot reach the Dask scheduler at {self.scheduler} ({err}); check the "
                                      f"address (tcp://HOST:PORT) and that the scheduler is running") from None
        else:
            # Loopback only: a cluster started for one sweep is not a network service.
            self.cluster = LocalCluster(n_workers=self.local_workers, threads_per_worker=1, processes=True,
                                        host="127.0.0.1", dashboard_address=None)
            self.client = Client(self.cluster, set_as_default=False)
        threads = sum(self.client.nthreads().values())
        if threads == 0:
            self.client.wait_for_workers(1, timeout=DASK_CONNECT_TIMEOUT_S)
            threads = sum(self.client.nthreads().values())
        self.workers = threads

    def submit(self, task: dict[str, Any]) -> None:
        self._batch.append(task)
        if len(self._batch) >= self.points_per_task:
            self._send()

    def _send(self) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        first = batch[0]
        future = self.client.submit(run_points_on_dask_worker, batch, self.timeout_s, self.threads, pure=False,
                                    key=f"imaclab-points-{first['key'][:16]}-{first['attempt']}-{time.time_ns()}")
        self.futures[future] = [task["key"] for task in batch]
        future.add_done_callback(self._done.put)  # called from the client's event loop thread

    def wait(self, timeout: float) -> list[dict[str, Any]]:
        self._send()  # the driver has nothing more to submit for now: send a partial batch
        try:
            done = [self._done.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                done.append(self._done.get_nowait())
            except queue.Empty:
                break
        replies: list[dict[str, Any]] = []
        for future in done:
            keys = self.futures.pop(future, None)
            if keys is None:
                continue
            try:
                replies.extend(future.result())
            except Exception as err:  # noqa: BLE001 - KilledWorker, lost connection: the points are retried
                kind = type(err).__name__
                replies.extend({"key": key, "status": "crashed",
                                "error_type": WORKER_DIED if kind == "KilledWorker" else kind,
                                "error": f"Dask task failed: {kind}: {' '.join(str(err).split())}",
                                "worker": ""} for key in keys)
        run_times = [float(r["run_s"]) for r in replies if r.get("status") == "ok" and "run_s" in r]
        self._recent_run_s = (self._recent_run_s + run_times)[-RECENT_POINTS:]
        return replies

    def close(self) -> None:
        self._batch = []
        if self.client is not None:
            if self.futures:
                self.client.cancel(list(self.futures))
            self.futures = {}
            if self.cluster is None:
                # A cluster that outlives the sweep should not keep idle runner processes.
                try:
                    self.client.run(stop_dask_runners)
                except Exception:  # noqa: BLE001 - best effort: a worker may be gone already
                    pass
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def make_executor(settings: ExecutorSettings, *, target: str, default_workers: int | None,
                  timeout_s: float | None, log_dir: Path | None, threads: int | None = None) -> Executor:
    """The executor ``settings`` describe, not yet started; ``threads`` BLAS/OpenMP threads per runner."""
    if settings.kind == "dask":
        local = settings.dask_local or (None if settings.scheduler else (settings.workers or default_workers
                                                                          or available_cores()))
        return DaskExecutor(target=target, scheduler=settings.scheduler, local_workers=local, timeout_s=timeout_s,
                            threads=threads)
    workers = settings.workers or default_workers or available_cores()
    return LocalExecutor(target=target, workers=workers, timeout_s=timeout_s, log_dir=log_dir, threads=threads)
