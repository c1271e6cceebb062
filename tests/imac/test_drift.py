"""Converters in the accuracy path and the accuracy-vs-time sweep (imaclab.imac.drift)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from imaclab.cli import main
from imaclab.errors import ConfigError
from imaclab.imac import DriftJob, DriftResult, ImacJob, evaluate, run
from imaclab.imac.drift import parse_time, parse_times, time_label
from imaclab.solver.adc import adc_codes, adc_read, calibrated_full_scale, dac_levels

FAST = {"neuron.kind": "behavioral", "circuit.crossbar.rows": 16, "circuit.crossbar.columns": 8,
        "simulation.backend": "fast", "simulation.samples": 30, "simulation.fast.latency": False}


# ------------------------------------------------------------------------------ converters
def test_adc_codes_against_hand_computed_ones():
    # 3 bits, full scale 1 V: lsb 0.25 V, codes -4..3
    v = np.array([[0.1, 0.13, -0.3, 2.0, -2.0, 0.875]])
    assert adc_codes(v, 3, 1.0).tolist() == [[0, 1, -1, 3, -4, 3]]
    assert np.allclose(adc_read(v, 3, 1.0), [[0.0, 0.25, -0.25, 0.75, -1.0, 0.75]])
    # per-column full scale, 2 bits (codes -2..1): column 0 FS 2 V (lsb 1 V), column 1 FS 0.5 V (lsb 0.25 V)
    fs = calibrated_full_scale(np.array([[2.0, -0.1], [-1.0, 0.5]]))
    assert fs.tolist() == [2.0, 0.5]
    assert adc_codes(np.array([[0.74, 0.2], [-0.9, -0.4]]), 2, fs).tolist() == [[1, 1], [-1, -2]]
    assert calibrated_full_scale(np.zeros((3, 1))).tolist() == [1.0]


def test_dac_levels():
    x = np.array([0.0, 0.2, 0.5, 0.9, 1.0])
    assert np.allclose(dac_levels(x, 2), np.array([0, 1, 2, 3, 3]) / 3)  # round(1.5) = 2
    assert dac_levels(x, None) is not None and np.array_equal(dac_levels(x, None), x)


def test_adc_in_the_accuracy_path(model_path):
    base = ImacJob(model=str(model_path)).with_overrides(FAST)
    plain = run(base)
    fine = run(base.with_overrides({"converters.adc_bits": 16}))
    coarse = run(base.with_overrides({"converters.adc_bits": 1}))
    assert np.array_equal(plain.predicted, fine.predicted)  # 16 bits change no decision here
    lsb = calibrated_full_scale(plain.software_outputs) / 2 ** 15
    assert np.all(np.abs(fine.outputs - plain.outputs) <= lsb / 2 + 1e-12)
    # 1 bit: every output reads as -FS or 0, so the codes tie and the argmax falls on the first 0
    codes = adc_codes(plain.outputs, 1, calibrated_full_scale(plain.software_outputs))
    expected = np.argmax(codes, axis=1)
    assert np.array_equal(coarse.predicted, expected)
    dac = run(base.with_overrides({"converters.dac_bits": 1}))
    assert dac.n_samples == plain.n_samples


def test_defaults_leave_the_numbers_unchanged(model_path):
    job = ImacJob(model=str(model_path)).with_overrides(FAST)
    a = run(job)
    b = run(job.with_overrides({"devices.time_s": 3.15e7, "devices.drift_compensation": True}))
    assert np.array_equal(a.outputs, b.outputs)


# ------------------------------------------------------------------------------ time parsing
def test_time_parsing():
    assert parse_times("1s,1h,1d,30d,1y") == [1.0, 3600.0, 86400.0, 30 * 86400.0, 365.25 * 86400.0]
    assert parse_time(5) == 5.0 and parse_time("2.5min") == 150.0 and parse_time("0") == 0.0
    assert [time_label(t) for t in parse_times("0,1s,1h,1d,30d,1y")] == ["0", "1s", "1h", "1d", "30d", "1y"]
    for bad in ("1 fortnight", "-1s", "soon"):
        with pytest.raises(ConfigError):
            parse_time(bad)


# ------------------------------------------------------------------------------ the sweep
def test_time_sweep_end_to_end(model_path, tmp_path):
    job = DriftJob(model=str(model_path), at="0,1h,1y", trials=2, lines=["ideal", "mtj", "pcm+comp"]
                   ).with_overrides({k: v for k, v in FAST.items() if k != "simulation.fast.latency"})
    out = tmp_path / "sweep"
    result = run(job, out_dir=out)
    assert isinstance(result, DriftResult)
    summary = result.summary()
    assert len(summary) == 3 * 3 and set(summary["trials"]) == {2}
    # the ideal line is today's circuit at every time: the plain run's accuracy, no spread
    plain = run(ImacJob(model=str(model_path)).with_overrides(FAST))
    ideal = summary[summary["line"] == "ideal"]
    assert np.allclose(ideal["accuracy_mean"], plain.accuracy) and np.allclose(ideal["accuracy_std"], 0)
    rows = list(csv.DictReader(open(out / "accuracy_vs_time.csv")))
    assert [r["time"] for r in rows[:3]] == ["0", "1h", "1y"]
    assert len(list(csv.DictReader(open(out / "accuracy_trials.csv")))) == 3 * 3 * 2
    assert (out / "accuracy_vs_time.png").stat().st_size > 1000
    assert (out / "summary.json").exists()
    # seeded: the same job gives the same numbers; and the saved config replays as a DriftJob
    again = run(DriftJob.load(out / "config.yaml"))
    assert again.records == result.records
    assert "accuracy.mtj.1y.mean" in result.metrics()


def test_cli_time_sweep_and_device(model_path, tmp_path, capsys):
    args = ["imac", "run", "--model", str(model_path), "--neuron", "behavioral", "--crossbar", "16x8",
            "--backend", "fast", "--samples", "20", "--no-html"]
    assert main(args + ["--device", "rram", "--at", "1s,1d", "--trials", "2", "-o", str(tmp_path / "a")]) == 0
    captured = capsys.readouterr()
    out = captured.out
    # progress in a log or a pipe: one plain line per evaluation (2 trials x 2 times), no carriage returns
    steps = [line for line in captured.err.splitlines() if line.startswith("imaclab: time sweep ")]
    assert [line.split()[3] for line in steps] == ["1/4:", "2/4:", "3/4:", "4/4:"] and "\r" not in captured.err
    assert "accuracy vs time" in out and "rram" in out
    assert main(args + ["--device", "pcm", "--time", "1d", "--drift-compensation", "--adc-bits", "6",
                        "-o", str(tmp_path / "b")]) == 0
    saved = ImacJob.load(tmp_path / "b" / "config.yaml")
    assert saved.devices.preset == "pcm" and saved.devices.time_s == 86400.0 and saved.converters.adc_bits == 6
    # a sweep's config.yaml replays as a sweep; --at alone picks the fast backend
    assert main(["imac", "run", "-c", str(tmp_path / "a" / "config.yaml"), "--no-html", "-o", str(tmp_path / "r")]) == 0
    assert "accuracy vs time" in capsys.readouterr().out
    args_default = [a for a in args if a not in ("--backend", "fast")]
    assert main(args_default + ["--at", "1d", "--trials", "1", "-o", str(tmp_path / "d")]) == 0
    assert DriftJob.load(tmp_path / "d" / "config.yaml").simulation.backend == "fast"
    capsys.readouterr()
    for bad in (["--at", "1 fortnight"], ["--device", "flash"], ["--device", "rram,pcm"]):
        assert main(args + bad + ["-o", str(tmp_path / "c")]) == 2
        err = capsys.readouterr().err.strip()
        assert err and len(err.splitlines()) == 1


def test_evaluate_reads_the_aged_devices(model_path, random_mlp):
    """Retention flips at 1000 tau: every MTJ device flipped, so every weight's sign inverted."""
    job = ImacJob(model=str(model_path)).with_overrides(FAST)
    mtj = job.with_overrides({"devices.r_low_ohm": 5e3, "devices.r_high_ohm": 10e3,
                              "devices.retention_tau_s": 1.0, "devices.retention_to": "flip"})
    fresh = run(mtj)
    old = run(mtj.with_overrides({"devices.time_s": 1e3}))
    assert not np.array_equal(fresh.outputs, old.outputs)
    from imaclab.devices.neuron import load_neuron_curve
    res = evaluate(config=mtj.with_overrides({"devices.time_s": 1e3}), model=random_mlp(),
                   dataset=job.load_data(), progress=False, neuron_curve=load_neuron_curve(job.neuron))
    assert np.array_equal(res.outputs, old.outputs)


