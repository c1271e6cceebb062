"""Block-diagonal products: the structure the source admittances of a partitioned layer have.

A layer's source admittance ``Y_src`` couples two rows only when a conductive path joins
them without passing through an ideal source or a virtual ground.  Rows of different row
partitions sit on different tiles whose line ends are the amplifiers' virtual grounds, so
``Y_src`` is block diagonal, one block per row partition (exact zeros elsewhere, from the
sparse elimination: no threshold is involved).  A 400-120-84-10 network on 32x32 crossbars
has 13 blocks of 32 rows in its first layer: the product ``s @ Y_src^T`` costs 1/13 of the
dense one.  Matrices without that structure (amplifier input resistance, unpartitioned
layers) keep the dense product.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

#: Use the blocks only when they save at least this fraction of the dense product's work
#: (below it, one BLAS call beats several smaller ones).
_MIN_SAVING = 0.5


def contiguous_blocks(matrix: np.ndarray) -> list[tuple[int, int]] | None:
    """The diagonal blocks ``[(lo, hi), ...]`` of a square matrix whose nonzeros connect only
    indices inside contiguous ranges; None when there is one block or they are not contiguous."""
    m = np.asarray(matrix)
    n = m.shape[0]
    if m.ndim != 2 or m.shape[1] != n or n < 2:
        return None
    pattern = sp.csr_matrix((m != 0) | (m.T != 0))
    count, label = csgraph.connected_components(pattern, directed=False)
    if count < 2:
        return None
    bounds = []
    for k in range(count):
        idx = np.nonzero(label == k)[0]
        if idx[-1] - idx[0] + 1 != idx.size:
            return None
        bounds.append((int(idx[0]), int(idx[-1]) + 1))
    return sorted(bounds)


class BlockProduct:
    """``x @ matrix^T`` for batched row vectors ``x`` [B, n], block by block when that pays.

    ``be``: the array backend (:mod:`imaclab.solver.backend`).  Products of a column slice
    ``x[:, lo:hi]`` with the transposed block land in ``out[:, lo:hi]``.
    """

    def __init__(self, be, matrix: np.ndarray):
        m = np.asarray(matrix, dtype=np.float64)
        self.be = be
        self.n = m.shape[0]
        bounds = contiguous_blocks(m)
        if bounds is not None and sum((hi - lo) ** 2 for lo, hi in bounds) > (1 - _MIN_SAVING) * self.n ** 2:
            bounds = None
        self.bounds = bounds
        if bounds is None:
            self.dense_t = be.asarray(np.ascontiguousarray(m.T))
            self.blocks_t = None
        else:
            self.dense_t = None
            self.blocks_t = [be.asarray(np.ascontiguousarray(m[lo:hi, lo:hi].T)) for lo, hi in bounds]

    @property
    def block_count(self) -> int:
        return 1 if self.bounds is None else len(self.bounds)

    def __call__(self, x, last: float | None = None):
        """``x @ matrix^T`` [B, n]; with ``last``, ``x`` [B, n - 1] stands for ``[x, last]``: its
        last column is the constant ``last`` (a bias source), never built as an array."""
        be = self.be
        n_x = self.n if last is None else self.n - 1
        if self.blocks_t is None:
            out = x @ (self.dense_t if last is None else self.dense_t[:n_x])
            if last is not None:
                out += last * self.dense_t[n_x]
            return out
        # the blocks cover every index (they are the connected components), so every column is written
        out = be.empty((x.shape[0], self.n))
        # np.dot hands a column slice to BLAS with its row stride; np.matmul copies it
        # element by element first (10x slower on a 2000 x 32 slice, numpy 2)
        dot = np.dot if be.name == "numpy" else (lambda a, b: a @ b)
        assert self.bounds is not None  # set together with blocks_t
        for (lo, hi), blk in zip(self.bounds, self.blocks_t):
            if hi <= n_x:
                out[:, lo:hi] = dot(x[:, lo:hi], blk)
            else:  # the block holding the constant column
                out[:, lo:hi] = dot(x[:, lo:n_x], blk[:n_x - lo]) + last * blk[n_x - lo]
        return out
