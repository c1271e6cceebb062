"""One uniform 2-D table with bilinear lookup, for the devices and the solver.

Tables over two uniform axes (the loaded neuron's pin voltage x output current, the
inverter's gate x output voltage) are stored as **bilinear patches**: cell ``(i, j)`` of a
table ``t`` holds ``(c0, c1, c2, c3) = (t00, t10 - t00, t01 - t00, t11 - t10 - t01 + t00)`` so that
inside it::

    t(i + fx, j + fy) = c0 + c1 fx + (c2 + c3 fx) fy

(a lookup is one gather of a cell's row instead of four).  Cells are numbered row-major,
``cell = i * (ny - 1) + j``.  A value ``v`` falls on a uniform axis ``start + k * step``
(``n`` points) at interval ``k = min(floor(x), n - 2)`` and fraction ``x - k`` with
``x = clip((v - start) / step, 0, n - 1)``: outside the axis the table is clamped to its edge.

This module holds the only definitions of that cell math:

* :func:`bilinear_patches` -- the patches of one or several tables;
* :func:`axis_cells` / :func:`patch_value` / :class:`UniformGrid` -- array versions (numpy,
  or any backend of :mod:`imaclab.solver.backend` through its ``clip``/``floor_index``);
* :func:`axis_cell` / :func:`patch_at` / :func:`patch_slope_at` -- the scalar versions that the
  compiled kernels (:mod:`imaclab.devices.kernels`, :mod:`imaclab.solver.kernels`) inline.

The array and scalar versions compute the same expressions in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

_NJIT: dict[str, Any] = dict(nogil=True, cache=True, error_model="numpy", fastmath={"contract"}, inline="always")


def bilinear_patches(table: np.ndarray) -> np.ndarray:
    """Bilinear patches of a table over two uniform grid axes (the first two), one per cell.

    Cell ``(i, j)`` holds ``(t00, t10 - t00, t01 - t00, t11 - t10 - t01 + t00)`` on a new axis 2
    (shape ``[G-1, O-1, 4, ...]``), so that ``t(i + fx, j + fy) = c0 + c1 fx + c2 fy + c3 fx fy``:
    a lookup is one gather of a cell's row instead of four.
    """
    t = np.asarray(table, dtype=float)
    t00, t10, t01, t11 = t[:-1, :-1], t[1:, :-1], t[:-1, 1:], t[1:, 1:]
    return np.stack([t00, t10 - t00, t01 - t00, t11 - t10 - t01 + t00], axis=2)


def flat_patches(table: np.ndarray) -> np.ndarray:
    """Patches as a contiguous [cells, 4] array (one table [X, Y]) or [cells, 4 * T] (tables
    [X, Y, T], corner-major: column ``corner * T + t``)."""
    p = bilinear_patches(table)
    return np.ascontiguousarray(p.reshape(p.shape[0] * p.shape[1], -1))


class _Numpy:
    """The two backend operations :func:`axis_cells` needs, for plain numpy arrays."""

    @staticmethod
    def clip(x, lo, hi):
        return np.clip(x, lo, hi)

    @staticmethod
    def floor_index(x, hi):
        return np.minimum(x.astype(np.int64), hi)  # x >= 0: truncation is floor


NUMPY = _Numpy()


def axis_cells(values, start: float, inv_step: float, n: int, be=NUMPY):
    """(interval index, fraction within it) of ``values`` on a uniform axis of ``n`` points,
    clamped to the axis; ``be`` a backend with ``clip`` and ``floor_index`` (default numpy)."""
    x = be.clip((values - start) * inv_step, 0.0, n - 1.0)
    i = be.floor_index(x, n - 2)
    return i, x - i


def patch_value(c, fx, fy):
    """Value of gathered patches ``c`` [..., 4] at fractions (fx, fy)."""
    return c[..., 0] + c[..., 1] * fx + (c[..., 2] + c[..., 3] * fx) * fy


def patch_slopes(c, fx, fy):
    """(d/dfx, d/dfy) of gathered patches ``c`` [..., 4] (divide by the steps for per-unit slopes)."""
    return c[..., 1] + c[..., 3] * fy, c[..., 2] + c[..., 3] * fx


@dataclass(frozen=True)
class UniformGrid:
    """Two uniform axes: ``x0 + i * dx`` (``nx`` points) and ``y0 + j * dy`` (``ny`` points)."""

    x0: float
    dx: float
    nx: int
    y0: float
    dy: float
    ny: int

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> UniformGrid:
        """The grid of two uniform, increasing axis arrays."""
        return cls(float(x[0]), float(x[1] - x[0]), int(x.size), float(y[0]), float(y[1] - y[0]), int(y.size))

    @property
    def inv_dx(self) -> float:
        return 1.0 / self.dx

    @property
    def inv_dy(self) -> float:
        return 1.0 / self.dy

    def x_cells(self, x, be=NUMPY):
        """(first cell of the x interval's row, fraction fx): the x part of a lookup."""
        i, fx = axis_cells(x, self.x0, self.inv_dx, self.nx, be)
        return i * (self.ny - 1), fx

    def cells(self, x, y, be=NUMPY):
        """(cell, fx, fy) of points (x, y)."""
        row, fx = self.x_cells(x, be)
        j, fy = axis_cells(y, self.y0, self.inv_dy, self.ny, be)
        return row + j, fx, fy


# ------------------------------------------------------------------------- compiled (scalars)
@numba.njit(**_NJIT)
def axis_cell(value, start, inv_step, n):
    """Scalar :func:`axis_cells`: (interval index, fraction) of ``value`` on a uniform axis."""
    x = min(max((value - start) * inv_step, 0.0), n - 1.0)
    i = min(int(x), n - 2)
    return i, x - i


@numba.njit(**_NJIT)
def patch_at(patches, cell, first, stride, fx, fy):
    """Scalar :func:`patch_value` of the table whose corner ``k`` is column ``first + k * stride``
    of ``patches`` [cells, ...] (stride 1: a table's four columns side by side; stride T: T
    tables corner-major)."""
    return (patches[cell, first] + patches[cell, first + stride] * fx
            + (patches[cell, first + 2 * stride] + patches[cell, first + 3 * stride] * fx) * fy)


@numba.njit(**_NJIT)
def patch_slope_at(patches, cell, first, stride, fx, fy):
    """(value, d value / d fy) of :func:`patch_at`'s table: the value as ``c0 + c1 fx + slope fy``."""
    slope = patches[cell, first + 2 * stride] + patches[cell, first + 3 * stride] * fx
    return patches[cell, first] + patches[cell, first + stride] * fx + slope * fy, slope
