"""One description of the circuit for training and evaluation (issue 14, first part).

The training room's IMAC settings are the circuit room's configs with their defaults; an
exported model carries them; ``imaclab imac run`` evaluates with exactly those settings unless
the user overrides one (one notice line names it); each hidden layer trains with the neuron
curve the circuit gives it under its real load.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from imaclab.circuit.config import NetworkConfig
from imaclab.circuit.description import build_circuit
from imaclab.cli import main
from imaclab.devices.neuron import NeuronCurve, loaded_curve, row_load_ohm
from imaclab.imac.api import ImacJob
from imaclab.imac.model_io import load_mlp
from imaclab.nn.api import TrainJob
from imaclab.nn.export import imac_arrays
from imaclab.nn.imac_layers import IMACHead, IMACSpec
from imaclab.nn.quantizers import QuantSpec

BINARY = QuantSpec(kind="binary", scale="none", per_channel=False)


def test_spec_is_the_circuit_rooms_config_with_its_defaults():
    spec, network = IMACSpec(), NetworkConfig()
    assert isinstance(spec, NetworkConfig)
    for section in NetworkConfig.model_fields:
        assert type(getattr(spec, section)) is type(getattr(network, section))
        assert getattr(spec, section) == getattr(network, section), section
    assert spec.network_config() == network
    trained = spec.network_config([3.5, 7.0])
    assert trained.circuit.amplifier.gains == [3.5, 7.0] and trained.neuron == network.neuron
    # only the training-only fields are added to NetworkConfig's
    assert set(IMACSpec.model_fields) - set(NetworkConfig.model_fields) == {
        "learn_amplifier_gain", "initial_amplifier_gain", "feature_encoding", "neuron_cache_dir"}


def test_old_flat_keys_still_load(tmp_path):
    spec = IMACSpec.from_dict({"input_mode": "binary", "input_threshold": 0.25, "amplifier_gain": 2.0,
                               "learn_amplifier_gain": False, "neuron_cache_dir": str(tmp_path),
                               "neuron": {"kind": "behavioral"}})
    assert (spec.inputs.mode, spec.inputs.threshold, spec.initial_amplifier_gain) == ("binary", 0.25, 2.0)
    assert spec.neuron_cache_dir == str(tmp_path) and spec.initial_gain(1) == 2.0
    # a run folder's config.yaml written by an earlier version
    old = TrainJob(model="mlp-64-8-10", data="digits").resolved().to_dict()
    old["policy"]["imac"] = {"neuron": {"kind": "behavioral"}, "input_mode": "analog", "input_threshold": 0.4,
                             "amplifier_gain": 1.0, "learn_amplifier_gain": True, "neuron_cache_dir": None}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    job = TrainJob.load(tmp_path / "config.yaml")
    imac = job.precision_policy.imac
    # a learned gain's old start value is dropped (the first batch replaced it)
    assert (imac.inputs.mode, imac.inputs.threshold, imac.initial_amplifier_gain) == ("analog", 0.4, None)
    # so an old tpu-imac run folder is the same job as tpu-imac now (it resumes)
    old["policy"]["imac"]["input_threshold"] = 0.5
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    assert TrainJob.load(tmp_path / "config.yaml").precision_policy.imac == TrainJob().precision_policy.imac
    # and the old dotted paths of --set
    assert TrainJob().with_set(["policy.imac.input_threshold=0.3"]).precision_policy.imac.inputs.threshold == 0.3


def test_fixed_gains_default_to_the_circuits_amplifier_gains():
    spec = IMACSpec(learn_amplifier_gain=False, neuron={"kind": "behavioral"})
    head = IMACHead([16, 8, 6, 4], [BINARY] * 3, spec, unit_inputs=True)
    assert [layer.amplifier_gain_value for layer in head.layers] == pytest.approx(
        [spec.circuit.amplifier.gain(i) for i in range(3)])


def _driver_curve() -> NeuronCurve:
    """A neuron table with an output resistance (as a characterized transistor neuron has)."""
    v_in = np.linspace(-3.0, 3.0, 601)
    return NeuronCurve(v_in=v_in, v_out=0.8 * np.tanh(v_in / 0.8), vdd_v=0.8, source="test table",
                       r_out_ohm=200.0 + 300.0 * np.abs(np.tanh(v_in)))


@pytest.mark.parametrize("kind, loading", [("transistor", "direct"), ("transistor", "ideal_buffer"),
                                           ("behavioral", "direct")])
def test_each_layer_trains_with_the_circuits_loaded_curve(tmp_path, kind, loading):
    torch.manual_seed(0)
    curve = _driver_curve()
    spec = IMACSpec(neuron={"kind": kind}, circuit={"loading": {"mode": loading}}, devices={"r_low_ohm": 4e3})
    dims = [20, 12, 8, 4]
    head = IMACHead(dims, [BINARY] * 3, spec, unit_inputs=True, curve=curve)
    path = tmp_path / "imac.npz"
    np.savez(path, **imac_arrays(head))
    mlp = load_mlp(path)
    network = NetworkConfig.from_dict(mlp.meta["network_config"])
    assert network == head.network_config()
    circuit = build_circuit(network, mlp, neuron_curve=curve)
    assert len(head.layer_curves) == len(circuit.layer_curves) == 2
    for i, (trained, built) in enumerate(zip(head.layer_curves, circuit.layer_curves)):
        np.testing.assert_array_equal(trained.v_in, built.v_in)
        np.testing.assert_array_equal(trained.v_out, built.v_out)
        # the activation the layer applies in training is that table
        np.testing.assert_allclose(head.layers[i].neuron.v_out.double().numpy(), built.v_out, atol=1e-6)
    if kind == "transistor" and loading == "direct":
        # layer i drives layer i + 1's rows: its own load, and a real drop from the unloaded curve
        for i, trained in enumerate(head.layer_curves):
            expected = loaded_curve(curve, row_load_ohm(dims[i + 2], 4e3, spec.devices.r_high_ohm))
            np.testing.assert_allclose(trained.v_out, expected.v_out)
        assert np.max(np.abs(head.layer_curves[0].v_out - curve.v_out)) > 1e-3
        assert not np.allclose(head.layer_curves[0].v_out, head.layer_curves[1].v_out)
    else:
        assert all(np.array_equal(c.v_out, curve.v_out) for c in head.layer_curves)


def test_training_refuses_the_imacsim_convention():
    from imaclab.errors import ConfigError

    with pytest.raises(ConfigError, match="imaclab circuit convention"):
        IMACHead([4, 3, 2], [BINARY] * 2, IMACSpec(circuit={"convention": "imacsim"}), unit_inputs=True,
                 curve=_driver_curve())


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("desc") / "run"
    code = main(["train", "-m", "mlp-64-16-10", "-d", "digits", "-e", "1", "--train-samples", "300",
                 "--batch-size", "32", "--lr", "0.03", "--threads", "1", "--crossbar", "16x16", "--join", "average",
                 "--parasitics", "r", "--r-low", "4k", "--loading", "ideal_buffer", "--no-html", "-o", str(out)])
    assert code == 0
    return out


def test_a_models_settings_round_trip_from_training_to_evaluation(trained_run):
    job = TrainJob.load(trained_run / "config.yaml")
    spec = job.precision_policy.imac
    assert (spec.circuit.crossbar.rows, spec.circuit.crossbar.columns) == (16, 16)
    assert spec.circuit.amplifier.join == "average" and spec.circuit.loading.mode == "ideal_buffer"
    assert spec.circuit.parasitics.resistance and not spec.circuit.parasitics.capacitance
    assert spec.devices.r_low_ohm == 4e3
    mlp = load_mlp(trained_run / "imac.npz")
    trained = NetworkConfig.from_dict(mlp.meta["network_config"])
    assert trained == spec.network_config(list(mlp.gains))
    # the imac room evaluates it with exactly those settings
    evaluated = ImacJob(model=str(trained_run / "imac.npz"), data="digits").for_model(mlp)
    for section in NetworkConfig.model_fields:
        assert getattr(evaluated, section) == getattr(trained, section), section
    # the user's own setting wins; the rest stay the trained ones
    mine = ImacJob(model=str(trained_run / "imac.npz")).with_overrides({"circuit.crossbar.rows": 8}).for_model(mlp)
    assert mine.circuit.crossbar.rows == 8 and mine.circuit.crossbar.columns == 16
    assert mine.circuit.amplifier.join == "average" and mine.inputs.mode == "analog"


def _warnings(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("warning:")]


def test_imac_run_uses_the_trained_settings_and_names_an_override(trained_run, tmp_path, capsys):
    model = str(trained_run / "imac.npz")
    base = ["imac", "run", "--model", model, "--data", "digits", "--samples", "20", "--backend", "fast", "--no-html"]
    assert main([*base, "-o", str(tmp_path / "same")]) == 0
    assert _warnings(capsys.readouterr().out) == []  # no mismatch: it runs what it was trained for
    ran = ImacJob.load(tmp_path / "same" / "config.yaml")
    assert (ran.circuit.crossbar.rows, ran.circuit.amplifier.join, ran.inputs.mode) == (16, "average", "analog")
    assert main([*base, "--crossbar", "8x8", "--neuron", "behavioral", "-o", str(tmp_path / "other")]) == 0
    lines = _warnings(capsys.readouterr().out)
    assert len(lines) == 1 and "circuit.crossbar.rows=8 (trained: 16)" in lines[0]
    assert "circuit.crossbar.columns=8 (trained: 16)" in lines[0] and "neuron" not in lines[0]
    summary = json.loads((tmp_path / "other" / "summary.json").read_text())
    assert summary["kind"].startswith("imac")


def test_train_refuses_a_bad_crossbar_in_one_line(tmp_path, capsys):
    assert main(["train", "-m", "mlp-64-8-10", "-d", "digits", "--crossbar", "0x4", "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "0x4" in err[0] and "Traceback" not in err[0]


def test_the_netlist_of_a_trained_model_uses_its_crossbars(trained_run, tmp_path):
    from imaclab.imac import NetlistJob, run

    result = run(NetlistJob(model=str(trained_run / "imac.npz"), data="digits"), out_file=tmp_path / "x.sp")
    # 16x16 tiles as trained: 65 rows -> 5 partitions, 17 rows -> 2 (32x32 tiles would give 3 and 1)
    assert result.crossbars_per_layer == [5, 2]
