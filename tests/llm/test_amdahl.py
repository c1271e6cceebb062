"""Amdahl formulas against their closed forms."""

import math

import numpy as np
import pytest

from imaclab.errors import ConfigError
from imaclab.llm.amdahl import (amdahl, amdahl_ceiling, amdahl_speedup, factor_for_speedup, general_ceiling,
                                general_speedup)
from imaclab.llm.costs import CostBreakdown


def _cost(projection, attention, head, other, layers=1, unit="cycles"):
    return CostBreakdown("test", unit, layers, {"projection": projection, "attention": attention, "head": 0.0,
                                                "other": other}, {"projection": 0.0, "attention": 0.0,
                                                                  "head": head, "other": 0.0})


@pytest.mark.parametrize("f", [0.0, 0.1, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("s", [1.0, 2.0, 10.0, 1e6])
def test_speedup_closed_form(f, s):
    assert amdahl_speedup(f, s) == pytest.approx(1.0 / ((1 - f) + f / s))
    assert amdahl_speedup(f, s) <= amdahl_ceiling(f) + 1e-12


def test_ceiling_and_limits():
    assert amdahl_ceiling(0.75) == pytest.approx(4.0)
    assert amdahl_ceiling(1.0) == math.inf
    assert amdahl_speedup(0.75, math.inf) == pytest.approx(4.0)
    assert amdahl_speedup(0.0, 100.0) == 1.0
    assert amdahl_speedup(1.0, 8.0) == pytest.approx(8.0)
    grid = amdahl_speedup(np.array([0.5, 0.9]), np.array([2.0, 10.0]))
    assert grid == pytest.approx([1 / (0.5 + 0.25), 1 / (0.1 + 0.09)])
    with pytest.raises(ConfigError):
        amdahl_speedup(1.2, 2.0)
    with pytest.raises(ConfigError):
        amdahl_speedup(0.5, 0.0)


@pytest.mark.parametrize("f, target", [(0.9, 5.0), (0.5, 1.5), (0.99, 50.0)])
def test_factor_for_speedup_inverts(f, target):
    s = factor_for_speedup(f, target)
    assert amdahl_speedup(f, s) == pytest.approx(target)
    assert factor_for_speedup(0.5, 2.0) == math.inf  # the ceiling itself needs s = inf


def test_general_form():
    fractions = {"projection": 0.6, "attention": 0.3, "other": 0.1}
    assert general_speedup(fractions, {"projection": 4.0}) == pytest.approx(amdahl_speedup(0.6, 4.0))
    assert general_speedup(fractions, {"projection": 4.0, "attention": 2.0}) == pytest.approx(
        1.0 / (0.1 + 0.6 / 4 + 0.3 / 2))
    assert general_ceiling(fractions, ["projection"], {"attention": 2.0}) == pytest.approx(1 / (0.1 + 0.15))
    with pytest.raises(ConfigError, match="sum to 1"):
        general_speedup({"projection": 0.5}, {})


def test_amdahl_on_a_cost_with_a_factor():
    cost = _cost(projection=60.0, attention=25.0, head=10.0, other=5.0, layers=2)  # total 2*90 + 10 = 190
    result = amdahl(cost, factor=8.0, tokens_per_pass=4, clock_hz=1e9)
    f = 120.0 / 190.0
    assert result.fraction == pytest.approx(f)
    assert result.speedup == pytest.approx(1.0 / ((1 - f) + f / 8.0))
    assert result.ceiling == pytest.approx(1.0 / (1 - f))
    assert result.factor == pytest.approx(8.0)
    assert result.tokens_per_s_before == pytest.approx(4 / 190e-9)
    assert result.tokens_per_s_after == pytest.approx(result.tokens_per_s_before * result.speedup)
    both = amdahl(cost, improved=["projection", "head"], factor=8.0)
    assert both.fraction == pytest.approx(130.0 / 190.0)


def test_amdahl_attention_factor_is_the_general_form():
    cost = _cost(projection=60.0, attention=30.0, head=0.0, other=10.0)
    result = amdahl(cost, factor=4.0, attention_factor=2.0)
    assert result.speedup == pytest.approx(1.0 / (0.1 + 0.6 / 4 + 0.3 / 2))
    assert result.ceiling == pytest.approx(1.0 / (0.1 + 0.3 / 2))
    with pytest.raises(ConfigError):
        amdahl(cost, improved=["projection", "attention"], factor=2.0, attention_factor=2.0)


def test_amdahl_with_an_improved_cost_equals_total_ratio():
    before = _cost(projection=60.0, attention=30.0, head=6.0, other=4.0)
    after = _cost(projection=15.0, attention=30.0, head=6.0, other=4.0)
    result = amdahl(before, improved_cost=after)
    assert result.factor == pytest.approx(4.0)
    assert result.speedup == pytest.approx(before.total / after.total)
    assert result.speedup == pytest.approx(amdahl_speedup(0.6, 4.0))
    with pytest.raises(ConfigError, match="exactly one"):
        amdahl(before, factor=2.0, improved_cost=after)
    with pytest.raises(ConfigError, match="unknown cost category"):
        amdahl(before, improved=["ffn"], factor=2.0)
