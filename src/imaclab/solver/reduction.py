"""Exact reduction of each layer's linear network to an affine map of its source voltages.

Everything between a layer's sources (row drivers, bias source) and its amplifiers is linear:
wire segments, memristor cells, driver/buffer resistances, amplifier input resistances.  The
nodal equations are the ones :mod:`imaclab.circuit.description` documents (and
:mod:`imaclab.circuit.netlist` writes), assembled here from the same :class:`Tile` arrays.

Two exact eliminations (Schur complements, no approximation):

1. **Tile -> ports.**  A tile's internal nodes (input-line and output-line cell nodes; nodes
   joined by zero-resistance segments are merged first, exactly as the netlist merges them)
   are eliminated with one sparse LU factorization (``scipy.sparse.linalg.splu``) of the
   internal block ``G_II``::

       Y_tile = G_PP - G_PI G_II^-1 G_IP         ports: n_r row drivers, n_c + n_c line ends

   ``I_P = Y_tile v_P`` are the currents flowing out of the ports into the tile.

2. **Layer -> sources.**  The tiles' port admittances are scattered onto the layer's port
   nodes (row driver nodes, bias node, amplifier input nodes), together with the series
   source resistances (input drivers, buffer outputs) and the amplifier input resistances.
   The nodes that are not held by an ideal source (driver nodes behind a resistance,
   amplifier inputs with ``input_resistance_ohm > 0``) are eliminated the same way.  The
   result, for the source voltages ``s = [s_0 .. s_{n-1}, v_bias]``:

       I_src = Y_src s            currents delivered by each source (the bias source last)
       I_amp = A s                I+ - I- of each amplifier (currents from the lines)

Every sample then costs two small matrix products per layer; the factorizations happen once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla

from imaclab.circuit.description import LayerCircuit, NetworkCircuit, Tile
from imaclab.errors import InputError


# ---------------------------------------------------------------------------- tiles
@dataclass(frozen=True)
class TileNodes:
    """A tile's nodal system over merged nodes: ports first, then internal nodes.

    Raw node numbering (before merging): ports ``0..P-1`` (rows, positive line ends,
    negative line ends), then input-line nodes ``(r, c)``, positive-line nodes, negative-line
    nodes, each ``n_r * n_c`` long in row-major order.  ``merged[raw]`` is the merged index.
    """

    n_ports: int
    n_nodes: int                 # merged nodes (ports + internal)
    merged: np.ndarray           # int [P + 3 n_r n_c]
    conductance: sp.csr_matrix   # [n_nodes, n_nodes] nodal conductance matrix G
    capacitance: np.ndarray      # [n_nodes] grounded capacitance per merged node (farads)


def _tile_branches(tile: Tile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(node a, node b, resistance) of every wire segment, raw numbering (see TileNodes)."""
    n_r, n_c = tile.shape
    n = n_r * n_c
    p = n_r + 2 * n_c
    grid = np.arange(n).reshape(n_r, n_c)
    in_node = p + grid
    pos_node = p + n + grid
    neg_node = p + 2 * n + grid
    a, b, r = [], [], []
    # input lines: driver port r -> (r, 0) -> (r, 1) ...
    a.append(np.arange(n_r))
    b.append(in_node[:, 0])
    r.append(tile.r_in_seg[:, 0])
    a.append(in_node[:, :-1].ravel())
    b.append(in_node[:, 1:].ravel())
    r.append(tile.r_in_seg[:, 1:].ravel())
    # output lines: (r, c) -> (r + 1, c) ... (n_r - 1, c) -> amplifier port
    for line, first_port in ((pos_node, n_r), (neg_node, n_r + n_c)):
        a.append(line[:-1, :].ravel())
        b.append(line[1:, :].ravel())
        r.append(tile.r_out_seg[:-1, :].ravel())
        a.append(line[-1, :])
        b.append(first_port + np.arange(n_c))
        r.append(tile.r_out_seg[-1, :])
    return np.concatenate(a), np.concatenate(b), np.concatenate(r).astype(np.float64)


