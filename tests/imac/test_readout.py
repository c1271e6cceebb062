"""Digital readout of the output layer: bit-sliced weights and ADCs on partial sums.

Closed forms (``imaclab.circuit.description``, "Digital readout"): a ``B^S``-level weight is the
place-value sum of its ``S`` ``B``-level slices, so with ideal devices, no parasitics and no ADC
the sliced network gives the unsliced outputs; per-channel ADC codes are checked against codes
computed by hand; ngspice runs the same sliced circuit (its netlist comes from the same
description) and agrees with the fast solver.
"""

import numpy as np
import pytest

from imaclab.circuit import MLPModel, build_circuit
from imaclab.circuit.description import slice_weights
from imaclab.errors import ConfigError
from imaclab.imac import ImacConfig, evaluate
from imaclab.solver import SolverOptions, simulate
from imaclab.spice.runner import SpiceOptions, run_spice
from solver_helpers import needs_ngspice

#: Ideal wires, behavioral neurons, the fast backend: the closed forms hold to round-off.
IDEAL = {"neuron.kind": "behavioral", "circuit.parasitics.resistance": False, "circuit.parasitics.capacitance": False,
         "simulation.backend": "fast", "simulation.fast.latency": False}


def _grid_model(sizes, levels=16, seed=0, gains=(4.0, 4.0)):
    """Weights on the ``levels``-point grid (weight_scale 1 keeps them there)."""
    rng = np.random.default_rng(seed)
    def grid(shape):
        return -1.0 + 2.0 * rng.integers(0, levels, size=shape) / (levels - 1)
    ws = tuple(grid((a, b)) for a, b in zip(sizes[:-1], sizes[1:]))
    bs = tuple(grid(b) for b in sizes[1:])
    return MLPModel(weights=ws, biases=bs, weight_kind="multilevel", gains=gains[:len(sizes) - 1])


def _config(**over):
    base = IDEAL | {"devices.weight_kind": "multilevel", "devices.levels": 16, "devices.weight_scale": 1.0}
    return ImacConfig().with_overrides(base | over)


@pytest.mark.parametrize(("levels", "slices", "base"), [(16, 2, 4), (16, 4, 2), (9, 2, 3), (64, 3, 4)])
def test_slices_sum_to_the_weight_with_their_place_values(levels, slices, base):
    w = -1.0 + 2.0 * np.arange(levels)[:, None] / (levels - 1) * np.ones((1, 3))
    cols, places = slice_weights(w, "multilevel", levels, slices)
    assert cols.shape == (levels, 3 * slices)
    per_slice = cols.reshape(levels, 3, slices)
    # every slice is a B-level weight, and the place values rebuild w exactly
    k_s = (per_slice + 1.0) * (base - 1) / 2.0
    np.testing.assert_allclose(k_s, np.rint(k_s), atol=1e-12)
    np.testing.assert_allclose(per_slice @ places, w, atol=1e-14)
    assert places.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(places[1:] / places[:-1], base)


def test_slicing_refuses_levels_that_are_not_a_power_and_non_multilevel_weights():
    w = np.zeros((2, 2))
    with pytest.raises(ConfigError, match="B\\^2"):
        slice_weights(w, "multilevel", 10, 2)
    with pytest.raises(ConfigError, match="multilevel"):
        slice_weights(w, "binary", 16, 2)
    model = _grid_model([6, 3])
    with pytest.raises(ConfigError, match="imaclab"):
        build_circuit(_config(**{"converters.weight_slices": 2, "circuit.convention": "imacsim"}), model)
    with pytest.raises(ConfigError, match="join"):
        build_circuit(_config(**{"converters.weight_slices": 2, "circuit.amplifier.join": "average"}), model)


@pytest.mark.parametrize("over", [{"converters.weight_slices": 2}, {"converters.weight_slices": 4},
                                  {"converters.adc_per_partition": True},
                                  {"converters.weight_slices": 2, "converters.adc_per_partition": True}])
