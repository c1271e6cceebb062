"""The SPICE runner: batches, measures (power, latency), raw parsing, error paths."""

import numpy as np
import pytest

from imaclab.circuit import MLPModel, build_circuit
from imaclab.circuit import netlist as netlist_mod
from imaclab.devices.ngspice_io import read_raw, run_ngspice
from imaclab.errors import SimulationError
from imaclab.spice import SpiceOptions, run_spice, settling_time
from imaclab.spice import runner as runner_mod

OFF = {"circuit.parasitics.resistance": False, "circuit.parasitics.capacitance": False}


def test_dc_outputs_and_crossbar_power_by_hand(small_config, tmp_path):
    model = MLPModel(weights=(np.array([[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]]),), biases=(np.array([1.0, -1.0, -1.0]),),
                     weight_kind="binary")
    circ = build_circuit(small_config(**OFF), model)
    v = np.array([[0.8, -0.8], [0.8, 0.8], [-0.8, 0.8]])
    res = run_spice(circuit=circ, samples_v=v, options=SpiceOptions(samples_per_netlist=2), workdir=tmp_path,
                    progress=False)
    assert res.ok.all() and len(res.netlists) == 2
    assert np.allclose(res.outputs, circ.ideal_forward(v), rtol=1e-7, atol=1e-9)
    # lines sit on virtual grounds: each row dissipates v^2 * sum(G+ + G-)
    g_row = np.zeros(3)
    for t in circ.layers[0].tiles:
        g_row[t.rows] += (t.g_pos + t.g_neg).sum(axis=1)
    rows = np.hstack([v, np.full((3, 1), circ.bias_v)])
    assert np.allclose(res.power_w["crossbars"], (rows**2) @ g_row, rtol=1e-7)
    assert np.all(res.power_w["amplifiers"] == 0) and np.all(res.power_w["neurons"] == 0)
    assert np.isnan(res.latency_s).all()


def test_hidden_rows_driven_by_neurons_count_as_crossbar_power(small_config, model_6_5_3, tmp_path):
    circ = build_circuit(small_config(**OFF), model_6_5_3)
    v = np.random.default_rng(0).choice([-0.8, 0.8], size=(2, 6))
    res = run_spice(circuit=circ, samples_v=v, options=SpiceOptions(), workdir=tmp_path, progress=False)
    _, hidden = circ.ideal_forward(v, return_hidden=True)
    expected = 0.0
    for lay, drive in zip(circ.layers, [v, hidden[0]]):
        g_row = np.zeros(lay.fan_in + 1)
        for t in lay.tiles:
            g_row[t.rows] += (t.g_pos + t.g_neg).sum(axis=1)
        rows = np.hstack([drive, np.full((drive.shape[0], 1), circ.bias_v)])
        expected = expected + (rows**2) @ g_row
    assert np.allclose(res.power_w["crossbars"], expected, rtol=1e-6)


def test_transient_latency_and_power(small_config, model_6_5_3, tmp_path):
    # wire R and C on; low gains keep the neurons out of saturation so every output moves
    circ = build_circuit(small_config(**{"circuit.amplifier.gains": [2.0, 2.0]}), model_6_5_3)
    v = np.array([[0.8] * 6, [-0.8] * 6, [-0.8] * 6])
    opts = SpiceOptions(analysis="tran")
    tran = run_spice(circuit=circ, samples_v=v, options=opts, workdir=tmp_path / "t", progress=False)
    dc = run_spice(circuit=circ, samples_v=v, options=SpiceOptions(), workdir=tmp_path / "d", progress=False)
    assert np.allclose(tran.outputs, dc.outputs, rtol=1e-3, atol=1e-3)
    # inputs rise from 0 V into sample 0 and switch into sample 1; a repeated sample is settled
    assert 0 < tran.latency_s[0] < circ.sampling_period_s
    assert 0 < tran.latency_s[1] < circ.sampling_period_s
    assert tran.latency_s[2] == 0.0
    assert tran.power_w["crossbars"][2] == pytest.approx(dc.power_w["crossbars"][2], rel=1e-3)


