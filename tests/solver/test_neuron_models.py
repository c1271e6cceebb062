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
