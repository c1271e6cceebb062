"""The imac room's API: jobs, run(job) -> result, the CLI on top of it, and its error paths."""

from __future__ import annotations

import importlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imaclab.cli import main
from imaclab.errors import ConfigError, InputError, OutputError
from imaclab.imac import (
    FastConfig,
    ImacConfig,
    ImacJob,
    ImacResult,
    NetlistJob,
    NetlistResult,
    NeuronCurveResult,
    NeuronJob,
    ValidateJob,
    load_mlp,
    run,
    save_npz,
)
from imaclab.imac import api as api_mod
from imaclab.result import Result

ROOT = Path(__file__).resolve().parents[2]
#: The figures the sweep adapter of imac.evaluate stores per point (what a sweep stores per point).
SWEEP_KEYS = ("accuracy", "software_accuracy", "software_accuracy_unloaded", "agreement", "samples", "samples_ok",
              "mean_power_w", "mean_latency_s", "worst_latency_s", "simulation_s", "simulation_s_per_sample",
              "power_w.crossbars", "power_w.amplifiers", "power_w.neurons", "power_w.buffers",
              "area_um2.crossbars_um2", "area_um2.total_um2", "crossbars")
FAST = {"neuron.kind": "behavioral", "circuit.crossbar.rows": 16, "circuit.crossbar.columns": 8,
        "simulation.backend": "fast", "simulation.samples": 30}
CLI_FAST = ["--neuron", "behavioral", "--crossbar", "16x8", "--backend", "fast", "--samples", "30"]


def _one_line_error(capsys, code):
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("imaclab: error:") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ------------------------------------------------------------------------------ run(job)
def test_run_returns_the_cli_figures(model_path, tmp_path, capsys):
    result = run(ImacJob(model=str(model_path), data="digits").with_overrides(FAST))
    assert isinstance(result, ImacResult) and isinstance(result, Result)
    assert result.n_samples == 30 and result.ok.all() and result.files == {}
    code = main(["imac", "run", "--model", str(model_path), "--data", "digits", *CLI_FAST, "-o", str(tmp_path / "r")])
    assert code == 0, capsys.readouterr().err
    assert "circuit accuracy" in capsys.readouterr().out
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["kind"] == "imac.run"
    assert summary["accuracy"] == result.accuracy and summary["software_accuracy"] == result.software_accuracy
    assert summary["mean_power_w"] == pytest.approx(result.metrics()["mean_power_w"], rel=1e-12)
    # the folder replays: its config.yaml is the job
    replay = ImacJob.load(tmp_path / "r" / "config.yaml")
    assert replay == ImacJob(model=str(model_path), data="digits").with_overrides(FAST)
    assert [p.name for p in sorted((tmp_path / "r").iterdir())] == ["config.yaml", "index.html", "samples.csv",
                                                                   "summary.json"]


def test_a_rerun_removes_the_old_run_marker_first(model_path, tmp_path, monkeypatch):
    job = ImacJob(model=str(model_path)).with_overrides(FAST)
    run(job, out_dir=tmp_path / "r")
    marker = tmp_path / "r" / "summary.json"
    seen = []
    evaluate_mod = importlib.import_module("imaclab.imac.evaluate")  # the module, not the function
    monkeypatch.setattr(evaluate_mod, "_run_fast", lambda *a: seen.append(marker.exists()) or (_ for _ in ()).throw(
        ConfigError("stop")))
    with pytest.raises(ConfigError):
        run(job, out_dir=tmp_path / "r")
    assert seen == [False] and not marker.exists()


def test_metrics_keep_the_sweep_columns(model_path):
    result = run(ImacJob(model=model_path).with_overrides(FAST))
    metrics = result.metrics()
    assert set(SWEEP_KEYS) <= set(metrics)
    assert metrics["crossbars"] == sum(result.circuit.crossbars_per_layer) == 12
    assert all(v is None or isinstance(v, (int, float, str, bool)) for v in metrics.values())
    table = result.tables()[0]
    assert table.title == "IMAC evaluation" and table.rows[0] == ("layers", "64-12-10")


