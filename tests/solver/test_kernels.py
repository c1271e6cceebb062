"""The compiled kernels of the numpy backend against the generic (backend-neutral) formulas."""

from __future__ import annotations

import numpy as np
import pytest

from imaclab.devices.neuron_loaded import LoadedNeuronTable
from imaclab.solver import kernels
from imaclab.solver.backend import get_backend
from imaclab.solver.neurons import TransistorNeuron

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba not installed")


def synthetic_table() -> LoadedNeuronTable:
    """A smooth, nonlinear two-port on a coarse grid: an inverter-like transfer whose output
    sags with current through a pin-dependent resistance."""
    pin = np.linspace(-2.0, 2.0, 81)
    current = np.linspace(-0.01, 0.01, 21)
    p, i = np.meshgrid(pin, current, indexing="ij")
    v_out = 0.8 * np.tanh(-3.0 * p) - (20.0 + 10.0 * np.cos(p)) * i - 300.0 * i ** 2
    return LoadedNeuronTable(pin_v=pin, current_a=current, v_out=v_out, i_pin=1e-6 * p + 1e-3 * i,
                             p_supply=1e-4 * (1.0 + p ** 2) + 0.8 * np.abs(i), vdd_v=0.8, source="synthetic")


def test_kernels_equal_the_generic_formulas():
    table = synthetic_table()
    compiled = TransistorNeuron(table, get_backend("numpy"))
    generic = TransistorNeuron(table, get_backend("numpy"))
    generic._compiled = False
    assert compiled._compiled
    rng = np.random.default_rng(0)
    pin = rng.uniform(-2.5, 2.5, size=(37, 23))       # beyond the table on both sides: clipped
    current = rng.uniform(-0.012, 0.012, size=(37, 23))
    v = rng.uniform(-0.8, 0.8, size=(37, 23))
    diag = rng.uniform(0.005, 0.02, size=23)
    pins = compiled.pin_cells(pin)

    z_c, de_c = compiled.newton_terms(pins, v, current, diag)
    z_g, de_g = generic.newton_terms(pins, v, current, diag)
    np.testing.assert_allclose(z_c, z_g, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(de_c, de_g, rtol=1e-14, atol=1e-18)
    # the terms are what they claim: z = (v - v_out) / (1 - s diag) at the table's point
    f, s = generic.output(pins, current)
    np.testing.assert_allclose(z_c * (1.0 - s * diag), v - f, rtol=1e-12, atol=1e-15)

    z1, coupled = rng.normal(size=(2, 37, 23)) * 1e-3
    v_c, peak_c = compiled.apply_step(v.copy(), z_c, z1, de_c, coupled)
    v_g, peak_g = generic.apply_step(v.copy(), z_c, z1, de_c, coupled)
    np.testing.assert_allclose(v_c, v_g, rtol=0, atol=1e-15)
    assert peak_c == pytest.approx(peak_g, rel=1e-14) and peak_c > 0

    p_c = compiled.power(pin, pins, current)
    p_g = generic.power(pin, pins, current)
    for a, b in zip(p_c, p_g):
        assert a.shape == (37,)
        np.testing.assert_allclose(a, b, rtol=1e-12)
