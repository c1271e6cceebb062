"""Running sweeps: isolation of failures, time limits, dead workers, resume after SIGKILL, Dask = local.

These use the test-only probe target, which can raise, hang or kill its own worker
on purpose; tests/sweep/test_targets.py runs the real targets.
"""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from sweep_probe_target import HERE, PROBE

from imaclab.sweep import ExecutorSettings, ResultStore, SweepSpec, run_sweep, sweep_status
from imaclab.sweep.store import store_path

STABLE = ("key", "point_index", "status", "config", "overrides", "variables", "metrics", "error_type")


def stable_rows(directory) -> list[tuple]:
    """Stored rows without timings, workers or run ids (which legitimately differ between runs)."""
    with ResultStore.open_existing(directory) as store:
        return sorted(tuple(str(row[c]) for c in STABLE) for row in store.rows())


def probe_spec(axes, **execution) -> SweepSpec:
    return SweepSpec.from_dict({"name": "probe", "target": PROBE, "axes": axes, "execution": execution})


def test_failures_are_isolated_recorded_and_the_sweep_goes_on(tmp_path):
    marker = tmp_path / "died-once"
    cases = [  # (what the point does, expected status, expected error type, attempts)
        ({}, "ok", "", 1),
        ({"raise_error": True}, "failed", "ValueError", 1),
        ({"delay_s": 30.0}, "failed", "Timeout", 1),
        ({"always_die": True}, "failed", "WorkerDied", 2),
        ({"print_noise": True, "terms": 5}, "ok", "", 1),
        ({"die_marker": str(marker), "terms": 6}, "ok", "", 2),
    ]
    fields = ("raise_error", "delay_s", "always_die", "print_noise", "die_marker", "terms")
    defaults = {"raise_error": False, "delay_s": 0.0, "always_die": False, "print_noise": False, "die_marker": None,
                "terms": 8}
    axes = [{"zip": [{"field": f, "values": [{**defaults, **case}[f] for case, *_ in cases]} for f in fields]}]
    summary = run_sweep(spec=probe_spec(axes, timeout_s=2.0, max_attempts=2), directory=tmp_path / "s",
                        executor=ExecutorSettings(workers=2))
    assert (summary.planned, summary.ran, summary.ok, summary.failed, summary.retried) == (6, 6, 3, 3, 2)
    with ResultStore.open_existing(tmp_path / "s") as store:
        rows = {row["point_index"]: row for row in store.rows()}
    for index, (_, status, error_type, attempts) in enumerate(cases):
        assert (rows[index]["status"], rows[index]["error_type"], rows[index]["attempts"]) == (status, error_type,
                                                                                               attempts), index
    assert "probe asked to fail at x=1.0" in rows[1]["error"] and "ValueError" in rows[1]["traceback"]
    assert "longer than 2 s" in rows[2]["error"]
    assert "SIGKILL" in rows[3]["error"] and "gave up after 2 attempts" in rows[3]["error"]
    # a point that succeeds computes the truncated series of exp(1)
    assert rows[0]["metrics"]["series"] == pytest.approx(sum(1 / math.factorial(k) for k in range(8)))
    assert rows[5]["metrics"]["series"] == pytest.approx(sum(1 / math.factorial(k) for k in range(6)))
    assert rows[0]["metrics"]["omp_threads"] == 1  # execution.threads_per_worker reaches the worker
    assert marker.read_text() == "died once"
    status = sweep_status(directory=tmp_path / "s")
    assert (status.ok, status.failed, status.pending, status.planned) == (3, 3, 0, 6)
    assert {e["error_type"]: e["count"] for e in status.errors} == {"ValueError": 1, "Timeout": 1, "WorkerDied": 1}


def test_resume_skips_stored_points_and_retry_failed_reruns_failures(tmp_path):
    axes = [{"field": "terms", "values": [1, 2, 3]}, {"field": "raise_error", "values": [False, True]}]
    first = run_sweep(spec=probe_spec(axes), directory=tmp_path, executor=ExecutorSettings(workers=1))
    assert (first.ran, first.ok, first.failed) == (6, 3, 3)
    again = run_sweep(spec=probe_spec(axes), directory=tmp_path, executor=ExecutorSettings(workers=1))
    assert (again.skipped, again.ran) == (6, 0)
    grown = probe_spec([{"field": "terms", "values": [1, 2, 3, 4]}, axes[1]])
    more = run_sweep(spec=grown, directory=tmp_path, executor=ExecutorSettings(workers=1))
    assert (more.skipped, more.ran, more.ok, more.failed) == (6, 2, 1, 1)
    retry = run_sweep(spec=grown, directory=tmp_path, executor=ExecutorSettings(workers=1), retry_failed=True)
    assert (retry.skipped, retry.ran, retry.failed) == (4, 4, 4)
    with ResultStore.open_existing(tmp_path) as store:
        assert store.count() == {"ok": 4, "failed": 4}
        assert [r["status"] for r in store.runs()] == ["finished"] * 3  # the no-op run is not recorded


