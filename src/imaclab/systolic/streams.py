"""The order in which SCALE-Sim streams operand elements through the array, per fold.

Every operand's SRAM demand in a fold follows one of two patterns
(``compute/systolic_compute_{os,ws,is}.py``):

* ``skewed``: a ``used x T`` block, array line ``u`` (a row or column of PEs) reading
  its element ``e`` at cycle ``offset + u + e``; within a cycle, lines in ascending
  ``u`` (SCALE-Sim's ``skew_matrix``);
* ``flipped``: a ``rows_used x cols_used`` block pushed one row per cycle in
  reverse row order during the first ``R`` cycles of the fold (the stationary
  operand of ws/is); within a cycle, ascending column.

The helpers turn these patterns into element order (for the buffer models) and
element counts per cycle (to time events), all vectorized.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def antidiagonal_order(used: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """``(u, e)`` of a ``used x length`` block in skewed order: by ``u + e``, then ``u``."""
    used = int(used)
    length = int(length)
    diagonals = used + length - 1
    d = np.arange(diagonals, dtype=np.int64)
    u_lo = np.maximum(0, d - length + 1)
    u_hi = np.minimum(used - 1, d)
    sizes = u_hi - u_lo + 1
    total = used * length
    diag_of = np.repeat(d, sizes)
    starts = np.cumsum(sizes) - sizes
    u = u_lo[diag_of] + (np.arange(total, dtype=np.int64) - starts[diag_of])
    e = diag_of - u
    return u, e


def antidiagonal_counts(used: int, length: int) -> np.ndarray:
    """Elements of a skewed ``used x length`` block in each of its ``used + length - 1`` cycles."""
    d = np.arange(int(used) + int(length) - 1, dtype=np.int64)
    return np.minimum(int(used) - 1, d) - np.maximum(0, d - int(length) + 1) + 1


@lru_cache(maxsize=64)
def _antidiagonal_cumsum(used: int, length: int) -> np.ndarray:
    return np.cumsum(antidiagonal_counts(used, length))


def antidiagonal_position(used: int, length: int, index):
    """Cycle (``u + e``) of the ``index``-th element(s) of a skewed ``used x length`` block."""
    return np.searchsorted(_antidiagonal_cumsum(int(used), int(length)), index, side="right")


def skewed_cycle(used: int, length: int, index: int) -> int:
    """:func:`antidiagonal_position` of one element, in closed form (integer arithmetic).

    The diagonals of a skewed ``used x length`` block hold 1, 2, .., a-1 elements, then
    ``a = min(used, length)`` up to diagonal ``max(used, length) - 1``, then a-1, .., 1: the
    ``i``-th element of the first ``a - 1`` diagonals lies on diagonal ``(isqrt(8i + 1) - 1) // 2``,
    and the last ones mirror the first.
    """
    a, b = min(used, length), max(used, length)
    head = a * (a - 1) // 2
    if index < head:
        return (math.isqrt(8 * index + 1) - 1) // 2
    if index < head + (b - a + 1) * a:
        return a - 1 + (index - head) // a
    rest = used * length - 1 - index
    return used + length - 2 - (math.isqrt(8 * rest + 1) - 1) // 2


@dataclass(frozen=True)
class FoldStream:
    """One operand's demand in one fold: which block, which pattern, where in the fold."""

    pattern: str          # "skewed" | "flipped"
    used: int             # skewed: PE lines used; flipped: block rows used
    length: int           # skewed: elements per line (T); flipped: block columns used
    offset: int           # cycle of the fold where the pattern starts
    array_rows: int       # R (flipped blocks occupy cycles R - rows_used .. R - 1)

    @property
    def elements(self) -> int:
        return self.used * self.length

    def counts(self) -> tuple[int, np.ndarray]:
        """``(first_cycle, counts)``: elements demanded per cycle from ``first_cycle`` on."""
        if self.pattern == "skewed":
            return self.offset, antidiagonal_counts(self.used, self.length)
        return self.array_rows - self.used, np.full(self.used, self.length, dtype=np.int64)

    def cycle_of(self, index: int) -> int:
        """Fold-relative cycle of the ``index``-th element of this block (integer arithmetic)."""
        if self.pattern == "skewed":
            return self.offset + skewed_cycle(self.used, self.length, int(index))
        return self.array_rows - self.used + int(index) // self.length

    def cycles_of(self, indices):
        """Fold-relative cycles of element indices (an int or an int64 array)."""
        if self.pattern == "skewed":
            return self.offset + antidiagonal_position(self.used, self.length, indices)
        return self.array_rows - self.used + np.asarray(indices, dtype=np.int64) // self.length

    def first_cycle(self) -> int:
        return self.offset if self.pattern == "skewed" else self.array_rows - self.used

    def last_cycle(self) -> int:
        if self.pattern == "skewed":
            return self.offset + self.used + self.length - 2
        return self.array_rows - 1
