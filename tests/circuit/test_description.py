"""The circuit description: partitioning, mapping, element identities."""

import math

import numpy as np
import pytest

from imaclab.circuit import build_circuit, crossbars_per_layer, partition_counts
from imaclab.devices.column import delta_conductance_s, ideal_column_gain, mid_conductance_s


def test_partition_counts_formula():
    assert partition_counts(400, 120, 32, 32) == (13, 4)
    assert crossbars_per_layer([400, 120, 84, 10]) == [52, 12, 3]
    assert crossbars_per_layer([64, 32, 10]) == [3, 2]
    assert crossbars_per_layer([31, 32], 32, 32) == [1]          # 31 inputs + bias fill 32 rows
    assert crossbars_per_layer([32, 33], 32, 32) == [4]          # 33 rows -> 2, 33 outputs -> 2
    for fan_in, fan_out, r, c in [(7, 5, 3, 2), (100, 9, 16, 4)]:
        h, v = partition_counts(fan_in, fan_out, r, c)
        assert h == math.ceil((fan_in + 1) / r) and v == math.ceil(fan_out / c)


def test_tiles_cover_every_cell_once(model_6_5_3, small_config):
    circ = build_circuit(small_config(), model_6_5_3)
    assert circ.crossbars_per_layer == [2 * 2, 2 * 1]
    for lay in circ.layers:
        seen = np.zeros((lay.fan_in + 1, lay.fan_out), dtype=int)
        for t in lay.tiles:
            assert t.shape[0] <= 4 and t.shape[1] <= 3
            seen[np.ix_(t.rows, t.cols)] += 1
            assert t.has_bias_row == (t.h == len(lay.row_partitions) - 1)
        assert np.all(seen == 1)
        # partitions are even: sizes differ by at most one
        sizes = [p.size for p in lay.row_partitions]
        assert max(sizes) - min(sizes) <= 1


def test_mapping_encodes_weights_differentially(model_6_5_3, small_config):
    cfg = small_config()
    circ = build_circuit(cfg, model_6_5_3)
    dg = delta_conductance_s(5e3, 15e3)
    for lay, w, b in zip(circ.layers, model_6_5_3.weights, model_6_5_3.biases):
        full = np.vstack([w, b[None, :]])
        for t in lay.tiles:
            assert np.allclose(t.g_pos - t.g_neg, full[np.ix_(t.rows, t.cols)] * dg)
        g_mid = mid_conductance_s(5e3, 15e3)
        for amp in lay.amplifiers:
            assert amp.transimpedance_ohm == pytest.approx(lay.gain / ((lay.fan_in + 1) * g_mid))
            assert amp.sign == (-1 if lay.hidden else 1)
        assert lay.column_gain == pytest.approx(ideal_column_gain(lay.fan_in, 5e3, 15e3, lay.gain))


def test_average_join_has_one_amplifier_per_partition(model_6_5_3, small_config):
    circ = build_circuit(small_config(**{"circuit.amplifier.join": "average"}), model_6_5_3)
    lay = circ.layers[0]
    n_h = len(lay.row_partitions)
    assert len(lay.amplifiers) == lay.fan_out * n_h
    g_mid = mid_conductance_s(5e3, 15e3)
    assert lay.amplifiers[0].transimpedance_ohm == pytest.approx(n_h * lay.gain / ((lay.fan_in + 1) * g_mid))


def test_variation_is_reproducible(model_6_5_3, small_config):
    cfg = small_config(**{"devices.variation_sigma_pct": 10.0, "devices.seed": 5})
    a = build_circuit(cfg, model_6_5_3)
    b = build_circuit(cfg, model_6_5_3)
    c = build_circuit(cfg.with_overrides({"devices.seed": 6}), model_6_5_3)
    assert np.array_equal(a.layers[0].tiles[0].g_pos, b.layers[0].tiles[0].g_pos)
    assert not np.array_equal(a.layers[0].tiles[0].g_pos, c.layers[0].tiles[0].g_pos)


def test_parasitics_off_gives_zero_segments(model_6_5_3, small_config):
    circ = build_circuit(small_config(**{"circuit.parasitics.resistance": False,
                                         "circuit.parasitics.capacitance": False}), model_6_5_3)
    t = circ.layers[0].tiles[0]
    assert not t.r_in_seg.any() and not t.r_out_seg.any() and not t.c_in_node.any()


def test_ideal_forward_matches_the_contract(model_6_5_3, small_config):
    circ = build_circuit(small_config(), model_6_5_3)
    v = circ.encode(np.random.default_rng(1).random((4, 6)))
    l0, l1 = circ.layers
    h = circ.neuron_curve(l0.column_gain * (v @ l0.weights + circ.bias_v * l0.bias))
    u = l1.column_gain * (h @ l1.weights + circ.bias_v * l1.bias)
    assert np.allclose(circ.ideal_forward(v), u)


def test_declared_binary_with_real_values_is_refused(binary_model, small_config):
    m = binary_model([3, 2])
    from imaclab.circuit import MLPModel

    bad = MLPModel(weights=(m.weights[0] * 0.5,), biases=m.biases, weight_kind="binary", source="m.npz")
    with pytest.raises(Exception, match="declared binary"):
        build_circuit(small_config(), bad)


def test_model_validation_errors():
    from imaclab.circuit import MLPModel
    from imaclab.errors import InputError

    with pytest.raises(InputError, match="NaN"):
        MLPModel(weights=(np.array([[np.nan]]),), biases=(np.zeros(1),))
    with pytest.raises(InputError, match="expects"):
        MLPModel(weights=(np.zeros((3, 2)), np.zeros((4, 1))), biases=(np.zeros(2), np.zeros(1)))


def test_join_auto_follows_the_convention(model_6_5_3, small_config):
    """``circuit.amplifier.join: auto`` (the default): sum under imaclab -- the very circuit of an
    explicit ``sum`` -- and IMAC-Sim's averaged partitions under imacsim; an explicit join wins."""
    from imaclab.circuit.netlist import write_netlist

    assert small_config().circuit.amplifier.join == "auto"
    auto = build_circuit(small_config(), model_6_5_3)
    explicit = build_circuit(small_config(**{"circuit.amplifier.join": "sum"}), model_6_5_3)
    assert auto.convention == "imaclab" and auto.join == explicit.join == "sum"
    assert auto.counts() == explicit.counts() and auto.counts()["tie_resistors"] == 0
    v = np.random.default_rng(4).choice([-0.8, 0.8], size=(3, 6))
    assert np.array_equal(auto.ideal_forward(v), explicit.ideal_forward(v))
    assert write_netlist(auto, v).text == write_netlist(explicit, v).text
    imacsim = build_circuit(small_config(**{"circuit.convention": "imacsim"}), model_6_5_3)
    average = build_circuit(small_config(**{"circuit.convention": "imacsim", "circuit.amplifier.join": "average"}),
                            model_6_5_3)
    assert imacsim.join == "average" and imacsim.to_dict()["join"] == "average"
    assert imacsim.counts() == average.counts()
    n_h = [len(lay.row_partitions) for lay in imacsim.layers]
    assert imacsim.counts()["tie_resistors"] == sum(h * lay.fan_out for h, lay in zip(n_h, imacsim.layers)) > 0
    assert write_netlist(imacsim, v).text == write_netlist(average, v).text
    summed = build_circuit(small_config(**{"circuit.convention": "imacsim", "circuit.amplifier.join": "sum"}),
                           model_6_5_3)
    assert summed.join == "sum" and summed.counts()["tie_resistors"] == 0
