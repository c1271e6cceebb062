"""Physical ranges: bounded config fields, the fast solver's energy balance, impossible transients."""

import numpy as np
import pytest

from imaclab.circuit import NetworkConfig, build_circuit
from imaclab.devices.neuron import NeuronConfig, load_neuron_curve, loaded_curve
from imaclab.errors import ConfigError, InputError, SimulationError
from imaclab.solver import SolverOptions, simulate
from imaclab.solver.forward import check_power_balance


@pytest.mark.parametrize("key,value", [("devices.r_high_ohm", 1e30), ("devices.r_low_ohm", 0.5),
                                       ("neuron.r_feedback_ohm", 1e15), ("neuron.vdd_v", -1.0),
                                       ("circuit.loading.buffer_output_resistance_ohm", -1.0)])
def test_out_of_range_fields_are_one_line_config_errors(key, value):
    with pytest.raises(ConfigError) as info:
        NetworkConfig().with_set([f"{key}={value}"])
    assert key.split(".")[-1] in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("load", [-5.0, 0.0, float("inf"), float("nan")])
def test_behavioral_neuron_refuses_a_non_physical_load(load):
    with pytest.raises(InputError, match="load_ohm"):
        load_neuron_curve(NeuronConfig(kind="behavioral"), load_ohm=load)
    with pytest.raises(InputError, match="load_ohm"):
        loaded_curve(load_neuron_curve(NeuronConfig(kind="behavioral")), load)


def test_power_balance_refuses_passive_parts_that_deliver_power():
    ok = {"crossbars": np.array([1e-3, 2e-3]), "amplifiers": np.zeros(2), "neurons": np.array([-1e-4, 1e-4]),
          "buffers": np.zeros(2)}
    check_power_balance(ok)
    with pytest.raises(SimulationError, match="power balance check failed: the passive crossbars deliver"):
        check_power_balance({**ok, "crossbars": np.array([1e-3, -1e-6])})
    with pytest.raises(SimulationError, match="power balance check failed: the amplifiers power of sample 1"):
        check_power_balance({**ok, "amplifiers": np.array([0.0, np.nan])})
    check_power_balance({**ok, "crossbars": np.array([1e-3, -1e-13])})   # round-off passes


def test_solver_refuses_a_result_that_fails_its_balance(small_config, model_6_5_3):
    """Devices of 1e20 ohm (past the config bound, forced in) drive the crossbar power negative."""
    cfg = small_config()
    object.__setattr__(cfg.devices, "r_low_ohm", 1e20)
    object.__setattr__(cfg.devices, "r_high_ohm", 3e20)
    circ = build_circuit(cfg, model_6_5_3)
    v = np.random.default_rng(0).choice([-0.8, 0.8], size=(4, 6))
    with pytest.raises(SimulationError, match="power balance check failed"):
        simulate(circ, v, options=SolverOptions(latency=False))
    # in range, the same network passes the check
    good = simulate(build_circuit(small_config(), model_6_5_3), v, options=SolverOptions(latency=False))
    assert (good.power_w["crossbars"] > 0).all()
