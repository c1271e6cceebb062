"""Netlists: a hand-solved 2x2 crossbar through ngspice, and HSPICE == ngspice as circuits."""

import re

import numpy as np
import pytest

from imaclab.circuit import MLPModel, build_circuit
from imaclab.circuit.netlist import write_netlist
from imaclab.devices.column import mid_conductance_s
from imaclab.devices.ngspice_io import run_ngspice


def _one_layer_2x2(small_config, parasitics: bool):
    """1 input + bias row = 2 rows, 2 outputs, on one 2x2 crossbar, all cells distinct (variation)."""
    model = MLPModel(weights=(np.array([[1.0, -1.0]]),), biases=(np.array([-1.0, 1.0]),), weight_kind="binary")
    cfg = small_config(**{"circuit.crossbar.rows": 2, "circuit.crossbar.columns": 2,
                          "circuit.parasitics.resistance": parasitics, "devices.variation_uniform_pct": 30.0,
                          "devices.seed": 11, "circuit.amplifier.gains": [7.0]})
    return build_circuit(cfg, model)


def _spice_outputs(circ, v, tmp_path, analysis="dc", dialect="ngspice"):
    nl = write_netlist(circ, v, analysis=analysis, dialect=dialect)
    path = tmp_path / f"n_{analysis}.sp"
    path.write_text(nl.text)
    plot = run_ngspice(path).plots[-1]
    return nl, plot, np.stack([plot[f"v({n})"] for n in nl.output_nodes], axis=1)


def test_2x2_crossbar_without_parasitics_matches_closed_form(small_config, tmp_path):
    circ = _one_layer_2x2(small_config, parasitics=False)
    assert circ.crossbars_per_layer == [1]
    t = circ.layers[0].tiles[0]
    v = np.array([[0.8], [-0.8]])
    _, _, out = _spice_outputs(circ, v, tmp_path)
    rf = 7.0 / (2 * mid_conductance_s(5e3, 15e3))
    for k in range(2):
        rows = np.array([v[k, 0], 0.8])  # input row, bias row at +VDD
        hand = rf * (rows @ t.g_pos - rows @ t.g_neg)  # I+ - I- into virtual grounds
        assert np.allclose(out[k], hand, rtol=1e-7, atol=1e-9)


def _stamp(g, a, b, cond):
    for i, j, s in ((a, a, 1), (b, b, 1), (a, b, -1), (b, a, -1)):
        if i is not None and j is not None:
            g[i, j] += s * cond


def test_2x2_crossbar_with_wire_resistance_matches_hand_nodal_solution(small_config, tmp_path):
    circ = _one_layer_2x2(small_config, parasitics=True)
    t = circ.layers[0].tiles[0]
    r_in, r_out = circ.parasitics.input_line_r_ohm, circ.parasitics.output_line_r_ohm
    v_in = 0.8
    # unknowns: input-line nodes n(r,c) 0..3, positive-line p(r,c) 4..7, negative-line m(r,c) 8..11
    idx = {("n", r, c): 2 * r + c for r in range(2) for c in range(2)}
    idx.update({("p", r, c): 4 + 2 * r + c for r in range(2) for c in range(2)})
    idx.update({("m", r, c): 8 + 2 * r + c for r in range(2) for c in range(2)})
    g = np.zeros((12, 12))
    rhs = np.zeros(12)
    drive = [v_in, 0.8]  # row 0: the input, row 1: the bias row (+VDD)
    for r in range(2):
        # driver -> n(r,0) -> n(r,1)
        a = idx[("n", r, 0)]
        g[a, a] += 1 / r_in
        rhs[a] += drive[r] / r_in
        _stamp(g, idx[("n", r, 0)], idx[("n", r, 1)], 1 / r_in)
        for c in range(2):
            _stamp(g, idx[("n", r, c)], idx[("p", r, c)], t.g_pos[r, c])
            _stamp(g, idx[("n", r, c)], idx[("m", r, c)], t.g_neg[r, c])
    for c in range(2):
        for line in ("p", "m"):
            _stamp(g, idx[(line, 0, c)], idx[(line, 1, c)], 1 / r_out)
            last = idx[(line, 1, c)]
            g[last, last] += 1 / r_out  # last segment to the amplifier's virtual ground
    x = np.linalg.solve(g, rhs)
    i_pos = np.array([x[idx[("p", 1, c)]] / r_out for c in range(2)])
    i_neg = np.array([x[idx[("m", 1, c)]] / r_out for c in range(2)])
    rf = 7.0 / (2 * mid_conductance_s(5e3, 15e3))
    hand = rf * (i_pos - i_neg)
    _, _, out = _spice_outputs(circ, np.array([[v_in]]), tmp_path)
    assert np.allclose(out[0], hand, rtol=1e-6)
    # and the wires matter: the parasitic-free answer differs
    ideal = rf * (np.array([v_in, 0.8]) @ (t.g_pos - t.g_neg))
    assert not np.allclose(hand, ideal, rtol=1e-3)