def test_ideal_sliced_network_reproduces_the_unsliced_outputs(over):
    """Two layers (the hidden one unsliced), 4x4 crossbars: the output layer's 6 rows span two
    partitions and its 3 outputs x S slices several column partitions."""
    model = _grid_model([9, 5, 3])
    x = np.random.default_rng(1).random((6, 9))
    plain = build_circuit(_config(), model)
    sliced = build_circuit(_config(**{"circuit.crossbar.rows": 4, "circuit.crossbar.columns": 4} | over), model)
    slices = over.get("converters.weight_slices", 1)
    parts = len(sliced.layers[-1].row_partitions) if over.get("converters.adc_per_partition") else 1
    assert sliced.n_readout == 3 * slices * parts == len(sliced.output_nodes())
    assert sliced.layers[-1].n_columns == 3 * slices
    v = plain.encode(x)
    reference = plain.ideal_forward(v)
    fast_plain = simulate(plain, v, options=SolverOptions(latency=False)).outputs
    sol = simulate(sliced, v, options=SolverOptions(latency=False))
    channels = sol.outputs
    assert channels.shape == (6, sliced.n_readout)
    np.testing.assert_allclose(sliced.combine_readout(channels), fast_plain, rtol=0, atol=1e-12)
    # every channel is its closed form: column gain x (its partition's rows . its slice's weights)
    last = sliced.layers[-1]
    rows_v = np.hstack([sol.hidden[-1], np.full((6, 1), sliced.bias_v)])
    w_phys = last.physical_weights()
    for k, amp in enumerate(last.amplifiers):
        rows = last.row_partitions[amp.partition] if amp.partition is not None else np.arange(last.n_rows)
        np.testing.assert_allclose(channels[:, k], last.column_gain * rows_v[:, rows] @ w_phys[rows, amp.column],
                                   rtol=0, atol=1e-12)
    # the software reference (the behavioral neuron's curve, which the solver evaluates in closed
    # form: 3e-6 V apart in the hidden layer) of the channels and of their sum
    np.testing.assert_allclose(channels, sliced.ideal_readout(v), rtol=0, atol=1e-5)
    np.testing.assert_allclose(sliced.combine_readout(sliced.ideal_readout(v)), reference, rtol=0, atol=1e-12)
    # the evaluation without an ADC: the unsliced circuit's outputs, the software's predictions
    res = evaluate(config=_config(**over | {"simulation.samples": 6}), model=model, dataset=(x, np.zeros(6)),
                   progress=False)
    np.testing.assert_allclose(res.outputs, fast_plain, atol=1e-12)
    assert res.agreement == 1.0


def test_adc_per_slice_against_hand_computed_codes():
    """One layer, 2 inputs + bias, 16-level weights as two 4-level slices, A = 3 so that the column
    gain is 1 (5k/15k devices: dG/G_mid = 1, u = A/N (v . w)); inputs x = (1, 0) -> (+0.8, -0.8) V,
    bias row +0.8 V; ADC 4 bits over +-2 V: lsb 0.25 V, codes in [-8, 7].

    Output 0, levels k = (13, 6, 9) for (x0, x1, bias): base-4 digits (1,3), (2,1), (1,2).
      slice 0: w = (-1/3, 1/3, -1/3) -> u = -0.8 V     -> code round(-3.2) = -3 -> -0.75 V
      slice 1: w = (1, -1/3, 1/3)    -> u = 1.3333 V   -> code round(5.33) =  5 ->  1.25 V
      places 3/15 and 12/15: 0.2 (-0.75) + 0.8 (1.25) = 0.85 V  (analog: 0.90667 V, one ADC: 4 -> 1.0 V)
    Output 1, k = (0, 15, 7): digits (0,0), (3,3), (3,1).
      slice 0: w = (-1, 1, 1)        -> u = -0.8 V     -> -3 -> -0.75 V
      slice 1: w = (-1, 1, -1/3)     -> u = -1.8667 V  -> round(-7.47) = -7 -> -1.75 V
      0.2 (-0.75) + 0.8 (-1.75) = -1.55 V  (analog: -1.65333 V, one ADC: round(-6.61) = -7 -> -1.75 V)
    """
    k = np.array([[13, 0], [6, 15]])
    kb = np.array([9, 7])
    model = MLPModel(weights=(-1.0 + 2.0 * k / 15,), biases=(-1.0 + 2.0 * kb / 15,), weight_kind="multilevel",
                     gains=(3.0,))
    data = (np.array([[1.0, 0.0]]), np.array([0]))
    conv = {"converters.adc_bits": 4, "converters.adc_range": 2.0, "simulation.samples": 1}
    sliced = evaluate(config=_config(**conv | {"converters.weight_slices": 2}), model=model, dataset=data,
                      progress=False)
    np.testing.assert_allclose(sliced.outputs, [[0.85, -1.55]], atol=1e-12)
    np.testing.assert_allclose(sliced.software_outputs, [[0.8 * 17 / 15, -0.8 * 31 / 15]], atol=1e-12)
    whole = evaluate(config=_config(**conv), model=model, dataset=data, progress=False)
    np.testing.assert_allclose(whole.outputs, [[1.0, -1.75]], atol=1e-12)
    # the channels themselves (order: output, then slice)
    circuit = sliced.circuit
    assert circuit.output_nodes() == ["out0_s0", "out0_s1", "out1_s0", "out1_s1"]
    channels = simulate(circuit, circuit.encode(data[0]), options=SolverOptions(latency=False)).outputs
    np.testing.assert_allclose(channels, [[-0.8, 0.8 * 5 / 3, -0.8, -0.8 * 7 / 3]], atol=1e-12)
    from imaclab.solver.adc import adc_codes

    np.testing.assert_array_equal(adc_codes(channels, 4, 2.0), [[-3, 5, -3, -7]])


