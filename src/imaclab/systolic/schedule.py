"""Closed-form fold schedule of SCALE-Sim v2.0.2's three dataflows (vectorized over layers).

SCALE-Sim maps the operand matrices (``M x K`` ifmap, ``K x N`` filter) onto an
``R x C`` array (``R = array_rows``, ``C = array_cols``) as a *spatial* extent
``Sr x Sc`` and a *temporal* extent ``T`` (``compute/systolic_compute_{os,ws,is}.py``)::

    dataflow   Sr (on rows)   Sc (on columns)   T (streamed)
    os         M              N                 K
    ws         K              N                 M
    is         K              M                 N

and tiles it into ``row_fold = ceil(Sr / R)`` x ``col_fold = ceil(Sc / C)`` folds, run
one after the other (``for fc in col folds: for fr in row folds``).  Each fold is a
fixed number of demand-matrix lines (one line = one cycle):

    os:      T + R + C - 2          (fill K-deep stream, skew, drain outputs)
    ws, is:  2R + C + T - 2         (load the stationary operand, stream, drain)

With ``InterfaceBandwidth: CALC`` SCALE-Sim's read buffers never stall and its
OFMAP write buffer drains ``C`` words per cycle, at least as fast as the array
writes them, so there are no stall cycles and SCALE-Sim's ``Total Cycles`` (the
cycle stamp of the last demand line) is ``folds * lines_per_fold - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imaclab.errors import ConfigError

#: SCALE-Sim's SRAM read hit latency in cycles (memory/read_buffer*.py, hit_latency=1).
SRAM_HIT_LATENCY = 1
#: Above this many folds the per-fold averages use the exact closed form instead of a float sum per fold.
SEQUENTIAL_SUM_LIMIT = 1 << 22


@dataclass(frozen=True)
class FoldGeometry:
    """Spatio-temporal mapping of GEMM(s) ``(M, N, K)``; every field is an int64 array (or scalar)."""

    dataflow: str
    rows: int
    cols: int
    sr: np.ndarray
    sc: np.ndarray
    t: np.ndarray
    row_fold: np.ndarray
    col_fold: np.ndarray
    lines_per_fold: np.ndarray
    util_cycles_per_fold: np.ndarray

    @property
    def folds(self) -> np.ndarray:
        return self.row_fold * self.col_fold

    @property
    def lines(self) -> np.ndarray:
        """Demand-matrix lines of the whole layer (= stall-free cycles + 1)."""
        return self.folds * self.lines_per_fold


def spatial_temporal(dataflow: str, m, n, k):
    """``(Sr, Sc, T)`` of a dataflow for ``M, N, K`` (arrays or ints)."""
    if dataflow == "os":
        return m, n, k
    if dataflow == "ws":
        return k, n, m
    if dataflow == "is":
        return k, m, n
    raise ConfigError(f"unknown dataflow '{dataflow}': use os, ws or is")


def fold_geometry(dataflow: str, rows: int, cols: int, m, n, k) -> FoldGeometry:
    """Fold counts and fold lengths for ``M, N, K`` (ints or int arrays)."""
    m = np.asarray(m, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    k = np.asarray(k, dtype=np.int64)
    if np.any(m < 1) or np.any(n < 1) or np.any(k < 1):
        raise ConfigError("GEMM dimensions m, n, k must all be >= 1")
    sr, sc, t = spatial_temporal(dataflow, m, n, k)
    row_fold = -(-sr // rows)
    col_fold = -(-sc // cols)
    if dataflow == "os":
        # ofmap demand per fold: (T-1) prefix + R rows, C wide, skewed by C-1
        lines_per_fold = t + rows + cols - 2
        util_cycles = lines_per_fold
    else:
        # ifmap (ws) / filter (is) demand: R prefix + T + (C-1) suffix rows, skewed by R-1
        lines_per_fold = 2 * rows + cols + t - 2
        # SCALE-Sim measures compute utilization against the unskewed stationary-operand
        # demand matrix: R + (R + C + T - 2) rows, C wide -> rows + C - 1 cycles
        util_cycles = 2 * rows + 2 * cols + t - 3
    return FoldGeometry(dataflow, rows, cols, sr, sc, t, row_fold, col_fold, lines_per_fold, util_cycles)


def total_cycles_calc(geom: FoldGeometry) -> np.ndarray:
    """SCALE-Sim ``Total Cycles`` under CALC (stall free): last demand line's cycle stamp."""
    return geom.lines - 1


