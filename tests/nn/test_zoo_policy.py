"""Model zoo shapes and the mixed-precision policy conversion."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from imaclab.errors import ConfigError, UnknownNameError
from imaclab.nn.imac_layers import IMACHead, IMACLinear
from imaclab.nn.layers import QConv2d, QLinear
from imaclab.nn.policy import (POLICIES, MixedHead, PrecisionPolicy, apply_policy, get_policy, layer_targets,
                               load_policy_file)
from imaclab.nn.zoo import MODELS, build_model, make_divisible


CNN_CASES = [(name, (1, 28, 28)) for name in MODELS if name != "mlp"] + [
    ("resnet18", (3, 32, 32)), ("mobilenet-v2", (3, 32, 32)), ("shufflenet-v2", (3, 32, 32))]


@pytest.mark.parametrize("name, shape", CNN_CASES)
def test_every_cnn_builds_for_28_and_32_pixel_inputs(name, shape):
    torch.manual_seed(0)
    model = build_model(name, 10, shape, width=0.125)
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(2, *shape))
    assert out.shape == (2, 10)
    assert model.classifier.dims[-1] == 10
    assert any(isinstance(m, nn.Conv2d) for m in model.features.modules())


def test_lenet5_and_mlp_shapes():
    lenet = build_model("lenet5", 10, (1, 28, 28))
    assert lenet.classifier.dims == [400, 120, 84, 10]
    assert build_model("lenet5", 10, (1, 32, 32)).classifier.dims == [400, 120, 84, 10]
    assert build_model("mlp-64-32-10", 10, (1, 8, 8)).classifier.dims == [64, 32, 10]
    assert build_model("mlp-400-120-84-10", 10, (400,)).classifier.dims == [400, 120, 84, 10]
    assert build_model("mlp", 10, (1, 8, 8), hidden=[16, 12]).classifier.dims == [64, 16, 12, 10]
    with pytest.raises(ConfigError, match="mlp-64-"):
        build_model("mlp-100-32-10", 10, (1, 8, 8))
    with pytest.raises(UnknownNameError, match="mobilenet-v2"):
        build_model("mobilenetv3", 10, (1, 28, 28))
    with pytest.raises(ConfigError, match="image inputs"):
        build_model("resnet18", 10, (784,))


def test_width_scales_channels_and_depthwise_layers_exist():
    small = build_model("mobilenet-v2", 10, (1, 28, 28), width=0.25)
    big = build_model("mobilenet-v2", 10, (1, 28, 28), width=0.5)
    n_small = sum(p.numel() for p in small.features.parameters())
    n_big = sum(p.numel() for p in big.features.parameters())
    assert n_big > 1.8 * n_small
    depthwise = [m for m in small.modules() if isinstance(m, nn.Conv2d) and m.groups == m.in_channels > 1]
    assert len(depthwise) == 17  # one per inverted-residual block (Sandler et al. Table 2)
    assert make_divisible(32 * 0.25) == 8 and make_divisible(24 * 0.35) == 8
    resnet = build_model("resnet18", 10, (3, 32, 32), width=1.0)
    n_params = sum(p.numel() for p in resnet.parameters())
    assert 11.0e6 < n_params < 11.4e6  # the CIFAR ResNet-18 has 11.17 M parameters


def test_tpu_imac_policy_converts_lenet():
    model = build_model("lenet5", 10, (1, 28, 28))
    assigned = apply_policy(model, get_policy("tpu-imac"))
    assert isinstance(model.features[0], QConv2d) and isinstance(model.features[3], QConv2d)
    head = model.classifier
    assert isinstance(head, MixedHead) and len(head.digital) == 0 and isinstance(head.imac, IMACHead)
    assert [layer.kind for layer in head.imac.layers] == ["binary"] * 3
    assert head.imac.layers[-1].neuron is None and head.imac.layers[0].neuron is not None
    assert assigned["features.0"].target == "tpu" and assigned["classifier.layers.2"].target == "imac"
    targets = layer_targets(model)
    assert targets["features.3"] == "tpu" and targets["classifier.imac.layers.1"] == "imac"
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_presets_and_ternary_and_int8():
    assert set(POLICIES) >= {"fp32", "tpu-int8", "tpu-imac", "tpu-imac-ternary"}
    model = build_model("mobilenet-v2", 10, (1, 28, 28), width=0.25)
    apply_policy(model, get_policy("tpu-imac-ternary"))
    assert all(isinstance(m, QConv2d) for m in model.features.modules() if isinstance(m, nn.Conv2d))
    assert [layer.kind for layer in model.classifier.imac.layers] == ["ternary"]
    fp = build_model("lenet5", 10, (1, 28, 28))
    apply_policy(fp, get_policy("fp32"))
    assert not any(isinstance(m, (QConv2d, QLinear, IMACLinear)) for m in fp.modules())
    int8 = build_model("lenet5", 10, (1, 28, 28))
    apply_policy(int8, get_policy("tpu-int8"))
    assert all(isinstance(m, QLinear) for m in int8.classifier.digital)


def test_yaml_override_per_layer(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("base: tpu-imac\n"
                    "layers:\n"
                    "  classifier.layers.0: {target: tpu}\n"
                    "  features.0: {target: fp32, weight: {kind: fp32}, act_bits: null}\n"
                    "  classifier.layers.[12]: {target: imac, weight: {kind: ternary, scale: none}}\n")
    policy = load_policy_file(path)
    assert policy.name == "policy"
    assert PrecisionPolicy.from_yaml(policy.to_yaml()) == policy
    model = build_model("lenet5", 10, (1, 28, 28))
    assigned = apply_policy(model, policy)
    assert type(model.features[0]) is nn.Conv2d and isinstance(model.features[3], QConv2d)
    assert isinstance(model.classifier.digital[0], QLinear)
    assert [layer.kind for layer in model.classifier.imac.layers] == ["ternary", "ternary"]
    assert assigned["classifier.layers.0"].target == "tpu"
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_policy_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: tpu-imac\nlayers:\n  classifier.layers.1: {target: tpu}\n")
    with pytest.raises(ConfigError, match="tail of the classifier"):
        apply_policy(build_model("lenet5", 10, (1, 28, 28)), load_policy_file(bad))
    conv = tmp_path / "conv.yaml"
    conv.write_text("base: tpu-imac\nconv: {target: imac, weight: {kind: binary}}\n")
    with pytest.raises(ConfigError, match="cannot run on IMAC"):
        apply_policy(build_model("lenet5", 10, (1, 28, 28)), load_policy_file(conv))
    typo = tmp_path / "typo.yaml"
    typo.write_text("base: tpu-imac\nfc: {targt: imac}\n")
    with pytest.raises(ConfigError, match="targt"):
        load_policy_file(typo)
    with pytest.raises(UnknownNameError, match="tpu-imac"):
        get_policy("tpu-imax")
    with pytest.raises(ConfigError, match="uniform"):
        PrecisionPolicy.from_dict({"conv": {"target": "tpu", "weight": {"kind": "binary"}}})
