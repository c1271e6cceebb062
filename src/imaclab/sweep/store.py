"""The durable result store of a sweep: one SQLite file, one row per point.

``DIR/results.sqlite`` holds a row per point keyed by the hash of its full config,
with the config, the axis settings, metrics, status, error, timings and the imaclab
version that computed it.  The client commits rows as points finish
(WAL journal, ``synchronous=FULL``; results that arrive together share one commit,
so one fsync covers them), so killing the client, a worker or the machine loses at
most the points in flight.

A file that is not an imaclab store (wrong magic, a foreign SQLite database, a
newer schema, a corrupted page, an index that no longer matches its table) is
refused with one line and never written to.  Opening runs SQLite's full
``PRAGMA integrity_check`` (which compares every index with its table) on stores up
to :data:`FULL_CHECK_MAX_BYTES`, and the faster ``quick_check`` (pages and records,
not index contents) on larger ones; ``imaclab sweep status DIR --check`` always runs
the full check.
A new store is built in a temporary file and hard-linked into place, so a crash
during creation never leaves a half-made store behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imaclab import __version__
from imaclab.errors import InputError
from imaclab.sweep.result import PointResult

STORE_FILENAME = "results.sqlite"
LOCK_FILENAME = ".lock"
#: SQLite's ``PRAGMA application_id`` for imaclab sweep stores: ASCII "IMAC".
APPLICATION_ID = 0x494D4143
#: Schema of the tables below; a store with a higher version is refused.
SCHEMA_VERSION = 1
#: The first 16 bytes of every SQLite 3 database file (sqlite.org/fileformat.html).
SQLITE_MAGIC = b"SQLite format 3\x00"
#: Seconds a connection waits for a lock held by a reader (status/export) before failing.
BUSY_TIMEOUT_S = 30.0
#: Stores up to this size get the full ``PRAGMA integrity_check`` on every open (measured 0.20 s
#: for a 111 MB store of 100,000 rows, file cached; ``quick_check`` 0.07 s); larger ones the
#: ``quick_check``, which does not compare indexes with tables.
FULL_CHECK_MAX_BYTES = 1024 * 1024 * 1024
#: Problems of an integrity check quoted in the one-line refusal.
CHECK_LINES_SHOWN = 2

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL, finished_at REAL, status TEXT NOT NULL,
    version TEXT NOT NULL, host TEXT NOT NULL, executor TEXT NOT NULL, workers INTEGER NOT NULL,
    spec TEXT NOT NULL, planned INTEGER NOT NULL, to_run INTEGER NOT NULL,
    ok INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE points (
    key TEXT PRIMARY KEY,
    point_index INTEGER NOT NULL,
    target TEXT NOT NULL,
    config TEXT NOT NULL,
    overrides TEXT NOT NULL,
    variables TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    metrics TEXT NOT NULL,
    error_type TEXT NOT NULL,
    error TEXT NOT NULL,
    traceback TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    run_s REAL NOT NULL,
    elapsed_s REAL NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    worker TEXT NOT NULL,
    version TEXT NOT NULL,
    run_id INTEGER
);
"""
_POINT_COLUMNS = ("key", "point_index", "target", "config", "overrides", "variables", "status", "metrics",
                  "error_type", "error", "traceback", "attempts", "run_s", "elapsed_s", "started_at",
                  "finished_at", "worker", "version", "run_id")
_JSON_COLUMNS = ("config", "overrides", "variables", "metrics")


def store_path(directory: str | Path) -> Path:
    return Path(directory) / STORE_FILENAME


def _refuse(path: Path, why: str) -> InputError:
    return InputError(f"{path}: {why}; it was not modified (move it away or choose another sweep directory)")


def _store_bytes(path: Path) -> int:
    """Size of the store with its WAL (what an integrity check reads)."""
    total = 0
    for part in (path, path.with_name(path.name + "-wal")):
        try:
            total += part.stat().st_size
        except OSError:
            pass
    return total