def test_run_out_dir_is_checked_before_any_work(model_path, tmp_path, monkeypatch, read_only_dir):
    def no_work(*args, **kwargs):
        raise AssertionError("work started before the output was checked")

    monkeypatch.setattr(api_mod, "load_mlp", no_work)
    taken = tmp_path / "file"
    taken.write_text("x")
    for job, kwargs in ((ImacJob(model=str(model_path)), {"out_dir": taken}),
                        (ImacJob(model=str(model_path)), {"out_dir": read_only_dir / "run"}),
                        (NetlistJob(model=str(model_path)), {"out_file": tmp_path}),
                        (NetlistJob(model=str(model_path)), {"out_file": read_only_dir / "x.sp"}),
                        (ValidateJob(model=str(model_path)), {"out_file": read_only_dir / "v.json"})):
        with pytest.raises(OutputError):
            run(job, **kwargs)
    assert taken.read_text() == "x"


def test_run_refuses_other_objects():
    with pytest.raises(ConfigError, match="ImacJob"):
        run(ImacConfig())
    with pytest.raises(ConfigError, match="no model"):
        run(ImacJob())
    with pytest.raises(ConfigError, match="out_dir"):
        run(ImacJob(model="m.npz"), out_file="x.json")


def test_netlist_and_neuron_jobs(model_path, tmp_path):
    net = run(NetlistJob(model=str(model_path), samples=2, dialect="hspice").with_overrides(
        {"neuron.kind": "behavioral"}), out_dir=tmp_path / "n")
    assert isinstance(net, NetlistResult) and net.crossbars_per_layer == [3, 1]
    assert (tmp_path / "n" / "imac.sp").read_text() == net.text and ".option post" in net.text
    assert json.loads((tmp_path / "n" / "summary.json").read_text())["lines"] == net.lines
    assert NetlistJob.load(tmp_path / "n" / "config.yaml") == net.job
    curve = run(NeuronJob.from_dict({"neuron": {"kind": "behavioral"}, "points": 5}),
                out_file=tmp_path / "c.npz")
    assert isinstance(curve, NeuronCurveResult) and len(curve.rows) == 5
    assert curve.rows[0][1] < 0 < curve.rows[-1][1] and (tmp_path / "c.npz").is_file()
    assert curve.tables()[0].title.startswith("behavioral")


# ------------------------------------------------------------------------------ jobs
def test_job_yaml_round_trip_with_fast_options(tmp_path):
    job = ImacJob(model="m.npz", data="digits", crop=6).with_overrides(
        {"simulation.fast.batch_size": 64, "simulation.fast.array_backend": "torch", "simulation.fast.device": "cpu",
         "simulation.fast.newton_tolerance_v": 2e-5, "simulation.backend": "fast", "devices.variation_sigma_pct": 3.0})
    for name in ("j.yaml", "j.json"):
        back = ImacJob.load(job.save(tmp_path / name))
        assert back == job and back.simulation.fast.batch_size == 64
    options = job.simulation.solver_options(latency=False)
    assert (options.batch_size, options.array_backend, options.device, options.newton_tolerance_v,
            options.latency) == (64, "torch", "cpu", 2e-5, False)
    for other in (ValidateJob(model="m.npz", samples=5, latency_samples=2),
                  NetlistJob(model="m.npz", samples=3, analysis="dc", dialect="hspice"),
                  NeuronJob(load_ohm="45", points=7)):
        assert type(other).load(other.save(tmp_path / "o.yaml")) == other
    assert NeuronJob(load_ohm="5k").load_ohm == 5000.0


def test_fast_defaults_are_the_solvers():
    from imaclab.solver import SolverOptions

    assert ImacConfig().simulation.solver_options() == SolverOptions()
    assert set(FastConfig.model_fields) <= set(SolverOptions.model_fields)


def test_neuron_job_reads_the_config_of_a_run(tmp_path):
    cfg = ImacConfig().with_overrides({"neuron.kind": "behavioral", "simulation.neuron_cache_dir": str(tmp_path)})
    job = NeuronJob.load(cfg.save(tmp_path / "c.yaml"))
    assert job.neuron.kind == "behavioral" and job.neuron_cache_dir == str(tmp_path)
    with pytest.raises(ConfigError, match="unknown field"):
        NeuronJob.from_dict({"neuron": {"kind": "behavioral"}, "pointz": 3})


def test_option_strings_are_checked_in_the_room():
    assert api_mod.parse_crossbar("32x16") == {"circuit.crossbar.rows": 32, "circuit.crossbar.columns": 16}
    assert api_mod.parse_parasitics("r") == {"circuit.parasitics.resistance": True,
                                             "circuit.parasitics.capacitance": False}
    assert api_mod.parse_resistance("5k") == 5000.0
    for bad in (lambda: api_mod.parse_parasitics("maybe"), lambda: api_mod.parse_crossbar("0x4"),
                lambda: api_mod.parse_crossbar("big"), lambda: api_mod.parse_resistance("-5k"),
                lambda: api_mod.parse_resistance("lots")):
        with pytest.raises(ConfigError):
            bad()


