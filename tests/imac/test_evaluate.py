"""End-to-end evaluation through ngspice, results on disk, the CLI, error paths."""

import json

import numpy as np
import pytest

from imaclab.circuit import MLPModel
from imaclab.cli import main
from imaclab.data.datasets import load_dataset
from imaclab.errors import SimulationError
from imaclab.imac import ImacConfig, evaluate, load_mlp, save_npz
from imaclab.spice import runner as runner_mod


def _model(sizes, seed=0):
    rng = np.random.default_rng(seed)
    ws = [np.where(rng.random((a, b)) < 0.5, -1.0, 1.0) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [np.where(rng.random(b) < 0.5, -1.0, 1.0) for b in sizes[1:]]
    return MLPModel(weights=tuple(ws), biases=tuple(bs), weight_kind="binary", gains=(8.0, 5.0), source="rand")


def _config(**over):
    base = {"neuron.kind": "behavioral", "simulation.samples": 12, "simulation.spice.samples_per_netlist": 6,
            "circuit.crossbar.rows": 16, "circuit.crossbar.columns": 8}
    base.update(over)
    return ImacConfig().with_overrides(base)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split="test", flatten=True)


def test_config_round_trip(tmp_path):
    cfg = _config(**{"circuit.amplifier.join": "average", "devices.variation_sigma_pct": 5.0})
    assert ImacConfig.load(cfg.save(tmp_path / "c.yaml")) == cfg
    assert ImacConfig.load(cfg.save(tmp_path / "c.json")) == cfg


def test_without_parasitics_circuit_equals_software(digits, tmp_path):
    off = {"circuit.parasitics.resistance": False, "circuit.parasitics.capacitance": False}
    res = evaluate(config=_config(**off), model=_model([64, 12, 10]), dataset=digits, out_dir=tmp_path,
                   progress=False)
    assert res.ok.all() and res.agreement == 1.0
    # the reference interpolates the tabulated tanh (5 mV steps): agreement to ~1e-5 V
    assert np.allclose(res.outputs, res.software_outputs, rtol=1e-4, atol=1e-4)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["crossbars_per_layer"] == [5 * 2, 1 * 2]
    assert summary["accuracy"] == summary["software_accuracy"]
    assert summary["mean_power_w"] > 0 and summary["area_um2"]["crossbars_um2"] > 0
    rows = (tmp_path / "samples.csv").read_text().splitlines()
    assert len(rows) == 13 and rows[0].startswith("sample,label,predicted")
    assert len(list((tmp_path / "netlists").glob("batch_*.sp"))) == 2
    assert ImacConfig.load(tmp_path / "config.yaml") == _config(**off)


def test_parasitics_move_outputs_but_keep_most_decisions(digits, tmp_path):
    res = evaluate(config=_config(), model=_model([64, 12, 10]), dataset=digits, out_dir=None, progress=False)
    assert not np.allclose(res.outputs, res.software_outputs, rtol=1e-3)
    assert res.agreement >= 0.75


def test_failure_writes_partial_results_then_raises(digits, tmp_path, monkeypatch):
    from imaclab.circuit import netlist as netlist_mod

    original = netlist_mod.write_netlist

    def sabotage(*args, **kwargs):
        nl = original(*args, **kwargs)
        if "batch 1" in kwargs.get("title", ""):
            nl.text = nl.text.replace("\n.end\n", "\nXbad nbad 0 no_such_subcircuit\n.end\n")
        return nl

    monkeypatch.setattr(runner_mod, "write_netlist", sabotage)
    with pytest.raises(SimulationError) as info:
        evaluate(config=_config(), model=_model([64, 12, 10]), dataset=digits, out_dir=tmp_path, progress=False)
    assert "batch_0001.sp" in str(info.value) and "results of 6 samples written" in str(info.value)
    rows = (tmp_path / "samples.csv").read_text().splitlines()[1:]
    assert [r.split(",")[4] for r in rows] == ["1"] * 6 + ["0"] * 6


def test_wrong_input_size_is_explained(digits):
    with pytest.raises(Exception, match="--crop"):
        evaluate(config=_config(), model=_model([400, 12, 10]), dataset=digits, progress=False)


def test_cli_run_writes_results(tmp_path, capsys):
    model_path = save_npz(_model([64, 12, 10]), tmp_path / "m.npz")
    code = main(["imac", "run", "--model", str(model_path), "--data", "digits", "--samples", "6",
                 "--crossbar", "16x8", "--r-low", "5k", "--r-high", "15k", "--parasitics", "r",
                 "--neuron", "behavioral", "--backend", "spice", "--latency-samples", "1", "-o", str(tmp_path / "run")])
    assert code == 0
    out = capsys.readouterr().out
    assert "circuit accuracy" in out and "crossbars per layer" in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["samples_ok"] == 6 and summary["crossbars_per_layer"] == [10, 2]
    # without capacitors the circuit follows the 0.1 ns input ramp at once
    assert summary["latency_samples"] == 1 and 0 < summary["worst_latency_s"] <= 0.15e-9


