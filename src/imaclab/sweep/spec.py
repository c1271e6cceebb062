"""The sweep spec: a target job, a base config and the axes that vary it.

A spec is a YAML file::

    name: crossbar-study
    target: imac.evaluate          # a registered target, or "package.module:function"
    base: {...}                    # the job's config; omitted fields take their defaults
    base_file: base.yaml           # optional; read first, then ``base`` is merged on top
    axes:                          # one entry per dimension; the sweep is their product
      - field: crossbar.rows       # a dotted config path ...
        values: [32, 64, 128]
      - var: ratio                 # ... or a free variable used by ``derived``
        logspace: {start: 2, stop: 100, num: 4}
      - zip:                       # zipped axes vary together (one dimension)
          - {field: systolic.array_rows, values: [8, 16, 32]}
          - {field: systolic.array_cols, values: [8, 16, 32]}
      - random:                    # N joint random draws (one dimension), seeded
          samples: 20
          seed: 7
          fields:
            - {field: devices.sigma, uniform: [0.0, 0.1]}
    derived:                       # fields computed from variables and other fields
      devices.r_high_ohm: "devices.r_low_ohm * ratio"
    execution: {timeout_s: 600, max_attempts: 2}

The first axis is the outermost loop.  Seeds live in the spec (random axes) and in
the job config (the target's own ``seed`` fields), never in the executor.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, field_validator, model_validator

from imaclab.config import ConfigModel, parse_si
from imaclab.errors import ConfigError, InputError

#: Guard against an accidental cartesian explosion (a typo'd ``num: 1000`` on four axes).
#: A sweep this large should be split into several specs, each with its own store.
MAX_POINTS = 1_000_000


def _number(value: Any) -> float:
    """A float from a number or an SI string such as ``"5k"``."""
    return parse_si(value) if isinstance(value, str) else float(value)


class Span(ConfigModel):
    """``num`` values from ``start`` to ``stop`` inclusive (numbers or SI strings like ``5k``)."""

    start: float = Field(description="first value (a number or an SI string such as '1k')")
    stop: float = Field(description="last value, included")
    num: int = Field(ge=1, description="number of values")

    @field_validator("start", "stop", mode="before")
    @classmethod
    def _si(cls, value: Any) -> float:
        return _number(value)


class RandomField(ConfigModel):
    """One randomly drawn field (or variable) of a random axis; exactly one distribution."""

    field: str | None = Field(None, description="dotted config path that receives the draws")
    var: str | None = Field(None, description="free variable that receives the draws (for `derived`)")
    uniform: tuple[float, float] | None = Field(None, description="[low, high): uniform draws")
    loguniform: tuple[float, float] | None = Field(None, description="[low, high): log-uniform draws, low > 0")
    normal: tuple[float, float] | None = Field(None, description="[mean, std]: normal draws")
    integers: tuple[int, int] | None = Field(None, description="[low, high]: uniform integers, both included")
    choice: list[Any] | None = Field(None, description="uniform choice among these values")

    @model_validator(mode="after")
    def _one_distribution(self) -> RandomField:
        _check_one_target(self.field, self.var, "random field")
        name = self.field or self.var
        given = [k for k in ("uniform", "loguniform", "normal", "integers", "choice") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"random field '{name}': give exactly one of uniform, loguniform, normal, integers, "
                             f"choice (got {', '.join(given) or 'none'})")
        if self.loguniform is not None and min(self.loguniform) <= 0:
            raise ValueError(f"random field '{name}': loguniform bounds must be > 0")
        if self.uniform is not None and self.uniform[0] > self.uniform[1]:
            raise ValueError(f"random field '{name}': uniform low must be <= high")
        if self.integers is not None and self.integers[0] > self.integers[1]:
            raise ValueError(f"random field '{name}': integers low must be <= high")
        if self.normal is not None and self.normal[1] < 0:
            raise ValueError(f"random field '{name}': normal std must be >= 0")
        if self.choice is not None and not self.choice:
            raise ValueError(f"random field '{name}': choice needs at least one value")
        return self

    @property
    def name(self) -> str:
        return self.field or self.var or ""


class RandomAxis(ConfigModel):
    """``samples`` joint random draws of several fields: one dimension of the sweep."""

    samples: int = Field(ge=1, description="number of random points")
    seed: int = Field(description="seed of the numpy PCG64 generator (required: no unseeded randomness)")
    fields: list[RandomField] = Field(min_length=1, description="fields drawn together, in this order")


class Axis(ConfigModel):
    """One dimension of the sweep.

    Either a single field/variable with ``values``, ``linspace`` or ``logspace``, or a
    ``zip`` of such axes (same length, varied together), or a ``random`` block.
    """

    field: str | None = Field(None, description="dotted config path, e.g. 'crossbar.rows'")
    var: str | None = Field(None, description="free variable (not a config field) usable in `derived`")
    values: list[Any] | None = Field(None, description="explicit list of values")
    linspace: Span | None = Field(None, description="evenly spaced values, ends included")
    logspace: Span | None = Field(None, description="geometrically spaced values between start and stop "
                                                    "(the values themselves, not exponents), ends included")
    integer: bool = Field(False, description="round linspace/logspace values to integers (duplicates dropped)")
    zip: list[Axis] | None = Field(None, description="axes of equal length varied together")
    random: RandomAxis | None = Field(None, description="joint random draws")

    @model_validator(mode="after")
    def _one_kind(self) -> Axis:
        kinds = [k for k in ("values", "linspace", "logspace", "zip", "random") if getattr(self, k) is not None]
        label = self.label
        if len(kinds) != 1:
            raise ValueError(f"axis '{label}': give exactly one of values, linspace, logspace, zip, random "
                             f"(got {', '.join(kinds) or 'none'})")
        if kinds[0] in ("zip", "random"):
            if self.field or self.var:
                raise ValueError(f"axis '{label}': a {kinds[0]} axis names its fields inside, not with field/var")
        else:
            _check_one_target(self.field, self.var, "axis")
        if self.values is not None and not self.values:
            raise ValueError(f"axis '{label}': values is empty")
        if self.logspace is not None and (self.logspace.start <= 0 or self.logspace.stop <= 0):
            raise ValueError(f"axis '{label}': logspace start and stop must be > 0")
        if self.zip is not None:
            if not self.zip:
                raise ValueError("zip axis: list at least one axis")
            for inner in self.zip:
                if inner.zip is not None or inner.random is not None:
                    raise ValueError(f"zip axis '{label}': nested zip/random axes are not supported")
        return self

    @property
    def label(self) -> str:
        """A readable name: the field/variable, or the names inside a zip/random axis."""
        if self.zip:
            return "zip(" + ", ".join(a.label for a in self.zip) + ")"
        if self.random:
            return "random(" + ", ".join(f.name for f in self.random.fields) + ")"
        return self.field or self.var or "?"


class Execution(ConfigModel):
    """How each point is run; none of it changes a point's result."""

    timeout_s: float | None = Field(None, gt=0, description="wall-clock limit per point in seconds; a point "
                                                             "that exceeds it is killed and recorded as failed")
    max_attempts: int = Field(2, ge=1, description="attempts per point when its worker process dies "
                                                   "(a point that raises is not retried)")
    workers: int | None = Field(None, ge=1, description="default number of local worker processes "
                                                        "(default: the number of cores)")
    threads_per_worker: int = Field(1, ge=1, description="BLAS/OpenMP threads of each worker process "
                                                         "(OMP_NUM_THREADS etc.); 1 because a sweep runs "
                                                         "points in parallel, as Dask does for its workers")