# ------------------------------------------------------------------------------ CLI
def test_set_reaches_the_solver(model_path, tmp_path, monkeypatch, capsys):
    from imaclab.solver import forward

    seen = []
    original = forward.simulate

    def spy(circuit, v_in, options=None, **kwargs):
        seen.append(options)
        return original(circuit, v_in, options=options, **kwargs)

    monkeypatch.setattr(forward, "simulate", spy)
    code = main(["imac", "run", "--model", str(model_path), *CLI_FAST, "--set", "simulation.fast.batch_size=64",
                 "--set", "simulation.fast.threads=1", "-o", str(tmp_path / "r")])
    assert code == 0, capsys.readouterr().err
    assert seen and seen[0].batch_size == 64 and seen[0].threads == 1
    assert ImacJob.load(tmp_path / "r" / "config.yaml").simulation.fast.batch_size == 64


def test_cli_options_keep_their_meaning(model_path, tmp_path, monkeypatch):
    jobs = []
    monkeypatch.setattr(api_mod, "evaluate", lambda *, config, **kw: jobs.append(config) or (_ for _ in ()).throw(
        ConfigError("stop")))
    lib = tmp_path / "cards.lib"
    lib.write_text("* cards\n")
    main(["imac", "run", "--model", str(model_path), "--data", "digits", "--crossbar", "16x8", "--r-low", "4k",
          "--r-high", "20k", "--parasitics", "c", "--neuron", "behavioral", "--backend", "fast", "--analysis", "tran",
          "--workers", "3", "--per-netlist", "7", "--latency-samples", "2", "--join", "average", "--loading", "buffer",
          "--samples", "9", "--first", "4", "--crop", "7", "--resize", "5", "--data-root", str(tmp_path),
          "--model-lib", str(lib), "--nmos", "n1", "--pmos", "p1", "--lib-section", "tt", "-o", str(tmp_path / "r")])
    job = jobs[0]
    assert (job.circuit.crossbar.rows, job.circuit.crossbar.columns) == (16, 8)
    assert (job.devices.r_low_ohm, job.devices.r_high_ohm) == (4e3, 20e3)
    assert (job.circuit.parasitics.resistance, job.circuit.parasitics.capacitance) == (False, True)
    sim = job.simulation
    assert (sim.backend, sim.spice.analysis, sim.spice.workers, sim.spice.samples_per_netlist,
            sim.spice.latency_samples, sim.samples, sim.first_sample) == ("fast", "tran", 3, 7, 2, 9, 4)
    assert (job.circuit.amplifier.join, job.circuit.loading.mode) == ("average", "buffer")
    assert (job.crop, job.resize, job.data_root) == (7, 5, str(tmp_path))
    m = job.neuron.models
    assert (m.library, m.model_lib, m.nmos, m.pmos, m.lib_section) == ("custom", str(lib.resolve()), "n1", "p1", "tt")


def test_cli_config_file_then_options_then_set(model_path, tmp_path, monkeypatch):
    jobs = []
    monkeypatch.setattr(api_mod, "evaluate", lambda *, config, **kw: jobs.append(config) or (_ for _ in ()).throw(
        ConfigError("stop")))
    base = ImacJob(model=str(model_path)).with_overrides({"simulation.samples": 11, "circuit.crossbar.rows": 8,
                                                           "neuron.kind": "behavioral"})
    base.save(tmp_path / "job.yaml")
    main(["imac", "run", "-c", str(tmp_path / "job.yaml"), "--crossbar", "16x8", "--set", "simulation.samples=5",
          "-o", str(tmp_path / "r")])
    job = jobs[0]
    assert job.model == str(model_path) and job.neuron.kind == "behavioral"
    assert job.circuit.crossbar.rows == 16 and job.simulation.samples == 5


@pytest.mark.parametrize("argv", [
    ["--set", "circuit.crossbar.rows=[1"],
    ["--set", "circuit.crossbar.rowz=4"],
    ["--set", "nonsense"],
    ["--parasitics", "maybe"],
    ["--crossbar", "0x4"],
    ["--r-low", "lots"],
    ["--backend", "analog"],
    ["--data", "no-such-data"],
])
def test_cli_bad_options_are_one_line(model_path, tmp_path, capsys, argv):
    code = main(["imac", "run", "--model", str(model_path), "-o", str(tmp_path / "r"), *argv])
    _one_line_error(capsys, code)


