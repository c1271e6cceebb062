"""The loaded transistor-neuron table and the two-node dynamic model against ngspice."""

from __future__ import annotations

import numpy as np
import pytest

from imaclab.devices import NeuronConfig, load_neuron_curve, sky130_available
from imaclab.devices.neuron_loaded import current_range_for, load_loaded_neuron, load_neuron_dynamics, pin_range_for
from imaclab.devices.ngspice_io import run_ngspice
from imaclab.devices.neuron import neuron_subcircuit_lines
from solver_helpers import needs_ngspice

pytestmark = [needs_ngspice, pytest.mark.skipif(not sky130_available(), reason="sky130 models not installed")]
COARSE = dict(pin_step_v=0.02, current_points=21)


def test_ranges_are_powers_of_two():
    assert current_range_for(0.0) == 1e-3
    assert current_range_for(3e-3) == 4e-3
    assert current_range_for(4e-3) == 4e-3
    cfg = NeuronConfig()
    assert pin_range_for(cfg, 1.0) == cfg.sweep_v
    assert pin_range_for(cfg, cfg.sweep_v * 1.5) == 2 * cfg.sweep_v


def test_unloaded_column_equals_the_transfer_curve():
    """Two characterizations of the same subcircuit: the 2-D table at i_out = 0 and the
    circuit room's unloaded DC curve."""
    cfg = NeuronConfig()
    table = load_loaded_neuron(cfg, max_current_a=1e-3, **COARSE)
    curve = load_neuron_curve(cfg)
    pins = np.linspace(-2.5, 2.5, 41)
    v, _ = table.output(pins, np.zeros_like(pins))
    np.testing.assert_allclose(v, curve.pin_transfer(pins), atol=2e-4)


def test_loaded_output_matches_a_resistively_loaded_neuron(tmp_path):
    """v = v_out(pin, v / R) solved on the table equals ngspice with a resistor on the output."""
    cfg = NeuronConfig()
    table = load_loaded_neuron(cfg, max_current_a=0.02)  # the default grid (the 1 mV-bound one)
    r_load = 60.0
    pins = np.array([-1.0, -0.3, 0.0, 0.4, 1.2])
    lines = ["* loaded neuron check", *cfg.models.include_lines("ngspice"), *neuron_subcircuit_lines(cfg),
             f"Vp vp 0 {cfg.vdd_v}", f"Vn vn 0 {-cfg.vdd_v}"]
    for k, p in enumerate(pins):
        lines += [f"Vpin{k} pin{k} 0 {p}", f"X{k} pin{k} out{k} vp vn imac_neuron", f"Rl{k} out{k} 0 {r_load}"]
    lines += [".options nomod", ".op", ".end", ""]
    net = tmp_path / "load.sp"
    net.write_text("\n".join(lines))
    plot = run_ngspice(net).plots[-1]
    ref = np.array([plot[f"v(out{k})"][0].real for k in range(pins.size)])
    v = np.zeros_like(pins)
    for _ in range(50):  # fixed point v = f(pin, v / R): contraction r_out / R < 1
        v, _ = table.output(pins, v / r_load)
    np.testing.assert_allclose(v, ref, atol=3e-4)
    assert np.abs(ref - table.output(pins, np.zeros_like(pins))[0]).max() > 0.05  # the sag is real


@pytest.mark.slow
def test_dynamic_model_statics_and_fit():
    cfg = NeuronConfig()
    dyn = load_neuron_dynamics(cfg)
    table = load_loaded_neuron(cfg, max_current_a=1e-3)
    pins = np.linspace(-2.0, 2.0, 21)
    _, o = dyn.equilibrium(pins, np.zeros_like(pins))
    v, _ = table.output(pins, np.zeros_like(pins))
    np.testing.assert_allclose(o, v, atol=3e-3)  # 20 mV inverter grid vs the 10 mV neuron table
    # sky130: the BSIM charges are used as they are (scales ~1) plus overlap/fringe capacitance,
    # and the model reproduces the subcircuit's step responses to a few millivolts
    assert dyn.meta["bsim_charges"]
    assert 0.8 < dyn.charge_scale_gate < 1.25 and 0.8 < dyn.charge_scale_out < 1.25
    assert dyn.fit_rms_v < 2e-3
    c11, c12, c21, c22 = dyn.capacitance(np.array([0.0, 0.5]), np.array([0.0, -0.4]))
    assert np.all(c11 > 0) and np.all(c22 > 0) and np.all(c11 * c22 - c12 * c21 > 0)


