"""The exact reduction of tiles and layers against hand solutions and an independent nodal solve."""

from __future__ import annotations

import numpy as np
import pytest

from imaclab.circuit import NetworkConfig, build_circuit
from imaclab.circuit.description import Tile
from imaclab.errors import InputError
from imaclab.solver.reduction import reduce_layer, reduce_tile
from solver_helpers import random_model



def dense_nodal_solve(branches, fixed):
    """Independent reference: dense nodal analysis of conductances ``(node_a, node_b, siemens)``
    with the nodes in ``fixed`` held at their voltages; returns (node -> row, node voltages)."""
    free = sorted({k for a, b, _ in branches for k in (a, b) if k not in fixed}, key=str)
    index = {k: i for i, k in enumerate(free)}
    g = np.zeros((len(free), len(free)))
    rhs = np.zeros(len(free))
    for a, b, cond in branches:
        for x, y in ((a, b), (b, a)):
            if x in index:
                g[index[x], index[x]] += cond
                if y in index:
                    g[index[x], index[y]] -= cond
                else:
                    rhs[index[x]] += cond * fixed[y]
    return index, np.linalg.solve(g, rhs)

def make_tile(g_pos, g_neg, r_in=0.0, r_out=0.0) -> Tile:
    g_pos, g_neg = np.asarray(g_pos, float), np.asarray(g_neg, float)
    shape = g_pos.shape
    return Tile(layer=0, h=0, v=0, rows=np.arange(shape[0]), cols=np.arange(shape[1]), g_pos=g_pos, g_neg=g_neg,
                r_in_seg=np.full(shape, r_in), c_in_node=np.zeros(shape), r_out_seg=np.full(shape, r_out),
                c_out_node=np.zeros(shape))


def test_one_cell_with_wires_matches_hand_solution():
    # driver -R_in- i; i -(1/g+)- p -R_out- amp+ (0 V); i -(1/g-)- n -R_out- amp- (0 V)
    g_pos, g_neg, r_in, r_out = 1 / 5e3, 1 / 15e3, 7.0, 11.0
    y = reduce_tile(make_tile([[g_pos]], [[g_neg]], r_in, r_out)).admittance
    rp, rn = 1 / g_pos + r_out, 1 / g_neg + r_out
    r_total = r_in + rp * rn / (rp + rn)
    v = 0.8
    i_total = v / r_total
    v_i = v - i_total * r_in
    assert y[0, 0] * v == pytest.approx(i_total, rel=1e-12)
    # ports: row, positive line end, negative line end; I_port = Y v_port (out of the port)
    assert -y[1, 0] * v == pytest.approx(v_i / rp, rel=1e-12)
    assert -y[2, 0] * v == pytest.approx(v_i / rn, rel=1e-12)


def test_two_by_two_without_wires_is_the_conductance_sum():
    g_pos = np.array([[1 / 5e3, 1 / 15e3], [1 / 15e3, 1 / 5e3]])
    g_neg = np.array([[1 / 15e3, 1 / 5e3], [1 / 5e3, 1 / 15e3]])
    y = reduce_tile(make_tile(g_pos, g_neg)).admittance
    v = np.array([0.8, -0.8])
    line_pos = -(y[2:4, :2] @ v)   # current into each positive line end
    line_neg = -(y[4:6, :2] @ v)
    np.testing.assert_allclose(line_pos, v @ g_pos, rtol=1e-13)
    np.testing.assert_allclose(line_neg, v @ g_neg, rtol=1e-13)
    np.testing.assert_allclose(np.diag(y)[:2], (g_pos + g_neg).sum(axis=1), rtol=1e-13)


