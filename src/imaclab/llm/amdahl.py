"""Amdahl's law for partial speedups of an LLM forward pass.

With ``f`` the share of the baseline cost spent in the part that improves and
``s`` its improvement factor::

    S = 1 / ((1 - f) + f / s)          ceiling (s -> inf) = 1 / (1 - f)

General form, every category ``i`` with share ``f_i`` (sum 1) improving by its own
``s_i`` (1 when unchanged)::

    S = 1 / sum_i (f_i / s_i)

which equals ``baseline_total / improved_total`` exactly.  The functions here are
pure; :func:`amdahl` applies them to a :class:`~imaclab.llm.costs.CostBreakdown`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from imaclab.errors import ConfigError
from imaclab.llm.architecture import CATEGORIES
from imaclab.llm.costs import CostBreakdown, check_categories

DEFAULT_IMPROVED: tuple[str, ...] = ("projection",)


def _check_fraction(f: np.ndarray) -> None:
    if np.any((f < 0) | (f > 1)) or np.any(np.isnan(f)):
        raise ConfigError("the improved fraction f must lie in [0, 1]")


def amdahl_speedup(f: float | np.ndarray, s: float | np.ndarray) -> float | np.ndarray:
    """Overall speedup ``1 / ((1 - f) + f / s)``; ``s = inf`` gives the ceiling."""
    f_arr, s_arr = np.asarray(f, dtype=float), np.asarray(s, dtype=float)
    _check_fraction(f_arr)
    if np.any(s_arr <= 0):
        raise ConfigError("improvement factor s must be > 0")
    with np.errstate(divide="ignore"):
        out = 1.0 / ((1.0 - f_arr) + f_arr / s_arr)
    return float(out) if out.ndim == 0 else out


def amdahl_ceiling(f: float | np.ndarray) -> float | np.ndarray:
    """``1 / (1 - f)``: the speedup as the improved part's cost goes to zero (inf at f = 1)."""
    f_arr = np.asarray(f, dtype=float)
    _check_fraction(f_arr)
    with np.errstate(divide="ignore"):
        out = 1.0 / (1.0 - f_arr)
    return float(out) if out.ndim == 0 else out


def factor_for_speedup(f: float, target: float) -> float:
    """The ``s`` that gives overall speedup ``target``; inf when target >= the ceiling."""
    _check_fraction(np.asarray(f))
    if target <= 0:
        raise ConfigError("target speedup must be > 0")
    denominator = 1.0 / target - (1.0 - f)
    return f / denominator if denominator > 0 else math.inf


def general_speedup(fractions: Mapping[str, float], factors: Mapping[str, float]) -> float:
    """``1 / sum_i f_i / s_i``; parts missing from ``factors`` do not change (s_i = 1)."""
    total = sum(fractions.values())
    if not math.isclose(total, 1.0, rel_tol=1e-9, abs_tol=1e-12):
        raise ConfigError(f"fractions must sum to 1, got {total:g}")
    unknown = set(factors) - set(fractions)
    if unknown:
        raise ConfigError(f"factors for parts without a fraction: {', '.join(sorted(unknown))}")
    if any(s <= 0 for s in factors.values()):
        raise ConfigError("every improvement factor must be > 0")
    return 1.0 / sum(f / factors.get(name, 1.0) for name, f in fractions.items())


def general_ceiling(fractions: Mapping[str, float], improved: Iterable[str],
                    other_factors: Mapping[str, float] | None = None) -> float:
    """Speedup when the ``improved`` parts cost nothing and the others keep their factors."""
    improved = set(improved)
    other_factors = other_factors or {}
    rest = sum(f / other_factors.get(name, 1.0) for name, f in fractions.items() if name not in improved)
    return math.inf if rest <= 0 else 1.0 / rest


@dataclass(frozen=True)
class AmdahlResult:
    """Amdahl analysis of one cost: the share improved, the factor, the speedup and the ceiling."""

    cost_kind: str
    unit: str
    improved: tuple[str, ...]
    fraction: float
    factor: float
    speedup: float
    ceiling: float
    category_factors: dict[str, float]
    baseline_by_category: dict[str, float]
    improved_by_category: dict[str, float]
    tokens_per_pass: int
    baseline_seconds: float | None = None
    improved_seconds: float | None = None
    note: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def tokens_per_s_before(self) -> float | None:
        return self.tokens_per_pass / self.baseline_seconds if self.baseline_seconds else None

    @property
    def tokens_per_s_after(self) -> float | None:
        return self.tokens_per_pass / self.improved_seconds if self.improved_seconds else None

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["improved"] = list(self.improved)
        out.update(tokens_per_s_before=self.tokens_per_s_before, tokens_per_s_after=self.tokens_per_s_after)
        return out


def amdahl(baseline: CostBreakdown, *, improved: Iterable[str] = DEFAULT_IMPROVED, factor: float | None = None,
           improved_cost: CostBreakdown | None = None, attention_factor: float | None = None,
           tokens_per_pass: int = 1, clock_hz: float | None = None, note: str = "") -> AmdahlResult:
    """Amdahl's law on ``baseline`` for the categories in ``improved``.

    Give either ``factor`` (s for every improved category; ``attention_factor`` optionally
    improves attention by its own factor: the general form) or ``improved_cost`` (the same
    pass costed on the improved design: per-category factors are derived as cost ratios).
    Seconds, and so tokens/s, need ``clock_hz`` when the cost is in cycles.
    """
    improved = tuple(check_categories(improved))
    if not improved:
        raise ConfigError("name at least one improved category")
    if (factor is None) == (improved_cost is None):
        raise ConfigError("give exactly one of factor or improved_cost")
    base = baseline.by_category()
    fractions = baseline.fractions()
    if improved_cost is not None:
        if improved_cost.unit != baseline.unit:
            raise ConfigError(f"improved cost in {improved_cost.unit}, baseline in {baseline.unit}: convert first")
        after = improved_cost.by_category()
        factors = {c: (base[c] / after[c] if after[c] > 0 else math.inf) if base[c] > 0 else 1.0
                   for c in CATEGORIES}
    else:
        assert factor is not None  # exactly one of factor / improved_cost (checked above)
        if factor <= 0:
            raise ConfigError(f"improvement factor must be > 0, got {factor}")
        factors = {c: (factor if c in improved else 1.0) for c in CATEGORIES}
        if attention_factor is not None:
            if "attention" in improved:
                raise ConfigError("attention is already in the improved set; drop attention_factor")
            if attention_factor <= 0:
                raise ConfigError(f"attention factor must be > 0, got {attention_factor}")
            factors["attention"] = attention_factor
        after = {c: base[c] / factors[c] for c in CATEGORIES}
    f = float(sum(fractions[c] for c in improved))
    improved_before = sum(base[c] for c in improved)
    improved_after = sum(after[c] for c in improved)
    s_eff = improved_before / improved_after if improved_after > 0 else math.inf
    total_after = sum(after.values())
    speedup = baseline.total / total_after if total_after > 0 else math.inf
    others = {c: factors[c] for c in CATEGORIES if c not in improved}
    ceiling = general_ceiling(fractions, improved, others)
    seconds_before = seconds_after = None
    if baseline.unit == "s":
        seconds_before, seconds_after = baseline.total, total_after
    elif clock_hz:
        seconds_before, seconds_after = baseline.total / clock_hz, total_after / clock_hz
    return AmdahlResult(baseline.kind, baseline.unit, improved, f, s_eff, speedup, ceiling, factors, base, after,
                        tokens_per_pass, seconds_before, seconds_after, note)
