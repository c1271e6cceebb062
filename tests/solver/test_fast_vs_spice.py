"""The fast backend against ngspice on tiny networks (the default suite's cross-check)."""

from __future__ import annotations

import numpy as np
import pytest

from imaclab.circuit import NetworkConfig, build_circuit
from imaclab.devices import sky130_available
from imaclab.errors import InputError
from imaclab.solver import POWER_COMPONENTS, SolverOptions, simulate
from imaclab.spice.runner import POWER_COMPONENTS as SPICE_POWER_COMPONENTS
from imaclab.spice.runner import SpiceOptions, run_spice
from solver_helpers import needs_ngspice, random_model

#: A coarser loaded-neuron grid keeps the first (uncached) characterization to seconds; its
#: bilinear error (~3 V^-1 * 0.02^2 / 8 = 0.15 mV) still sits well inside the 1 mV bound.
COARSE = dict(neuron_pin_step_v=0.02, neuron_current_points=21)


def _circuit(sizes, neuron, seed=0, **overrides):
    gains = tuple([6.0] * (len(sizes) - 2) + [4.0])
    model = random_model(sizes, overrides.pop("kind", "binary"), seed=seed, gains=gains)
    base = {"neuron.kind": neuron, "circuit.crossbar.rows": 8, "circuit.crossbar.columns": 4}
    return build_circuit(NetworkConfig().with_overrides(base | overrides), model)


def _compare(circuit, n, options, tmp_path):
    v = circuit.encode(np.random.default_rng(4).random((n, circuit.n_inputs)))
    fast = simulate(circuit, v, options=options)
    spice = run_spice(circuit=circuit, samples_v=v, options=SpiceOptions(analysis="dc"), workdir=tmp_path,
                      progress=False)
    assert not spice.errors
    return fast, spice


def test_power_components_are_the_spice_runners():
    assert POWER_COMPONENTS == SPICE_POWER_COMPONENTS


@needs_ngspice
def test_behavioral_network_with_parasitics_variation_and_average_join(tmp_path):
    circuit = _circuit([20, 7, 3], "behavioral", **{"devices.variation_sigma_pct": 10.0,
                                                    "circuit.amplifier.join": "average"})
    fast, spice = _compare(circuit, 8, SolverOptions(latency=False), tmp_path)
    assert np.abs(fast.outputs - spice.outputs).max() < 1e-6  # ideal sources: exact to round-off
    np.testing.assert_array_equal(fast.outputs.argmax(1), spice.outputs.argmax(1))
    for k in POWER_COMPONENTS:
        np.testing.assert_allclose(fast.power_w[k], spice.power_w[k], rtol=1e-6, atol=1e-12)


@needs_ngspice
@pytest.mark.skipif(not sky130_available(), reason="sky130 models not installed")
def test_transistor_network_under_load(tmp_path):
    """Loaded transistor neurons (direct drive of the next crossbar), ternary weights, RC wires."""
    circuit = _circuit([12, 5, 3], "transistor", seed=1, kind="ternary")
    fast, spice = _compare(circuit, 6, SolverOptions(latency=False, **COARSE), tmp_path)
    assert np.abs(fast.outputs - spice.outputs).max() < 1e-3
    np.testing.assert_array_equal(fast.outputs.argmax(1), spice.outputs.argmax(1))
    np.testing.assert_allclose(fast.total_power_w, spice.total_power_w, rtol=1e-2)
    # the load matters: an unloaded neuron curve would miss by far more than the bound
    unloaded = circuit.ideal_forward(circuit.encode(np.random.default_rng(4).random((6, 12))), loaded=False)
    assert np.abs(unloaded - spice.outputs).max() > 1e-3


@needs_ngspice
def test_behavioral_latency_matches_transient(tmp_path):
    circuit = _circuit([10, 4, 3], "behavioral", **{"inputs.sampling_period_s": 1e-9})
    v = circuit.encode(np.random.default_rng(2).random((3, 10)))
    fast = simulate(circuit, v)
    spice = run_spice(circuit=circuit, samples_v=v, options=SpiceOptions(analysis="tran", tran_step_s=2.5e-12),
                      workdir=tmp_path, progress=False)
    assert not spice.errors
    moved = spice.latency_s > 0
    np.testing.assert_allclose(fast.latency_s[moved], spice.latency_s[moved], rtol=0.10)
    np.testing.assert_array_equal(fast.latency_s[~moved], 0.0)


def test_torch_backend_equals_numpy():
    circuit = _circuit([20, 7, 3], "behavioral", **{"circuit.amplifier.join": "average"})
    v = circuit.encode(np.random.default_rng(0).random((5, 20)))
    a = simulate(circuit, v, options=SolverOptions(latency=False))
    b = simulate(circuit, v, options=SolverOptions(latency=False, array_backend="torch", device="cpu"))
    np.testing.assert_allclose(b.outputs, a.outputs, rtol=1e-12, atol=1e-12)
    for k in POWER_COMPONENTS:
        np.testing.assert_allclose(b.power_w[k], a.power_w[k], rtol=1e-12, atol=1e-15)


def test_bad_inputs_are_refused():
    circuit = _circuit([6, 3, 2], "behavioral")
    with pytest.raises(InputError):
        simulate(circuit, np.zeros((2, 5)))
    with pytest.raises(InputError):
        simulate(circuit, np.full((2, 6), np.nan))
