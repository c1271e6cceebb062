"""Layer extraction by tracing and placement on hand-built models (counts, shapes, MACs, where layers go)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from imaclab.errors import ConfigError, InputError
from imaclab.hetero import extract_layers, layer_counts, map_design, systolic_layer
from imaclab.nn.policy import apply_policy, get_policy
from imaclab.nn.zoo import build_model


def test_small_cnn_layers_kinds_shapes_and_macs(small_cnn):
    layers = extract_layers(small_cnn)
    assert [layer.kind for layer in layers] == ["conv", "pool", "depthwise", "pointwise", "pool", "linear", "linear"]
    assert [layer.name for layer in layers] == ["conv", "pool", "dw", "pw", "gap", "fc1", "fc2"]
    conv, pool, dw, pw, gap, fc1, fc2 = layers
    assert conv.in_shape == (1, 9, 9) and conv.out_shape == (4, 5, 5)
    assert conv.stride == (2, 2) and conv.padding == (1, 1) and conv.kernel == (3, 3)
    assert conv.macs == 4 * 5 * 5 * 3 * 3 * 1 and conv.params == 36 and conv.bias == 4
    assert pool.out_shape == (4, 2, 2) and pool.pool_op == "max" and pool.kernel == (2, 2)
    assert dw.groups == 4 and dw.macs == 4 * 2 * 2 * 9 and dw.params == 36 and dw.bias == 0
    assert pw.macs == 8 * 2 * 2 * 4 and pw.params == 32
    assert gap.pool_op == "avg" and gap.kernel == (2, 2) and gap.out_shape == (8, 1, 1)
    assert fc1.in_shape == (8,) and fc1.macs == 48 and fc1.bias == 6
    assert fc2.macs == 18
    # a float model: 32-bit weights, runs "fp32"
    assert all(layer.target == "fp32" for layer in layers if layer.is_compute)
    assert layer_counts(layers) == {"conv": 1, "pool": 2, "depthwise": 1, "pointwise": 1, "linear": 2}


def test_functional_add_pool_and_mean_are_recorded(residual_net):
    layers = extract_layers(residual_net)
    assert [layer.kind for layer in layers] == ["conv", "conv", "add", "pool", "pool", "linear"]
    add, maxpool, gap = layers[2], layers[3], layers[4]
    assert add.out_shape == (4, 8, 8)
    assert maxpool.pool_op == "max" and maxpool.out_shape == (4, 4, 4) and maxpool.kernel == (2, 2)
    assert gap.pool_op == "avg" and gap.kernel == (4, 4) and gap.out_shape == (4, 1, 1)


def test_quantized_and_imac_precisions_from_a_converted_zoo_model():
    torch.manual_seed(0)
    model = build_model("lenet5", 10, (1, 12, 12), width=0.5)
    apply_policy(model, get_policy("tpu-imac-ternary"))
    layers = extract_layers(model)
    convs = [layer for layer in layers if layer.kind == "conv"]
    fcs = [layer for layer in layers if layer.kind == "linear"]
    assert len(convs) == 2 and len(fcs) == 3
    assert all(layer.target == "tpu" and layer.weight_bits == 8 and layer.act_bits == 8 for layer in convs)
    assert all(layer.target == "imac" and layer.weight_kind == "ternary" and layer.weight_levels == 3 for layer in fcs)
    assert [layer.name for layer in fcs] == [f"classifier.imac.layers.{i}" for i in range(3)]
    # the IMAC head's input drivers and quantizers are not recorded as layers
    assert layer_counts(layers) == {"conv": 2, "pool": 2, "linear": 3}


def test_bad_inputs_raise_one_line_errors(small_cnn):
    with pytest.raises(InputError, match="input_shape"):
        extract_layers(nn.Sequential(nn.Linear(3, 2)))
    with pytest.raises(InputError, match="failed"):
        extract_layers(small_cnn, torch.zeros(1, 3, 9, 9))
    with pytest.raises(InputError, match="exactly one sample"):
        extract_layers(small_cnn, torch.zeros(2, 1, 9, 9))


def test_tpu_only_puts_every_weighted_layer_on_the_array(small_cnn):
    mapping = map_design(extract_layers(small_cnn), "tpu-only")
    assert [m.unit for m in mapping.layers] == ["tpu", "vector", "tpu", "tpu", "vector", "tpu", "tpu"]
    assert mapping.handoffs == ()
    assert all(m.weight_bits == 8 and m.act_bits == 8 for m in mapping.on("tpu"))


def test_tpu_imac_puts_the_fc_tail_on_crossbars_with_two_handoffs(small_cnn):
    mapping = map_design(extract_layers(small_cnn), "tpu-imac")
    assert [m.unit for m in mapping.layers] == ["tpu", "vector", "tpu", "tpu", "vector", "imac", "imac"]
    assert mapping.counts() == {"tpu": 3, "vector": 2, "imac": 2}
    (h_in, h_out) = mapping.handoffs
    assert (h_in.direction, h_in.before, h_in.values) == ("to-imac", 5, 8)
    assert (h_out.direction, h_out.before, h_out.values) == ("to-digital", 7, 3)


def test_imac_layer_selection_rules(small_cnn):
    layers = extract_layers(small_cnn)
    only_last = map_design(layers, "tpu-imac", imac_layers=["fc2"])
    assert [m.unit for m in only_last.layers][-2:] == ["tpu", "imac"]
    assert [h.values for h in only_last.handoffs] == [6, 3]
    assert map_design(layers, "tpu-imac", imac_layers="none").counts() == {"tpu": 5, "vector": 2}
    with pytest.raises(ConfigError, match="no layer named"):
        map_design(layers, "tpu-imac", imac_layers=["fc9"])
    with pytest.raises(ConfigError, match="only fully connected"):
        map_design(layers, "tpu-imac", imac_layers=["conv"])
    with pytest.raises(ConfigError, match="unknown design"):
        map_design(layers, "gpu")


def test_systolic_lowering_matches_pytorch_output_sizes_and_macs(small_cnn):
    for layer in extract_layers(small_cnn):
        if not layer.is_compute:
            continue
        lowered, repeats = systolic_layer(layer)
        assert lowered.macs * repeats == layer.macs, layer.name
    conv = extract_layers(small_cnn)[0]
    lowered, _ = systolic_layer(conv)
    # SCALE-Sim has no padding: the ifmap extent the outputs read, (5 - 1) * 2 + 3 = 11 = 9 + 2 * 1
    assert (lowered.ifmap_height, lowered.ofmap_height, lowered.ofmap_width) == (11, 5, 5)
