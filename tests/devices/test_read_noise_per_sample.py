"""Read noise drawn per sample (``devices.read_noise_draw: sample``) in the fast solver.

Closed form: a read of device ``G`` is ``G (1 + sigma z)``; with ideal wires an amplifier's
output is ``R_f sum_i v_i (G+_i - G-_i)``, so per sample it is Gaussian around the noiseless
output with variance ``R_f^2 sum_i v_i^2 (sigma+_i^2 G+_i^2 + sigma-_i^2 G-_i^2)``.
"""

import numpy as np
import pytest

from imaclab.circuit import MLPModel, build_circuit
from imaclab.circuit.netlist import write_netlist
from imaclab.devices.aging import age, age_for_sampled_reads, pcm_read_sigma
from imaclab.devices.memristor import DeviceConfig
from imaclab.errors import ConfigError
from imaclab.imac import ImacConfig
from imaclab.solver import SolverOptions, simulate

IDEAL_WIRES = {"neuron.kind": "behavioral", "circuit.parasitics.resistance": False,
               "circuit.parasitics.capacitance": False, "devices.weight_kind": "multilevel", "devices.levels": 8}


def _model(fan_in=6, fan_out=3, seed=0):
    rng = np.random.default_rng(seed)
    return MLPModel(weights=(-1.0 + 2.0 * rng.integers(0, 8, (fan_in, fan_out)) / 7,),
                    biases=(-1.0 + 2.0 * rng.integers(0, 8, fan_out) / 7,), weight_kind="multilevel", gains=(4.0,))


def _closed_form_variance(circuit, v_row):
    lay = circuit.layers[0]
    t = lay.tiles[0]
    rows = np.append(v_row, circuit.bias_v)
    rf = np.array([a.transimpedance_ohm for a in lay.amplifiers])
    sig_p, sig_n = lay.read_sigma
    cells = (sig_p * t.g_pos) ** 2 + (sig_n * t.g_neg) ** 2  # one tile: [rows, columns]
    return rf ** 2 * (rows ** 2 @ cells)


@pytest.mark.parametrize("noise", [{"devices.read_noise": "relative", "devices.read_noise_pct": 5.0},
                                   {"devices.read_noise": "pcm", "devices.time_s": 3600.0}])
def test_per_sample_variance_is_the_closed_form(noise):
    cfg = ImacConfig().with_overrides(IDEAL_WIRES | noise | {"devices.read_noise_draw": "sample"})
    circuit = build_circuit(cfg, _model())
    lay = circuit.layers[0]
    t = lay.tiles[0]
    # the stored variance: sigma^2 G^2 of both devices (pcm: aihwkit's sigma at the programmed G)
    if noise["devices.read_noise"] == "relative":
        sig_p = sig_n = 0.05
    else:
        dev = cfg.devices
        sig_p = pcm_read_sigma(t.g_pos, dev.g_low_s, 3600.0, dev.drift_t0_s, dev.read_time_s)
        sig_n = pcm_read_sigma(t.g_neg, dev.g_low_s, 3600.0, dev.drift_t0_s, dev.read_time_s)
    np.testing.assert_allclose(lay.read_sigma[0], sig_p, rtol=1e-12)
    np.testing.assert_allclose(lay.read_sigma[1], sig_n, rtol=1e-12)
    n = 20000
    x = np.tile(np.random.default_rng(1).random((1, 6)), (n, 1))
    v = circuit.encode(x)
    out = simulate(circuit, v, options=SolverOptions(latency=False)).outputs
    var = _closed_form_variance(circuit, v[0])
    quiet = circuit.ideal_forward(v[:1])[0]  # the noiseless outputs (ideal wires: the closed form)
    # sample variance: relative standard error sqrt(2/(n-1)) = 1 %; mean: sqrt(var/n)
    np.testing.assert_allclose(out.var(axis=0, ddof=1), var, rtol=0.05)
    assert np.all(np.abs(out.mean(axis=0) - quiet) < 5 * np.sqrt(var / n))
    # each output is Gaussian: 95.45 % within two standard deviations (binomial se 0.15 %)
    inside = np.mean(np.abs(out - quiet) < 2 * np.sqrt(var), axis=0)
    np.testing.assert_allclose(inside, 0.9545, atol=0.008)


def test_per_evaluation_draws_over_seeds_have_the_same_variance():
    """The device-level model (one draw of every device per evaluation, solved through the whole
    circuit) over 400 seeds: its variance over seeds is the per-sample closed form (standard error
    of a variance over 400 draws: 7 %)."""
    noise = {"devices.read_noise": "relative", "devices.read_noise_pct": 5.0}
    model = _model()
    v = None
    outs = []
    for seed in range(400):
        circuit = build_circuit(ImacConfig().with_overrides(IDEAL_WIRES | noise | {"devices.seed": seed}), model)
        if v is None:
            v = circuit.encode(np.random.default_rng(1).random((1, 6)))
        outs.append(simulate(circuit, v, options=SolverOptions(latency=False)).outputs[0])
    sampled = build_circuit(ImacConfig().with_overrides(IDEAL_WIRES | noise | {"devices.read_noise_draw": "sample"}),
                            model)
    np.testing.assert_allclose(np.var(outs, axis=0, ddof=1), _closed_form_variance(sampled, v[0]), rtol=0.3)
    # one draw per evaluation: every sample of an evaluation reads the same devices
    same = simulate(circuit, np.repeat(v, 50, axis=0), options=SolverOptions(latency=False)).outputs
    assert np.ptp(same, axis=0).max() == 0.0


