"""Atomic result files (imaclab.files), the run marker of Result.save, and the one --set parser."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from imaclab.cli import main
from imaclab.config import ConfigModel, parse_set
from imaclab.errors import ConfigError, InputError, OutputError
from imaclab.files import check_writable_dir, write_json, write_npz, write_text
from imaclab.result import Result, Table, flat_scalars


def test_write_replaces_whole_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "summary.json"
    write_json(target, {"a": 1})
    write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_device_target_is_refused_and_left_alone():
    assert Path("/dev/null").exists()
    with pytest.raises(OutputError, match="not a regular file"):
        write_text("/dev/null", "x")
    assert Path("/dev/null").is_char_device()


def test_folder_target_is_refused(tmp_path):
    with pytest.raises(OutputError, match="is a folder"):
        write_text(tmp_path, "x")


def test_symlink_is_written_through(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_read_only_folder_refused_before_work(read_only_dir):
    with pytest.raises(OutputError, match="not writable"):
        check_writable_dir(read_only_dir)
    with pytest.raises(OutputError, match="cannot write"):
        write_text(read_only_dir / "summary.json", "{}")


def test_existing_file_as_output_folder_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        check_writable_dir(tmp_path / "f")


def test_full_disk_is_one_line_error():
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    # /dev/full itself is refused as a target; a file on a full disk is simulated by writing
    # through a handle that fails, which atomic_open turns into OutputError
    with pytest.raises(OutputError):
        write_text("/dev/full", "x")


def test_kill_during_write_keeps_previous_file(tmp_path):
    """SIGKILL a process mid-way through a large atomic write: the old file stays whole."""
    target = tmp_path / "samples.csv"
    write_text(target, "previous,result\n")
    script = textwrap.dedent(f"""
        import sys, time
        from imaclab.files import atomic_open
        with atomic_open({str(target)!r}) as handle:
            for i in range(10**9):
                handle.write("x" * 1000 + "\\n")
                if i == 2000:
                    print("writing", flush=True)
                    time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert target.read_text() == "previous,result\n"


def test_npz_round_trip(tmp_path):
    import numpy as np

    path = write_npz(tmp_path / "a.npz", x=np.arange(3))
    with np.load(path) as z:
        assert z["x"].tolist() == [0, 1, 2]


@dataclass
class _Probe(Result):
    kind = "test.probe"
    value: float = 1.5

    def to_dict(self):
        return {"value": self.value, "nested": {"n": 2, "list": [1, 2]}}

    def write_files(self, out_dir):
        return {"data": write_text(out_dir / "data.csv", "v\n1.5\n")}

    def tables(self):
        return [Table("probe", ("quantity", "value"), (("value", f"{self.value:g}"),))]


def test_result_save_writes_summary_last_and_removes_stale_marker(tmp_path):
    (tmp_path / "summary.json").write_text('{"value": 0}')
    files = _Probe().save(tmp_path)
    assert list(files)[-1] == "summary"
    assert json.loads((tmp_path / "summary.json").read_text()) == {"kind": "test.probe", "value": 1.5,
                                                                    "nested": {"n": 2, "list": [1, 2]}}
    assert _Probe().metrics() == {"value": 1.5, "nested.n": 2}
    assert flat_scalars({"a": {"b": True, "c": "s"}}) == {"a.b": True, "a.c": "s"}


def test_parse_set_values_and_errors():
    assert parse_set(["a.b=[1, 2]", "c=on", "d=5k", "e="]) == {"a.b": [1, 2], "c": True, "d": "5k", "e": None}
    for bad in ("circuit.crossbar.rows=[1", "novalue", "=3"):
        with pytest.raises(ConfigError) as info:
            parse_set([bad])
        assert "\n" not in str(info.value) and "--set" in str(info.value)


class _Small(ConfigModel):
    rows: int = 32


def test_binary_config_file_is_one_line_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(InputError, match="not a text file"):
        _Small.load(path)
    assert _Small().with_set(["rows=64"]).rows == 64


def test_cli_errors_are_one_line_exit_2(capsys, tmp_path):
    code = main(["imac", "run", "--model", str(tmp_path / "missing.npz"), "--set", "circuit.crossbar.rows=[1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("imaclab: error:")


class _Devices(ConfigModel):
    r_low_ohm: float = 5e3
    retention_tau_s: float | None = None


class _Job(ConfigModel):
    name: str = "x"
    devices: _Devices = _Devices()


def test_build_job_order_and_none(tmp_path):
    """The CLI's one job builder: -c file, then a preset (None resets), then given options (None = not given), --set."""
    from imaclab.cli.common import build_job

    path = _Job(name="file", devices=_Devices(retention_tau_s=7.0)).save(tmp_path / "job.yaml")
    job = build_job(_Job, path, {"name": None, "devices.r_low_ohm": 4e3}, ["name=set"],
                    preset={"devices.retention_tau_s": None, "devices.r_low_ohm": 1e3})
    assert job == _Job(name="set", devices=_Devices(r_low_ohm=4e3, retention_tau_s=None))
    assert build_job(_Job, None, {"name": tmp_path}, None).name == str(tmp_path)
    assert build_job(_Job, None, {}, None, default=_Job(name="d")).name == "d"
