"""The room's API: ``imaclab.llm.run`` on LlmWorkloadJob, AmdahlJob and AmdahlCaseJob, the jobs' YAML round
trip, unique model names in a study, and the CLI's one-line errors."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import imaclab.llm
from imaclab.cli import main
from imaclab.errors import ConfigError
from imaclab.imac.tiles import TileSpec, characterize_tile
from imaclab.llm import (AmdahlCaseJob, AmdahlJob, LlmWorkloadJob, StudyConfig, StudyResult, WorkloadResult,
                         resolve_models, run, run_study)
from imaclab.llm.study import factor_column

ROOT = Path(__file__).resolve().parents[2]
LLAMA = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 256, "num_attention_heads": 4,
         "num_key_value_heads": 4, "intermediate_size": 512, "vocab_size": 1000, "max_position_embeddings": 2048,
         "hidden_act": "silu", "tie_word_embeddings": False}


def hf_folder(root: Path, *parts: str, **changes) -> Path:
    folder = root.joinpath(*parts)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({**LLAMA, **changes}))
    return folder / "config.json"


def test_workload_result_has_the_keys_the_cli_prints(capsys):
    job = LlmWorkloadJob(model="opt-1.3b", context=256, batch=2, array="32x32")
    result = run(job)
    assert isinstance(result, WorkloadResult) and imaclab.llm.run is run
    assert main(["llm", "workload", "--model", "opt-1.3b", "--context", "256", "--batch", "2", "--array", "32x32",
                 "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    # 22 keys before issue 15, + design, tokens_per_j, energy_j, energy_j_by_category, seconds_by_category,
    # design_detail
    assert list(printed) == list(result.to_dict()) and len(printed) == 28
    assert printed["cycles_total"] == result.cycles_total and printed["seconds"] == pytest.approx(result.seconds)
    assert result.metrics()["cycles_by_category.projection"] == result.cycles_by_category["projection"]
    table = result.tables()[0]
    assert [row[0] for row in table.rows] == ["projection", "attention", "head", "other", "total"]


def test_set_reaches_every_workload_field(capsys):
    base = ["llm", "workload", "--model", "opt-125m", "--phase", "prefill", "--context", "512", "--json"]
    assert main(base) == 0
    causal = json.loads(capsys.readouterr().out)
    assert main(base + ["--set", "workload.causal_block_tokens=512"]) == 0
    square = json.loads(capsys.readouterr().out)
    assert square["workload"]["causal_block_tokens"] == 512
    assert square["macs_by_category"]["attention"] > causal["macs_by_category"]["attention"]
    assert main(base + ["--set", "ops_per_lane_per_cycle=4"]) == 0
    fast = json.loads(capsys.readouterr().out)
    assert fast["cycles_by_category"]["other"] < causal["cycles_by_category"]["other"]


def test_study_job_equals_the_study_and_writes_the_amdahl_files(tmp_path):
    job = AmdahlJob(models=["opt-125m", "opt-350m"], contexts=[128, 512], hardware=["edge"], phases=["decode"],
                    factors=[2, 8], heatmaps=["systolic", "memory"], tile={"size": 16})
    result = run(job, out_dir=tmp_path)
    assert isinstance(result, StudyResult)
    direct = run_study(config=StudyConfig.from_dict({k: v for k, v in job.to_dict().items() if k != "heatmaps"}))
    assert result.rows == direct.rows
    for name in ("amdahl.csv", "study.json", "config.yaml", "summary.json", "f_heatmap_systolic.png",
                 "f_heatmap_memory.png", "speedup_curves.png", "cost_by_category.png"):
        assert (tmp_path / name).is_file(), name
    assert AmdahlJob.load(tmp_path / "config.yaml") == job
    assert json.loads((tmp_path / "summary.json").read_text())["cases"] == 4
    assert any("with files and plots" in line for line in result.notes())


def test_one_case_metrics_are_the_sweep_adapters():
    case = AmdahlCaseJob(model="llama-2-7b", phase="prefill", context=256, s=16, tile={"size": 16})
    metrics = run(case).metrics()
    row = run_study(config=StudyConfig(models=["llama-2-7b"], contexts=[256], hardware=["edge"],
                                       phases=["prefill"], factors=[16], tile={"size": 16})).rows[0]
    assert metrics["f"] == row["f_systolic"] and metrics["ceiling"] == row["ceiling_systolic"]
    assert metrics["speedup"] == row[factor_column(16)]
    assert metrics["speedup"] == pytest.approx(1 / ((1 - metrics["f"]) + metrics["f"] / 16), rel=1e-12)
    assert {"model", "phase", "context", "cycles_total", "f_memory", "speedup_hybrid_pim"} <= set(metrics)
    # an AmdahlJob with one case gives the same metrics
    assert run(case.study()).metrics() == metrics
    with pytest.raises(ConfigError, match="was not run: context above max context"):
        run(AmdahlCaseJob(model="gpt2-medium", context=4096, tile={"size": 16}))


@pytest.mark.parametrize("job", [
    LlmWorkloadJob(model="opt-350m", phase="prefill", context=64, vector_lanes=8, workload={"prefill_logits": "all"}),
    AmdahlJob(models=["opt-125m"], contexts=[64, 32], heatmaps=["roofline"], vector_unit={"lanes": 4}),
    AmdahlCaseJob(model="opt-125m", s=3.5, crossbar={"rows": 64}),
])
def test_jobs_round_trip_through_yaml(tmp_path, job):
    assert type(job).from_yaml(job.to_yaml()) == job
    assert type(job).load(job.save(tmp_path / "job.yaml")) == job


def test_models_from_folders_of_the_same_name_get_unique_names(tmp_path):
    a = hf_folder(tmp_path, "a", "llama")
    b = hf_folder(tmp_path, "b", "llama", num_hidden_layers=4)
    specs = resolve_models([str(a), str(b)])
    assert [s.name for s in specs] == ["a/llama", "b/llama"]
    assert [s.num_layers for s in specs] == [2, 4]
    named = resolve_models([f"small={a}", f"big={b.parent}", "opt-125m"])
    assert [s.name for s in named] == ["small", "big", "opt-125m"]
    study = run(AmdahlJob(models=[str(a), str(b)], contexts=[128], hardware=["edge"], phases=["decode"],
                          tile={"size": 16}))
    assert {r["model"] for r in study.rows} == {"a/llama", "b/llama"}
    for duplicate in ([f"x={a}", f"x={b}"], ["opt-125m", "OPT-125M"], [str(a), str(a)]):
        with pytest.raises(ConfigError, match="appears .* in the study") as err:
            resolve_models(duplicate)
        assert "\n" not in str(err.value)


def test_cli_amdahl_takes_named_models_and_refuses_duplicates(tmp_path, capsys):
    a = hf_folder(tmp_path, "a", "llama")
    b = hf_folder(tmp_path, "b", "llama")
    out = tmp_path / "out"
    assert main(["llm", "amdahl", "--models", f"{a},{b}", "--contexts", "128", "--hardware", "edge",
                 "--s", "4", "--set", "tile.size=16", "-o", str(out)]) == 0
    capsys.readouterr()
    assert (out / "f_heatmap_systolic.png").is_file()
    assert main(["llm", "amdahl", "--models", f"m={a},m={b}", "--contexts", "128", "--hardware", "edge",
                 "-o", str(tmp_path / "dup")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("imaclab: error: model name 'm' appears 2 times") and "\n" not in err


def test_cli_bad_inputs_give_one_line_and_exit_2(tmp_path, capsys):
    existing = tmp_path / "file.txt"
    existing.write_text("x")
    small = ["--models", "opt-125m", "--contexts", "128", "--hardware", "edge"]
    cases = {
        "malformed --set": (["llm", "workload", "--model", "opt-125m", "--set", "context"], "--set"),
        "unknown --set field": (["llm", "amdahl", *small, "--set", "crossbar.row=4", "-o", str(tmp_path / "a")],
                                "row"),
        "unknown model": (["llm", "amdahl", "--models", "opt-126m", "-o", str(tmp_path / "b")], "opt-125m"),
        "missing config.json": (["llm", "workload", "--model", str(tmp_path / "none" / "config.json")],
                                "not found"),
        "missing -c": (["llm", "study", "-c", str(tmp_path / "none.yaml"), "-o", str(tmp_path / "c")], "not found"),
        "-o names a file": (["llm", "amdahl", *small, "-o", str(existing)], "not a folder"),
        "vector lanes 0": (["llm", "workload", "--model", "opt-125m", "--vector-lanes", "0"], "vector_lanes"),
        "vector lanes 0 (amdahl)": (["llm", "amdahl", *small, "--vector-lanes", "0", "-o", str(tmp_path / "d")],
                                    "lanes"),
        "bad contexts": (["llm", "amdahl", "--contexts", "12x", "-o", str(tmp_path / "e")], "12x"),
    }
    for label, (argv, needle) in cases.items():
        assert main(argv) == 2, label
        err = capsys.readouterr().err.strip()
        assert err.startswith("imaclab: error:") and needle in err and "\n" not in err, (label, err)
    assert existing.read_text() == "x"


def test_cli_config_and_set_reach_the_study(tmp_path, capsys):
    job = AmdahlJob(models=["opt-125m"], contexts=[128], hardware=["edge"], phases=["decode"], factors=[4])
    path = job.save(tmp_path / "job.yaml")
    out = tmp_path / "out"
    assert main(["llm", "study", "-c", str(path), "--set", "crossbar.rows=16", "-o", str(out)]) == 0
    assert "1 cases" in capsys.readouterr().out
    assert AmdahlJob.load(out / "config.yaml").crossbar.rows == 16
    # one size given: a square crossbar, its latency from the 16x16 tile
    row = next(csv.DictReader(io.StringIO((out / "amdahl.csv").read_text())))
    assert float(row["crossbar_latency_s_hybrid_pim"]) == pytest.approx(characterize_tile(
        TileSpec(size=16, input_driver="binary")).latency_s, rel=1e-6)


def test_example_runs(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "llm_api.py"), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    f = run(AmdahlCaseJob(model="opt-1.3b", phase="decode", context=512, s=8, tile={"size": 16})).metrics()["f"]
    assert f"case: f={f:.4f}" in done.stdout
    assert (tmp_path / "amdahl.csv").is_file() and "study: 4 cases" in done.stdout


def test_cli_workload_writes_a_run_folder(tmp_path, capsys):
    out = tmp_path / "w"
    assert main(["llm", "workload", "--model", "opt-125m", "--context", "128", "-o", str(out)]) == 0
    assert "projection" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kind"] == "llm.workload" and set(summary) - {"kind"} == set(WorkloadResult.KEYS)
    assert LlmWorkloadJob.load(out / "config.yaml") == LlmWorkloadJob(model="opt-125m", context=128)
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    assert main(["llm", "workload", "--model", "opt-125m", "-o", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("imaclab: error:") and "\n" not in err