def _reference_step(dyn, gate, out, pin_now, pin_next, h, load_g, load_rest, extra_c, newton=2):
    """The trapezoidal step written with the model's public numpy lookups (the kernel's oracle)."""
    r_in, r_fb, off = dyn.r_input_ohm, dyn.r_feedback_ohm, dyn.offset_v
    c11, c12, c21, c22 = dyn.capacitance(gate, out)
    c22 = c22 + extra_c
    fg0 = (pin_now + off - gate) / r_in + (out - gate) / r_fb
    fo0 = dyn.inverter(gate, out)[0] + (gate - out) / r_fb - load_g * out - load_rest
    g, o = gate, out
    j11 = c11 / h + 0.5 * (1 / r_in + 1 / r_fb)
    j12 = c12 / h - 0.5 / r_fb
    for _ in range(newton):
        i, dg, do = dyn.inverter(g, o)
        fg = (pin_next + off - g) / r_in + (o - g) / r_fb
        fo = i + (g - o) / r_fb - load_g * o - load_rest
        rg = (c11 * (g - gate) + c12 * (o - out)) / h - 0.5 * (fg + fg0)
        ro = (c21 * (g - gate) + c22 * (o - out)) / h - 0.5 * (fo + fo0)
        j21 = c21 / h - 0.5 * (dg + 1 / r_fb)
        j22 = c22 / h - 0.5 * (do - 1 / r_fb - load_g)
        det = j11 * j22 - j12 * j21
        g, o = g - (j22 * rg - j12 * ro) / det, o - (j11 * ro - j21 * rg) / det
    return g, o


def test_compiled_transient_step_equals_the_numpy_formulas_and_settles_to_equilibrium():
    dyn = load_neuron_dynamics(NeuronConfig())
    rng = np.random.default_rng(7)
    shape = (9, 13)
    gate, out = rng.uniform(-0.9, 0.9, size=(2, *shape))
    pin_now, pin_next = rng.uniform(-3.0, 3.0, size=(2, *shape))
    load_g = rng.uniform(0.0, 0.02, size=shape[1])                # per neuron, broadcast over samples
    load_rest = rng.uniform(-1e-3, 1e-3, size=shape)
    extra_c = rng.uniform(0.0, 5e-15, size=shape[1])
    got = dyn.step(gate, out, pin_now, pin_next, 2.5e-12, load_g, load_rest, extra_c)
    want = _reference_step(dyn, gate, out, pin_now, pin_next, 2.5e-12, load_g, load_rest, extra_c)
    for a, b in zip(got, want):
        assert a.shape == shape
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    # scalar loads (the capacitance fit's call) broadcast too
    got = dyn.step(gate[0], out[0], pin_now[0], pin_next[0], 1e-11)
    want = _reference_step(dyn, gate[0], out[0], pin_now[0], pin_next[0], 1e-11, 0.0, 0.0, 0.0)
    np.testing.assert_allclose(got[1], want[1], rtol=0, atol=1e-12)
    # held pins: the transient settles to the static equilibrium of the same model
    pins = np.linspace(-2.0, 2.0, 9)
    g, o = np.zeros_like(pins), np.zeros_like(pins)
    for _ in range(400):
        g, o = dyn.step(g, o, pins, pins, 2e-11, 0.01)
    g_eq, o_eq = dyn.equilibrium(pins, np.zeros_like(pins), 0.01)
    np.testing.assert_allclose(o, o_eq, rtol=0, atol=1e-6)
    np.testing.assert_allclose(g, g_eq, rtol=0, atol=1e-6)