class SweepSpec(ConfigModel):
    """A design-space sweep: one target job, a base config, axes, derived fields."""

    name: str | None = Field(None, description="name of the sweep (default: the spec file's stem); the "
                                               "default store directory is sweeps/<name>")
    description: str = Field("", description="free text for humans")
    target: str = Field(description="job to run per point: a registered target (see `imaclab sweep targets`) "
                                    "or 'package.module:function' taking one ConfigModel")
    base: dict[str, Any] = Field(default_factory=dict, description="the job config shared by all points")
    base_file: str | None = Field(None, description="YAML/JSON file with the base config, relative to the spec "
                                                    "file; `base` is merged on top of it")
    axes: list[Axis] = Field(default_factory=list, description="dimensions of the sweep; first is outermost")
    derived: dict[str, str] = Field(default_factory=dict, description="dotted field -> arithmetic expression of "
                                                                      "variables and config fields, applied in order")
    execution: Execution = Field(default_factory=Execution, description="per-point limits and retries")

    @model_validator(mode="after")
    def _names_unique(self) -> SweepSpec:
        seen: set[str] = set()
        for axis in self.axes:
            for name in axis_names(axis):
                if name in seen:
                    raise ValueError(f"axis '{name}' appears twice; use one axis per field (zip them to co-vary)")
                seen.add(name)
        for field in self.derived:
            if field in seen:
                raise ValueError(f"derived field '{field}' is also an axis; keep one")
        return self