def check_store_file(path: Path, *, full: bool | None = None) -> None:
    """Raise InputError unless ``path`` is an imaclab sweep store this version can read.

    ``full``: run ``PRAGMA integrity_check`` (True), ``quick_check`` (False), or choose by
    size (None: full up to :data:`FULL_CHECK_MAX_BYTES`).
    """
    if full is None:
        full = _store_bytes(path) <= FULL_CHECK_MAX_BYTES
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_MAGIC))
    except OSError as err:
        raise InputError(f"{path}: cannot read the sweep store ({err.strerror})") from None
    if len(header) == 0:
        raise _refuse(path, "empty file, not an imaclab sweep store")
    if header != SQLITE_MAGIC:
        raise _refuse(path, "not an imaclab sweep store (not a SQLite database)")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if app_id != APPLICATION_ID:
                raise _refuse(path, f"a SQLite database that is not an imaclab sweep store "
                                    f"(application_id {app_id:#x}, expected {APPLICATION_ID:#x})")
            if version > SCHEMA_VERSION:
                raise _refuse(path, f"written by a newer imaclab (store schema {version}, this version reads "
                                    f"up to {SCHEMA_VERSION}); upgrade imaclab")
            pragma = "integrity_check" if full else "quick_check"
            problems = [row[0] for row in conn.execute(f"PRAGMA {pragma}({CHECK_LINES_SHOWN + 1})")]
            if problems != ["ok"]:
                shown = "; ".join(" ".join(p.split()) for p in problems[:CHECK_LINES_SHOWN])
                more = ", ..." if len(problems) > CHECK_LINES_SHOWN else ""
                raise _refuse(path, f"corrupted sweep store (SQLite {pragma}: {shown}{more}); recover the rows "
                                    f"with `sqlite3 {path.name} .recover` into a new file")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not {"meta", "runs", "points"} <= tables:
                raise _refuse(path, f"corrupted sweep store (tables missing: "
                                    f"{', '.join(sorted({'meta', 'runs', 'points'} - tables))})")
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        raise _refuse(path, f"corrupted sweep store (SQLite: {err})") from None


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    uri = f"file:{path}?mode={'ro' if readonly else 'rw'}"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.row_factory = sqlite3.Row
    if not readonly:
        # FULL: a commit survives a power loss, not only a killed process (WAL's default NORMAL does not).
        conn.execute("PRAGMA synchronous=FULL")
    return conn


