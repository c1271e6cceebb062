"""The SQLite store: rows round-trip, foreign/corrupted files are refused and left untouched."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from sweep_probe_target import PROBE

from imaclab.errors import InputError
from imaclab.sweep import PointResult, ResultStore, SweepSpec, plan_sweep
from imaclab.sweep.store import APPLICATION_ID, SCHEMA_VERSION, SweepLock, store_path


def _points(n: int = 3):
    spec = SweepSpec.from_dict({"target": PROBE, "axes": [{"field": "terms", "values": list(range(1, n + 1))}]})
    return plan_sweep(spec).points


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rows_round_trip_and_upsert(tmp_path):
    points = _points()
    with ResultStore.open_for_run(tmp_path, target=PROBE, name="t") as store:
        store.record(PointResult(points[0], "ok", metrics={"series": 1.5, "nan": float("nan"), "tag": "a"},
                                 run_s=0.25, worker="h:1"), run_id=None)
        store.record(PointResult(points[1], "failed", error_type="ValueError", error="boom"), run_id=None)
        assert store.stored_status() == {points[0].key: "ok", points[1].key: "failed"}
        store.record(PointResult(points[1], "ok", metrics={"series": 2.0}, attempts=2), run_id=None)
        assert store.count() == {"ok": 2, "failed": 0}
    with ResultStore.open_existing(tmp_path) as store:
        rows = list(store.rows())
    assert [r["key"] for r in rows] == [points[0].key, points[1].key]
    assert rows[0]["config"] == points[0].config and rows[0]["overrides"] == {"terms": 1}
    assert rows[0]["metrics"]["series"] == 1.5 and rows[0]["metrics"]["tag"] == "a"
    assert rows[0]["metrics"]["nan"] != rows[0]["metrics"]["nan"]  # NaN survives
    assert rows[1]["status"] == "ok" and rows[1]["attempts"] == 2 and rows[1]["error"] == ""
    with sqlite3.connect(store_path(tmp_path)) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b"key,value\n1,2\n", "not a SQLite database"),
    (b"SQLite format 3\x00" + b"\xff" * 200, "corrupted"),
])
def test_foreign_or_corrupted_files_are_refused_and_kept(tmp_path, content, reason):
    path = store_path(tmp_path)
    path.write_bytes(content)
    before = _digest(path)
    for opener in (lambda: ResultStore.open_for_run(tmp_path, target=PROBE, name="t"),
                   lambda: ResultStore.open_existing(tmp_path)):
        with pytest.raises(InputError, match=reason) as err:
            opener()
        assert "\n" not in str(err.value) and "not modified" in str(err.value)
    assert _digest(path) == before


def test_foreign_sqlite_database_is_refused(tmp_path):
    path = store_path(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE points (key TEXT, value TEXT)")
        conn.execute("INSERT INTO points VALUES ('a', 'b')")
    before = _digest(path)
    with pytest.raises(InputError, match="SQLite database that is not an imaclab sweep store"):
        ResultStore.open_for_run(tmp_path, target=PROBE, name="t")
    assert _digest(path) == before


def test_damaged_store_is_refused(tmp_path):
    points = _points(40)
    with ResultStore.open_for_run(tmp_path, target=PROBE, name="t") as store:
        for point in points:
            store.record(PointResult(point, "ok", metrics={"series": float(point.index)}), run_id=None)
    path = store_path(tmp_path)
    with sqlite3.connect(path) as conn:  # fold the WAL into the main file, as a clean shutdown would
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 2 * page
    data[page + 8: 2 * page] = b"\x5a" * (page - 8)  # overwrite the second page (the first table's b-tree)
    path.write_bytes(bytes(data))
    before = _digest(path)
    with pytest.raises(InputError, match="corrupted sweep store"):
        ResultStore.open_for_run(tmp_path, target=PROBE, name="t")
    assert _digest(path) == before


def test_newer_schema_and_other_target_are_refused(tmp_path):
    ResultStore.open_for_run(tmp_path, target=PROBE, name="t").close()
    with pytest.raises(InputError, match="holds results of target 'sweep_probe_target:run_probe', not 'x:y'"):
        ResultStore.open_for_run(tmp_path, target="x:y", name="t")
    with sqlite3.connect(store_path(tmp_path)) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(InputError, match="newer imaclab"):
        ResultStore.open_existing(tmp_path)


def test_missing_store_and_second_runner_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="no sweep store here"):
        ResultStore.open_existing(tmp_path)
    with pytest.raises(InputError, match="no such sweep directory"):
        ResultStore.open_existing(tmp_path / "nope")
    lock = SweepLock(tmp_path)
    lock.acquire()
    try:
        assert SweepLock.held(tmp_path)
        with pytest.raises(InputError, match="another imaclab process"):
            SweepLock(tmp_path).acquire()
    finally:
        lock.release()
    assert not SweepLock.held(tmp_path)


def _store_with_index_out_of_step(directory):
    """A store whose primary-key index no longer matches its table: one index entry's key edited
    in place (the page stays well-formed, so quick_check passes; integrity_check does not)."""
    points = _points(40)
    with ResultStore.open_for_run(directory, target=PROBE, name="t") as store:
        store.record_many([PointResult(p, "ok", metrics={"series": 1.0}) for p in points], run_id=None)
    path = store_path(directory)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='sqlite_autoindex_points_1'").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    start = (root - 1) * page_size
    offset = data[start:start + page_size].find(points[7].key.encode())
    assert offset > 0  # the index holds the key on its (single) leaf page
    last = start + offset + 63  # the key's last hex digit: the entry stays in order
    data[last] = ord("0") if data[last] != ord("0") else ord("1")
    path.write_bytes(bytes(data))
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"  # the cheap check misses it
        assert "missing from index" in conn.execute("PRAGMA integrity_check").fetchone()[0]
    return path


def test_index_out_of_step_with_its_table_is_refused(tmp_path, capsys):
    from imaclab.cli import main

    path = _store_with_index_out_of_step(tmp_path)
    before = _digest(path)
    for opener in (lambda: ResultStore.open_for_run(tmp_path, target=PROBE, name="t"),
                   lambda: ResultStore.open_existing(tmp_path)):
        with pytest.raises(InputError, match="corrupted sweep store.*missing from index") as err:
            opener()
        message = str(err.value)
        assert "\n" not in message and str(path) in message and ".recover" in message and "not modified" in message
    assert main(["sweep", "status", str(tmp_path), "--check"]) == 2
    assert "missing from index" in capsys.readouterr().err
    assert _digest(path) == before


def test_large_stores_get_the_quick_check_unless_asked(tmp_path, monkeypatch):
    from imaclab.sweep import store as store_module

    _store_with_index_out_of_step(tmp_path)
    monkeypatch.setattr(store_module, "FULL_CHECK_MAX_BYTES", 1024)  # this store now counts as large
    ResultStore.open_existing(tmp_path).close()  # quick_check only: accepted
    with pytest.raises(InputError, match="integrity_check"):
        ResultStore.open_existing(tmp_path, full_check=True)  # what `sweep status --check` does