def test_draws_do_not_depend_on_batches_and_latency_is_the_noiseless_one():
    noise = {"devices.read_noise": "relative", "devices.read_noise_pct": 3.0}
    sizes_model = MLPModel(weights=(np.sign(np.random.default_rng(2).normal(size=(7, 4))),
                                    np.sign(np.random.default_rng(3).normal(size=(4, 3)))),
                           biases=(np.ones(4), -np.ones(3)), weight_kind="binary", gains=(4.0, 4.0))
    base = {"neuron.kind": "behavioral", "devices.weight_kind": "binary", "circuit.crossbar.rows": 4}
    sampled = build_circuit(ImacConfig().with_overrides(base | noise | {"devices.read_noise_draw": "sample"}),
                            sizes_model)
    quiet = build_circuit(ImacConfig().with_overrides(base), sizes_model)
    v = sampled.encode(np.random.default_rng(4).random((9, 7)))
    a = simulate(sampled, v, options=SolverOptions(batch_size=4))
    b = simulate(sampled, v, options=SolverOptions(batch_size=512, latency=False))
    np.testing.assert_allclose(a.outputs, b.outputs, rtol=0, atol=1e-12)  # (BLAS blocking: round-off)
    q = simulate(quiet, v)
    assert np.abs(a.outputs - q.outputs).max() > 1e-3  # the noise is there
    np.testing.assert_allclose(a.latency_s, q.latency_s, rtol=1e-12)


def test_sampled_reads_keep_the_other_draws_and_ngspice_refuses_them():
    dev = DeviceConfig(read_noise="relative", read_noise_pct=2.0, drift="power-law", drift_nu_mean=0.05,
                       drift_nu_std=0.02, time_s=1e4, relaxation_pct_per_decade=1.0)
    g = np.full((5, 3), 1e-4)
    gp, gn, sp, sn = age_for_sampled_reads(g, g * 0.5, dev, np.random.default_rng(0))
    quiet = DeviceConfig(**(dev.to_dict() | {"read_noise": "none"}))
    qp, qn = age(g, g * 0.5, quiet, np.random.default_rng(0))
    np.testing.assert_array_equal(gp, qp)  # drift and relaxation: the same devices, no read draw
    np.testing.assert_array_equal(gn, qn)
    np.testing.assert_array_equal(sp, 0.02)
    circuit = build_circuit(ImacConfig().with_overrides(IDEAL_WIRES | {"devices.read_noise": "relative",
                                                                      "devices.read_noise_pct": 2.0,
                                                                      "devices.read_noise_draw": "sample"}), _model())
    with pytest.raises(ConfigError, match="read_noise_draw"):
        write_netlist(circuit, circuit.encode(np.zeros((1, 6))))


def test_resistive_wires_lower_the_read_noise_as_the_device_level_model_does():
    """Low-resistance devices (200/600 ohm) on 16x8 tiles with the default 14 nm wires: the wire
    drops shrink the signal and each cell's share of the column current.  The per-sample model's
    first-order sensitivities through the wires give the variance over 200 seeds of the
    device-level model (one draw per evaluation, solved through the whole circuit), while the
    ideal-wire closed form overestimates it several times."""
    rng = np.random.default_rng(0)
    model = MLPModel(weights=(-1.0 + 2.0 * rng.integers(0, 8, (15, 8)) / 7,),
                     biases=(-1.0 + 2.0 * rng.integers(0, 8, 8) / 7,), weight_kind="multilevel", gains=(4.0,))
    base = {"neuron.kind": "behavioral", "devices.weight_kind": "multilevel", "devices.levels": 8,
            "devices.read_noise": "relative", "devices.read_noise_pct": 10.0, "devices.r_low_ohm": 200.0,
            "devices.r_high_ohm": 600.0, "circuit.crossbar.rows": 16, "circuit.crossbar.columns": 8}
    sampled = build_circuit(ImacConfig().with_overrides(base | {"devices.read_noise_draw": "sample"}), model)
    v = sampled.encode(np.repeat(rng.random((1, 15)), 5000, axis=0))
    per_sample = simulate(sampled, v, options=SolverOptions(latency=False)).outputs.var(axis=0, ddof=1)
    per_eval = np.var([simulate(build_circuit(ImacConfig().with_overrides(base | {"devices.seed": s}), model),
                                v[:1], options=SolverOptions(latency=False)).outputs[0] for s in range(200)],
                      axis=0, ddof=1)
    np.testing.assert_allclose(per_sample, per_eval, rtol=0.3)  # standard error of a variance over 200: 10 %
    assert np.all(_closed_form_variance(sampled, v[0]) > 5 * per_eval)