def tile_nodes(tile: Tile) -> TileNodes:
    """Merge zero-resistance segments and assemble the tile's conductance matrix."""
    n_r, n_c = tile.shape
    n = n_r * n_c
    p = n_r + 2 * n_c
    n_raw = p + 3 * n
    a, b, r = _tile_branches(tile)
    if np.any(r < 0) or not np.all(np.isfinite(r)):
        raise InputError(f"tile {tile.name}: wire segment resistances must be finite and >= 0")
    short = r == 0
    graph = sp.coo_matrix((np.ones(int(short.sum())), (a[short], b[short])), shape=(n_raw, n_raw))
    _, label = csgraph.connected_components(graph, directed=False)
    # each component is named after its port if it has one (two ports in one component would
    # short two sources together: not a circuit the description can produce)
    port_label = label[:p]
    if np.unique(port_label).size != p:
        raise InputError(f"tile {tile.name}: zero-resistance wires short two ports together")
    comp_index = np.full(label.max() + 1, -1)
    comp_index[port_label] = np.arange(p)
    free = np.nonzero(comp_index < 0)[0]
    comp_index[free] = p + np.arange(free.size)
    merged = comp_index[label]
    n_nodes = p + free.size
    # conductances: segments with R > 0, then the cells
    grid = np.arange(n)
    g_cells_pos = np.asarray(tile.g_pos, dtype=np.float64).ravel()
    g_cells_neg = np.asarray(tile.g_neg, dtype=np.float64).ravel()
    if np.any(g_cells_pos <= 0) or np.any(g_cells_neg <= 0):
        raise InputError(f"tile {tile.name}: cell conductances must be > 0")
    ba = np.concatenate([a[~short], p + grid, p + grid])
    bb = np.concatenate([b[~short], p + n + grid, p + 2 * n + grid])
    bg = np.concatenate([1.0 / r[~short], g_cells_pos, g_cells_neg])
    ma, mb = merged[ba], merged[bb]
    keep = ma != mb
    ma, mb, bg = ma[keep], mb[keep], bg[keep]
    rows = np.concatenate([ma, mb, ma, mb])
    cols = np.concatenate([ma, mb, mb, ma])
    vals = np.concatenate([bg, bg, -bg, -bg])
    g = sp.coo_matrix((vals, (rows, cols)), shape=(n_nodes, n_nodes)).tocsr()
    # capacitance of each raw cell node (the netlist places one only where the segment is real)
    cap = np.zeros(n_nodes)
    c_in = np.where(tile.r_in_seg > 0, tile.c_in_node, 0.0).ravel()
    c_out = np.where(tile.r_out_seg > 0, tile.c_out_node, 0.0).ravel()
    np.add.at(cap, merged[p + grid], c_in)
    np.add.at(cap, merged[p + n + grid], c_out)
    np.add.at(cap, merged[p + 2 * n + grid], c_out)
    return TileNodes(n_ports=p, n_nodes=n_nodes, merged=merged, conductance=g, capacitance=cap)


@dataclass(frozen=True)
class TilePorts:
    """A tile reduced exactly to its ports (rows, then positive and negative line ends).

    ``admittance`` [P, P]: currents out of the ports into the tile for port voltages.
    ``moment1`` [P, P]: first moment of the port admittance, ``Y(s) = Y0 + s Y1 + ...`` with
    ``Y1 = K^T C K`` (``K`` maps port voltages to all node voltages at DC): the charge stored
    on the tile's capacitances per volt, which gives each port's Elmore time constant.
    """

    tile: Tile
    admittance: np.ndarray
    moment1: np.ndarray
    internal_nodes: int


def reduce_tile(tile: Tile) -> TilePorts:
    """Eliminate the tile's internal nodes with one sparse LU factorization."""
    tn = tile_nodes(tile)
    p = tn.n_ports
    g = tn.conductance
    g_pp = g[:p, :p].toarray()
    if tn.n_nodes == p:
        return TilePorts(tile=tile, admittance=g_pp, moment1=np.diag(tn.capacitance[:p]), internal_nodes=0)
    g_ii = g[p:, p:].tocsc()
    g_ip = g[p:, :p].toarray()
    lu = spla.splu(g_ii)
    # internal node voltages per unit port voltage: v_I = -G_II^-1 G_IP v_P
    k_ip = -lu.solve(g_ip)
    y = g_pp + g[:p, p:] @ k_ip
    y = 0.5 * (y + y.T)  # a reciprocal network: remove round-off asymmetry
    c_int = tn.capacitance[p:]
    m1 = np.diag(tn.capacitance[:p]) + k_ip.T @ (c_int[:, None] * k_ip)
    return TilePorts(tile=tile, admittance=y, moment1=m1, internal_nodes=tn.n_nodes - p)