def test_cli_bad_outputs_are_one_line(model_path, tmp_path, capsys, read_only_dir):
    taken = tmp_path / "taken"
    taken.write_text("x")
    for argv in (["imac", "run", "--model", str(model_path), *CLI_FAST, "-o", str(taken)],
                 ["imac", "run", "--model", str(model_path), *CLI_FAST, "-o", str(read_only_dir / "r")],
                 ["imac", "netlist", "--model", str(model_path), "--neuron", "behavioral", "-o", str(tmp_path)],
                 ["imac", "netlist", "--model", str(model_path), "--neuron", "behavioral",
                  "-o", str(read_only_dir / "x.sp")],
                 ["imac", "neuron", "--neuron", "behavioral", "-o", str(tmp_path)],
                 ["imac", "run", "-c", str(tmp_path / "missing.yaml")],
                 ["imac", "run", *CLI_FAST, "-o", str(tmp_path / "r2")]):
        _one_line_error(capsys, main(argv))
    assert taken.read_text() == "x"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_cli_neuron_refuses_a_device(capsys):
    before = os.stat("/dev/full").st_mode
    code = main(["imac", "neuron", "--neuron", "behavioral", "-o", "/dev/full"])
    assert "not a regular file" in _one_line_error(capsys, code)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode) and os.stat("/dev/full").st_mode == before


def test_cli_neuron_behavioral_prints_the_curve(tmp_path, capsys):
    code = main(["imac", "neuron", "--neuron", "behavioral", "--load", "45", "-o", str(tmp_path / "c.npz")])
    out = capsys.readouterr().out
    assert code == 0 and "behavioral" in out and "r_out (ohm)" in out and "wrote" in out
    from imaclab.devices import NeuronCurve

    assert NeuronCurve.load(tmp_path / "c.npz").source.startswith("behavioral")


# ------------------------------------------------------------------------------ bad model files
def test_bad_model_files_are_one_line(tmp_path, capsys, random_mlp):
    good = save_npz(random_mlp(), tmp_path / "good.npz").read_bytes()
    (tmp_path / "trunc.npz").write_bytes(good[: len(good) // 2])
    (tmp_path / "empty.npz").write_bytes(b"")
    np.savez(tmp_path / "nan.npz", W1=np.full((64, 10), np.nan), B1=np.zeros(10))
    csv_bin, csv_latin, csv_text = (tmp_path / d for d in ("bin", "latin", "text"))
    for folder, w1 in ((csv_bin, bytes(range(256)) * 4), (csv_latin, "1,2\n3,\xe9\n".encode("latin-1")),
                       (csv_text, b"1,2\n3,abc\n")):
        folder.mkdir()
        (folder / "W1.csv").write_bytes(w1)
        (folder / "B1.csv").write_text("1\n2\n")
    cases = {"trunc.npz": "truncated", "empty.npz": "truncated", "nan.npz": "NaN", "bin": "not UTF-8",
             "latin": "not UTF-8", "text": "'abc' is not a number"}
    for name, words in cases.items():
        with pytest.raises(InputError, match=words):
            load_mlp(tmp_path / name)
        code = main(["imac", "run", "--model", str(tmp_path / name), *CLI_FAST, "-o", str(tmp_path / "r")])
        assert words in _one_line_error(capsys, code)


# ------------------------------------------------------------------------------ the example
def test_example_runs_and_prints_the_accuracy(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "imac_api.py"), str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("accuracy "))
    accuracy = float(line.split()[1])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert accuracy == pytest.approx(summary["accuracy"], abs=5e-5) and summary["samples"] == 100
    assert accuracy > 0.75  # a nearest-class-mean classifier of digits, on the circuit
    assert (tmp_path / "class_means.sp").is_file()


def test_imac_imports_no_training_code():
    code = ("import sys, imaclab.imac, imaclab.cli.imac; "
            "bad = [m for m in sys.modules if m.startswith('imaclab.nn') or m == 'torch']; "
            "assert not bad, bad")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr


def test_the_sweep_example_is_an_imac_job():
    import yaml

    spec = yaml.safe_load((ROOT / "examples" / "sweeps" / "imac_crossbar_study.yaml").read_text())
    job = ImacJob.from_dict(spec["base"]).with_overrides(
        {"circuit.crossbar.rows": 8, "circuit.crossbar.columns": 8, "devices.variation_sigma_pct": 5.0,
         "devices.r_high_ohm": 25e3})
    assert job.model == "sweeps/models/digits_64_32_10.npz" and job.simulation.backend == "fast"