def axis_names(axis: Axis) -> list[str]:
    """The fields/variables an axis sets."""
    if axis.zip is not None:
        return [a.field or a.var or "" for a in axis.zip]
    if axis.random is not None:
        return [f.name for f in axis.random.fields]
    return [axis.field or axis.var or ""]


def _check_one_target(field: str | None, var: str | None, what: str) -> None:
    if (field is None) == (var is None):
        raise ValueError(f"{what}: give exactly one of 'field' (a dotted config path) or 'var' (a free variable)")
    if var is not None and (not var.isidentifier() or "." in var):
        raise ValueError(f"{what} var '{var}': a variable name is a plain identifier (letters, digits, _)")


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_spec_text(path: Path) -> str:
    """The spec file's text; a folder, a missing, binary or non-UTF-8 file is one InputError line."""
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a sweep spec file (YAML)")
    if not path.is_file():
        raise InputError(f"{path}: sweep spec not found")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read the sweep spec ({err.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not a text file (byte {err.start} is not UTF-8); a sweep spec is YAML "
                         f"text") from None
    if "\x00" in text:
        raise InputError(f"{path}: a binary file (it holds NUL bytes); a sweep spec is YAML text")
    return text


def load_spec(path: str | Path, set_items: list[str] | tuple[str, ...] | None = None) -> SweepSpec:
    """Read a sweep spec YAML; ``base_file`` is resolved relative to the spec and merged.

    ``set_items``: ``--set dotted.path=value`` overrides of the spec (see :func:`spec_with_set`).
    """
    path = Path(path)
    text = _read_spec_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML: {' '.join(str(err).splitlines()[0].split())}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a sweep spec is a mapping (target, base, axes, ...), got a "
                          f"{type(data).__name__}: {' '.join(str(data).split())[:80]!r}")
    spec = SweepSpec.from_dict(data, source=str(path))
    if spec.base_file:
        base_path = Path(spec.base_file)
        if not base_path.is_absolute():
            base_path = path.parent / base_path
        if not base_path.is_file():
            raise InputError(f"{path}: base_file '{spec.base_file}' not found (looked at {base_path})")
        try:
            base = yaml.safe_load(_read_spec_text(base_path)) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{base_path}: not valid YAML: {str(err).splitlines()[0]}") from None
        if not isinstance(base, dict):
            raise ConfigError(f"{base_path}: expected a mapping of config fields")
        spec = spec.model_copy(update={"base": _deep_merge(base, spec.base), "base_file": None})
    if spec.name is None:
        spec = spec.model_copy(update={"name": path.stem})
    return spec_with_set(spec, set_items)


def spec_with_set(spec: SweepSpec, items: list[str] | tuple[str, ...] | None) -> SweepSpec:
    """``--set`` overrides of a spec: ``base.<path>=v`` sets (or adds) a base config field,
    anything else a spec field (``execution.timeout_s=60``, ``name=trial``)."""
    from imaclab.config import parse_set

    overrides = parse_set(items)
    if not overrides:
        return spec
    base = copy.deepcopy(spec.base)
    others = {}
    for dotted, value in overrides.items():
        if dotted.startswith("base."):
            node = base
            keys = dotted.split(".")[1:]
            for key in keys[:-1]:
                if not isinstance(node.get(key), dict):
                    node[key] = {}
                node = node[key]
            node[keys[-1]] = value
        else:
            others[dotted] = value
    spec = spec.model_copy(update={"base": base}) if base != spec.base else spec
    return spec.with_overrides(others) if others else spec
