"""The compiled kernels of the numpy backend against the generic (backend-neutral) formulas."""

from __future__ import annotations

import numpy as np
import pytest

from imaclab.devices.neuron_loaded import LoadedNeuronTable
from imaclab.solver.backend import get_backend
from imaclab.solver.neurons import NeuronLoad, TransistorNeuron, _finish

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
    load = NeuronLoad(get_backend("numpy"), coupled_admittance(rng, 23, [(0, 9), (9, 17), (17, 23)]), 0.8,
                      rng.uniform(50.0, 150.0, size=24))
    pins = compiled.pin_cells(pin)
    (row_c, fx_c), v0_c = compiled.start(pin)
    (row_g, fx_g), v0_g = generic.start(pin)
    assert np.array_equal(row_c, row_g) and np.array_equal(row_c, pins[0])
    np.testing.assert_allclose(fx_c, fx_g, rtol=0, atol=1e-15)
    np.testing.assert_allclose(v0_c, v0_g, rtol=0, atol=1e-15)
    np.testing.assert_allclose(v0_c, generic.output(pins, np.zeros_like(pin))[0], rtol=0, atol=1e-12)

    v_c, step_c, peak_c = compiled.newton_step(pins, v.copy(), current, load)
    v_g, step_g, peak_g = generic.newton_step(pins, v.copy(), current, load)
    np.testing.assert_allclose(v_c, v_g, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(step_c, step_g, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(v - step_c, v_c, rtol=0, atol=1e-15)
    assert peak_c == pytest.approx(peak_g, rel=1e-12) and peak_c > 0

    p_c = compiled.power(pin, pins, current)
    p_g = generic.power(pin, pins, current)
    for a, b in zip(p_c, p_g):
        assert a.shape == (37,)
        np.testing.assert_allclose(a, b, rtol=1e-12)

    # the operating point after a last step: the fused kernel against the generic formulas
    sol_c, peak_i_c = _finish(get_backend("numpy"), compiled, load, v_c, current.copy(), step_c, pin, pins)
    sol_g, peak_i_g = _finish(get_backend("numpy"), generic, load, v_g, current.copy(), step_g, pin, pins)
    for name in ("current", "pin_power", "supply_power", "row_delivered", "row_lost", "bias_current"):
        np.testing.assert_allclose(getattr(sol_c, name), getattr(sol_g, name), rtol=1e-12, atol=1e-18, err_msg=name)
    assert peak_i_c == pytest.approx(peak_i_g, rel=1e-14)
    # and against their definitions: currents moved through the diagonal and the rank-one coupling
    load_matrix = np.asarray(load.matrix)
    rank_one = np.zeros_like(load_matrix)
    for k, (lo, hi) in enumerate(zip(load.block_lo, load.block_hi)):
        rank_one[lo:hi, lo:hi] = load.sigma[k] * np.outer(load.u[lo:hi], load.w[lo:hi])
    approx = np.diag(np.diag(load_matrix)) + rank_one
    np.testing.assert_allclose(sol_c.current, current - step_c @ approx.T, rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(sol_c.row_delivered, (v_c * sol_c.current).sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(sol_c.row_lost, (sol_c.current ** 2 * load.source_ohm).sum(axis=1), rtol=1e-12)
    assert sol_c.row_lost.min() > 0
    np.testing.assert_allclose(sol_c.pin_power, compiled.power(pin, pins, sol_c.current)[0], rtol=1e-12)


def test_start_curve_is_the_self_loaded_output():
    """Newton's start: at every pin point of the table, v = v_out(pin, g v) (the neuron loaded by
    its own row's conductance g alone), interpolated linearly between pin points, on both paths."""
    table = synthetic_table()
    compiled = TransistorNeuron(table, get_backend("numpy"))
    generic = TransistorNeuron(table, get_backend("numpy"))
    generic._compiled = False
    g = 0.012
    patches = compiled.start_curve(g)
    v_grid = np.append(patches[:, 0], patches[-1, 0] + patches[-1, 1])
    np.testing.assert_allclose(v_grid, table.output(table.pin_v, g * v_grid)[0], rtol=0, atol=1e-12)
    # it sags: the unloaded outputs are larger in magnitude wherever the output is not ~0
    unloaded = table.output(table.pin_v, np.zeros_like(table.pin_v))[0]
    assert np.all(np.abs(v_grid) <= np.abs(unloaded) + 1e-15) and np.abs(unloaded - v_grid).max() > 0.05
    pin = np.random.default_rng(5).uniform(-2.5, 2.5, size=(9, 7))
    (_, _), v0_c = compiled.start(pin, g)
    (_, _), v0_g = generic.start(pin, g)
    np.testing.assert_allclose(v0_c, v0_g, rtol=0, atol=1e-15)
    np.testing.assert_allclose(v0_c, np.interp(pin, table.pin_v, v_grid), rtol=0, atol=1e-14)


def test_newton_step_solves_the_rank_one_jacobian():
    """The step solves (D - S sigma u w^T) step = v - f exactly per sample and block (a dense solve
    agrees), where sigma u w^T is each block's largest singular triplet of the load's coupling."""
    neuron = TransistorNeuron(synthetic_table(), get_backend("numpy"))
    rng = np.random.default_rng(1)
    n, bounds = 12, [(0, 5), (5, 12)]
    y = coupled_admittance(rng, n, bounds)
    load = NeuronLoad(get_backend("numpy"), y, 0.8)
    pin = rng.uniform(-1.0, 1.0, size=(4, n))
    current = rng.uniform(-0.008, 0.008, size=(4, n))
    v = rng.uniform(-0.8, 0.8, size=(4, n))
    pins = neuron.pin_cells(pin)
    stepped, _, peak = neuron.newton_step(pins, v.copy(), current, load)
    f, s = neuron.output(pins, current)
    rank_one = np.zeros((n, n))
    for k, (lo, hi) in enumerate(bounds):
        off = y[lo:hi, lo:hi] - np.diag(np.diag(y[lo:hi, lo:hi]))
        left, values, right = np.linalg.svd(off)
        rank_one[lo:hi, lo:hi] = values[0] * np.outer(left[:, 0], right[0])
        assert values[0] == pytest.approx(float(load.sigma[k]))
    jac = np.eye(n)[None] - s[:, :, None] * (np.diag(np.diag(y[:n, :n])) + rank_one)[None]
    step = np.linalg.solve(jac, (v - f)[..., None])[..., 0]
    np.testing.assert_allclose(stepped, v - step, rtol=0, atol=1e-12)
    assert peak == pytest.approx(np.abs(step).max(), rel=1e-10)


def coupled_admittance(rng, n, bounds):
    """A symmetric source admittance (bias row last) with coupled rows inside each block."""
    y = np.zeros((n + 1, n + 1))
    for lo, hi in bounds:
        block = -rng.uniform(0.0, 1e-3, size=(hi - lo, hi - lo))
        y[lo:hi, lo:hi] = block + block.T
        y[np.arange(lo, hi), np.arange(lo, hi)] = 0.012
    y[:n, n] = y[n, :n] = -1e-3
    y[n, n] = 0.02
    return y