def test_adc_on_partial_sums_against_hand_computed_codes():
    """Binary weights, 4 inputs + bias = 5 rows on 3-row crossbars: partitions rows {0, 1, 2} and
    {3, bias}; A = 5 -> column gain 1; x = (1, 1, 0, 1) -> (.8, .8, -.8, .8) V, bias .8 V; ADC 3 bits
    over +-2 V: lsb 0.5 V, codes in [-4, 3].

    Output 0, w = (1, -1, 1, 1), b = 1: partial sums -0.8 V and 1.6 V -> codes -2 and 3 (3.2)
      -> -1.0 + 1.5 = 0.5 V  (analog 0.8 V; one ADC on the joined column: round(1.6) = 2 -> 1.0 V)
    Output 1, w = (-1, -1, -1, 1), b = -1: partial sums -0.8 V and 0 V -> codes -2, 0 -> -1.0 V
      (one ADC: round(-1.6) = -2 -> -1.0 V)
    """
    w = np.array([[1, -1], [-1, -1], [1, -1], [1, 1]], dtype=float)
    model = MLPModel(weights=(w,), biases=(np.array([1.0, -1.0]),), weight_kind="binary", gains=(5.0,))
    data = (np.array([[1.0, 1.0, 0.0, 1.0]]), np.array([0]))
    conv = {"converters.adc_bits": 3, "converters.adc_range": 2.0, "simulation.samples": 1,
            "devices.weight_kind": "binary", "circuit.crossbar.rows": 3}
    split = evaluate(config=_config(**conv | {"converters.adc_per_partition": True}), model=model, dataset=data,
                     progress=False)
    assert split.circuit.output_nodes() == ["out0_h0", "out0_h1", "out1_h0", "out1_h1"]
    assert [p.tolist() for p in split.circuit.layers[0].row_partitions] == [[0, 1, 2], [3, 4]]
    np.testing.assert_allclose(split.outputs, [[0.5, -1.0]], atol=1e-12)
    joined = evaluate(config=_config(**conv), model=model, dataset=data, progress=False)
    np.testing.assert_allclose(joined.outputs, [[1.0, -1.0]], atol=1e-12)
    np.testing.assert_allclose(joined.software_outputs, [[0.8, -0.8]], atol=1e-12)


def test_calibrated_adc_per_channel_uses_each_channels_reference():
    """A calibrated full scale is per readout channel: the largest |ideal channel output|; with
    enough bits the digitized sum approaches the analog outputs: error <= sum_k place_k lsb_k (half an
    LSB from rounding, a whole one at the top of the range, where the largest code is 2^(b-1) - 1)."""
    model = _grid_model([9, 5, 3])
    x = np.random.default_rng(3).random((20, 9))
    over = {"converters.weight_slices": 2, "converters.adc_per_partition": True, "circuit.crossbar.rows": 4,
            "simulation.samples": 20}
    analog = evaluate(config=_config(**over), model=model, dataset=(x, np.zeros(20)), progress=False)
    for bits in (6, 10):
        res = evaluate(config=_config(**over | {"converters.adc_bits": bits}), model=model,
                       dataset=(x, np.zeros(20)), progress=False)
        circuit = res.circuit
        fs = np.abs(circuit.ideal_readout(circuit.encode(x))).max(axis=0)
        bound = (circuit.layers[-1].readout_matrix() * (fs / 2 ** (bits - 1))[:, None]).sum(axis=0)
        err = np.abs(res.outputs - analog.outputs)
        assert np.all(err <= bound + 1e-12)
        assert err.max() > 0.05 * bound.min()  # the ADC does quantize


@needs_ngspice
def test_sliced_partial_sum_network_matches_ngspice(tmp_path):
    """The netlist of a sliced network with partial-sum channels (from the same description),
    with wire parasitics and device variation, against the fast solver (ideal sources: round-off)."""
    model = _grid_model([7, 4, 3], seed=2)
    cfg = ImacConfig().with_overrides({"neuron.kind": "behavioral", "devices.weight_kind": "multilevel",
                                       "devices.levels": 16, "devices.variation_sigma_pct": 5.0,
                                       "circuit.crossbar.rows": 4, "circuit.crossbar.columns": 4,
                                       "converters.weight_slices": 2, "converters.adc_per_partition": True})
    circuit = build_circuit(cfg, model)
    assert circuit.n_readout == 3 * 2 * 2
    v = circuit.encode(np.random.default_rng(5).random((4, 7)))
    fast = simulate(circuit, v, options=SolverOptions(latency=False))
    spice = run_spice(circuit=circuit, samples_v=v, options=SpiceOptions(analysis="dc"), workdir=tmp_path,
                      progress=False)
    assert not spice.errors
    assert spice.outputs.shape == fast.outputs.shape == (4, 12)
    assert np.abs(fast.outputs - spice.outputs).max() < 1e-6
    np.testing.assert_allclose(fast.total_power_w, spice.total_power_w, rtol=1e-6)