# ---------------------------------------------------------------------------- layers
@dataclass(frozen=True)
class LayerMap:
    """One layer as an exact affine map of its source voltages ``s = [rows..., v_bias]``.

    ``source_admittance`` [S, S]: currents delivered by the sources (``S = fan_in + 1``, the
    bias source last), including what flows through their series resistances.
    ``amp_current`` [n_amp, S]: ``I+ - I-`` of each amplifier (line currents into its inputs).
    ``source_moment1`` / ``amp_moment1``: the same maps' first moments (``s``-coefficients of
    the Laplace-domain admittances; ``-amp_moment1 / amp_current`` is an Elmore delay).
    Amplifiers are ordered as ``LayerCircuit.amplifiers``: by output, then by partition.
    """

    index: int
    hidden: bool
    fan_in: int
    fan_out: int
    source_admittance: np.ndarray
    amp_current: np.ndarray
    source_moment1: np.ndarray
    amp_moment1: np.ndarray
    source_resistance_ohm: np.ndarray   # [fan_in] series resistance between each source and its row
    transimpedance_ohm: np.ndarray      # [n_amp]
    sign: np.ndarray                    # [n_amp] +-1
    clamp_v: float | None
    partitions: int                     # amplifiers per output (1 for join='sum')
    tie_resistance_ohm: float           # join='average' tie resistors (0 for 'sum')
    internal_nodes: int
    amplifiers: int
    digital_readout: bool = False       # the amplifiers are the readout channels (never joined)

    @property
    def n_sources(self) -> int:
        return self.fan_in + 1

    def amplifier_gain(self, bias_v: float) -> tuple[np.ndarray, np.ndarray]:
        """The map from the rows' source voltages ``v`` [..., fan_in] to the unclamped amplifier
        outputs, ``v @ rows_t + bias`` (volts): ``rows_t`` [fan_in, n_amp] (V/V) and ``bias``
        [n_amp] (the bias row at ``bias_v`` volts), so that no caller joins a bias column to a
        batch."""
        gain_t = (self.amp_current * (self.sign * self.transimpedance_ohm)[:, None]).T
        return np.ascontiguousarray(gain_t[:self.fan_in]), bias_v * gain_t[self.fan_in]

    def amplifier_outputs(self, amp_current: np.ndarray) -> np.ndarray:
        """Ideal amplifier output voltages for ``I+ - I-`` [..., n_amp] (numpy)."""
        v = self.sign * self.transimpedance_ohm * amp_current
        if self.clamp_v is not None:
            v = np.clip(v, -self.clamp_v, self.clamp_v)
        return v


def source_resistances(circuit: NetworkCircuit, layer: int) -> np.ndarray:
    """Series resistance between each row's source and its row driver node, ohms.

    Layer 0: the input drivers' ``driver_resistance_ohm``.  Later layers: the buffer's output
    resistance (``loading='buffer'``), else 0 (neuron output or ideal buffer on the row).
    """
    lay = circuit.layers[layer]
    r = circuit.driver_resistance_ohm if layer == 0 else circuit.buffer_output_resistance_ohm
    return np.full(lay.fan_in, float(r))


