"""Expand a spec into points, validate every point's config, key each by a hash.

Validation happens here, before anything runs: an unknown field, a bad value or a
bad expression is one :class:`~imaclab.errors.ConfigError` line naming the axis.

A point's key is the SHA-256 of its target name and its *full* validated config
(defaults included), so the same computation has the same key in any spec, order or
executor, and a resumed sweep recognizes what it already stored.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from imaclab.config import format_validation_error
from imaclab.errors import ConfigError
from imaclab.sweep.expressions import evaluate, names_in, parse_expression
from imaclab.sweep.spec import MAX_POINTS, Axis, RandomField, SweepSpec, axis_names
from imaclab.sweep.targets import Target, load_target

#: Version tag mixed into every key; bump only if the key's recipe changes.
KEY_RECIPE = "imaclab-sweep-point/v1"
#: Generated floats (linspace/logspace/random) are rounded to this many significant
#: digits so keys and exported values do not carry 1e-17 noise.
GENERATED_DIGITS = 12


def canonical_json(data: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, shortest float repr."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)


def point_key(target: str, config: dict[str, Any]) -> str:
    """SHA-256 hex of the target name and the full config."""
    return hashlib.sha256(f"{KEY_RECIPE}\n{target}\n{canonical_json(config)}".encode()).hexdigest()


@dataclass(frozen=True)
class Point:
    """One configuration of the sweep."""

    index: int
    key: str
    overrides: dict[str, Any]  # config fields set by axes and derived expressions
    variables: dict[str, Any]  # free variables of the point
    config: dict[str, Any]  # the full validated config

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "key": self.key, "overrides": self.overrides, "variables": self.variables,
                "config": self.config}


class SweepPlan:
    """The validated points of a spec, in order, without duplicates -- expanded lazily.

    ``size`` is the product of the axis lengths (computed, not listed).  Iterating
    (:meth:`iter_points`) builds, validates and keys points as it goes, dropping
    duplicates (a point whose full config equals an earlier point's), so a sweep of 10^8
    points can run its first point at once.  Plans up to :data:`EAGER_POINTS` points are
    expanded (and every point validated) when planned; :attr:`points` expands any plan.
    """

    def __init__(self, spec: SweepSpec, target: Target, columns: list[str], size: int,
                 generate: Callable[[], Iterator[Point]]):
        self.spec = spec
        self.target = target
        self.columns = columns  # axis fields/vars and derived fields, in spec order
        self.size = size  # points of the product, duplicates included
        self._generate = generate
        self._points: list[Point] | None = None
        self._duplicates: int | None = None

    def iter_points(self) -> Iterator[Point]:
        """The points in order (first axis outermost), duplicates dropped, built as they are taken."""
        if self._points is not None:
            yield from self._points
            return
        yield from self._generate()

    def __iter__(self) -> Iterator[Point]:
        return self.iter_points()

    @property
    def expanded(self) -> bool:
        """Whether every point is built (so ``len(points)`` and ``duplicates`` are known)."""
        return self._points is not None

    @property
    def points(self) -> list[Point]:
        """Every point, built now if needed (refused beyond MAX_POINTS: use :meth:`iter_points`)."""
        if self._points is None:
            check_size(self, MAX_POINTS)
            points = list(self._generate())
            self._points, self._duplicates = points, self.size - len(points)
        return self._points

    @property
    def duplicates(self) -> int:
        """Points whose full config equals an earlier point's (expands the plan)."""
        self.points  # noqa: B018 - expands and counts
        assert self._duplicates is not None
        return self._duplicates

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.spec.name, "target": self.target.name, "size": self.size,
                               "columns": self.columns}
        if self.expanded:
            out.update(points=len(self.points), duplicates=self.duplicates)
        return out


#: Plans up to this many points are expanded when planned, so every point is validated before
#: anything runs (~0.1 ms a point); larger plans validate every axis value up front and
#: the rest of each point (derived fields, cross-field rules) when it is reached.
EAGER_POINTS = 20_000
#: Bytes a stored row takes besides its config JSON (keys, metrics, timings; measured ~600).
ROW_OVERHEAD_BYTES = 800
#: Seconds to plan (build, validate and key) one point, for the refusal's estimate.
PLAN_S_PER_POINT = 1e-4


