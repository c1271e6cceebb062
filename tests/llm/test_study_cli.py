"""The study, its files and plots, and the `imaclab llm` commands."""

import csv
import json

import pytest

from imaclab.cli import main
from imaclab.llm.amdahl import amdahl_ceiling, amdahl_speedup
from imaclab.llm.catalog import get_model
from imaclab.llm.costs import systolic_cost
from imaclab.llm.hardware import resolve_systolic
from imaclab.llm.study import StudyConfig, factor_column, run_study
from imaclab.llm.workload import WorkloadConfig, build_workload
from imaclab.report.llm_plots import write_study_report


@pytest.fixture(scope="module")
def small_study():
    cfg = StudyConfig(models=["gpt2-medium", "llama-2-70b"], contexts=[128, 2048], hardware=["edge", "cloud"],
                      factors=[2, 10], tile={"size": 16})
    return run_study(config=cfg)


def test_study_rows_match_direct_costs(small_study):
    # gpt2-medium cannot run 2048 tokens: skipped, both phases
    assert {(s["model"], s["context"]) for s in small_study.skipped} == {("gpt2-medium", 2048)}
    assert len(small_study.rows) == 3 * 2 * 2  # (model, context) x phases x hardware
    row = next(r for r in small_study.rows if r["model"] == "llama-2-70b" and r["phase"] == "decode"
               and r["context"] == 2048 and r["hardware"] == "cloud-128x128")
    cfg = resolve_systolic("cloud")
    cost = systolic_cost(build_workload(get_model("llama-2-70b"), WorkloadConfig(phase="decode",
                                                                                 context_tokens=2048)), cfg)
    f = cost.fraction(["projection"])
    assert row["cycles_total"] == pytest.approx(cost.total)
    assert row["f_systolic"] == pytest.approx(f)
    assert row["ceiling_systolic"] == pytest.approx(amdahl_ceiling(f))
    assert row[factor_column(10)] == pytest.approx(amdahl_speedup(f, 10))
    assert row["tokens_per_s_systolic"] == pytest.approx(cfg.clock_hz / cost.total)
    assert 0 < row["f_memory"] < 1 and row["speedup_memory"] > 1
    assert row["s_bit_serial"] == pytest.approx(4.0)


def test_study_general_form_columns():
    cfg = StudyConfig(models=["opt-125m"], contexts=[512], hardware=["edge"], phases=["prefill"], factors=[4],
                      attention_factor=2.0, tile={"size": 16})
    row = run_study(config=cfg).rows[0]
    shares = {c: row[f"cycles_{c}"] / row["cycles_total"] for c in ("projection", "attention", "head", "other")}
    expected = 1 / (shares["head"] + shares["other"] + shares["projection"] / 4 + shares["attention"] / 2)
    assert row["speedup_general_s4"] == pytest.approx(expected)
    assert row["ceiling_general"] == pytest.approx(1 / (shares["head"] + shares["other"] + shares["attention"] / 2))


def test_configs_round_trip(tmp_path):
    from imaclab.llm.improve import ComputeImprovementConfig, PimCrossbarConfig
    from imaclab.llm.roofline import RooflineHardware

    configs = [StudyConfig(models=["opt-125m"], contexts=[64, 32], crossbar=PimCrossbarConfig(rows=64)),
               PimCrossbarConfig(crossbars_available=10), ComputeImprovementConfig(pe_kind="multiplier_free",
                                                                                pe_area_ratio=9),
               RooflineHardware.preset("edge-npu")]
    for i, cfg in enumerate(configs):
        for suffix in (".yaml", ".json"):
            assert type(cfg).load(cfg.save(tmp_path / f"c{i}{suffix}")) == cfg


def test_study_files_and_plots(small_study, tmp_path):
    files = write_study_report(small_study, out_dir=tmp_path)
    with open(files["csv"]) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(small_study.rows)
    assert {"model", "phase", "context", "hardware", "f_systolic", "ceiling_systolic", "speedup_s2",
            "f_memory", "speedup_memory", "speedup_hybrid_pim"} <= set(rows[0])
    summary = json.loads(files["json"].read_text())
    assert summary["cases"] == len(small_study.rows) and summary["skipped"]
    for key in ("f_heatmap", "speedup_curves", "cost_by_category"):
        assert files[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_models_and_errors(capsys):
    assert main(["llm", "models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) >= 16 and listed[0]["name"] == "gpt2-medium"
    assert main(["llm", "workload", "--model", "llama-2-71b", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imaclab: error: unknown model 'llama-2-71b'") and "llama-2-70b" in err


def test_cli_workload_json(capsys):
    code = main(["llm", "workload", "--model", "OPT-1.3B", "--phase", "decode", "--context", "256", "--batch", "2",
                 "--array", "32x32", "--dataflow", "os", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("cycles_by_category", "cycles_per_layer_by_category", "bytes_by_category"):
        assert set(report[key]) == {"projection", "attention", "head", "other"}
    assert report["layers"] == 24 and report["batch"] == 2 and report["context"] == 256
    assert report["hardware"]["array_rows"] == 32 and report["hardware"]["dataflow"] == "os"
    per_layer, totals = report["cycles_per_layer_by_category"], report["cycles_by_category"]
    assert totals["projection"] == pytest.approx(24 * per_layer["projection"])
    assert totals["head"] == report["cycles_outside_layers_by_category"]["head"] > 0
    assert main(["llm", "workload", "--model", "opt-1.3b", "--context", "256"]) == 0
    assert "projection" in capsys.readouterr().out


def test_cli_amdahl_writes_outputs(tmp_path, capsys):
    out = tmp_path / "amdahl"
    code = main(["llm", "amdahl", "--models", "opt-350m,bitnet-b1.58-2b-4t", "--contexts", "128,512",
                 "--hardware", "edge", "--phase", "both", "--s", "2,4", "--set", "tile.size=16", "-o", str(out)])
    assert code == 0
    assert (out / "amdahl.csv").is_file()
    for name in ("f_heatmap_systolic.png", "speedup_curves.png", "cost_by_category.png"):
        assert (out / name).stat().st_size > 10_000
    assert "with files and plots" in capsys.readouterr().out


def test_cli_published(capsys):
    assert main(["llm", "published", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert any(r["metric"] == "projection_storage_gb" and r["predicted"] == pytest.approx(0.41, abs=0.01)
               for r in rows)
    assert all(r["predicted"] > 0 for r in rows)


def test_published_and_catalog_listings_are_results():
    from imaclab.llm.api import catalog_listing, catalog_table
    from imaclab.llm.published import published_comparison, published_table

    published = published_table()
    assert published.rows == published_comparison() and published.to_dict() == {"rows": published.rows}
    (table,) = published.tables()
    assert table.columns == ("source", "hardware", "measured", "metric", "published", "predicted", "shape used")
    storage = next(row for row in table.rows if row[3] == "projection_storage_gb")
    assert storage[4:] == ("0.4", "0.41", "bitnet-b1.58-2b-4t fp16->w1.58a8")
    catalog = catalog_listing()
    assert catalog.rows == catalog_table()
    (table,) = catalog.tables()
    assert table.rows[0][0] == "gpt2-medium" and len(table.rows) == len(catalog.rows)
