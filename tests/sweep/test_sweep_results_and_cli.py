"""Status, export (CSV/Parquet), plots, Pareto fronts and the `imaclab sweep` commands."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sweep_probe_target import PROBE

from imaclab.cli import main
from imaclab.errors import ConfigError
from imaclab.sweep import (
    ExecutorSettings,
    SweepSpec,
    export_results,
    pareto_front,
    plot_sweep,
    results_frame,
    run_sweep,
)
from imaclab.sweep.plots import choose_kind

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory):
    """A finished 4 x 3 x 10 probe sweep (one failure) in a sweep directory."""
    directory = tmp_path_factory.mktemp("grid")
    spec = SweepSpec.from_dict({"name": "grid", "target": PROBE, "axes": [
        {"field": "terms", "values": [1, 2, 4, 8]},
        {"field": "x", "values": [0.5, 1.0, 2.0]},
        {"field": "seed", "values": list(range(10))}],
        "derived": {"raise_error": "terms == 8 and x == 2.0 and seed == 0"}})
    run_sweep(spec=spec, directory=directory, executor=ExecutorSettings(workers=2))
    return directory


def test_results_frame_has_axes_metrics_and_run_columns(grid_sweep):
    frame = results_frame(grid_sweep)
    assert len(frame) == 120
    assert list(frame.columns[:6]) == ["index", "status", "terms", "x", "seed", "raise_error"]
    # the metric 'error' clashes with the run column 'error' and is renamed
    assert {"series", "metric.error", "draw", "error", "run_s", "key"} <= set(frame.columns)
    ok = frame[frame.status == "ok"]
    assert len(ok) == 119
    expected = ok.apply(lambda r: sum(r.x ** k / math.factorial(k) for k in range(int(r.terms))), axis=1)
    assert np.allclose(ok.series, expected)
    failed = frame[frame.status == "failed"].iloc[0]
    assert (failed.terms, failed.x, failed.seed, failed.error_type) == (8, 2.0, 0, "ValueError")


def test_export_csv_and_parquet_round_trip(grid_sweep, tmp_path):
    csv = export_results(directory=grid_sweep, format="csv", output=tmp_path / "r.csv")
    parquet = export_results(directory=grid_sweep, format="parquet", output=tmp_path / "r.parquet")
    from_csv, from_parquet = pd.read_csv(csv), pd.read_parquet(parquet)
    assert len(from_csv) == len(from_parquet) == 120
    assert np.allclose(from_csv["series"].dropna(), from_parquet["series"].dropna())
    assert list(from_csv.columns) == list(from_parquet.columns)
    full = export_results(directory=grid_sweep, format="csv", output=tmp_path / "full.csv", full_config=True)
    assert {"config.terms", "config.delay_s", "config.die_marker"} <= set(pd.read_csv(full).columns)
    with pytest.raises(ConfigError, match="unknown export format 'xlsx'"):
        export_results(directory=grid_sweep, format="xlsx")  # type: ignore[arg-type]


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"status": "ok", "accuracy": rng.uniform(0, 1, 300), "power": rng.uniform(1, 5, 300)})
    front = pareto_front(frame, [("accuracy", "max"), ("power", "min")])
    a, p = frame.accuracy.to_numpy(), frame.power.to_numpy()
    dominated = [bool(np.any((a >= a[i]) & (p <= p[i]) & ((a > a[i]) | (p < p[i])))) for i in range(len(a))]
    expected = frame[~np.array(dominated)].sort_values("accuracy", ascending=False)
    assert np.allclose(front.accuracy, expected.accuracy) and np.allclose(front.power, expected.power)
    assert np.all(np.diff(front.power) <= 0)  # less accuracy along the front costs less power


def test_plot_kinds_fit_the_data(grid_sweep, tmp_path):
    frame = results_frame(grid_sweep)
    assert choose_kind(frame, "terms", None) == "line"
    assert choose_kind(frame, "terms", "x") == "line"
    assert choose_kind(frame, "terms", "seed") == "heatmap"  # 10 hue levels > 8
    assert choose_kind(frame.assign(u=np.linspace(0, 1, len(frame))), "u", None) == "scatter"
    for kwargs, kind in (({"x": "terms", "y": "error", "hue": "x"}, "line"),
                         ({"x": "terms", "y": "series", "hue": "seed"}, "heatmap"),
                         ({"x": "draw", "y": "series", "kind": "scatter"}, "scatter"),
                         ({"pareto": "series:max,error:min"}, "pareto")):
        plot = plot_sweep(directory=grid_sweep, output=tmp_path / f"{kind}.png", **kwargs)
        assert plot.kind == kind and plot.failed == 1 and plot.points == 119
        assert (tmp_path / f"{kind}.png").read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(Exception, match="unknown metric 'seriez'"):
        plot_sweep(directory=grid_sweep, x="terms", y="seriez")


def test_log_scale_for_wide_or_geometric_axes():
    from imaclab.sweep.plots import _log_scale

    assert _log_scale(pd.Series([128, 256, 512, 1024, 2048] * 3))  # a logspace axis (integer-rounded)
    assert _log_scale(pd.Series([1e3, 5e4, 2e6]))  # spans more than 100x
    assert not _log_scale(pd.Series([1, 2, 3, 4, 5]))  # evenly spaced
    assert not _log_scale(pd.Series([0.0, 1.0, 10.0, 100.0]))  # not all positive
    assert not _log_scale(pd.Series(["os", "ws", "is"]))


def test_cli_run_status_export_plot(tmp_path, capsys):
    def printed() -> str:
        return " ".join(capsys.readouterr().out.split())

    spec = SweepSpec.from_dict({"name": "cli", "target": PROBE, "axes": [{"field": "terms", "values": [2, 3]},
                                                                        {"field": "x", "values": [0.5, 1.5]}]})
    path = spec.save(tmp_path / "cli.yaml")
    out = tmp_path / "out"
    assert main(["sweep", "run", str(path), "--dry-run"]) == 0
    assert "4 points" in printed()
    assert main(["sweep", "run", str(path), "-o", str(out), "-j", "2"]) == 0  # with the progress bar
    captured = capsys.readouterr()
    assert "cli: 4 ok, 0 failed, 0 already stored of 4 points" in " ".join(captured.out.split())
    assert "4/4" in captured.err and "0 failed" in captured.err and "ETA" in captured.err
    assert main(["sweep", "run", str(path), "-o", str(out), "--no-progress"]) == 0
    assert "0 ok, 0 failed, 4 already stored" in printed()
    assert main(["sweep", "status", str(out)]) == 0
    assert "4 ok, 0 failed, 0 pending of 4 planned" in printed()
    assert main(["sweep", "export", str(out), "--format", "parquet"]) == 0
    assert len(pd.read_parquet(out / "results.parquet")) == 4
    assert main(["sweep", "plot", str(out), "--x", "terms", "--y", "series", "--hue", "x"]) == 0
    assert (out / "plots" / "series_vs_terms_by_x.png").read_bytes()[:8] == PNG_MAGIC
    assert main(["sweep", "plot", str(out), "--pareto", "series:max,draw:min"]) == 0
    assert "Pareto front" in printed()


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = SweepSpec.from_dict({"target": PROBE, "axes": [{"field": "trems", "values": [1]}]}).save(tmp_path / "b.yaml")
    assert main(["sweep", "run", str(bad), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("imaclab: error: axis 'trems': no field 'trems'") and "\n" not in err
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "results.sqlite").write_text("not mine")
    assert main(["sweep", "status", str(tmp_path / "foreign")]) == 2
    assert "not an imaclab sweep store" in capsys.readouterr().err
    assert main(["sweep", "run", str(bad), "--scheduler", "tcp://127.0.0.1:1", "--dask-local", "2"]) == 2
    assert "either scheduler" in capsys.readouterr().err


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("imaclab: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_cli_bad_inputs_are_one_line_exit_2(tmp_path, capsys, read_only_dir):
    good = SweepSpec.from_dict({"name": "g", "target": PROBE, "axes": [{"field": "terms", "values": [2]}]})
    path = good.save(tmp_path / "good.yaml")
    existing = tmp_path / "a-file"
    existing.write_text("keep me")
    assert main(["sweep", "run", str(path), "-o", str(existing)]) == 2  # -o names a file
    assert "not a folder" in _one_line_error(capsys) and existing.read_text() == "keep me"
    assert main(["sweep", "run", str(path), "-o", str(read_only_dir / "sweep")]) == 2
    assert "sweep" in _one_line_error(capsys)
    binary = tmp_path / "spec.yaml.gz"
    binary.write_bytes(b"\x1f\x8b\x08\x00\xff\xfe\x00\x00binary")
    assert main(["sweep", "run", str(binary), "--dry-run"]) == 2
    assert "not a text file" in _one_line_error(capsys)
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"target: x\x00\x00")
    assert main(["sweep", "run", str(nul), "--dry-run"]) == 2
    assert "binary file" in _one_line_error(capsys)
    flat = tmp_path / "flat.yaml"
    flat.write_text("terms=3,x=0.5\n")  # --set-like text where a mapping belongs
    assert main(["sweep", "run", str(flat), "--dry-run"]) == 2
    assert "a sweep spec is a mapping" in _one_line_error(capsys)
    odd = tmp_path / "odd.yaml"
    odd.write_text(f"target: {PROBE}\naxes: [terms=1,2]\nexecution: {{timeout_s: soon}}\n")
    assert main(["sweep", "run", str(odd), "--dry-run"]) == 2
    assert "axes" in _one_line_error(capsys)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text(f"target: {PROBE}\naxes: [{{field: terms, values: [1, 2}}]\n")
    assert main(["sweep", "run", str(bad_yaml), "--dry-run"]) == 2
    assert "not valid YAML" in _one_line_error(capsys)
    assert main(["sweep", "run", str(tmp_path), "--dry-run"]) == 2
    assert "is a folder" in _one_line_error(capsys)
    assert main(["sweep", "run", str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in _one_line_error(capsys)
    for item, expected in (("nokey", "use dotted.path=value"), ("base.terms=[1", "not valid YAML"),
                           ("execution.timeout_s=-1", "timeout_s"), ("base.terms=0", "terms")):
        assert main(["sweep", "run", str(path), "--set", item, "-o", str(tmp_path / "o")]) == 2, item
        assert expected in _one_line_error(capsys), item
    assert not (tmp_path / "o" / "results.sqlite").exists()
    assert main(["sweep", "run", str(path), "--limit", "0", "-o", str(tmp_path / "o")]) == 2
    assert "limit must be at least 1" in _one_line_error(capsys)


def test_set_overrides_the_spec(tmp_path, capsys):
    spec = SweepSpec.from_dict({"name": "s", "target": PROBE, "axes": [{"field": "terms", "values": [2, 3]}]})
    path = spec.save(tmp_path / "s.yaml")
    out = tmp_path / "out"
    assert main(["sweep", "run", str(path), "-o", str(out), "-j", "1", "--no-progress", "--set", "base.x=2.0",
                 "--set", "name=renamed", "--set", "execution.timeout_s=30"]) == 0
    assert "renamed: 2 ok" in " ".join(capsys.readouterr().out.split())
    frame = results_frame(out)
    assert np.allclose(sorted(frame.series), [1 + 2.0, 1 + 2.0 + 2.0])  # exp(2) truncated to 2 and 3 terms
    copy = SweepSpec.load(out / "spec.yaml")  # the spec copy of the run, overrides applied
    assert copy.base == {"x": 2.0} and copy.execution.timeout_s == 30 and copy.name == "renamed"


def test_exports_and_plots_never_replace_devices_or_folders(grid_sweep, tmp_path, capsys):
    import os
    import stat

    for command in (["sweep", "export", str(grid_sweep), "-o", "/dev/full"],
                    ["sweep", "export", str(grid_sweep), "--format", "parquet", "-o", "/dev/full"],
                    ["sweep", "plot", str(grid_sweep), "--x", "terms", "--y", "series", "-o", "/dev/full"],
                    ["sweep", "export", str(grid_sweep), "-o", str(tmp_path)]):
        assert main(command) == 2, command
        assert "name a file to write" in _one_line_error(capsys)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    # an export replaces an earlier one whole (written beside it, then renamed)
    target = tmp_path / "r.csv"
    target.write_text("old")
    assert main(["sweep", "export", str(grid_sweep), "-o", str(target)]) == 0
    assert len(pd.read_csv(target)) == 120 and not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_report_draws_what_the_sweep_room_decides(grid_sweep, tmp_path):
    from imaclab.report.sweep_plots import draw_sweep_figure
    from imaclab.sweep import sweep_figure

    figure, name, failed = sweep_figure(directory=grid_sweep, x="terms", y="series", hue="seed")
    assert (figure.kind, figure.x, figure.y, figure.hue, name, failed) == ("heatmap", "terms", "series", "seed",
                                                                          "series_vs_terms_by_seed.png", 1)
    assert len(figure.data) == 119 and "1 failed points not drawn" in figure.title
    front, _, _ = sweep_figure(directory=grid_sweep, pareto="series:max,error:min")
    assert front.kind == "pareto" and front.front is not None and len(front.front) >= 1
    assert draw_sweep_figure(front, tmp_path / "f.png").read_bytes()[:8] == PNG_MAGIC


def test_progress_without_a_terminal_is_plain_lines(tmp_path):
    import os
    import re
    import subprocess
    import sys

    from sweep_probe_target import HERE

    spec = SweepSpec.from_dict({"name": "plain", "target": PROBE, "axes": [{"field": "terms",
                                                                           "values": list(range(1, 41))}]})
    path = spec.save(tmp_path / "plain.yaml")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "imaclab", "sweep", "run", str(path), "-o", str(tmp_path / "o"),
                           "-j", "1"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    counts = [int(m.group(1)) for m in (re.match(r"plain: (\d+)/40 points \(\d+%\), 0 failed, \d+ running, "
                                                 r".* elapsed, ETA ", line) for line in lines) if m]
    assert counts[-1] == 40 and counts == sorted(counts) and len(counts) == len(lines)
    assert 10 <= len(counts) <= 21  # every 5 % of 40 points: every 2 points (no escape codes, no bar)
    assert "\x1b" not in done.stderr


@pytest.fixture
def printed_tables(monkeypatch):
    """The tables the shared renderer prints (imaclab.cli.common.print_table), recorded as they go."""
    import imaclab.cli.common as common

    seen = []
    original = common.print_table

    def record(table, width=None):
        seen.append(table)
        original(table, width)

    monkeypatch.setattr(common, "print_table", record)
    return seen


def test_status_plot_and_dry_run_print_through_the_renderer(grid_sweep, tmp_path, capsys, printed_tables):
    from imaclab.sweep import sweep_status
    from imaclab.sweep.listings import plan_listing

    status = sweep_status(directory=grid_sweep)
    failures, runs = status.tables()
    assert failures.title == "failures" and failures.rows[0][:2] == ("ValueError", "1")
    assert runs.columns == ("run", "status", "executor", "workers", "to run", "ok", "failed", "version")
    assert runs.rows[0][1:2] == ("finished",) and runs.rows[0][5:7] == ("119", "1")
    assert status.notes()[0].endswith("119 ok, 1 failed, 0 pending of 120 planned")

    assert main(["sweep", "status", str(grid_sweep)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert [t.title for t in printed_tables] == ["failures", "runs"]
    assert "119 ok, 1 failed, 0 pending of 120 planned" in out and "ValueError" in out and "finished" in out

    printed_tables.clear()
    assert main(["sweep", "plot", str(grid_sweep), "--pareto", "series:max,draw:min", "-o",
                 str(tmp_path / "front.png")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    (front,) = printed_tables
    assert front.title.startswith("Pareto front: ") and front.columns[0] == "index"
    assert f"wrote {tmp_path / 'front.png'} (pareto, 119 points, 1 failed not drawn)" in out
    assert all(cell in out for cell in front.rows[0])

    spec = SweepSpec.from_dict({"name": "listed", "target": PROBE, "axes": [{"field": "terms", "values": [2, 3]},
                                                                           {"field": "x", "values": [0.5, 1.5]}]})
    listing = plan_listing(spec)
    assert (listing.count, listing.duplicates, listing.columns) == (4, 0, ["terms", "x"])
    (table,) = listing.tables()
    assert table.rows == (("0", "2", "0.5"), ("1", "2", "1.5"), ("2", "3", "0.5"), ("3", "3", "1.5"))
    printed_tables.clear()
    assert main(["sweep", "run", str(spec.save(tmp_path / "listed.yaml")), "--dry-run"]) == 0
    assert [t.title for t in printed_tables] == [f"listed: 4 points of {PROBE}"]
    assert "│ 3 │" in capsys.readouterr().out


def test_targets_print_through_the_renderer(capsys, printed_tables):
    from imaclab.sweep.listings import target_list

    listing = target_list()
    names = [row["name"] for row in listing.rows]
    assert {"imac", "tpu", "llm.workload", "train"} <= set(names)
    assert main(["sweep", "targets"]) == 0
    out = capsys.readouterr().out
    (table,) = printed_tables
    assert table.columns == ("target", "available", "config", "computes")
    assert [row[0] for row in table.rows] == names
    assert "TpuJob" in out and "LlmWorkloadJob" in out
    assert "…" not in out  # the table is printed wide enough for every cell