def test_time_sweep_wants_the_fast_backend(model_path):
    job = DriftJob(model=str(model_path), at="1s,1d", trials=1)
    assert job.simulation.backend == "spice"
    with pytest.raises(ConfigError, match="fast backend"):
        run(job)


# ------------------------------------------------------------------------------ a CNN's IMAC head over time
def test_data_from_a_training_run_drives_its_imac_head(tmp_path):
    """``data`` naming a training run folder: its test split through the run's digital part, i.e.
    exactly what the exported IMAC head (imac.npz) receives; a time sweep then scores that head."""
    from imaclab.data import load_dataset
    from imaclab.nn import TrainJob
    from imaclab.nn import run as train
    from imaclab.nn.export import imac_inputs
    from imaclab.nn.training import load_run

    run_dir = tmp_path / "run"
    train(TrainJob(model="vgg-small", data="digits", width=0.125, epochs=2, batch_size=32, lr=0.01, threads=1,
                   seed=0, policy="tpu-imac"), out_dir=run_dir)
    head = {"model": str(run_dir / "imac.npz"), "data": str(run_dir), "neuron.kind": "behavioral",
            "inputs.mode": "analog", "simulation.backend": "fast", "simulation.samples": 60,
            "simulation.fast.latency": False}
    data = ImacJob().with_overrides(head).load_data()
    test = load_dataset("digits", split="test")
    expected = imac_inputs(load_run(run_dir).model, test.x)
    assert data.x.shape == (len(test.y), 32) and np.array_equal(data.y, test.y)
    np.testing.assert_allclose(data.x, expected, atol=1e-6)
    assert data.x.min() >= 0.0 and data.x.max() <= 1.0

    res = run(DriftJob().with_overrides({**head, "at": [1.0, 86400.0], "trials": 1, "lines": ["ideal"]}))
    sw = res.records[0]["software_accuracy"]
    assert sw > 0.5  # the head classifies the conv features (chance: 10 %)
    assert [r["accuracy"] for r in res.records] == pytest.approx([sw, sw], abs=0.1)

    with pytest.raises(ConfigError, match="crop/resize"):
        ImacJob().with_overrides({**head, "crop": 4}).load_data()