def test_settling_time_definition():
    t = np.linspace(0, 1e-9, 11)
    v = np.array([0.0, 0.5, 0.9, 0.995, 0.998, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])[:, None]
    # 1 % band around 1.0: last sample outside is 0.9 at t=0.2 ns -> settled from 0.3 ns
    assert settling_time(t, v, np.array([1.0]), 0.01, 0.0) == pytest.approx(0.3e-9)


def test_failed_batch_keeps_other_results(small_config, model_6_5_3, tmp_path, monkeypatch):
    circ = build_circuit(small_config(), model_6_5_3)
    v = np.random.default_rng(1).choice([-0.8, 0.8], size=(4, 6))
    original = netlist_mod.write_netlist

    def sabotage(*args, **kwargs):
        nl = original(*args, **kwargs)
        if "batch 1" in kwargs.get("title", ""):
            # two ideal sources in parallel: ngspice cannot solve it
            nl.text = nl.text.replace("\n.end\n", "\nVbad1 nbad 0 1\nVbad2 nbad 0 2\nRbad nbad 0 1k\n.end\n")
        return nl

    monkeypatch.setattr(runner_mod, "write_netlist", sabotage)
    res = run_spice(circuit=circ, samples_v=v, options=SpiceOptions(samples_per_netlist=2), workdir=tmp_path,
                    progress=False)
    assert res.ok.tolist() == [True, True, False, False]
    assert np.isfinite(res.outputs[:2]).all() and np.isnan(res.outputs[2:]).all()
    assert len(res.errors) == 1
    msg = res.errors[0]
    assert "\n" not in msg and "batch_0001.sp" in msg and "did not converge" in msg


def test_ngspice_missing_is_one_line(small_config, model_6_5_3, tmp_path):
    circ = build_circuit(small_config(), model_6_5_3)
    with pytest.raises(SimulationError, match="ngspice not found.*install"):
        run_spice(circuit=circ, samples_v=np.zeros((1, 6)) + 0.8, workdir=tmp_path, progress=False,
                  options=SpiceOptions(ngspice_path="/nonexistent/ngspice"))


def test_binary_and_ascii_raw_files_agree(tmp_path):
    text = "* rc\nV1 a 0 1\nR1 a b 1k\nR2 b 0 3k\n.dc V1 0 2 0.5\n.end\n"
    (tmp_path / "bin.sp").write_text(text)
    binary = run_ngspice(tmp_path / "bin.sp").plots[-1]
    ascii_text = text.replace(".end\n", ".control\nset filetype=ascii\nrun\nwrite asc.raw\n.endc\n.end\n")
    (tmp_path / "asc.sp").write_text(ascii_text)
    run_ngspice(tmp_path / "asc.sp", tmp_path / "unused.raw", read=False)
    asc = read_raw(tmp_path / "asc.raw")[-1]
    assert np.allclose(binary["v(b)"], [0, 0.375, 0.75, 1.125, 1.5])
    assert np.allclose(asc["v(b)"], binary["v(b)"]) and np.allclose(asc["i(v1)"], binary["i(v1)"])


def test_progress_without_a_terminal_is_plain_lines(small_config, model_6_5_3, tmp_path, capsys):
    """In a log or a pipe (stderr not a terminal) the batches report as plain lines, ending at all samples."""
    circ = build_circuit(small_config(**OFF), model_6_5_3)
    v = np.random.default_rng(1).choice([-0.8, 0.8], size=(6, 6))
    res = run_spice(circuit=circ, samples_v=v, options=SpiceOptions(samples_per_netlist=2), workdir=tmp_path,
                    progress=True)
    assert res.ok.all()
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "imaclab: ngspice: 6 samples in 3 netlist(s)"
    done = [int(line.split()[2].split("/")[0]) for line in lines[1:]]
    assert done == sorted(done) and done[-1] == 6 and all("\x1b" not in line for line in lines)