def test_average_join_equals_sum_without_parasitics(small_config, model_6_5_3, tmp_path):
    v = np.random.default_rng(2).choice([-0.8, 0.8], size=(3, 6))
    off = {"circuit.parasitics.resistance": False, "circuit.parasitics.capacitance": False}
    a = build_circuit(small_config(**off), model_6_5_3)
    b = build_circuit(small_config(**off, **{"circuit.amplifier.join": "average"}), model_6_5_3)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, _, out_a = _spice_outputs(a, v, tmp_path / "a")
    _, _, out_b = _spice_outputs(b, v, tmp_path / "b")
    assert np.allclose(out_a, a.ideal_forward(v), rtol=1e-6, atol=1e-6)
    assert np.allclose(out_b, out_a, rtol=1e-4, atol=1e-4)


def test_buffered_and_direct_drive_with_ideal_neuron_agree(small_config, model_6_5_3, tmp_path):
    v = np.random.default_rng(3).choice([-0.8, 0.8], size=(2, 6))
    outs = []
    for mode in ("direct", "ideal_buffer", "buffer"):
        circ = build_circuit(small_config(**{"circuit.loading.mode": mode}), model_6_5_3)
        d = tmp_path / mode
        d.mkdir()
        outs.append(_spice_outputs(circ, v, d)[2])
    # a behavioral neuron is an ideal source: buffering changes nothing but the 1-ohm buffer drop
    assert np.allclose(outs[0], outs[1], rtol=1e-7)
    assert np.allclose(outs[0], outs[2], rtol=0.05, atol=0.05)
    assert not np.allclose(outs[0], outs[2], rtol=1e-9)


def test_transient_settles_to_dc_solution(small_config, model_6_5_3, tmp_path):
    circ = build_circuit(small_config(), model_6_5_3)
    v = np.random.default_rng(4).choice([-0.8, 0.8], size=(3, 6))
    _, _, dc = _spice_outputs(circ, v, tmp_path)
    nl, plot, wave = _spice_outputs(circ, v, tmp_path, analysis="tran")
    t = plot["time"]
    ends = (np.arange(3) + 1) * circ.sampling_period_s
    tran = np.stack([np.interp(ends, t, wave[:, j]) for j in range(wave.shape[1])], axis=1)
    assert np.allclose(tran, dc, rtol=1e-3, atol=1e-3)


# ---------------------------------------------------------------------------- dialects
_BEHAV = re.compile(r"^([be])(\S+)\s+(\S+)\s+(\S+)\s+(?:v=|vol=)'?(.*?)'?$")


def canonical_elements(text: str) -> dict:
    """Dialect-independent view of a netlist: elements by kind with nodes and values."""
    out = {"elements": set(), "tables": set(), "subckts": [], "analyses": set(), "saved": set(), "includes": []}
    for raw in text.splitlines():
        line = raw.strip()
        low = line.lower()
        if not line or line.startswith("*"):
            continue
        if low.startswith((".include", ".lib")):
            out["includes"].append(re.sub(r"['\"]", "", low))
            continue
        if low.startswith((".subckt", ".ends")):
            out["subckts"].append(low)
            continue
        if low.startswith((".dc", ".tran", ".temp", ".param")):
            out["analyses"].add(low)
            continue
        if low.startswith((".save", ".probe")):
            out["saved"].update(tok for tok in low.split()[1:] if "(" in tok)
            continue
        if low.startswith((".option", ".end")):
            continue
        toks = low.split()
        kind = toks[0][0]
        if kind in "be" and "pwl" in low and "idx" in low:
            name, plus, minus = toks[0][1:], toks[1], toks[2]
            nums = [float(x) for x in re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", low.split("idx", 1)[1].replace(")", ""))]
            if kind == "e":
                nums = nums[1:]  # the controlling negative node '0'
            out["tables"].add((name, plus, minus, tuple(nums)))
        elif kind in "be" and ("v=" in low or "vol=" in low):
            m = _BEHAV.match(low)
            expr = re.sub(r"\s+", "", m.group(5))
            out["elements"].add(("behavioral", m.group(2), m.group(3), m.group(4), expr))
        else:
            out["elements"].add(tuple(toks))
    return out


@pytest.mark.parametrize("analysis", ["dc", "tran"])
@pytest.mark.parametrize("neuron", ["behavioral", "transistor"])
def test_hspice_and_ngspice_netlists_describe_the_same_circuit(small_config, model_6_5_3, analysis, neuron):
    from imaclab.devices.neuron import behavioral_curve

    cfg = small_config(**{"neuron.kind": neuron, "circuit.amplifier.output_clamp_v": 2.0})
    circ = build_circuit(cfg, model_6_5_3, neuron_curve=behavioral_curve(cfg.neuron))
    v = np.random.default_rng(5).choice([-0.8, 0.8], size=(4, 6))
    ng = canonical_elements(write_netlist(circ, v, analysis=analysis, dialect="ngspice").text)
    hs = canonical_elements(write_netlist(circ, v, analysis=analysis, dialect="hspice").text)
    # HSPICE spells current references I(Vx); otherwise identical expressions
    assert ng["elements"] == hs["elements"]
    assert ng["tables"] == hs["tables"]
    assert ng["subckts"] == hs["subckts"] and ng["analyses"] == hs["analyses"]
    assert ng["saved"] == hs["saved"] and ng["includes"] == hs["includes"]
    assert len(ng["elements"]) > 100