def test_sigkill_mid_run_then_resume_equals_an_uninterrupted_run(tmp_path):
    # 40 points of 0.12-0.15 s on 2 workers: ~3 s of work, so the kill lands mid-run on a busy machine
    axes = [{"field": "terms", "values": list(range(1, 21))}, {"field": "delay_s", "values": [0.12, 0.15]}]
    spec = probe_spec(axes)
    spec_path = spec.save(tmp_path / "probe.yaml")
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    client = subprocess.Popen([sys.executable, "-m", "imaclab", "sweep", "run", str(spec_path), "-o", str(killed),
                               "-j", "2", "--no-progress"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    stored = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and client.poll() is None:
        if store_path(killed).exists():
            try:
                with sqlite3.connect(f"file:{store_path(killed)}?mode=ro", uri=True) as conn:
                    stored = conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
            except sqlite3.OperationalError:
                stored = 0
        if stored >= 6:
            break
        time.sleep(0.02)
    assert client.poll() is None, f"the sweep ended before it could be killed: {client.stderr.read().decode()}"
    client.send_signal(signal.SIGKILL)
    client.wait()
    with ResultStore.open_existing(killed) as store:
        after_kill = len(store.stored_status())
    assert 6 <= after_kill < 40
    status = sweep_status(directory=killed)
    assert status.pending == 40 - after_kill and status.runs[0]["status"] == "killed"

    resumed = run_sweep(spec=spec_path, directory=killed, executor=ExecutorSettings(workers=2))
    assert resumed.skipped == after_kill and resumed.ran == 40 - after_kill and resumed.failed == 0
    run_sweep(spec=spec_path, directory=tmp_path / "whole", executor=ExecutorSettings(workers=2))
    assert stable_rows(killed) == stable_rows(tmp_path / "whole")
    assert len(stable_rows(killed)) == 40


@pytest.mark.slow  # a Dask nanny restarting its worker takes ~10 s here
def test_dask_worker_killed_mid_point_is_rerun_not_lost(tmp_path):
    from distributed import LocalCluster

    marker = tmp_path / "killed-a-worker"
    axes = [{"field": "terms", "values": [3, 4, 5, 6]},
            {"field": "kill_parent_marker", "values": [str(marker)]}]
    # an existing cluster, reached by its address as with --scheduler tcp://HOST:PORT
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        summary = run_sweep(spec=probe_spec(axes, max_attempts=3), directory=tmp_path / "d",
                            executor=ExecutorSettings(scheduler=cluster.scheduler_address))
    assert marker.exists()  # a Dask worker process was killed while it ran a point
    assert (summary.ran, summary.ok, summary.failed) == (4, 4, 0)
    with ResultStore.open_existing(tmp_path / "d") as store:
        series = {row["overrides"]["terms"]: row["metrics"]["series"] for row in store.rows()}
    assert series == pytest.approx({t: sum(1 / math.factorial(k) for k in range(t)) for t in (3, 4, 5, 6)})


def test_ctrl_c_stops_workers_keeps_rows_and_marks_the_run_interrupted(tmp_path):
    # 30 points of 0.5 s on 2 workers: >= 7 s of work, so the signal lands mid-run even when
    # the polling below is descheduled for seconds on a busy machine
    spec_path = probe_spec([{"field": "terms", "values": list(range(1, 31))},
                            {"field": "delay_s", "values": [0.5]}]).save(tmp_path / "probe.yaml")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    # pytest-xdist workers ignore SIGINT and a child inherits that (Python then never raises
    # KeyboardInterrupt): give the client the default disposition, as a terminal would
    client = subprocess.Popen([sys.executable, "-m", "imaclab", "sweep", "run", str(spec_path), "-o",
                               str(tmp_path / "s"), "-j", "2", "--no-progress"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and client.poll() is None:
        if store_path(tmp_path / "s").exists():
            with sqlite3.connect(f"file:{store_path(tmp_path / 's')}?mode=ro", uri=True) as conn:
                if conn.execute("SELECT COUNT(*) FROM points").fetchone()[0] >= 4:
                    break
        time.sleep(0.02)
    assert client.poll() is None, "the sweep ended before it could be interrupted"
    client.send_signal(signal.SIGINT)
    assert client.wait(timeout=30) == 130
    status = sweep_status(directory=tmp_path / "s")
    assert status.runs[0]["status"] == "interrupted" and 4 <= status.ok < 30 and status.failed == 0
    with ResultStore.open_existing(tmp_path / "s") as store:
        workers = {row["worker"].split(":")[1] for row in store.rows()}
    for pid in workers:  # the runner processes were stopped with the client
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry))
    return found


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has ended
    except OSError:
        return True


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_client_kills_its_runners(tmp_path, how):
    # points that sleep 60 s, well inside their 120 s limit: only the client's death can end them
    spec_path = probe_spec([{"field": "terms", "values": [1, 2, 3, 4]}, {"field": "delay_s", "values": [60.0]}],
                           timeout_s=120.0).save(tmp_path / "sleepy.yaml")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    client = subprocess.Popen([sys.executable, "-m", "imaclab", "sweep", "run", str(spec_path), "-o",
                               str(tmp_path / "s"), "-j", "2", "--no-progress"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    runners: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and client.poll() is None and len(runners) < 2:
        runners = _children(client.pid)
        time.sleep(0.05)
    assert client.poll() is None and len(runners) == 2, client.stderr.read().decode() if client.poll() else runners
    time.sleep(1.5)  # the runners import the probe and start sleeping in their first point
    client.send_signal(how)
    code = client.wait(timeout=30)
    assert code == (-9 if how == signal.SIGKILL else 128 + signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(_gone(pid) for pid in runners):
        time.sleep(0.1)
    assert all(_gone(pid) for pid in runners), f"runners outlived the client: {runners}"
    if how == signal.SIGTERM:  # a clean stop: the run is closed as interrupted
        assert sweep_status(directory=tmp_path / "s").runs[0]["status"] == "interrupted"


def test_limit_one_on_a_huge_sweep_starts_at_once(tmp_path):
    from test_sweep_spec_and_plan import HUGE_AXES

    start = time.monotonic()
    summary = run_sweep(spec=probe_spec(HUGE_AXES), directory=tmp_path, executor=ExecutorSettings(workers=1),
                        limit=1)
    assert time.monotonic() - start < 60  # a runner start and one point; expanding 10^8 points would take hours
    assert (summary.ran, summary.ok, summary.planned, summary.remaining) == (1, 1, 10**8, 10**8 - 1)
    again = run_sweep(spec=probe_spec(HUGE_AXES), directory=tmp_path, executor=ExecutorSettings(workers=1),
                      limit=2)  # the stored point is looked up and skipped, the next two run
    assert (again.skipped, again.ran) == (1, 2)
    with ResultStore.open_existing(tmp_path) as store:
        assert sorted(row["point_index"] for row in store.rows()) == [0, 1, 2]
        assert [r["to_run"] for r in store.runs()] == [1, 2]
    status = sweep_status(directory=tmp_path)
    assert status.planned == 10**8 and status.pending is None and "not counted" in status.note
    with pytest.raises(Exception, match="more than 1000000"):
        run_sweep(spec=probe_spec(HUGE_AXES), directory=tmp_path, executor=ExecutorSettings(workers=1))


def test_a_lazily_planned_invalid_point_stops_the_run_after_storing_the_rest(tmp_path, monkeypatch):
    from imaclab.errors import ConfigError
    from imaclab.sweep import plan as plan_module

    monkeypatch.setattr(plan_module, "EAGER_POINTS", 0)  # plan lazily, as a sweep of > 20,000 points is
    # every axis value is valid next to the other axes' first values; a=-1 with b=0 gives delay_s < 0 (point 3)
    axes = [{"var": "a", "values": [0, -1]}, {"var": "b", "values": [1, 0]}, {"field": "terms", "values": [2]}]
    spec = SweepSpec.from_dict({"name": "lazy", "target": PROBE, "axes": axes, "derived": {"delay_s": "(a + b) / 100"}})
    with pytest.raises(ConfigError, match=r"point 3 .*derived 'delay_s' value -0.01"):
        run_sweep(spec=spec, directory=tmp_path, executor=ExecutorSettings(workers=1))
    with ResultStore.open_existing(tmp_path) as store:
        assert sorted(row["point_index"] for row in store.rows()) == [0, 1]  # point 2 duplicates point 1
        assert [r["status"] for r in store.runs()] == ["interrupted"]