def _create(path: Path, *, target: str, name: str) -> None:
    """Build a fresh store next to ``path`` and link it into place (never over an existing file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
        now = time.time()
        conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", [
            ("format", "imaclab-sweep-store"), ("target", target), ("name", name),
            ("created_at", repr(now)), ("created_version", __version__)])
    finally:
        conn.close()
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process created it first; the caller checks what is there
    finally:
        tmp.unlink(missing_ok=True)


class SweepLock:
    """An exclusive lock on a sweep directory for the duration of a run (released if the process dies)."""

    def __init__(self, directory: Path):
        self.path = directory / LOCK_FILENAME
        self._handle: Any = None

    def acquire(self) -> None:
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise InputError(f"{self.path.parent}: another imaclab process ({holder}) is running this sweep; "
                             f"wait for it to finish or stop it") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        self._handle = handle

    @staticmethod
    def held(directory: Path) -> bool:
        """Whether some process holds the lock of ``directory`` now (a run is in progress)."""
        path = Path(directory) / LOCK_FILENAME
        if not path.exists():
            return False
        with open(path) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
        return False

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


class ResultStore:
    """A sweep directory's SQLite store.  Open with :meth:`open_for_run` or :meth:`open_existing`."""

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self.conn = conn
        self._target: str | None = None

    # opening -------------------------------------------------------------------
    @classmethod
    def open_for_run(cls, directory: str | Path, *, target: str, name: str) -> ResultStore:
        """Open (or create) the store of ``directory`` for writing points of ``target``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = store_path(directory)
        if not path.exists():
            _create(path, target=target, name=name)
        check_store_file(path)
        store = cls(path, _connect(path, readonly=False))
        stored_target = store.meta().get("target")
        if stored_target != target:
            store.close()
            raise InputError(f"{directory}: this sweep directory holds results of target '{stored_target}', "
                             f"not '{target}'; choose another sweep directory")
        return store

    @classmethod
    def open_existing(cls, directory: str | Path, *, full_check: bool | None = None) -> ResultStore:
        """Open an existing store read-only (status, export, plot); ``full_check`` as in check_store_file."""
        path = store_path(directory)
        if not Path(directory).is_dir():
            raise InputError(f"{directory}: no such sweep directory")
        if not path.is_file():
            raise InputError(f"{directory}: no sweep store here ({STORE_FILENAME} missing); run "
                             f"`imaclab sweep run SPEC -o {directory}` first")
        check_store_file(path, full=full_check)
        return cls(path, _connect(path, readonly=True))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # metadata and runs --------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return {row["key"]: row["value"] for row in self.conn.execute("SELECT key, value FROM meta")}

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                          "value=excluded.value", (key, value))

    def begin_run(self, *, spec_yaml: str, executor: str, workers: int, planned: int, to_run: int) -> int:
        """Record the start of a run (and the spec it used); return its id."""
        with self.conn:
            self.conn.execute("BEGIN")
            self.set_meta("spec", spec_yaml)
            cur = self.conn.execute(
                "INSERT INTO runs(started_at, status, version, host, executor, workers, spec, planned, to_run) "
                "VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?)",
                (time.time(), __version__, socket.gethostname(), executor, workers, spec_yaml, planned, to_run))
        return int(cur.lastrowid or 0)

    def end_run(self, run_id: int, *, status: str, ok: int, failed: int, to_run: int | None = None) -> None:
        """Close a run; ``to_run`` replaces the estimate given to :meth:`begin_run` once it is known."""
        self.conn.execute("UPDATE runs SET finished_at=?, status=?, ok=?, failed=?, to_run=COALESCE(?, to_run) "
                          "WHERE run_id=?", (time.time(), status, ok, failed, to_run, run_id))

    def runs(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.conn.execute("SELECT * FROM runs ORDER BY run_id")]

    # points -------------------------------------------------------------------------
    def stored_status(self) -> dict[str, str]:
        """``{key: status}`` of every stored point."""
        return {row[0]: row[1] for row in self.conn.execute("SELECT key, status FROM points")}

    def status_of(self, key: str) -> str | None:
        """The stored status of one point (``ok``/``failed``), or None: one primary-key lookup."""
        row = self.conn.execute("SELECT status FROM points WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    def record(self, result: PointResult, run_id: int | None) -> None:
        """Insert or replace one point's row and commit it."""
        self.record_many([result], run_id)

    def record_many(self, results: list[PointResult], run_id: int | None) -> None:
        """Insert or replace rows in one transaction (one fsync for all: group commit)."""
        placeholders = ", ".join("?" for _ in _POINT_COLUMNS)
        updates = ", ".join(f"{c}=excluded.{c}" for c in _POINT_COLUMNS if c != "key")
        sql = (f"INSERT INTO points({', '.join(_POINT_COLUMNS)}) VALUES ({placeholders}) "
               f"ON CONFLICT(key) DO UPDATE SET {updates}")
        rows = []
        for result in results:
            point = result.point
            rows.append((point.key, point.index, self.meta_target, json.dumps(point.config),
                         json.dumps(point.overrides), json.dumps(point.variables), result.status,
                         json.dumps(result.metrics), result.error_type, result.error, result.traceback,
                         result.attempts, result.run_s, result.elapsed_s, result.started_at, result.finished_at,
                         result.worker, __version__, run_id))
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(sql, rows)

    @property
    def meta_target(self) -> str:
        """The target this store holds (read once)."""
        if self._target is None:
            self._target = self.meta().get("target", "")
        return self._target

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every stored point as a dict, JSON columns decoded, in point order."""
        for row in self.conn.execute(f"SELECT {', '.join(_POINT_COLUMNS)} FROM points ORDER BY point_index, key"):
            out = dict(row)
            for column in _JSON_COLUMNS:
                out[column] = json.loads(out[column])
            yield out

    def count(self) -> dict[str, int]:
        counts = {"ok": 0, "failed": 0}
        for status, n in self.conn.execute("SELECT status, COUNT(*) FROM points GROUP BY status"):
            counts[status] = n
        return counts
