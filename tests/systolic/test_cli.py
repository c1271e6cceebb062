"""`imaclab tpu simulate` and `imaclab tpu presets` through imaclab.cli.main."""

from __future__ import annotations

import json

import pytest

from imaclab.cli import main
from imaclab.systolic import GemmLayer, SystolicConfig, save_topology, simulate_topology
from imaclab.systolic.report import BANDWIDTH_HEADER, COMPUTE_HEADER, DETAIL_HEADER, read_scalesim_csv


@pytest.fixture()
def gemm_csv(tmp_path):
    return save_topology([GemmLayer(name="q", m=1, n=64, k=64), GemmLayer(name="mlp", m=16, n=100, k=40)],
                         tmp_path / "g.csv")


def test_simulate_writes_scalesim_reports(tmp_path, gemm_csv, capsys):
    out = tmp_path / "out"
    assert main(["tpu", "simulate", "-c", "edge-32x32", "-t", str(gemm_csv), "--gemm", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mlp" in printed and "total" in printed
    for name, header in (("COMPUTE_REPORT.csv", COMPUTE_HEADER), ("BANDWIDTH_REPORT.csv", BANDWIDTH_HEADER),
                         ("DETAILED_ACCESS_REPORT.csv", DETAIL_HEADER)):
        assert (out / name).read_text().splitlines()[0] == ", ".join(header) + ","
    expected = simulate_topology(SystolicConfig.preset("edge-32x32"),
                                 [GemmLayer(name="q", m=1, n=64, k=64), GemmLayer(name="mlp", m=16, n=100, k=40)])
    rows = read_scalesim_csv(out / "COMPUTE_REPORT.csv")
    assert [int(r["Total Cycles"]) for r in rows] == [r.total_cycles for r in expected]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["totals"]["layers"] == 2 and summary["config"]["array_rows"] == 32
    assert SystolicConfig.from_scalesim_cfg(out / "config.cfg") == SystolicConfig.preset("edge-32x32")


def test_simulate_accepts_cfg_file_and_dataflow_override(tmp_path, gemm_csv):
    cfg = SystolicConfig(array_rows=4, array_cols=4, dataflow="os").to_scalesim_cfg(tmp_path / "a.cfg")
    out = tmp_path / "o"
    assert main(["tpu", "simulate", "-c", str(cfg), "-t", str(gemm_csv), "--gemm", "-o", str(out),
                 "--dataflow", "is"]) == 0
    assert json.loads((out / "summary.json").read_text())["config"]["dataflow"] == "is"


def test_malformed_inputs_give_one_line_errors(tmp_path, gemm_csv, capsys):
    bad_cfg = tmp_path / "bad.cfg"
    bad_cfg.write_text(SystolicConfig.preset("edge-32x32").to_scalesim_text().replace("Dataflow : os", "Dataflow : xx"))
    assert main(["tpu", "simulate", "-c", str(bad_cfg), "-t", str(gemm_csv), "--gemm", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"imaclab: error: {bad_cfg}:") and "Dataflow 'xx'" in err and "\n" not in err
    # a GEMM topology read as a convolution topology
    assert main(["tpu", "simulate", "-c", "edge-32x32", "-t", str(gemm_csv), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{gemm_csv}:2:" in err and "--gemm" in err
    assert main(["tpu", "simulate", "-c", "edge-33x33", "-t", str(gemm_csv), "--gemm"]) == 2
    assert "edge-32x32" in capsys.readouterr().err


def test_presets_lists_shipped_presets(capsys):
    assert main(["tpu", "presets", "--json"]) == 0
    names = [row["name"] for row in json.loads(capsys.readouterr().out)]
    assert {"edge-32x32", "cloud-128x128", "cloud-256x256"} <= set(names)
    assert main(["tpu", "presets"]) == 0
    assert "cloud-256x256" in capsys.readouterr().out