def check_size(plan: SweepPlan, bound: int | None) -> None:
    """Refuse a plan of more than ``bound`` points with one line estimating what it would take."""
    if bound is None or plan.size <= bound:
        return
    row = ROW_OVERHEAD_BYTES + len(canonical_json(plan.spec.base)) + 40 * max(1, len(plan.columns))
    gigabytes = plan.size * row / 1e9
    hours = plan.size * PLAN_S_PER_POINT / 3600
    raise ConfigError(f"sweep '{plan.spec.name}' has {plan.size} points (more than {bound}): its store would "
                      f"need ~{gigabytes:.3g} GB and planning alone ~{hours:.3g} h; split it into several specs, "
                      f"use a random axis, or run a part with --limit N")


# --------------------------------------------------------------------- axes -> values
def _clean(value: float, integer: bool) -> float | int:
    if integer:
        return int(round(value))
    return float(f"{value:.{GENERATED_DIGITS}g}")


def _dedupe(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def axis_values(axis: Axis) -> list[Any]:
    """The values of a single-field axis (values, linspace or logspace)."""
    if axis.values is not None:
        return list(axis.values)
    span = axis.linspace or axis.logspace
    assert span is not None
    raw = np.linspace(span.start, span.stop, span.num) if axis.linspace else np.geomspace(span.start, span.stop,
                                                                                          span.num)
    values = [_clean(float(v), axis.integer) for v in raw]
    return _dedupe(values) if axis.integer else values


def _draw(rng: np.random.Generator, spec: RandomField, samples: int) -> list[Any]:
    if spec.uniform is not None:
        return [_clean(v, False) for v in rng.uniform(*spec.uniform, samples)]
    if spec.loguniform is not None:
        low, high = (math.log(b) for b in spec.loguniform)
        return [_clean(v, False) for v in np.exp(rng.uniform(low, high, samples))]
    if spec.normal is not None:
        return [_clean(v, False) for v in rng.normal(*spec.normal, samples)]
    if spec.integers is not None:
        return [int(v) for v in rng.integers(spec.integers[0], spec.integers[1] + 1, samples)]
    assert spec.choice is not None
    return [spec.choice[int(i)] for i in rng.integers(0, len(spec.choice), samples)]


def dimension(axis: Axis) -> list[list[tuple[str, bool, Any]]]:
    """One dimension as a list of settings; a setting is ``[(name, is_var, value), ...]``."""
    if axis.zip is not None:
        columns = [(a.field or a.var or "", a.var is not None, axis_values(a)) for a in axis.zip]
        lengths = {len(values) for _, _, values in columns}
        if len(lengths) != 1:
            detail = ", ".join(f"{name}: {len(values)}" for name, _, values in columns)
            raise ConfigError(f"axis '{axis.label}': zipped axes must have the same length ({detail})")
        return [[(name, is_var, values[i]) for name, is_var, values in columns] for i in range(lengths.pop())]
    if axis.random is not None:
        rng = np.random.default_rng(axis.random.seed)
        drawn = [(f.name, f.var is not None, _draw(rng, f, axis.random.samples)) for f in axis.random.fields]
        return [[(name, is_var, values[i]) for name, is_var, values in drawn] for i in range(axis.random.samples)]
    return [[(axis.field or axis.var or "", axis.var is not None, v)] for v in axis_values(axis)]


# --------------------------------------------------------------------- config paths
def _lookup(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for key in dotted.split("."):
        node = node[key]
    return node


def _has_path(data: dict[str, Any], dotted: str) -> str | None:
    """None if ``dotted`` exists in ``data``, else the reason it does not."""
    node: Any = data
    walked: list[str] = []
    for key in dotted.split("."):
        if node is None:
            return f"'{'.'.join(walked)}' is null in the base config (set it in base first)"
        if not isinstance(node, dict) or key not in node:
            under = f" under '{'.'.join(walked)}'" if walked else ""
            known = sorted(node) if isinstance(node, dict) else []
            hint = f" (known: {', '.join(known)})" if known and len(known) <= 40 else ""
            return f"no field '{key}'{under}{hint}"
        walked.append(key)
        node = node[key]
    return None


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = copy.deepcopy(value)


# --------------------------------------------------------------------- the plan
def plan_sweep(spec: SweepSpec, *, max_points: int | None = MAX_POINTS) -> SweepPlan:
    """Validate the spec against its target; return its points as a lazily expanded plan.

    Checked now: the base config, every axis field and derived expression, and every
    value of every axis (each on a real point of the product: that value with the other
    axes at their first).  A plan of at most :data:`EAGER_POINTS` points is expanded
    now, validating every point.  ``max_points``: refuse a larger product (None: any
    size, for a dry run or a run with a limit).
    """
    target = load_target(spec.target)
    cls = target.config_class
    raw_base = target.resolve_base(dict(spec.base)) if target.resolve_base is not None else spec.base
    try:
        base = cls.model_validate(raw_base).to_dict()
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, f"sweep '{spec.name}' base config ({cls.__name__})")) from None

    field_names: set[str] = set()
    var_names: set[str] = set()
    for axis in spec.axes:
        inner = axis.zip or ([axis] if axis.random is None else [])
        entries = [(a.field, a.var) for a in inner] + [(f.field, f.var) for f in (axis.random.fields
                                                                                   if axis.random else [])]
        for fld, var in entries:
            if fld is not None:
                problem = _has_path(base, fld)
                if problem:
                    raise ConfigError(f"axis '{fld}': {problem} in {cls.__name__}")
                field_names.add(fld)
            else:
                var_names.add(var or "")
    expressions = {}
    for fld, text in spec.derived.items():
        where = f"derived '{fld}'"
        problem = _has_path(base, fld)
        if problem:
            raise ConfigError(f"{where}: {problem} in {cls.__name__}")
        tree = parse_expression(text, where)
        for name in names_in(tree):
            if name not in var_names and _has_path(base, name) is not None:
                raise ConfigError(f"{where}: '{name}' in '{text}' is neither a sweep variable "
                                  f"({', '.join(sorted(var_names)) or 'none'}) nor a {cls.__name__} field")
        expressions[fld] = tree

    dims = [dimension(axis) for axis in spec.axes]
    lengths = [len(d) for d in dims]
    size = math.prod(lengths)
    owner = {name: f"axis '{name}'" for axis in spec.axes for name in axis_names(axis)}
    owner.update({fld: f"derived '{fld}'" for fld in spec.derived})

    def build(index: int, combo: tuple[list[tuple[str, bool, Any]], ...]) -> Point:
        data = copy.deepcopy(base)
        overrides: dict[str, Any] = {}
        variables: dict[str, Any] = {}
        for setting in combo:
            for name, is_var, value in setting:
                if is_var:
                    variables[name] = value
                else:
                    _set_path(data, name, value)
                    overrides[name] = value
        for fld, tree in expressions.items():
            def lookup(name: str, data: dict[str, Any] = data, variables: dict[str, Any] = variables) -> Any:
                return variables[name] if name in variables else _lookup(data, name)

            value = evaluate(tree, lookup, f"derived '{fld}' at point {index}")
            if isinstance(value, float):
                value = _clean(value, False)
            _set_path(data, fld, value)
            overrides[fld] = value
        try:
            config = cls.model_validate(data).to_dict()
        except ValidationError as err:
            raise ConfigError(_explain(err, overrides, variables, owner, index, cls.__name__)) from None
        return Point(index, point_key(target.name, config), overrides, variables, config)

    def generate() -> Iterator[Point]:
        seen: set[str] = set()  # keys so far: duplicates are dropped as they are met
        for index, combo in enumerate(itertools.product(*dims)):
            point = build(index, combo)
            if point.key not in seen:
                seen.add(point.key)
                yield point

    columns = [name for axis in spec.axes for name in axis_names(axis)] + list(spec.derived)
    plan = SweepPlan(spec, target, columns, size, generate)
    check_size(plan, max_points)
    if size <= EAGER_POINTS:
        plan.points  # noqa: B018 - expand now: every point validated before anything runs
    else:
        # every value of every axis, on the point of the product that has it and the other axes' first values
        strides = [math.prod(lengths[d + 1:]) for d in range(len(dims))]
        for d, dim in enumerate(dims):
            for j in range(len(dim)):
                combo = tuple(dim[j] if e == d else other[0] for e, other in enumerate(dims))
                build(j * strides[d], combo)
    return plan


def _explain(err: ValidationError, overrides: dict[str, Any], variables: dict[str, Any], owner: dict[str, str],
             index: int, class_name: str) -> str:
    """One line naming the axis whose value is invalid (or the point, for cross-field errors)."""
    parts = []
    for item in err.errors():
        loc = ".".join(str(p) for p in item["loc"])
        culprit = next((name for name in overrides if loc == name or loc.startswith(name + ".")), None)
        if culprit is not None:
            parts.append(f"{owner.get(culprit, repr(culprit))} value {overrides[culprit]!r}: {item['msg']}")
        else:
            parts.append(f"{loc or '(root)'}: {item['msg']}")
    setting = ", ".join(f"{k}={v!r}" for k, v in {**variables, **overrides}.items())
    return f"invalid {class_name} at point {index} ({setting}): " + "; ".join(parts)