def reduce_layer(circuit: NetworkCircuit, layer: int) -> LayerMap:
    """Reduce one layer exactly to its :class:`LayerMap`."""
    lay: LayerCircuit = circuit.layers[layer]
    n_src = lay.fan_in + 1
    r_src = source_resistances(circuit, layer)
    amps = lay.amplifiers
    n_amp = len(amps)
    amp_index = {(a.column, a.partition): k for k, a in enumerate(amps)}
    per_partition = amps[0].partition is not None  # join='average', or partial sums read one by one
    # layer port nodes: sources 0..n_src-1 (bias last), driver nodes behind a resistance,
    # then the positive and negative input of every amplifier
    behind = np.nonzero(r_src > 0)[0]
    driver = np.arange(n_src)
    driver[behind] = n_src + np.arange(behind.size)
    amp_base = n_src + behind.size
    n_nodes = amp_base + 2 * n_amp
    g = np.zeros((n_nodes, n_nodes))
    c1 = np.zeros((n_nodes, n_nodes))
    internal = 0
    for tile in lay.tiles:
        ports = reduce_tile(tile)
        internal += ports.internal_nodes
        part = tile.h if per_partition else None
        amps_k = np.array([amp_index[(int(j), part)] for j in tile.cols])
        idx = np.concatenate([driver[tile.rows], amp_base + 2 * amps_k, amp_base + 2 * amps_k + 1])
        g[np.ix_(idx, idx)] += ports.admittance
        c1[np.ix_(idx, idx)] += ports.moment1
    for i in behind:
        gs = 1.0 / r_src[i]
        d = driver[i]
        g[i, i] += gs
        g[d, d] += gs
        g[i, d] -= gs
        g[d, i] -= gs
    r_in = np.array([a.input_resistance_ohm for a in amps])
    loaded = np.nonzero(r_in > 0)[0]
    for kl in loaded:
        for pol in (0, 1):
            g[amp_base + 2 * kl + pol, amp_base + 2 * kl + pol] += 1.0 / r_in[kl]
    # known: the sources and the ideal (virtual-ground) amplifier inputs; unknown: the rest
    ideal_amp_nodes = np.array([amp_base + 2 * k + pol for k in range(n_amp) if r_in[k] == 0 for pol in (0, 1)],
                               dtype=int)
    known = np.concatenate([np.arange(n_src), ideal_amp_nodes])
    unknown = np.setdiff1d(np.arange(n_nodes), known)
    # DC: v = V s, with V = [I; -G_UU^-1 G_US] (virtual grounds sit at 0 V)
    src = np.arange(n_src)
    lu = spla.splu(sp.csc_matrix(g[np.ix_(unknown, unknown)])) if unknown.size else None
    volt = np.zeros((n_nodes, n_src))
    volt[src, src] = 1.0
    if lu is not None:
        volt[unknown] = -lu.solve(g[np.ix_(unknown, src)])
    # first order in s: (G + s C1) v = injections at the known nodes; v1_U = -G_UU^-1 (C1 v)_U
    charge = c1 @ volt
    volt1 = np.zeros_like(volt)
    if lu is not None:
        volt1[unknown] = -lu.solve(charge[unknown])
    out_current = g @ volt                      # currents out of every node into the network
    out_m1 = charge + g @ volt1
    y_src = out_current[:n_src]
    y_src = 0.5 * (y_src + y_src.T)  # reciprocal: remove round-off asymmetry
    m1_src = out_m1[:n_src]
    amp_i = np.zeros((n_amp, n_src))
    amp_m1 = np.zeros((n_amp, n_src))
    for k in range(n_amp):
        pn = amp_base + 2 * k
        if r_in[k] == 0:
            # current from the lines into a virtual ground = minus what leaves that node
            amp_i[k] = -out_current[pn] + out_current[pn + 1]
            amp_m1[k] = -out_m1[pn] + out_m1[pn + 1]
        else:
            amp_i[k] = (volt[pn] - volt[pn + 1]) / r_in[k]
            amp_m1[k] = (volt1[pn] - volt1[pn + 1]) / r_in[k]
    # amplifiers joined per output in the circuit (a digital readout joins none: its channels are the outputs)
    partitions = len(lay.row_partitions) if per_partition and not lay.digital_readout else 1
    tie = amps[0].tie_resistance_ohm if amps[0].tie_node is not None else 0.0
    return LayerMap(index=layer, hidden=lay.hidden, fan_in=lay.fan_in, fan_out=lay.fan_out,
                    source_admittance=y_src, amp_current=amp_i, source_moment1=m1_src, amp_moment1=amp_m1,
                    source_resistance_ohm=r_src, transimpedance_ohm=np.array([a.transimpedance_ohm for a in amps]),
                    sign=np.array([a.sign for a in amps], dtype=np.float64), clamp_v=amps[0].clamp_v,
                    partitions=partitions, tie_resistance_ohm=float(tie or 0.0), internal_nodes=internal,
                    amplifiers=n_amp, digital_readout=lay.digital_readout)


def reduce_network(circuit: NetworkCircuit) -> tuple[LayerMap, ...]:
    """Every layer's :class:`LayerMap` (the whole linear part of the circuit, reduced)."""
    return tuple(reduce_layer(circuit, li) for li in range(len(circuit.layers)))
