"""Spec parsing, axis expansion, derived fields, validation and point keys (no processes)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sweep_probe_target import PROBE

from imaclab.errors import ConfigError, ImaclabError
from imaclab.sweep import SweepSpec, load_spec, plan_sweep, point_key
from imaclab.sweep.expressions import evaluate, parse_expression


def spec(**kwargs) -> SweepSpec:
    return SweepSpec.from_dict({"target": PROBE, **kwargs})


def test_product_of_axes_in_order_first_axis_outermost():
    plan = plan_sweep(spec(axes=[{"field": "terms", "values": [1, 2, 3]},
                                 {"field": "x", "linspace": {"start": 0, "stop": 1, "num": 5}}]))
    assert len(plan.points) == 15
    assert [p.overrides["terms"] for p in plan.points[:6]] == [1, 1, 1, 1, 1, 2]
    assert [p.overrides["x"] for p in plan.points[:5]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [p.index for p in plan.points] == list(range(15))
    assert plan.columns == ["terms", "x"]


def test_logspace_is_geometric_and_integer_rounds_and_dedupes():
    plan = plan_sweep(spec(axes=[{"field": "terms", "logspace": {"start": 1, "stop": 64, "num": 7},
                                  "integer": True}]))
    assert [p.overrides["terms"] for p in plan.points] == [1, 2, 4, 8, 16, 32, 64]
    plan = plan_sweep(spec(axes=[{"field": "x", "logspace": {"start": "1k", "stop": "1meg", "num": 4}}]))
    assert [p.overrides["x"] for p in plan.points] == [1e3, 1e4, 1e5, 1e6]
    plan = plan_sweep(spec(axes=[{"field": "terms", "linspace": {"start": 1, "stop": 2, "num": 5}, "integer": True}]))
    assert [p.overrides["terms"] for p in plan.points] == [1, 2]  # 1, 1.25->1, 1.5->2, ... deduplicated


def test_zip_varies_together_and_checks_lengths():
    plan = plan_sweep(spec(axes=[{"zip": [{"field": "terms", "values": [2, 4, 8]},
                                          {"field": "x", "values": [0.1, 0.2, 0.3]}]}]))
    assert [(p.overrides["terms"], p.overrides["x"]) for p in plan.points] == [(2, 0.1), (4, 0.2), (8, 0.3)]
    with pytest.raises(ConfigError, match=r"zip\(terms, x\).*same length.*terms: 3, x: 2"):
        plan_sweep(spec(axes=[{"zip": [{"field": "terms", "values": [2, 4, 8]},
                                       {"field": "x", "values": [0.1, 0.2]}]}]))


def test_random_axis_is_seeded_and_within_bounds():
    axis = {"random": {"samples": 50, "seed": 11, "fields": [
        {"field": "x", "uniform": [-1, 1]}, {"field": "terms", "integers": [2, 5]},
        {"var": "r", "loguniform": [1e3, 1e6]}, {"var": "c", "choice": ["os", "ws", "is"]}]}}
    first = plan_sweep(spec(axes=[axis]))
    again = plan_sweep(spec(axes=[axis]))
    assert [p.key for p in first.points] == [p.key for p in again.points]
    xs = np.array([p.overrides["x"] for p in first.points])
    assert xs.min() >= -1 and xs.max() < 1 and xs.std() > 0.3
    assert {p.overrides["terms"] for p in first.points} == {2, 3, 4, 5}
    rs = np.array([p.variables["r"] for p in first.points])
    assert rs.min() >= 1e3 and rs.max() < 1e6
    assert {p.variables["c"] for p in first.points} == {"os", "ws", "is"}
    # the draws are numpy's PCG64 stream for this seed, field after field
    rng = np.random.default_rng(11)
    assert np.allclose(xs, rng.uniform(-1, 1, 50))
    other = plan_sweep(spec(axes=[{"random": {**axis["random"], "seed": 12}}]))
    assert [p.overrides["x"] for p in other.points] != list(xs)


def test_random_axis_needs_a_seed():
    with pytest.raises(ConfigError, match=r"axes\.0\.random\.seed"):
        spec(axes=[{"random": {"samples": 3, "fields": [{"field": "x", "uniform": [0, 1]}]}}])


def test_derived_fields_from_variables_and_config_fields():
    plan = plan_sweep(spec(base={"x": 0.5},
                           axes=[{"var": "ratio", "values": [2, 10]}, {"field": "terms", "values": [3, 4]}],
                           derived={"delay_s": "x * ratio / 100", "seed": "terms * 1000 + int(log10(ratio))"}))
    settings = [(p.variables["ratio"], p.overrides["terms"], p.overrides["delay_s"], p.overrides["seed"])
                for p in plan.points]
    assert settings == [(2, 3, 0.01, 3000), (2, 4, 0.01, 4000), (10, 3, 0.05, 3001), (10, 4, 0.05, 4001)]
    assert plan.points[0].config["delay_s"] == 0.01


@pytest.mark.parametrize("text", ["__import__('os')", "x.__class__", "(lambda: 1)()", "[1, 2]", "open('f')",
                                  "x[0]"])
def test_expressions_refuse_anything_but_arithmetic(text):
    with pytest.raises(ConfigError, match="derived"):
        parse_expression(text, "derived 'a'")


def test_expression_arithmetic_matches_python():
    tree = parse_expression("max(a, 2) ** 2 / b.c if a > 1 else -a", "t")
    values = {"a": 3, "b.c": 4}
    assert evaluate(tree, values.__getitem__, "t") == pytest.approx(max(3, 2) ** 2 / 4)
    assert evaluate(tree, {"a": 0, "b.c": 4}.__getitem__, "t") == 0


def test_unknown_field_is_one_line_naming_the_axis():
    with pytest.raises(ConfigError) as err:
        plan_sweep(spec(axes=[{"field": "term", "values": [1]}]))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("axis 'term': no field 'term'") and "ProbeConfig" in message and "terms" in message


def test_bad_value_names_axis_and_value():
    with pytest.raises(ConfigError) as err:
        plan_sweep(spec(axes=[{"field": "terms", "values": [4, 0]}]))
    message = str(err.value)
    assert "\n" not in message
    assert "axis 'terms' value 0" in message and "greater than or equal to 1" in message
    with pytest.raises(ConfigError, match=r"derived 'delay_s' value -0.5"):
        plan_sweep(spec(axes=[{"var": "v", "values": [1, -1]}], derived={"delay_s": "v / 2"}))


def test_spec_level_mistakes_are_one_line():
    with pytest.raises(ConfigError, match="appears twice"):
        spec(axes=[{"field": "x", "values": [1]}, {"field": "x", "values": [2]}])
    with pytest.raises(ConfigError, match="exactly one of values, linspace"):
        spec(axes=[{"field": "x", "values": [1], "linspace": {"start": 0, "stop": 1, "num": 2}}])
    with pytest.raises(ConfigError, match=r"'nope' in 'nope \* 2' is neither a sweep variable"):
        plan_sweep(spec(derived={"x": "nope * 2"}))
    with pytest.raises(ImaclabError, match="unknown sweep target 'tpu.simulat'.*tpu.simulate"):
        plan_sweep(SweepSpec.from_dict({"target": "tpu.simulat"}))
    with pytest.raises(ConfigError, match=r"base config.*terms"):
        plan_sweep(spec(base={"terms": -1}))


def test_key_is_the_full_config_so_equal_points_share_it():
    a = plan_sweep(spec(axes=[{"field": "terms", "values": [8, 3]}]))
    b = plan_sweep(spec(base={"terms": 3}, axes=[{"field": "x", "values": [1.0]}]))
    assert a.points[1].key == b.points[0].key  # same full config, different specs
    assert a.points[0].key == point_key(PROBE, a.points[0].config)
    assert a.points[0].key != point_key("other:target", a.points[0].config)
    dup = plan_sweep(spec(axes=[{"field": "terms", "values": [3, 3, 4]}]))
    assert len(dup.points) == 2 and dup.duplicates == 1


def test_spec_file_round_trip_and_base_file(tmp_path, write_spec):
    (tmp_path / "base.yaml").write_text("x: 0.25\nterms: 5\n")
    path = write_spec({"target": PROBE, "base_file": "base.yaml", "base": {"terms": 6},
                       "axes": [{"field": "seed", "values": [1, 2]}]}, name="my-study.yaml")
    loaded = load_spec(path)
    assert loaded.name == "my-study"
    assert loaded.base == {"x": 0.25, "terms": 6}
    assert SweepSpec.from_yaml(loaded.to_yaml()) == loaded
    out = loaded.save(tmp_path / "again.json")
    assert SweepSpec.load(out) == loaded


def test_too_many_points_is_refused():
    axes = [{"field": name, "linspace": {"start": 1, "stop": 2, "num": 1000}} for name in ("x", "delay_s")]
    axes.append({"field": "seed", "values": list(range(2))})
    with pytest.raises(ConfigError, match="2000000 points"):
        plan_sweep(spec(axes=axes))
    assert math.prod([1000, 1000, 2]) == 2_000_000


HUGE_AXES = [{"field": "terms", "linspace": {"start": 1, "stop": 100, "num": 100}, "integer": True},
             {"field": "x", "linspace": {"start": 0, "stop": 1, "num": 100}},
             {"field": "seed", "values": list(range(100))},
             {"field": "delay_s", "linspace": {"start": 0, "stop": 0.001, "num": 100}}]


def test_a_huge_plan_is_counted_not_listed_and_expands_lazily():
    import itertools
    import time

    start = time.perf_counter()
    plan = plan_sweep(spec(axes=HUGE_AXES), max_points=None)
    first = list(itertools.islice(plan.iter_points(), 20))
    assert time.perf_counter() - start < 10  # ~400 validations of axis values, 20 points: not 10^8
    assert plan.size == 10**8 and not plan.expanded
    assert [p.index for p in first] == list(range(20))
    assert [p.overrides["delay_s"] for p in first[:3]] == [0.0, _clean(0.001 / 99, False), _clean(0.002 / 99, False)]
    assert first[5].key == point_key(PROBE, first[5].config)
    # every value of every axis is still validated before anything runs
    bad = [*HUGE_AXES[:3], {"field": "delay_s", "values": [0.0] * 0 + list(range(99)) + [-1.0]}]
    with pytest.raises(ConfigError, match=r"axis 'delay_s' value -1.0"):
        plan_sweep(spec(axes=bad), max_points=None)
    # a plan too large to store is refused with one line that estimates what it would take
    with pytest.raises(ConfigError, match=r"100000000 points \(more than 1000000\).*GB.*--limit") as err:
        plan_sweep(spec(axes=HUGE_AXES))
    assert "\n" not in str(err.value)


def test_lazy_plan_drops_duplicates_as_it_goes():
    from imaclab.sweep import plan as plan_module

    axes = [{"field": "terms", "values": [3, 3, 4]}, {"field": "seed", "values": [1, 2]}]
    eager = plan_sweep(spec(axes=axes))
    old = plan_module.EAGER_POINTS
    plan_module.EAGER_POINTS = 0  # as a large plan would be
    try:
        lazy = plan_sweep(spec(axes=axes))
    finally:
        plan_module.EAGER_POINTS = old
    assert eager.expanded and not lazy.expanded and lazy.size == 6
    assert [p.key for p in lazy.iter_points()] == [p.key for p in eager.points]
    assert [p.index for p in eager.points] == [0, 1, 4, 5] and lazy.duplicates == eager.duplicates == 2


def test_dry_run_of_a_huge_sweep_counts_and_lists_twenty(tmp_path, capsys):
    import time

    from imaclab.cli import main

    path = spec(name="huge", axes=HUGE_AXES).save(tmp_path / "huge.yaml")
    start = time.perf_counter()
    assert main(["sweep", "run", str(path), "--dry-run"]) == 0
    assert time.perf_counter() - start < 20
    out = capsys.readouterr().out
    assert "100000000 points" in " ".join(out.split()) and "refuses this spec unless --limit" in " ".join(out.split())
    assert "│ 19 " in out and "│ 20 " not in out


from imaclab.sweep.plan import _clean  # noqa: E402 - used above for the generated values