def test_cli_errors_are_one_line(tmp_path, capsys):
    code = main(["imac", "run", "--model", str(tmp_path / "nope.npz"), "-o", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("imaclab: error:") and err.count("\n") == 1
    code = main(["imac", "run", "--model", str(tmp_path / "nope.npz"), "--crossbar", "0x4"])
    assert code == 2


def test_cli_netlist_hspice(tmp_path):
    model_path = save_npz(_model([64, 12, 10]), tmp_path / "m.npz")
    out = tmp_path / "net.sp"
    code = main(["imac", "netlist", "--model", str(model_path), "--dialect", "hspice", "--neuron", "behavioral",
                 "--samples", "2", "-o", str(out)])
    text = out.read_text()
    assert code == 0 and ".option post" in text and "VOL=" in text and ".probe tran" in text
    assert load_mlp(model_path).layer_sizes == [64, 12, 10]


@pytest.mark.parametrize("kind", ["ternary", "multilevel", "real"])
def test_weight_kinds_through_spice_equal_software(digits, kind):
    rng = np.random.default_rng(3)
    ws = (rng.normal(size=(64, 6)), rng.normal(size=(6, 10)))
    bs = (rng.normal(size=6), rng.normal(size=10))
    if kind == "ternary":
        ws = tuple(np.clip(np.round(w), -1, 1) for w in ws)
        bs = tuple(np.clip(np.round(b), -1, 1) for b in bs)
    model = MLPModel(weights=ws, biases=bs, weight_kind=kind, gains=(8.0, 5.0))
    off = {"circuit.parasitics.resistance": False, "circuit.parasitics.capacitance": False,
           "devices.levels": 8, "simulation.samples": 4}
    res = evaluate(config=_config(**off), model=model, dataset=digits, progress=False)
    assert np.allclose(res.outputs, res.software_outputs, rtol=1e-4, atol=1e-4)
    if kind == "multilevel":
        assert set(np.round(res.circuit.layers[0].weights * 7 / 2 + 3.5, 9).ravel()) <= set(range(8))


def test_cli_neuron_with_user_cards(tmp_path, capsys):
    lib = tmp_path / "cards.lib"
    lib.write_text(".model nch nmos level=1 vto=0.35 kp=200u lambda=0.05\n"
                   ".model pch pmos level=1 vto=-0.35 kp=80u lambda=0.05\n")
    cfg = ImacConfig().with_overrides({"neuron.sweep_step_v": 0.05, "neuron.offset_v": 0.0,
                                       "simulation.neuron_cache_dir": str(tmp_path / "cache")})
    cfg.save(tmp_path / "c.yaml")
    code = main(["imac", "neuron", "--config", str(tmp_path / "c.yaml"), "--model-lib", str(lib), "--nmos", "nch",
                 "--pmos", "pch", "-o", str(tmp_path / "curve.npz")])
    assert code == 0 and "ngspice DC sweep" in capsys.readouterr().out
    from imaclab.devices import NeuronCurve

    curve = NeuronCurve.load(tmp_path / "curve.npz")
    assert curve(3.0) > 0.5 > -0.5 > curve(-3.0)


def test_hspice_netlist_for_imac_sim_finfet_cards(tmp_path):
    """IMAC-Sim's PTM 14 nm FinFET set-up (BSIM-CMG, HSPICE only): written, never characterized."""
    model_path = save_npz(_model([64, 12, 10]), tmp_path / "m.npz")
    lib = tmp_path / "models"
    lib.write_text(".lib ptm14hp\n* (FinFET cards would be here)\n.endl ptm14hp\n")
    out = tmp_path / "classifier.sp"
    code = main(["imac", "netlist", "--model", str(model_path), "--dialect", "hspice", "--neuron", "transistor",
                 "--model-lib", str(lib), "--lib-section", "ptm14hp", "--nmos", "nfet", "--pmos", "pfet",
                 "--set", "neuron.models.device_element=X", "--set", "neuron.models.geometry=none",
                 "--set", "neuron.models.extra_instance_params=nfin=10", "--set", "circuit.amplifier.join=average",
                 "-o", str(out)])
    text = out.read_text()
    assert code == 0
    assert f".lib '{lib}' ptm14hp" in text
    assert "Xn out gate vn vn nfet m=40 nfin=10" in text and "Xp out gate vp vp pfet m=120 nfin=10" in text
    assert "Rtie" in text