def _dense_tile_solve(tile: Tile, v_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Independent check: every node of the tile named and solved densely (amplifier inputs at 0 V).
    Returns row currents, positive/negative line-end currents and the total dissipation."""
    n_r, n_c = tile.shape
    branches = []  # (node a, node b, conductance)
    for r in range(n_r):
        prev = ("drv", r)
        for c in range(n_c):
            branches.append((prev, ("in", r, c), 1 / tile.r_in_seg[r, c]))
            prev = ("in", r, c)
    for pol in "pn":
        for c in range(n_c):
            for r in range(n_r - 1):
                branches.append(((pol, r, c), (pol, r + 1, c), 1 / tile.r_out_seg[r, c]))
            branches.append(((pol, n_r - 1, c), ("amp" + pol, c), 1 / tile.r_out_seg[n_r - 1, c]))
    for r in range(n_r):
        for c in range(n_c):
            branches.append((("in", r, c), ("p", r, c), tile.g_pos[r, c]))
            branches.append((("in", r, c), ("n", r, c), tile.g_neg[r, c]))
    fixed = {("drv", r): v_rows[r] for r in range(n_r)}
    fixed.update({(f"amp{p}", c): 0.0 for p in "pn" for c in range(n_c)})
    index, sol = dense_nodal_solve(branches, fixed)

    def volt(k):
        return fixed[k] if k in fixed else sol[index[k]]

    i_rows = np.zeros(n_r)
    i_pos = np.zeros(n_c)
    i_neg = np.zeros(n_c)
    heat = 0.0
    for a, b, cond in branches:
        i = (volt(a) - volt(b)) * cond
        heat += i * i / cond
        if a[0] == "drv":
            i_rows[a[1]] += i
        if b[0] == "ampp":
            i_pos[b[1]] += i
        if b[0] == "ampn":
            i_neg[b[1]] += i
    return i_rows, i_pos, i_neg, heat


def test_tile_reduction_matches_independent_dense_solve():
    rng = np.random.default_rng(3)
    n_r, n_c = 5, 4
    g_pos = 1 / rng.uniform(5e3, 15e3, (n_r, n_c))
    g_neg = 1 / rng.uniform(5e3, 15e3, (n_r, n_c))
    tile = make_tile(g_pos, g_neg, r_in=9.0, r_out=12.0)
    tile = Tile(**{**tile.__dict__, "r_in_seg": rng.uniform(5, 15, (n_r, n_c)),
                   "r_out_seg": rng.uniform(5, 15, (n_r, n_c))})
    v = rng.uniform(-0.8, 0.8, n_r)
    y = reduce_tile(tile).admittance
    i_rows, i_pos, i_neg, heat = _dense_tile_solve(tile, v)
    np.testing.assert_allclose(y[:n_r, :n_r] @ v, i_rows, rtol=1e-10)
    np.testing.assert_allclose(-(y[n_r:n_r + n_c, :n_r] @ v), i_pos, rtol=1e-10)
    np.testing.assert_allclose(-(y[n_r + n_c:, :n_r] @ v), i_neg, rtol=1e-10)
    # Tellegen: the power the sources deliver is what the resistors dissipate
    assert v @ (y[:n_r, :n_r] @ v) == pytest.approx(heat, rel=1e-10)


@pytest.mark.parametrize("kind", ["binary", "ternary", "multilevel"])
def test_ideal_layer_is_the_column_gain_relation(kind):
    """Parasitics and variation off: u = column_gain * (v @ W + v_bias * b) exactly."""
    sizes = [37, 11, 5]
    model = random_model(sizes, kind="real" if kind == "multilevel" else kind, seed=5)
    cfg = NetworkConfig().with_overrides({"neuron.kind": "behavioral", "circuit.crossbar.rows": 8,
                                          "circuit.crossbar.columns": 4, "circuit.parasitics.resistance": False,
                                          "circuit.parasitics.capacitance": False,
                                          "devices.weight_kind": kind})
    circuit = build_circuit(cfg, model)
    rng = np.random.default_rng(0)
    for lay in circuit.layers:
        lm = reduce_layer(circuit, lay.index)
        v = rng.uniform(-0.8, 0.8, (6, lay.fan_in))
        s = np.hstack([v, np.full((6, 1), circuit.bias_v)])
        amp = lm.amplifier_outputs(s @ lm.amp_current.T)
        u = lay.column_gain * (v @ lay.weights + circuit.bias_v * lay.bias)
        np.testing.assert_allclose(amp, -u if lay.hidden else u, rtol=1e-12, atol=1e-12)


def test_layer_with_resistive_drivers_and_amplifier_inputs_matches_dense_solve():
    """Driver resistance and amplifier input resistance make the sources/virtual grounds
    non-ideal; the reduced map must still equal a direct solve of the whole layer."""
    sizes = [9, 3]
    model = random_model(sizes, seed=2)
    cfg = NetworkConfig().with_overrides({"neuron.kind": "behavioral", "circuit.crossbar.rows": 4,
                                          "circuit.crossbar.columns": 2, "inputs.driver_resistance_ohm": 50.0,
                                          "circuit.amplifier.input_resistance_ohm": 20.0})
    circuit = build_circuit(cfg, model)
    lm = reduce_layer(circuit, 0)
    lay = circuit.layers[0]
    rng = np.random.default_rng(1)
    s = np.append(rng.uniform(-0.8, 0.8, lay.fan_in), circuit.bias_v)
    # dense solve: every tile node + driver nodes + amplifier nodes, sources ideal
    branches = []
    for i in range(lay.fan_in):
        branches.append((("src", i), ("drv", i), 1 / 50.0))
    for t in lay.tiles:
        n_r, n_c = t.shape
        for r in range(n_r):
            row = int(t.rows[r])
            prev = ("src", row) if row == lay.fan_in else ("drv", row)
            for c in range(n_c):
                branches.append((prev, (t.name, "i", r, c), 1 / t.r_in_seg[r, c]))
                prev = (t.name, "i", r, c)
                for pol, g in (("p", t.g_pos), ("n", t.g_neg)):
                    branches.append(((t.name, "i", r, c), (t.name, pol, r, c), g[r, c]))
        for pol in "pn":
            for c in range(n_c):
                for r in range(n_r - 1):
                    branches.append(((t.name, pol, r, c), (t.name, pol, r + 1, c), 1 / t.r_out_seg[r, c]))
                branches.append(((t.name, pol, n_r - 1, c), ("amp", pol, int(t.cols[c])),
                                 1 / t.r_out_seg[n_r - 1, c]))
    for j in range(lay.fan_out):
        for pol in "pn":
            branches.append((("amp", pol, j), ("gnd",), 1 / 20.0))
    fixed = {("src", i): s[i] for i in range(lay.fan_in + 1)}
    fixed[("gnd",)] = 0.0
    index, sol = dense_nodal_solve(branches, fixed)
    amp_diff = np.array([(sol[index[("amp", "p", j)]] - sol[index[("amp", "n", j)]]) / 20.0
                         for j in range(lay.fan_out)])
    np.testing.assert_allclose(lm.amp_current @ s, amp_diff, rtol=1e-9)
    src_current = np.zeros(lay.fan_in + 1)
    for a, b, cond in branches:
        if a[0] == "src":
            vb = sol[index[b]] if b in index else fixed[b]
            src_current[a[1]] += (s[a[1]] - vb) * cond
    np.testing.assert_allclose(lm.source_admittance @ s, src_current, rtol=1e-9)


def test_shorted_ports_are_refused():
    tile = make_tile([[1e-4]], [[1e-4]])
    bad = Tile(**{**tile.__dict__, "r_in_seg": np.array([[-1.0]])})
    with pytest.raises(InputError):
        reduce_tile(bad)
