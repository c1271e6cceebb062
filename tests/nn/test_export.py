"""Exports: the IMAC npz reproduces the trained network outside torch, and loads in the IMAC room."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from imaclab.devices.inputs import encode_inputs
from imaclab.devices.memristor import quantize_weights
from imaclab.devices.neuron import NeuronConfig, NeuronCurve, load_neuron_curve
from imaclab.data.datasets import load_dataset
from imaclab.nn.export import export_run, imac_inputs, layer_table
from imaclab.nn.policy import apply_policy, get_policy
from imaclab.nn.api import TrainJob
from imaclab.nn.training import load_data, predict, train
from imaclab.nn.zoo import build_model


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "run"
    config = TrainJob(model="mlp-64-32-10", data="digits", policy="tpu-imac", epochs=2, batch_size=32,
                         lr=0.03, threads=1)
    return train(config, out)


def _numpy_forward(npz_path, x01: np.ndarray) -> np.ndarray:
    """An independent reference: the devices room's encoding and neuron, the exported arrays."""
    with np.load(npz_path) as z:
        n = len(z["dims"]) - 1
        neuron = NeuronConfig.from_json(str(z["neuron_config"]))
        curve = load_neuron_curve(neuron)
        v = encode_inputs(x01, mode=str(z["input_mode"]), vdd_v=float(z["vdd_v"]),
                          threshold=float(z["input_threshold"]))
        for i in range(1, n + 1):
            u = z["gains"][i - 1] * (v @ z[f"W{i}"] + float(z["v_bias_v"]) * z[f"B{i}"])
            v = curve(u) if i < n else u
    return v


def test_npz_contents_are_on_the_device_grid(digits_run):
    path = digits_run.run_dir / "imac.npz"
    with np.load(path) as z:
        assert str(z["weight_kind"]) == "binary" and list(z["dims"]) == [64, 32, 10]
        assert z["W1"].shape == (64, 32) and z["B1"].shape == (32,) and z["W2"].shape == (32, 10)
        for key in ("W1", "B1", "W2", "B2"):
            assert set(np.unique(z[key])) <= {-1.0, 1.0}
            np.testing.assert_array_equal(quantize_weights(z[key], "binary"), z[key])
        assert z["amplifier_gains"].shape == (2,) and np.all(z["amplifier_gains"] > 0)
        curve = NeuronCurve(v_in=z["neuron_v_in"], v_out=z["neuron_v_out"], vdd_v=float(z["vdd_v"]), source="npz")
        behavioral = load_neuron_curve(NeuronConfig.from_json(str(z["neuron_config"])))
        np.testing.assert_allclose(curve.v_out, behavioral.v_out, atol=1e-6)


def test_numpy_reference_gives_the_torch_predictions(digits_run):
    test = load_dataset("digits", split="test", flatten=True)
    logits = _numpy_forward(digits_run.run_dir / "imac.npz", test.x.astype(np.float64))
    torch_pred = predict(digits_run.model, load_dataset("digits", split="test").x)
    np.testing.assert_array_equal(np.argmax(logits, axis=1), torch_pred)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == test.y))
    assert accuracy == pytest.approx(digits_run.test_accuracy)


def test_exported_mlp_loads_in_the_imac_room_with_the_same_predictions(digits_run):
    from imaclab.imac import model_io
    from imaclab.circuit.description import build_circuit
    from imaclab.imac.config import ImacConfig

    npz = digits_run.run_dir / "imac.npz"
    mlp = model_io.load_mlp(npz)
    assert mlp.weight_kind == "binary" and mlp.layer_sizes == [64, 32, 10]
    with np.load(npz) as z:
        neuron = NeuronConfig.from_json(str(z["neuron_config"]))
        np.testing.assert_allclose(mlp.gains, z["amplifier_gains"])
        mode = str(z["input_mode"])
    assert neuron.kind == "behavioral"
    config = ImacConfig().with_overrides({"neuron.kind": "behavioral", "inputs.mode": mode})
    config = config.model_copy(update={"neuron": neuron})
    circuit = build_circuit(config, mlp)
    test = load_dataset("digits", split="test", flatten=True)
    out = circuit.ideal_forward(circuit.encode(test.x.astype(np.float64)), loaded=False)
    torch_pred = predict(digits_run.model, load_dataset("digits", split="test").x)
    np.testing.assert_array_equal(np.argmax(out, axis=1), torch_pred)


def test_cnn_boundary_and_imac_part_reproduce_the_model(tmp_path):
    torch.manual_seed(0)
    model = build_model("lenet5", 10, (1, 28, 28))
    apply_policy(model, get_policy("tpu-imac-ternary"))
    x = torch.rand(64, 1, 28, 28)
    model.train()
    model(x)  # initializes activation ranges, the feature scale and the amplifier gains
    model.eval()
    written = export_run(model, tmp_path)
    x01 = imac_inputs(model, x.numpy())
    assert x01.shape == (64, 400) and 0.0 <= x01.min() and x01.max() <= 1.0
    # zero-centered codes: 0.5 + k/254 for k = 0..127 (the upper half of the 8-bit DAC)
    codes = (x01 - 0.5) * 254
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-3)
    assert x01.min() >= 0.5 and len(np.unique(np.round(codes))) > 20
    logits = _numpy_forward(written["imac"], x01)
    np.testing.assert_array_equal(np.argmax(logits, axis=1), predict(model, x.numpy()))
    with np.load(written["imac"]) as z:
        assert str(z["weight_kind"]) == "ternary" and float(z["feature_full_scale"]) > 0
        assert set(np.unique(z["W1"])) == {-1.0, 0.0, 1.0}
    doc = json.loads((tmp_path / "layers.json").read_text())
    assert doc["totals"]["imac"]["macs"] == 400 * 120 + 120 * 84 + 84 * 10
    assert doc["totals"]["tpu"]["layers"] == 2


def test_layer_table_for_depthwise_and_fp32_layers():
    model = build_model("mobilenet-v2", 10, (1, 28, 28), width=0.25)
    apply_policy(model, get_policy("fp32"))
    table = layer_table(model)
    kinds = [r["type"] for r in table]
    assert kinds.count("depthwise") == 17 and kinds[-1] == "fc"
    assert all(r["target"] == "fp32" for r in table)
    stem = table[0]
    assert stem["ifmap"] == [1, 28, 28] and stem["stride"] == [1, 1] and stem["kernel"] == [3, 3]
    dw = next(r for r in table if r["type"] == "depthwise")
    assert dw["groups"] == dw["in_channels"] == dw["out_channels"]
    assert dw["macs"] == dw["ofmap"][0] * dw["ofmap"][1] * dw["ofmap"][2] * 9
    assert table[-1]["in_features"] == 1280


def test_load_data_subsets():
    config = TrainJob(model="mlp", data="digits", train_samples=100, test_samples=50)
    data = load_data(config)
    assert len(data.train) == 100 and len(data.test) == 50
