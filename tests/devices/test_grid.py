"""imaclab.grid: the one bilinear table lookup (array and compiled versions agree)."""

import numba
import numpy as np

from imaclab.grid import UniformGrid, axis_cell, flat_patches, patch_at, patch_slope_at, patch_slopes, patch_value


def _corner_bilinear(x_axis, y_axis, t, x, y):
    """The textbook four-corner formula, clamped at the edges."""
    dx, dy = x_axis[1] - x_axis[0], y_axis[1] - y_axis[0]
    fx_all = np.clip((x - x_axis[0]) / dx, 0, x_axis.size - 1)
    fy_all = np.clip((y - y_axis[0]) / dy, 0, y_axis.size - 1)
    i = np.minimum(np.floor(fx_all).astype(int), x_axis.size - 2)
    j = np.minimum(np.floor(fy_all).astype(int), y_axis.size - 2)
    fx, fy = fx_all - i, fy_all - j
    return ((1 - fx) * (1 - fy) * t[i, j] + fx * (1 - fy) * t[i + 1, j] + (1 - fx) * fy * t[i, j + 1]
            + fx * fy * t[i + 1, j + 1])


@numba.njit
def _compiled_lookup(patches, x, y, x0, inv_dx, nx, y0, inv_dy, ny):
    out = np.empty(x.size)
    again = np.empty(x.size)
    slope = np.empty(x.size)
    for k in range(x.size):
        i, fx = axis_cell(x[k], x0, inv_dx, nx)
        j, fy = axis_cell(y[k], y0, inv_dy, ny)
        cell = i * (ny - 1) + j
        out[k] = patch_at(patches, cell, 0, 1, fx, fy)
        again[k], slope[k] = patch_slope_at(patches, cell, 0, 1, fx, fy)
    return out, again, slope


def test_array_and_compiled_lookups_equal_the_corner_formula():
    rng = np.random.default_rng(0)
    xa, ya = np.linspace(-1.0, 1.0, 9), np.linspace(-2e-3, 2e-3, 5)
    t = rng.normal(size=(9, 5))
    x, y = rng.uniform(-1.5, 1.5, 200), rng.uniform(-3e-3, 3e-3, 200)   # some points outside: clamped
    grid = UniformGrid.of(xa, ya)
    p = flat_patches(t)
    cell, fx, fy = grid.cells(x, y)
    c = np.take(p, cell, axis=0)
    want = _corner_bilinear(xa, ya, t, x, y)
    np.testing.assert_allclose(patch_value(c, fx, fy), want, rtol=0, atol=1e-13)
    got, again, slope = _compiled_lookup(p, x, y, grid.x0, grid.inv_dx, grid.nx, grid.y0, grid.inv_dy, grid.ny)
    np.testing.assert_array_equal(got, patch_value(c, fx, fy))
    np.testing.assert_array_equal(again, got)
    np.testing.assert_array_equal(slope, patch_slopes(c, fx, fy)[1])
    # exact at the grid points
    gx, gy = np.meshgrid(xa, ya, indexing="ij")
    cell, fx, fy = grid.cells(gx.ravel(), gy.ravel())
    np.testing.assert_allclose(patch_value(np.take(p, cell, axis=0), fx, fy), t.ravel(), rtol=0, atol=1e-14)


def test_several_tables_corner_major():
    rng = np.random.default_rng(1)
    t = rng.normal(size=(4, 3, 5))
    p = flat_patches(t)
    assert p.shape == (3 * 2, 20)
    for k in range(5):
        np.testing.assert_array_equal(p[:, k::5], flat_patches(t[..., k]))
