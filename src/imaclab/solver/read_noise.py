"""Read noise per sample: the variance each read adds to the amplifier outputs.

A read of device ``G`` is ``G (1 + sigma z)`` (:func:`imaclab.devices.aging.age_for_sampled_reads`).
To first order in ``sigma`` a cell between input-line node ``a`` and output-line node ``b``
changes by ``dG`` and injects ``dG (v_a - v_b)`` from ``a`` to ``b``; with the tile's ports
held (ideal row drivers, amplifier inputs on virtual ground) that current reaches the
amplifier of its column as ``dG (v_a - v_b) t``, with ``t = (K_b - K_a)[+] - (K_b - K_a)[-]``
(``K`` [nodes, ports]: node voltages per unit port voltage -- by reciprocity also the share of
a current injected at a node that a grounded port takes).  The cell voltage is ``v_a - v_b =
sum_i (K_a - K_b)[i] v_i`` over the tile's rows.  Independent devices add variances:

    var(I+ - I-) = sum_cells sigma^2 G^2 t^2 (sum_i d_i v_i)^2,  d = K_a - K_b (per cell)

and keeping the diagonal of the quadratic form (exact for ideal wires, where ``d`` is the
cell's own row; exact in expectation over independent zero-mean row voltages otherwise)

    var(I+ - I-) ~= sum_i v_i^2 V_i,      V_i = sum_cells sigma^2 G^2 t^2 d_i^2

so that a batch costs one more product ``v^2 @ V`` per layer.  With ideal wires ``t = +-1``,
``d = e_row`` and ``V_i = sigma+^2 G+^2 + sigma-^2 G-^2`` of row ``i``'s cell pair.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla

from imaclab.circuit.description import LayerCircuit, Tile
from imaclab.solver.reduction import tile_nodes


def tile_read_variance(tile: Tile, sigma_pos: np.ndarray, sigma_neg: np.ndarray) -> np.ndarray:
    """``V`` [n_r, n_c] of one tile: variance of column ``c``'s ``I+ - I-`` per volt^2 of local
    row ``i``, A^2/V^2 (``sigma_*`` [n_r, n_c]: relative read sigma of each device)."""
    tn = tile_nodes(tile)
    n_r, n_c = tile.shape
    n, p = n_r * n_c, tn.n_ports
    k = np.zeros((tn.n_nodes, p))
    k[:p] = np.eye(p)
    if tn.n_nodes > p:
        g = tn.conductance
        k[p:] = -spla.splu(g[p:, p:].tocsc()).solve(g[p:, :p].toarray())
    grid = np.arange(n)
    node_in, node_pos, node_neg = (tn.merged[p + j * n + grid] for j in range(3))
    port_pos, port_neg = n_r + grid % n_c, n_r + n_c + grid % n_c
    total = np.zeros((n, n_r))
    for node, g_cell, sigma in ((node_pos, tile.g_pos, sigma_pos), (node_neg, tile.g_neg, sigma_neg)):
        t = (k[node, port_pos] - k[node_in, port_pos]) - (k[node, port_neg] - k[node_in, port_neg])
        d = k[node_in, :n_r] - k[node, :n_r]
        total += ((np.ravel(sigma) * np.ravel(g_cell) * t) ** 2)[:, None] * d * d
    # cells (r, c) -> columns: sum over the cells' rows r of each column
    return total.reshape(n_r, n_c, n_r).sum(axis=0).T


def layer_read_variance(lay: LayerCircuit) -> np.ndarray:
    """[fan_in + 1, amplifiers]: variance of each amplifier's output per volt^2 of each row (the
    bias row last), V^2/V^2: ``R_f^2 V`` of the amplifier's column over the tiles it reads."""
    assert lay.read_sigma is not None  # called for layers with per-sample read noise
    sig_pos, sig_neg = lay.read_sigma
    index = {(a.column, a.partition): k for k, a in enumerate(lay.amplifiers)}
    per_partition = lay.amplifiers[0].partition is not None
    rf2 = np.array([a.transimpedance_ohm for a in lay.amplifiers]) ** 2
    var = np.zeros((lay.n_rows, len(lay.amplifiers)))
    for tile in lay.tiles:
        sel = np.ix_(tile.rows, tile.cols)
        v_tile = tile_read_variance(tile, sig_pos[sel], sig_neg[sel])
        amps = np.array([index[(int(c), tile.h if per_partition else None)] for c in tile.cols])
        var[np.ix_(tile.rows, amps)] += v_tile * rf2[amps]
    return var
