"""Status, export (CSV/Parquet), plots, Pareto fronts and the `imaclab sweep` commands."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sweep_probe_target import PROBE
from imaclab.cli import main
from imaclab.errors import ConfigError
from imaclab.sweep import (ExecutorSettings, SweepSpec, export_results, pareto_front, plot_sweep, results_frame,
                           run_sweep)
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
