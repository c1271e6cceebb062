"""The room's API: ``imaclab.systolic.run(TpuJob(...))``, its result and files, the job's YAML round trip,
topologies with and without a header line, the work estimate, and the CLI's one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import imaclab.systolic
from imaclab.cli import main
from imaclab.errors import ConfigError
from imaclab.systolic import (ConvLayer, GemmLayer, SystolicConfig, TpuJob, TpuResult, load_topology, run,
                              save_topology, simulate_topology, summarize)
from imaclab.systolic.energy import energy_totals
from imaclab.systolic.model import check_work, estimate_work
from imaclab.systolic.report import read_scalesim_csv
from imaclab.systolic.topology import detect_gemm

ROOT = Path(__file__).resolve().parents[2]
LAYERS = [GemmLayer(name="q", m=1, n=64, k=64), GemmLayer(name="mlp", m=16, n=100, k=40)]
CONV = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n" \
       "conv1, 12, 12, 3, 3, 3, 8, 1,\nconv2, 10, 10, 3, 3, 8, 16, 2,\n"


@pytest.fixture()
def gemm_csv(tmp_path):
    return save_topology(LAYERS, tmp_path / "g.csv")


def test_run_is_the_function_and_equals_the_model_and_the_cli(tmp_path, gemm_csv, capsys):
    assert callable(imaclab.systolic.run) and imaclab.systolic.run is run
    job = TpuJob(systolic="edge-32x32", topology=str(gemm_csv))
    result = run(job)
    assert isinstance(result, TpuResult) and result.gemm is True      # detected from the header
    expected = simulate_topology(SystolicConfig.preset("edge-32x32"), LAYERS)
    assert result.reports == expected
    totals = summarize(expected)
    assert {k: result.metrics()[k] for k in totals} == pytest.approx(totals)
    # the rest of the metrics are the energy totals (issue 15), nothing else
    assert set(result.metrics()) == set(totals) | set(energy_totals(result.energies or []))
    # the CLI writes the same numbers
    out = tmp_path / "cli"
    assert main(["tpu", "simulate", "-c", "edge-32x32", "-t", str(gemm_csv), "--gemm", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"{expected[1].total_cycles:,}" in printed
    rows = read_scalesim_csv(out / "COMPUTE_REPORT.csv")
    assert [int(r["Total Cycles"]) for r in rows] == [r.total_cycles for r in result.reports]
    table = result.tables()[0]
    assert table.rows[-1][0] == "total" and table.rows[-1][4] == f"{result.totals['total_cycles']:,}"


def test_run_writes_the_run_folder_and_replays_from_its_config(tmp_path, gemm_csv, capsys):
    out = tmp_path / "run"
    result = run(TpuJob(systolic="edge-32x32", topology=str(gemm_csv), dataflow="ws"), out_dir=out)
    for name in ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv", "config.cfg",
                 "config.yaml", "summary.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kind"] == "tpu.simulate" and summary["config"]["dataflow"] == "ws"
    assert summary["totals"] == pytest.approx(result.totals)
    assert SystolicConfig.from_scalesim_cfg(out / "config.cfg") == result.config
    # the run's config.yaml is the whole job: -c replays it
    replay = tmp_path / "replay"
    assert main(["tpu", "simulate", "-c", str(out / "config.yaml"), "-o", str(replay)]) == 0
    assert (replay / "COMPUTE_REPORT.csv").read_text() == (out / "COMPUTE_REPORT.csv").read_text()


def test_job_round_trips_through_yaml(tmp_path, gemm_csv):
    job = TpuJob(systolic="cloud-128x128", topology=str(gemm_csv), gemm=True, dataflow="is")
    assert job.systolic == SystolicConfig.preset("cloud-128x128")          # the preset expanded to its fields
    assert TpuJob.from_yaml(job.to_yaml()) == job
    assert TpuJob.load(job.save(tmp_path / "job.yaml")) == job
    assert job.with_set(["systolic.array_rows=8"]).systolic.array_rows == 8


def test_topology_with_and_without_a_header_line(tmp_path):
    with_header = tmp_path / "h.csv"
    with_header.write_text(CONV)
    without = tmp_path / "n.csv"
    without.write_text("".join(CONV.splitlines(keepends=True)[1:]))
    assert load_topology(without) == load_topology(with_header)
    assert [layer.name for layer in load_topology(without)] == ["conv1", "conv2"]
    gemm = tmp_path / "g.csv"
    gemm.write_text("q, 1, 64, 64,\nmlp, 16, 100, 40,\n")
    assert detect_gemm(gemm) and not detect_gemm(with_header) and not detect_gemm(without)
    assert load_topology(gemm, gemm=True) == LAYERS
    assert run(TpuJob(topology=str(gemm))).reports == simulate_topology(SystolicConfig(), LAYERS)


@pytest.mark.parametrize("cfg, layer", [
    (SystolicConfig(array_rows=10 ** 9, array_cols=10 ** 9), GemmLayer(m=10, n=10, k=10)),
    (SystolicConfig(dataflow="is"), GemmLayer(m=10, n=10 ** 9, k=10)),
    (SystolicConfig(), ConvLayer(name="c", ifmap_height=10 ** 5, ifmap_width=10 ** 4, filter_height=3,
                                 filter_width=3, channels=1, num_filters=8)),
])
def test_unbounded_work_is_refused_before_it_starts(cfg, layer):
    nbytes, seconds = estimate_work(cfg, layer)
    assert nbytes > 12 * 2 ** 30 or seconds > 3600
    with pytest.raises(ConfigError, match=r"GiB of memory .* estimated .*smaller") as err:
        check_work(cfg, [layer])
    assert "\n" not in str(err.value)
    # the small layers of the tests pass
    check_work(SystolicConfig(), LAYERS)


def test_cli_refuses_an_unbounded_array_with_one_line(tmp_path, gemm_csv, capsys):
    code = main(["tpu", "simulate", "-c", "edge-32x32", "-t", str(gemm_csv), "--gemm", "-o", str(tmp_path / "o"),
                 "--set", "systolic.array_rows=1000000000", "--set", "systolic.array_cols=1000000000"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("imaclab: error: layer 'q'") and "GiB" in err and "\n" not in err


def test_cli_bad_inputs_give_one_line_and_exit_2(tmp_path, gemm_csv, capsys):
    base = ["tpu", "simulate", "-c", "edge-32x32", "-t", str(gemm_csv), "--gemm"]
    cases = {
        "malformed --set": (base + ["-o", str(tmp_path / "a"), "--set", "systolic.array_rows"], "--set"),
        "unknown --set field": (base + ["-o", str(tmp_path / "b"), "--set", "systolic.rows=4"], "rows"),
        "unknown preset": (["tpu", "simulate", "-c", "edge-31x31", "-t", str(gemm_csv), "-o", str(tmp_path / "c")],
                           "edge-32x32"),
        "missing topology": (["tpu", "simulate", "-c", "edge-32x32", "-t", str(tmp_path / "none.csv"),
                              "-o", str(tmp_path / "d")], "not found"),
        "unknown topology name": (["tpu", "simulate", "-t", "resnet19", "-o", str(tmp_path / "e")], "resnet18"),
    }
    existing = tmp_path / "file.txt"
    existing.write_text("x")
    cases["-o names a file"] = (base + ["-o", str(existing)], "not a folder")
    for label, (argv, needle) in cases.items():
        assert main(argv) == 2, label
        err = capsys.readouterr().err.strip()
        assert err.startswith("imaclab: error:") and needle in err and "\n" not in err, (label, err)
    assert existing.read_text() == "x"


def test_cli_read_only_output_folder(read_only_dir, gemm_csv, capsys):
    assert main(["tpu", "simulate", "-c", "edge-32x32", "-t", str(gemm_csv), "--gemm", "-o", str(read_only_dir)]) == 2
    assert "not writable" in capsys.readouterr().err


def test_example_runs(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "systolic_api.py"), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    expected = run(TpuJob(systolic="edge-32x32", topology="gpt2_decoder_layer"))
    assert f"os: total_cycles={expected.totals['total_cycles']} " in done.stdout
    assert (tmp_path / "summary.json").is_file()


def test_preset_listing_is_a_result():
    from imaclab.systolic.api import preset_listing, preset_table

    listing = preset_listing()
    assert listing.rows == preset_table() and listing.to_dict() == {"presets": listing.rows}
    (table,) = listing.tables()
    assert table.columns[:3] == ("name", "array", "dataflow") and "DRAM words/cycle" in table.columns
    edge = next(row for row in table.rows if row[0] == "edge-32x32")
    assert edge[1] == "32x32"
