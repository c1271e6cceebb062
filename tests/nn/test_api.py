"""The train room's API shape: TrainJob -> run(job, out_dir=...) -> TrainResult; load_result; CLI errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imaclab.cli import main
from imaclab.errors import ConfigError, InputError
from imaclab.nn.api import METRIC_KEYS, TrainJob, TrainResult, load_result, run
from imaclab.result import Result

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(model="mlp-64-32-10", data="digits", epochs=1, batch_size=32, lr=0.03, threads=1)
CLI_TINY = ["--model", "mlp-64-32-10", "--data", "digits", "--epochs", "1", "--threads", "1", "--lr", "0.03"]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_run_returns_the_result_of_the_run_folder(tmp_path):
    job = TrainJob(**TINY, noise={"eval_trials": 2})
    result = run(job, out_dir=tmp_path / "run")
    assert isinstance(result, TrainResult) and isinstance(result, Result) and result.complete
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert result.test_accuracy == report["test_accuracy"] and 0.5 < result.test_accuracy <= 1
    assert result.to_dict() == report and result.model is not None
    assert result.job == job.resolved()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["kind"] == "train.run" and summary["test_accuracy"] == report["test_accuracy"]
    # the sweep's columns (the train adapter's keys)
    metrics = result.metrics()
    for key in ("test_accuracy", "best_test_accuracy", "epochs_completed", "parameters", "seconds_per_epoch",
                "train_seconds_this_call", "device_noise.trials", "device_noise.mean_accuracy"):
        assert key in metrics, key
    # only with a baseline / with circuit-in-the-loop training
    assert set(METRIC_KEYS) - set(metrics) == {"accuracy_drop_points", "circuit_test_accuracy", "ideal_test_accuracy"}
    assert metrics["device_noise.mean_accuracy"] == report["device_noise_eval"]["mean_accuracy"]
    (table,) = result.tables()
    rows = dict(table.rows)
    assert rows["test accuracy"] == f"{100 * report['test_accuracy']:.2f} %" and rows["epochs"] == "1/1"
    assert any(note.startswith("export: imac: ") for note in result.notes())
    # read back from the folder: the same figures, no model
    loaded = load_result(tmp_path / "run")
    assert loaded.to_dict() == report and loaded.metrics() == metrics and loaded.model is None
    assert loaded.job == result.job and loaded.tables() == result.tables()
    # resume is the default: the same job again trains nothing more; resume=False starts over
    again = run(job, out_dir=tmp_path / "run")
    assert again.report["history"] == report["history"]
    fresh = run(job, out_dir=tmp_path / "run", resume=False)
    assert fresh.test_accuracy == result.test_accuracy


def test_baseline_metrics(tmp_path):
    result = run(TrainJob(**TINY, baseline=True), out_dir=tmp_path / "b")
    metrics = result.metrics()
    assert metrics["baseline_test_accuracy"] == result.report["baseline"]["test_accuracy"]
    assert metrics["accuracy_drop_points"] == pytest.approx(
        100 * (metrics["baseline_test_accuracy"] - metrics["test_accuracy"]))
    assert dict(result.tables()[0].rows)["FP32 baseline"].endswith("%")


def test_job_yaml_round_trip_and_overrides(tmp_path):
    job = TrainJob(model="mlp", data="digits", hidden="120,84", policy="tpu-imac-ternary", noise={"train": True})
    assert job.hidden == [120, 84]
    assert TrainJob.load(job.save(tmp_path / "job.yaml")) == job
    assert TrainJob.from_yaml(job.to_yaml()) == job
    resolved = job.resolved()
    assert TrainJob.load(resolved.save(tmp_path / "resolved.yaml")) == resolved
    # a dotted path into a preset expands it first (the sweep's and --set's policy.* fields)
    binary = TrainJob().with_set(["policy.imac.input_mode=binary", "epochs=3", "hidden=16"])
    assert binary.precision_policy.imac.inputs.mode == "binary" and binary.epochs == 3 and binary.hidden == [16]
    assert TrainJob().with_overrides({"policy": "tpu-int8"}).policy == "tpu-int8"
    with pytest.raises(ConfigError, match="hidden"):
        TrainJob.from_dict({"hidden": "16,abc"})
    with pytest.raises(ConfigError, match="hidden.0"):
        TrainJob().with_overrides({"hidden": [0]})
    with pytest.raises(ConfigError, match="at least one unit"):
        TrainJob.from_dict({"model": "mlp-64-0-10"})


@pytest.mark.parametrize("args, message", [
    (["--hidden", "16,abc"], "comma-separated list of layer sizes"),
    (["--hidden", "0"], "hidden.0"),
    (["--model", "mlp-64-0-10"], "at least one unit"),
    (["--set", "epochs=[1"], "--set 'epochs=[1'"),
    (["--set", "nosuchfield=1"], "no field 'nosuchfield'"),
    (["--model", "lenet9"], "unknown model 'lenet9'"),
    (["--policy", "no-such-policy"], "no-such-policy"),
    (["-c", "missing.yaml"], "config file not found"),
])
def test_cli_user_errors_are_one_line_and_exit_2(tmp_path, capsys, args, message):
    if "-c" in args:
        args = ["-c", str(tmp_path / "missing.yaml")]
    out = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--data", "digits", *args, "-o", str(out)]) == 2
    assert message in _one_error_line(capsys)
    assert not out.exists()  # refused before any work


def test_cli_output_folder_checked_before_work(tmp_path, capsys, read_only_dir):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["train", *CLI_TINY, "-o", str(afile)]) == 2
    assert "not a folder" in _one_error_line(capsys)
    assert main(["train", *CLI_TINY, "-o", str(afile / "sub")]) == 2
    assert "not writable" in _one_error_line(capsys)
    assert main(["train", *CLI_TINY, "-o", str(read_only_dir)]) == 2
    assert "not writable" in _one_error_line(capsys)


def test_show_an_incomplete_run_says_how_to_resume(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", *CLI_TINY, "--epochs", "2", "-o", str(run_dir)]) == 0
    capsys.readouterr()
    # killed: a checkpoint and a config, no report (the kill came before the report was written)
    (run_dir / "report.json").unlink()
    assert main(["train", "show", str(run_dir)]) == 2
    err = _one_error_line(capsys)
    assert "incomplete" in err and f"imaclab train -c {run_dir / 'config.yaml'} -o {run_dir}" in err
    # interrupted (Ctrl-C): a partial report, shown with the resume command
    partial = {**json.loads((run_dir / "summary.json").read_text()), "status": "interrupted"}
    partial.pop("kind")
    (run_dir / "report.json").write_text(json.dumps(partial))
    assert main(["train", "show", str(run_dir)]) == 0
    assert "incomplete" in capsys.readouterr().out
    # the printed command resumes it
    assert main(["train", "-c", str(run_dir / "config.yaml"), "-o", str(run_dir)]) == 0
    assert load_result(run_dir).complete
    with pytest.raises(InputError, match="no training run here"):
        load_result(tmp_path)
    with pytest.raises(InputError, match="not found"):
        load_result(tmp_path / "nope")


def test_progress_without_a_terminal_prints_plain_lines(tmp_path, capsys):
    from rich.console import Console

    from imaclab.nn.progress import RichProgress

    assert main(["train", *CLI_TINY, "--epochs", "2", "-o", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "train epoch 1/2: loss" in err and "train epoch 2/2: loss" in err
    buffer = io.StringIO()
    observer = RichProgress(Console(file=buffer, force_terminal=False), interval_s=0.0)
    run(TrainJob(**TINY), out_dir=tmp_path / "obs", observer=observer)
    lines = buffer.getvalue().splitlines()
    assert any("batch 1/" in line for line in lines) and lines[-2].startswith("train epoch 1/1: loss")


def test_import_is_lazy_and_the_api_is_reexported():
    code = ("import sys, imaclab.nn as nn; assert 'torch' not in sys.modules; "
            "assert nn.run.__module__ == 'imaclab.nn.api'; "
            "assert {nn.TrainJob.__name__, nn.TrainResult.__name__, nn.load_result.__name__} == "
            "{'TrainJob', 'TrainResult', 'load_result'}")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})


def test_example_nn_api(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "nn_api.py"), str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300, env={**os.environ})
    assert proc.returncode == 0, proc.stderr
    printed = float(proc.stdout.split("test accuracy")[-1])
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert printed == pytest.approx(report["test_accuracy"], abs=5e-5) and printed > 0.7


def test_zoo_and_policies_are_results():
    from imaclab.nn.api import Catalogue, model_zoo, policy_presets
    from imaclab.nn.policy import POLICIES
    from imaclab.nn.zoo import MODELS

    zoo, policies = model_zoo(), policy_presets()
    assert isinstance(zoo, Catalogue) and isinstance(zoo, Result)
    (table,) = zoo.tables()
    assert table.columns == ("name", "architecture") and [row[0] for row in table.rows] == list(MODELS)
    (table,) = policies.tables()
    assert table.columns == ("policy", "conv", "fc", "imac circuit")
    assert [row[0] for row in table.rows] == list(POLICIES)
    rows = {row[0]: row for row in table.rows}
    # the tpu-imac presets set analog inputs and the behavioral neuron; the rest is the circuit's default
    assert rows["tpu-imac"][3] == "behavioral neuron, analog inputs, 32x32 crossbars" and rows["fp32"][3] == "-"
    assert json.loads(json.dumps(policies.to_dict()))["rows"][0]["policy"] == list(POLICIES)[0]
