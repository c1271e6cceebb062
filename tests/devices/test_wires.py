"""Wire parasitics against hand computation (docs/parasitics.md)."""

import math

import pytest

from imaclab.devices.wires import (WireConfig, capacitance_per_length_f_per_m, effective_resistivity_ohm_m,
                                   segment_parasitics)


def test_resistivity_default_9nm_by_hand():
    # w = 27 nm, lambda = 39 nm, R = 0.3, p = 0.25
    alpha = 39 / 27 * 0.3 / 0.7
    ms = 1 / (1 - 1.5 * alpha + 3 * alpha**2 - 3 * alpha**3 * math.log(1 + 1 / alpha))
    fs = 0.75 * 0.75 * 39 / 27
    assert alpha == pytest.approx(0.6190476, rel=1e-6)
    assert ms == pytest.approx(1.8622, rel=1e-3)
    assert fs == pytest.approx(0.8125, rel=1e-9)
    assert effective_resistivity_ohm_m(WireConfig()) == pytest.approx(1.9e-8 * (ms + fs), rel=1e-12)


def test_segment_resistance_by_hand():
    par = segment_parasitics(WireConfig())
    rho = effective_resistivity_ohm_m(WireConfig())
    area = 27e-9 * 22e-9
    assert par.input_line_r_ohm == pytest.approx(rho * 108e-9 / area)   # cell width 12 x 9 nm
    assert par.output_line_r_ohm == pytest.approx(rho * 135e-9 / area)  # cell length 15 x 9 nm
    assert par.input_line_r_ohm == pytest.approx(9.2416, rel=1e-4)
    assert par.output_line_r_ohm == pytest.approx(11.552, rel=1e-4)


def test_bulk_resistivity_without_size_effects():
    cfg = WireConfig(size_effects=False)
    assert effective_resistivity_ohm_m(cfg) == 1.9e-8


def test_capacitance_sakurai_tamaru_by_hand():
    w, t, h, s = 27e-9, 22e-9, 20e-9, 45e-9
    ground = 1.15 * w / h + 2.80 * (t / h) ** 0.222
    coupling = (0.03 * w / h + 0.83 * t / h - 0.07 * (t / h) ** 0.222) * (s / h) ** -1.34
    per_m = 8.8541878128e-12 * 20 * (ground + 2 * coupling)
    assert capacitance_per_length_f_per_m(WireConfig()) == pytest.approx(per_m, rel=1e-12)
    par = segment_parasitics(WireConfig())
    assert par.output_line_c_f == pytest.approx(per_m * 135e-9, rel=1e-12)
    assert par.input_line_c_f == pytest.approx(per_m * 108e-9, rel=1e-12)
    assert 0.05e-15 < par.input_line_c_f < 0.2e-15


def test_switching_parasitics_off():
    par = segment_parasitics(WireConfig(resistance=False, capacitance=False))
    assert par.input_line_r_ohm == par.output_line_r_ohm == 0.0
    assert par.input_line_c_f == par.output_line_c_f == 0.0


def test_resistance_scales_with_node():
    r9 = segment_parasitics(WireConfig(node_m=9e-9)).output_line_r_ohm
    r45 = segment_parasitics(WireConfig(node_m=45e-9)).output_line_r_ohm
    # wider wires: less size effect and larger cross-section per length
    assert r45 < r9
