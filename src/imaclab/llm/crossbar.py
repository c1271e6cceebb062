"""GEMMs on weight-stationary crossbars: the one schedule both hybrid-PIM paths use.

:func:`crossbar_gemm_schedule` is the single source of the crossbar timing of a GEMM.  The Amdahl
column (:func:`imaclab.llm.improve.crossbar_seconds`, a :class:`~imaclab.llm.improve.PimCrossbarConfig`)
and the energy design (:func:`imaclab.llm.energy.crossbar_gemm_costs`, a measured
:class:`~imaclab.imac.tiles.TileCosts`) only say what a crossbar is; the counting is here.

A ``k x n`` weight takes ``ceil(k / rows) * ceil(n * columns_per_weight / cols)`` crossbars, all
working on one input row at once.  Each of the GEMM's ``m`` rows goes through
``ceil(activation bits / input bits per operation)`` operations of ``latency_s``, one after the
other; with ``crossbars_available`` below the GEMM's crossbar count its crossbars work in
``ceil(crossbars / available)`` rounds (reprogramming not modelled).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from imaclab.llm.architecture import CATEGORIES
from imaclab.llm.workload import Workload


@dataclass(frozen=True)
class CrossbarSchedule:
    """What the crossbar GEMMs of one pass do, by category.

    ``seconds_per_layer`` / ``seconds_outside``: seconds of the GEMMs inside one decoder layer and
    outside the layers (the split of :class:`imaclab.llm.costs.CostBreakdown`).  ``products``:
    crossbar operations (one input slice through one crossbar) of the whole pass; ``partial_sums``:
    digital shift-and-add operations that merge partial outputs (over the ``k`` partitions and the
    activation-bit slices) of the whole pass; ``crossbars_required``: crossbars holding every weight.
    """

    num_layers: int
    seconds_per_layer: dict[str, float]
    seconds_outside: dict[str, float]
    products: dict[str, float]
    partial_sums: dict[str, float]
    crossbars_required: int

    def seconds(self) -> dict[str, float]:
        """Seconds of the whole pass by category: ``num_layers * per_layer + outside``."""
        return {c: self.seconds_per_layer[c] * self.num_layers + self.seconds_outside[c] for c in CATEGORIES}


def operations_per_row(activation_bits: float, input_bits_per_operation: float) -> int:
    """Crossbar operations one input row takes: ``ceil(activation bits / input bits per operation)``."""
    return math.ceil(activation_bits / input_bits_per_operation - 1e-9)


def crossbars_for(k: int, n: int, *, rows: int, cols: int, columns_per_weight: int = 1) -> tuple[int, int]:
    """``(partitions of k, partitions of n)`` of a ``k x n`` weight on ``rows x cols`` crossbars."""
    return math.ceil(k / rows), math.ceil(n * columns_per_weight / cols)


def crossbar_gemm_schedule(workload: Workload, categories: Iterable[str], *, rows: int, cols: int,
                           latency_s: float, input_bits_per_operation: float,
                           activation_bits: Callable[[str], float], columns_per_weight: int = 1,
                           crossbars_available: int | None = None) -> CrossbarSchedule:
    """The schedule of the GEMMs in ``categories`` on crossbars of ``rows`` weight rows and ``cols``
    columns (``columns_per_weight`` columns per weight), ``latency_s`` per operation.

    ``activation_bits(category)`` gives the activation bits of a GEMM of that category.
    """
    cats = set(categories)
    per_layer = dict.fromkeys(CATEGORIES, 0.0)
    outside = dict.fromkeys(CATEGORIES, 0.0)
    products = dict.fromkeys(CATEGORIES, 0.0)
    adds = dict.fromkeys(CATEGORIES, 0.0)
    required = 0
    for op in workload.gemms:
        if op.category not in cats:
            continue
        occurrences = workload.occurrences(op)
        k_parts, n_parts = crossbars_for(op.k, op.n, rows=rows, cols=cols, columns_per_weight=columns_per_weight)
        crossbars = k_parts * n_parts
        required += crossbars * op.repeat * occurrences
        ops = operations_per_row(activation_bits(op.category), input_bits_per_operation)
        rounds = math.ceil(crossbars / crossbars_available) if crossbars_available else 1
        (per_layer if op.per_layer else outside)[op.category] += op.m * ops * latency_s * rounds * op.repeat
        products[op.category] += op.m * ops * crossbars * op.repeat * occurrences
        adds[op.category] += op.m * op.n * max(k_parts * ops - 1, 0) * op.repeat * occurrences
    return CrossbarSchedule(workload.num_layers, per_layer, outside, products, adds, required)


__all__ = ["CrossbarSchedule", "crossbar_gemm_schedule", "crossbars_for", "operations_per_row"]
