"""Weight mapping, variation and faults."""

import numpy as np
import pytest

from imaclab.devices.column import delta_conductance_s, ideal_column_gain, transimpedance_ohm
from imaclab.devices.memristor import (DeviceConfig, apply_nonidealities, layer_rng, layer_weight_scale,
                                       map_conductances, quantize_weights)
from imaclab.errors import ConfigError


def test_binary_mapping_is_r_low_r_high():
    cfg = DeviceConfig()
    gp, gn = map_conductances(np.array([1.0, -1.0]), cfg, "binary")
    assert 1 / gp[0] == pytest.approx(5e3) and 1 / gn[0] == pytest.approx(15e3)
    assert 1 / gp[1] == pytest.approx(15e3) and 1 / gn[1] == pytest.approx(5e3)


@pytest.mark.parametrize("zero,r", [("high", 15e3), ("low", 5e3), ("mid", 1 / (0.5 * (1 / 5e3 + 1 / 15e3)))])
def test_ternary_zero_is_equal_pair(zero, r):
    gp, gn = map_conductances(np.array([0.0]), DeviceConfig(ternary_zero=zero), "ternary")
    assert gp[0] == gn[0] == pytest.approx(1 / r)


def test_multilevel_difference_is_proportional_to_weight():
    cfg = DeviceConfig(levels=5)
    w = quantize_weights(np.array([-1.0, -0.6, 0.1, 0.49, 1.2]), "multilevel", 5)
    assert w.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    gp, gn = map_conductances(w, cfg, "multilevel")
    assert np.allclose(gp - gn, w * delta_conductance_s(5e3, 15e3))
    # both devices sit on the 5-level conductance grid
    grid = 1 / 15e3 + np.arange(5) / 4 * delta_conductance_s(5e3, 15e3)
    assert all(np.isclose(grid, g).any() for g in np.concatenate([gp, gn]))


def test_weight_scale_per_layer():
    w = np.array([[0.5, -2.0]])
    assert layer_weight_scale(w, np.array([1.0, 0.0]), "multilevel") == 2.0
    assert layer_weight_scale(w, np.array([3.0, 0.0]), "real") == 3.0
    assert layer_weight_scale(np.sign(w), np.zeros(2), "binary") == 1.0


def test_variation_is_seeded_and_bounded():
    cfg = DeviceConfig(variation_uniform_pct=10, seed=7)
    g = np.full(20000, 1 / 10e3)
    a = apply_nonidealities(g, cfg, layer_rng(cfg, 0))
    b = apply_nonidealities(g, cfg, layer_rng(cfg, 0))
    c = apply_nonidealities(g, cfg, layer_rng(cfg, 1))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    r = 1 / a
    assert r.min() >= 9e3 - 1e-6 and r.max() <= 11e3 + 1e-6
    assert np.std(r / 10e3 - 1) == pytest.approx(0.1 / np.sqrt(3), rel=0.03)


def test_gaussian_variation_sigma():
    cfg = DeviceConfig(variation_sigma_pct=5, seed=1)
    r = 1 / apply_nonidealities(np.full(50000, 1e-4), cfg, layer_rng(cfg, 0))
    assert np.std(r / 1e4 - 1) == pytest.approx(0.05, rel=0.03)


def test_stuck_at_fault_rates():
    cfg = DeviceConfig(stuck_at_low_rate=0.1, stuck_at_high_rate=0.05, seed=3)
    r = 1 / apply_nonidealities(np.full(40000, 1 / 8e3), cfg, layer_rng(cfg, 0))
    assert np.mean(np.isclose(r, 5e3)) == pytest.approx(0.1, abs=0.01)
    assert np.mean(np.isclose(r, 15e3)) == pytest.approx(0.05, abs=0.01)


def test_config_rejects_inverted_levels():
    with pytest.raises(Exception) as info:
        DeviceConfig(r_low_ohm=20e3, r_high_ohm=15e3)
    assert "r_high_ohm" in str(info.value)


def test_ideal_column_gain_and_transimpedance():
    # dG / G_mid = 1 for 5k/15k, so gain = A / (fan_in + 1)
    assert ideal_column_gain(64, 5e3, 15e3, 30) == pytest.approx(30 / 65)
    g_mid = 0.5 * (1 / 5e3 + 1 / 10e3)
    assert transimpedance_ohm(10, 5e3, 10e3, 20) == pytest.approx(20 / (10 * g_mid))
    with pytest.raises(ConfigError):
        ideal_column_gain(4, 15e3, 5e3, 1)