def sram_accesses(geom: FoldGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SRAM ifmap reads, filter reads and ofmap writes, counted as SCALE-Sim counts them.

    SCALE-Sim counts every element of the operand blocks it streams (padding of the
    convolution included), and for OS adds ``R + C`` ofmap writes per fold
    (``systolic_compute_os.create_ofmap_demand_mat``).
    """
    g = geom
    if g.dataflow == "os":
        ifmap = g.col_fold * g.sr * g.t
        filt = g.row_fold * g.t * g.sc
        ofmap = g.sr * g.sc + g.folds * (g.rows + g.cols)
    elif g.dataflow == "ws":
        ifmap = g.col_fold * g.t * g.sr
        filt = g.sr * g.sc
        ofmap = g.row_fold * g.t * g.sc
    else:  # is
        ifmap = g.sr * g.sc
        filt = g.col_fold * g.t * g.sr
        ofmap = g.row_fold * g.t * g.sc
    return ifmap, filt, ofmap


def _used(extent: int, fold: int, size: int) -> np.ndarray:
    """Rows (or columns) of the array used in each of ``fold`` folds of an ``extent``."""
    used = np.full(fold, size, dtype=np.int64)
    used[-1] = extent - (fold - 1) * size
    return used


def per_fold_efficiencies(geom: FoldGeometry) -> tuple[float, float]:
    """Average mapping efficiency and compute utilization (fractions) of ONE layer.

    Averaged over folds in SCALE-Sim's order with sequential float summation, so the
    result equals SCALE-Sim's to the last bit (above ``SEQUENTIAL_SUM_LIMIT`` folds: the
    exact mean, correctly rounded).
    """
    rows, cols = geom.rows, geom.cols
    sr, sc, t = int(geom.sr), int(geom.sc), int(geom.t)
    row_fold, col_fold = int(geom.row_fold), int(geom.col_fold)
    util_cycles = int(geom.util_cycles_per_fold)
    if row_fold * col_fold > SEQUENTIAL_SUM_LIMIT:
        # exact rational means (sum of used PEs = Sr * Sc), correctly rounded; may differ from
        # SCALE-Sim's sequential float sum in the last bit
        folds = row_fold * col_fold
        return (sr * sc) / (rows * cols * folds), (sr * sc * t) / (rows * cols * util_cycles * folds)
    r_used = _used(sr, row_fold, rows)
    c_used = _used(sc, col_fold, cols)
    mac_used = np.outer(c_used, r_used).ravel()          # fc outer, fr inner (SCALE-Sim loop order)
    mapping = mac_used / float(rows * cols)
    if mac_used.size and int(mac_used.max()) * t < 2 ** 53 and rows * cols * util_cycles < 2 ** 53:
        util = (mac_used * t) / float(rows * cols * util_cycles)
    else:  # exact integer division for huge products (Python ints are correctly rounded)
        util = np.array([(int(u) * t) / (rows * cols * util_cycles) for u in mac_used])
    folds = mapping.size
    mapping_avg = float(np.add.accumulate(mapping)[-1]) / folds
    util_avg = float(np.add.accumulate(util)[-1]) / folds
    return mapping_avg, util_avg


def mapping_efficiency_closed_form(geom: FoldGeometry) -> np.ndarray:
    """Average mapping efficiency ``Sr*Sc / (R*C*folds)`` (vectorized; equal to SCALE-Sim's up to rounding)."""
    return (geom.sr * geom.sc) / (geom.rows * geom.cols * geom.folds).astype(float)
