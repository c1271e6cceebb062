"""The frozen circuit description of a whole partitioned IMAC network.

``build_circuit(config, model) -> NetworkCircuit`` maps an :class:`~imaclab.circuit.mlp.MLPModel`
onto crossbars.  The SPICE writer (:mod:`imaclab.circuit.netlist`) and the fast solver
(:mod:`imaclab.solver`) read ONLY this description; both must build the same nodal equations
from it.  Everything is in SI units.  Exactly what each element connects:

Supplies and drivers
--------------------
* ``vdd`` = ``+supply_v``, ``vss`` = ``-supply_v`` (ideal sources to ground ``0``).
* Input ``i`` of the network is an ideal voltage source from ground to node ``x{i}`` carrying
  ``encode_inputs(sample)`` (through ``driver_resistance_ohm`` when > 0, then to node
  ``x{i}_d``: the row lines attach to :meth:`NetworkCircuit.row_driver_node`).
* The bias row of every layer is driven from its own ideal source ``vb{l}`` = ``+supply_v``
  at node ``l{l}_bias`` (a separate source so that its power can be metered).
* Rows of layer ``l > 0`` are driven by the neurons (or buffers) of layer ``l-1``; see Loading.

Tiles (crossbars)
-----------------
Layer ``l`` has ``N = fan_in + 1`` rows (inputs ``0..fan_in-1``, then the bias row with index
``fan_in``) split evenly (``np.array_split``) into ``n_h = ceil(N / rows)`` horizontal
partitions, and ``fan_out`` outputs split evenly into ``n_v = ceil(fan_out / columns)``
vertical partitions.  Tile ``(h, v)`` holds rows ``row_partitions[h]`` x outputs
``col_partitions[v]``.  Inside a tile, local row ``r`` / column ``c``:

* Input line of row ``r``: driver node -> segment ``r_in_seg[r, 0]`` -> cell node ``(r, 0)``
  -> segment ``r_in_seg[r, 1]`` -> cell node ``(r, 1)`` ... ``(r, n_c - 1)``, where the line
  ends.  Every tile re-drives its rows from the driver node (segment 0 starts there).
* Positive line of column ``c``: cell node ``(0, c)`` -> ``r_out_seg[0, c]`` -> ``(1, c)`` ...
  -> ``(n_r - 1, c)`` -> ``r_out_seg[n_r - 1, c]`` -> the amplifier's positive input node.
  The negative line is identical with its own nodes.  Row 0 is the far end; the bias row
  (in the last partition) sits next to the amplifier.
* Cell ``(r, c)`` is a conductance ``g_pos[r, c]`` between input-line node ``(r, c)`` and
  positive-line node ``(r, c)``, and ``g_neg[r, c]`` to negative-line node ``(r, c)``.
* Capacitances ``c_in_node[r, c]`` (input line) and ``c_out_node[r, c]`` (each of the two
  output lines) from the cell nodes to ground: each segment's capacitance lumped at the cell
  end of that segment.
* A zero segment resistance (parasitics off) means an ideal connection: the two nodes are one.

Amplifiers
----------
Each :class:`Amplifier` has a positive and a negative input node.  ``join='sum'``: one
amplifier per output; the line ends of all its horizontal partitions (all tiles of that
column) land on its input nodes, so their currents add.  ``join='average'``: one amplifier
per (output, horizontal partition), its output through ``tie_resistance_ohm`` to the shared
node ``l{l}_u{j}``, so the node carries the average of the partition outputs.  The config's
``join: auto`` (the default) is resolved here, once, to the convention's join (:func:`resolve_join`:
``sum`` under imaclab, ``average`` under imacsim); :attr:`NetworkCircuit.join` is the resolved one.

Model of one amplifier, with ``I+`` / ``I-`` the currents flowing from the lines into its
input nodes::

    input_resistance_ohm == 0 : each input node is held at 0 V (ideal virtual ground)
    input_resistance_ohm  > 0 : each input node connects to ground through that resistance
    v_out = clamp(sign * transimpedance_ohm * (I+ - I-), +-clamp_v)   ideal voltage source

``sign = -1`` for hidden layers (the inverting neuron restores the polarity), ``+1`` for the
output layer.  With ``join='sum'`` ``transimpedance_ohm = A / (N * G_mid)``; with
``join='average'`` each of the ``n_h`` amplifiers has ``n_h * A / (N * G_mid)`` so that the
average equals the sum.  The output node is ``out_node``; with ``'sum'`` it is the neuron
input node ``l{l}_u{j}`` (hidden) or ``out{j}`` (output layer).

Neurons and loading
-------------------
A :class:`Neuron` after each hidden output reads its ``in_node`` (which carries ``-u``) and
drives ``out_node`` from the supplies ``vdd``/``vss``: transistor level (``NeuronConfig``
sizing, :func:`~imaclab.devices.neuron.neuron_subcircuit_lines`) or behavioral (ideal source
``curve.pin_transfer(v_in)``).  A transistor neuron draws current through its ``R_input`` from
its input node.  Loading (``loading``): ``direct`` -> rows of layer ``l+1`` attach to the
neuron output node; ``ideal_buffer``/``buffer`` -> a unity-gain ideal source copies the neuron
output to ``l{l}_b{j}`` through ``buffer_output_resistance_ohm`` (0 for the ideal buffer), and
the rows attach there.  The rows of every hidden layer are metered by a 0-V source from the
driving node to ``row_driver_node`` (so the power delivered into each crossbar is known).

Outputs of the network are the last layer's amplifier output nodes ``out{j}`` (or, with
``'average'``, the tie nodes ``l{L}_u{j}``): :meth:`NetworkCircuit.output_nodes`.

Digital readout of the output layer (``converters.weight_slices`` / ``converters.adc_per_partition``)
------------------------------------------------------------------------------------------------
Where ADCs read the last layer (the only layer an ADC reads: hidden layers feed analog
neurons), its columns may be organised as CrossSim/ISAAC/NeuroSim do:

* **bit slicing** (``weight_slices = S > 1``, multilevel weights of ``L = B^S`` levels): weight
  level ``k = sum_s k_s B^s`` (``k_s`` in ``0..B-1``) is held by ``S`` device pairs, slice ``s``
  storing the ``B``-level weight ``w_s = -1 + 2 k_s/(B-1)``; then exactly
  ``w = sum_s c_s w_s`` with place values ``c_s = B^s (B-1)/(L-1)`` (``sum c_s = 1``).  The
  layer is built as a wider layer: logical output ``j`` owns the physical columns
  ``p = j S + s`` (``Tile.cols`` and ``Amplifier.column`` count physical columns; they are
  partitioned over crossbars like any column, so slicing takes ``S`` times the columns).
* **partial sums** (``adc_per_partition``): one amplifier per (column, horizontal partition),
  each reading only its partition's line currents, with no tie: the partial sums are read apart.

Each such amplifier (``transimpedance_ohm = A / (N G_mid)``, the layer's own) is one readout
*channel*: its output node ``out{j}[_s{s}][_h{h}]`` is an output node of the network
(:meth:`NetworkCircuit.output_nodes`), each digitized by its own ADC, and output ``j`` is the
digital sum ``sum_k place_k v_k`` over its channels (:meth:`NetworkCircuit.combine_readout`;
``Amplifier.place`` = ``c_s``).  With ideal devices and no ADC it equals the unsliced output
exactly (the map is linear), unless a clamp clips a channel.

Read noise per sample (``devices.read_noise_draw: sample``)
----------------------------------------------------------
The cells hold the conductances at ``devices.time_s`` without a read-noise draw, and
``LayerCircuit.read_sigma`` the relative sigma of one read of each device (a read is
``G (1 + sigma N(0, 1))``, :func:`~imaclab.devices.aging.age_for_sampled_reads`).  The fast
solver draws the read per sample, as the Gaussian it adds to each amplifier output
(:mod:`imaclab.solver.read_noise`: the cells' first-order sensitivities through the tile's
wires; with ideal wires ``R_f^2 sum_i v_i^2 (sigma+^2 G+^2 + sigma-^2 G-^2)``).
ngspice reads fixed resistors, so its netlists refuse such a circuit.

Conventions (``circuit.convention``)
------------------------------------
``imaclab`` is everything above.  ``imacsim`` is IMAC-Sim's signal chain (its ``mapLayer.py``,
``neuron.sp``, ``diff*.sp``): every amplifier is non-inverting (``sign = +1``, hidden and
output layers), so a neuron's ``in_node`` carries ``+u`` and its output ``f(-u)`` falls as the
column sum rises; the neuron is IMAC-Sim's, on 0..VDD
(:func:`~imaclab.devices.neuron.imacsim_behavioral_curve`, behavioral only); a neuron also
follows every output of the last layer (amplifier output ``l{L}_u{j}`` -> neuron -> ``out{j}``,
unloaded), and the class is the output neuron with the largest voltage.  ``auto`` resolves to
``imacsim`` for a model read from an IMAC-Sim folder (``model.meta['convention']``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast

import numpy as np

from imaclab.circuit.config import CONVENTIONS, CircuitConfig
from imaclab.circuit.mlp import MLPModel
from imaclab.devices.column import ideal_column_gain, mid_conductance_s
from imaclab.devices.inputs import InputConfig, bias_voltage
from imaclab.devices.memristor import (
    DeviceConfig,
    WeightKind,
    age_pair,
    apply_nonidealities,
    layer_rng,
    layer_weight_scale,
    map_conductances,
    quantize_weights,
)
from imaclab.devices.neuron import NeuronConfig, NeuronCurve, loaded_curve, row_load_ohm
from imaclab.devices.wires import SegmentParasitics, segment_parasitics
from imaclab.errors import ConfigError, InputError


class CircuitBuildConfig(Protocol):
    """What :func:`build_circuit` reads (``imaclab.imac.ImacConfig`` satisfies it)."""

    devices: DeviceConfig
    circuit: CircuitConfig
    neuron: NeuronConfig
    inputs: InputConfig


@dataclass(frozen=True)
class Tile:
    """One crossbar: a block of a layer's rows x a block of its outputs."""

    layer: int
    h: int
    v: int
    rows: np.ndarray        # int [n_r]: layer row index of each local row (== fan_in: bias row)
    cols: np.ndarray        # int [n_c]: layer column of each local column (physical: j slices + s)
    g_pos: np.ndarray       # [n_r, n_c] S, cell to the positive line
    g_neg: np.ndarray       # [n_r, n_c] S, cell to the negative line
    r_in_seg: np.ndarray    # [n_r, n_c] ohm, input-line segment ending at cell (r, c)
    c_in_node: np.ndarray   # [n_r, n_c] F, input-line cell node to ground
    r_out_seg: np.ndarray   # [n_r, n_c] ohm, output-line segment from cell (r, c) toward the amplifier
    c_out_node: np.ndarray  # [n_r, n_c] F, each output-line cell node to ground

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.rows.size), int(self.cols.size)

    @property
    def name(self) -> str:
        return f"l{self.layer}_t{self.h}_{self.v}"

    def in_node(self, r: int, c: int) -> str:
        return f"{self.name}_i{r}_{c}"

    def out_node(self, r: int, c: int, line: str) -> str:
        """Output-line cell node; ``line`` is ``'p'`` or ``'n'``."""
        return f"{self.name}_{line}{r}_{c}"

    has_bias_row: bool = False  # the last local row is the layer's bias row


@dataclass(frozen=True)
class Amplifier:
    """Differential transimpedance amplifier of one output (or one partition of it)."""

    layer: int
    column: int
    partition: int | None   # None: sums all horizontal partitions; h for join='average'
    pos_node: str
    neg_node: str
    out_node: str
    transimpedance_ohm: float
    sign: int
    input_resistance_ohm: float
    clamp_v: float | None
    tie_node: str | None = None       # join='average': the shared node the output ties to
    tie_resistance_ohm: float | None = None
    output: int | None = None         # digital readout: the logical output this channel adds to
    place: float = 1.0                # digital readout: the channel's place value in that output

    @property
    def name(self) -> str:
        part = "" if self.partition is None else f"_h{self.partition}"
        return f"l{self.layer}_a{self.column}{part}"


@dataclass(frozen=True)
class Neuron:
    """Analog neuron after hidden output ``column`` of ``layer``."""

    layer: int
    column: int
    in_node: str
    out_node: str
    drive_node: str         # node the next layer's rows hang from (neuron or buffer output)

    @property
    def name(self) -> str:
        return f"l{self.layer}_n{self.column}"


@dataclass(frozen=True)
class LayerCircuit:
    """One fully connected layer mapped onto its tiles, amplifiers and neurons."""

    index: int
    fan_in: int
    fan_out: int
    weights: np.ndarray          # [fan_in, fan_out] normalized, quantized weights (nominal encoding)
    bias: np.ndarray             # [fan_out]
    weight_scale: float          # model weights / weight_scale = weights
    gain: float                  # amplifier voltage gain A
    column_gain: float           # u = column_gain * (v @ weights + v_bias * bias), ideally
    row_partitions: tuple[np.ndarray, ...]
    col_partitions: tuple[np.ndarray, ...]
    tiles: tuple[Tile, ...]
    amplifiers: tuple[Amplifier, ...]
    neurons: tuple[Neuron, ...]  # empty for the output layer
    hidden: bool
    bias_node: str
    bias_source: str
    slices: int = 1                          # physical columns per output (bit slicing)
    column_weights: np.ndarray | None = None  # [fan_in + 1, fan_out * slices] slice weights (sliced)
    digital_readout: bool = False            # amplifiers read one by one, outputs summed digitally
    #: per-sample read noise: relative sigma of one read of each device (G+, G-), [fan_in + 1, n_columns] each
    read_sigma: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def n_rows(self) -> int:
        return self.fan_in + 1

    @property
    def n_columns(self) -> int:
        """Physical columns (line pairs): ``fan_out * slices``."""
        return self.fan_out * self.slices

    def physical_weights(self) -> np.ndarray:
        """Normalized weights of the physical columns [fan_in + 1, n_columns], bias row last."""
        if self.column_weights is not None:
            return self.column_weights
        return np.vstack([self.weights, self.bias[None, :]])

    def output_ports(self) -> list[str]:
        """The layer's output nodes: the joined signal nodes, or the readout channels."""
        if self.digital_readout:
            return [a.out_node for a in self.amplifiers]
        return [self.signal_node(j) for j in range(self.fan_out)]

    def readout_matrix(self) -> np.ndarray:
        """[channels, fan_out]: the place value of each readout channel in each output (identity
        without a digital readout)."""
        if not self.digital_readout:
            return np.eye(self.fan_out)
        m = np.zeros((len(self.amplifiers), self.fan_out))
        for k, a in enumerate(self.amplifiers):
            m[k, a.column if a.output is None else a.output] = a.place
        return m

    @property
    def crossbars(self) -> int:
        return len(self.tiles)

    def tile(self, h: int, v: int) -> Tile:
        return self.tiles[h * len(self.col_partitions) + v]

    def signal_node(self, column: int) -> str:
        """Node carrying the joined amplifier output of ``column`` (``sign * u``: ``-u`` hidden and
        ``u`` output in the imaclab convention, ``u`` everywhere in imacsim)."""
        return f"l{self.index}_u{column}" if (self.hidden or self.neurons or self.amplifiers[0].partition is not None) \
            else f"out{column}"


@dataclass(frozen=True)
class NetworkCircuit:
    """The whole network as one circuit (see the module docstring for connectivity)."""

    layers: tuple[LayerCircuit, ...]
    supply_v: float
    bias_v: float
    input_mode: Literal["binary", "analog"]
    input_threshold: float
    sampling_period_s: float
    rise_time_s: float
    driver_resistance_ohm: float
    join: str                                    # resolved: 'sum' or 'average' (never 'auto')
    loading: str
    buffer_output_resistance_ohm: float
    neuron: NeuronConfig
    neuron_curve: NeuronCurve
    parasitics: SegmentParasitics
    cell_area_m2: float
    crossbar_rows: int
    crossbar_columns: int
    amplifier_static_power_w: float
    model: MLPModel
    layer_curves: tuple[NeuronCurve, ...] = ()   # effective curve per hidden layer (under its row load)
    meta: dict = field(default_factory=dict)
    ngspice_path: str | None = None              # the ngspice executable (None: IMACLAB_NGSPICE, else PATH)
    convention: str = "imaclab"                  # imaclab | imacsim (resolved; see the module docstring)

    # topology -------------------------------------------------------------------------------
    @property
    def layer_sizes(self) -> list[int]:
        return [self.layers[0].fan_in] + [lay.fan_out for lay in self.layers]

    @property
    def n_inputs(self) -> int:
        return self.layers[0].fan_in

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].fan_out

    @property
    def crossbars_per_layer(self) -> list[int]:
        return [lay.crossbars for lay in self.layers]

    @staticmethod
    def input_node(i: int) -> str:
        return f"x{i}"

    def row_driver_node(self, layer: int, row: int) -> str:
        """Node that segment 0 of row ``row`` of ``layer`` starts from, in every tile."""
        lay = self.layers[layer]
        if row == lay.fan_in:
            return lay.bias_node
        if layer == 0:
            return f"x{row}_d" if self.driver_resistance_ohm > 0 else f"x{row}"
        return f"l{layer}_r{row}"

    def output_nodes(self) -> list[str]:
        """The nodes the backends report: the last layer's outputs, or its readout channels."""
        last = self.layers[-1]
        if last.neurons:  # imacsim: the output neurons' outputs
            return [n.out_node for n in last.neurons]
        return last.output_ports()

    @property
    def digital_readout(self) -> bool:
        """True when the backends report readout channels (see the module docstring)."""
        return self.layers[-1].digital_readout

    @property
    def n_readout(self) -> int:
        """Columns of what the backends report: ``n_outputs``, or the readout channels."""
        return len(self.layers[-1].amplifiers) if self.digital_readout else self.n_outputs

    def combine_readout(self, channels: np.ndarray) -> np.ndarray:
        """The network outputs [n, n_outputs] from what the backends report [n, n_readout]: the
        digital shift-and-add of the readout channels (unchanged without a digital readout)."""
        channels = np.asarray(channels, dtype=np.float64)
        if not self.digital_readout:
            return channels
        return channels @ self.layers[-1].readout_matrix()

    def ideal_readout(self, v_in: np.ndarray) -> np.ndarray:
        """The software reference of what the backends report [n, n_readout]: each readout
        channel's ideal (parasitic-free, nominal) output, clamped (the network outputs without a
        digital readout)."""
        if not self.digital_readout:
            return np.asarray(self.ideal_forward(v_in))
        _, hidden = self.ideal_forward(v_in, return_hidden=True)
        last = self.layers[-1]
        v = hidden[-1] if hidden else np.atleast_2d(np.asarray(v_in, dtype=np.float64))
        v_rows = np.hstack([v, np.full((v.shape[0], 1), self.bias_v)])
        w = last.physical_weights()
        out = np.empty((v.shape[0], len(last.amplifiers)))
        for k, a in enumerate(last.amplifiers):
            rows = last.row_partitions[a.partition] if a.partition is not None else np.arange(last.n_rows)
            out[:, k] = last.column_gain * (v_rows[:, rows] @ w[rows, a.column])
        if last.amplifiers[0].clamp_v is not None:
            out = np.clip(out, -last.amplifiers[0].clamp_v, last.amplifiers[0].clamp_v)
        return out

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Input-line voltages for data in [0, 1] (shape [..., n_inputs])."""
        from imaclab.devices.inputs import encode_inputs

        return encode_inputs(x, self.input_mode, self.supply_v, self.input_threshold)

    # ideal reference ------------------------------------------------------------------------
    def ideal_forward(self, v_in: np.ndarray, return_hidden: bool = False, loaded: bool = True) -> np.ndarray | tuple:
        """Parasitic-free, variation-free outputs ``u_L`` for input voltages ``v_in`` [n, fan_in]:
        the software reference.  ``loaded``: each hidden layer's activation is its neuron curve
        under the nominal load of the next layer's rows (``layer_curves``; Thevenin estimate,
        only differs from the device curve for directly driven transistor neurons); else the
        unloaded device curve."""
        v = np.atleast_2d(np.asarray(v_in, dtype=np.float64))
        hidden = []
        if self.convention == "imacsim":
            # the same circuit's ideal: non-inverting amplifiers (the node carries +u), the
            # neuron's physical transfer f(-v_pin) after every layer, the output layer included
            for lay in self.layers:
                u = lay.column_gain * (v @ lay.weights + self.bias_v * lay.bias)
                clamp = lay.amplifiers[0].clamp_v
                if clamp is not None:
                    u = np.clip(u, -clamp, clamp)
                curve = self.layer_curves[lay.index] if (lay.hidden and loaded and self.layer_curves) \
                    else self.neuron_curve
                v = curve.pin_transfer(u)
                if lay.hidden:
                    hidden.append(v)
            return (v, hidden) if return_hidden else v
        for lay in self.layers:
            u = lay.column_gain * (v @ lay.weights + self.bias_v * lay.bias)
            clamp = lay.amplifiers[0].clamp_v
            if clamp is not None:
                # exact for join='sum'; with 'average' each partition clips before averaging
                u = np.clip(u, -clamp, clamp)
            if lay.hidden:
                curve = self.layer_curves[lay.index] if (loaded and self.layer_curves) else self.neuron_curve
                v = curve(u)
                hidden.append(v)
            else:
                v = u
        return (v, hidden) if return_hidden else v

    def counts(self) -> dict[str, int]:
        """Element counts (for reports and size estimates)."""
        cells = sum(int(t.g_pos.size) * 2 for lay in self.layers for t in lay.tiles)
        r_on = self.parasitics.input_line_r_ohm > 0
        c_on = self.parasitics.input_line_c_f > 0
        seg = sum(int(t.g_pos.size) * 3 for lay in self.layers for t in lay.tiles)
        return {"crossbars": sum(self.crossbars_per_layer), "memristors": cells,
                "wire_resistors": seg if r_on else 0, "wire_capacitors": seg if c_on else 0,
                "amplifiers": sum(len(lay.amplifiers) for lay in self.layers),
                "neurons": sum(len(lay.neurons) for lay in self.layers),
                "tie_resistors": sum(a.tie_node is not None for lay in self.layers for a in lay.amplifiers)}

    def to_dict(self) -> dict[str, Any]:
        return {"layer_sizes": self.layer_sizes, "crossbars_per_layer": self.crossbars_per_layer,
                "crossbar": f"{self.crossbar_rows}x{self.crossbar_columns}",
                "supply_v": self.supply_v, "join": self.join, "loading": self.loading,
                "gains": [lay.gain for lay in self.layers],
                "column_gains": [lay.column_gain for lay in self.layers],
                "weight_scales": [lay.weight_scale for lay in self.layers],
                "convention": self.convention,
                "readout": ({"channels": self.n_readout, "weight_slices": self.layers[-1].slices,
                             "adc_per_partition": self.layers[-1].amplifiers[0].partition is not None}
                            if self.digital_readout else None),
                "parasitics": self.parasitics.to_dict(), "neuron": self.neuron_curve.to_dict(),
                "counts": self.counts()}


# ---------------------------------------------------------------------------- factory
def partition_counts(fan_in: int, fan_out: int, rows: int, columns: int) -> tuple[int, int]:
    """(horizontal, vertical) partitions: ceil((fan_in + 1) / rows), ceil(fan_out / columns)."""
    if rows < 1 or columns < 1:
        raise ConfigError(f"crossbar size must be at least 1x1, got {rows}x{columns}")
    return math.ceil((fan_in + 1) / rows), math.ceil(fan_out / columns)


def crossbars_per_layer(layer_sizes: list[int], rows: int = 32, columns: int = 32) -> list[int]:
    """Crossbar count of each layer of a network ``[inputs, hidden..., outputs]``."""
    out = []
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        h, v = partition_counts(fan_in, fan_out, rows, columns)
        out.append(h * v)
    return out


def hidden_layer_curves(curve: NeuronCurve, fan_outs: Sequence[int], *, neuron_kind: str, loading: str,
                        convention: str, r_low_ohm: float, r_high_ohm: float) -> tuple[NeuronCurve, ...]:
    """The effective neuron curve of each hidden layer of a network whose layers have ``fan_outs``
    outputs (the last layer has no neuron): a directly driven transistor neuron (imaclab
    convention) drives the next layer's rows, :func:`~imaclab.devices.neuron.loaded_curve` under
    :func:`~imaclab.devices.neuron.row_load_ohm` of that layer's fan-out; otherwise ``curve``.

    The one rule, used by :func:`build_circuit` and by training (``imaclab.nn.IMACHead``), so a
    trained layer sees the curve the circuit gives it.
    """
    out = []
    for nxt_fan_out in list(fan_outs)[1:]:
        if neuron_kind == "transistor" and loading == "direct" and convention == "imaclab":
            out.append(loaded_curve(curve, row_load_ohm(int(nxt_fan_out), r_low_ohm, r_high_ohm)))
        else:
            out.append(curve)
    return tuple(out)


def build_circuit(config: CircuitBuildConfig, model: MLPModel, *, neuron_curve: NeuronCurve | None = None,
                  weight_kind: str | None = None, ngspice: str | None = None) -> NetworkCircuit:
    """Map ``model`` onto crossbars as configured; the one factory of :class:`NetworkCircuit`.

    ``neuron_curve`` defaults to :func:`~imaclab.devices.neuron.load_neuron_curve` of
    ``config.neuron`` (characterized and cached for transistor neurons).  ``ngspice``: the
    executable for characterizations (default: the config's ``simulation.spice.ngspice_path``
    when it has one, else :func:`~imaclab.devices.ngspice_io.find_ngspice`'s default); the
    circuit keeps it (``ngspice_path``) for the solver's characterizations.
    """
    from imaclab.devices.neuron import load_neuron_curve

    dev: DeviceConfig = config.devices
    circ: CircuitConfig = config.circuit
    neu: NeuronConfig = config.neuron
    inp: InputConfig = config.inputs
    kind_name = weight_kind or dev.weight_kind or model.weight_kind
    if kind_name not in ("binary", "ternary", "multilevel", "real"):
        raise InputError(f"unknown weight kind '{kind_name}'")
    kind = cast(WeightKind, kind_name)
    if ngspice is None:
        spice = getattr(getattr(config, "simulation", None), "spice", None)
        ngspice = getattr(spice, "ngspice_path", None)
    convention, convention_note = resolve_convention(circ.convention, model)
    if convention == "imacsim":
        if neu.kind != "behavioral":
            # IMAC-Sim's neuron is a 14 nm FinFET inverter that ngspice cannot run: the convention
            # runs its transfer curve in the behavioral form, for the netlist and the solver alike
            neu = neu.model_copy(update={"kind": "behavioral"})
            convention_note = "; ".join(filter(None, [convention_note, (
                "the imacsim convention runs IMAC-Sim's neuron (0..VDD) in its behavioral form (ngspice cannot "
                "run IMAC-Sim's 14 nm FinFET neuron; docs/imac-circuit.md)")]))
        curve = _imacsim_curve(neu, neuron_curve)
    else:
        curve = neuron_curve if neuron_curve is not None else load_neuron_curve(neu, ngspice=ngspice)
    join = resolve_join(circ.amplifier.join, convention)
    rows, cols = circ.crossbar.rows, circ.crossbar.columns
    par = segment_parasitics(circ.parasitics)
    g_mid = mid_conductance_s(dev.r_low_ohm, dev.r_high_ohm)
    amp = circ.amplifier
    supply = neu.vdd_v
    layers = []
    n_layers = model.n_layers
    slices, per_partition = readout_settings(config)
    if (slices > 1 or per_partition) and convention != "imaclab":
        raise ConfigError("a digital readout (converters.weight_slices > 1 or converters.adc_per_partition) needs "
                          "circuit.convention imaclab: under imacsim an analog neuron follows the output layer")
    for li, (w_raw, b_raw) in enumerate(zip(model.weights, model.biases)):
        fan_in, fan_out = w_raw.shape
        hidden = li < n_layers - 1
        if model.scales is not None:
            scale = model.scales[li]
        else:
            scale = layer_weight_scale(w_raw, b_raw, kind, dev.weight_scale)
        levels = model.levels if (model.levels and not dev.weight_kind) else dev.levels
        wq = quantize_weights(w_raw / scale, kind, levels)
        bq = quantize_weights(b_raw / scale, kind, levels)
        if kind in ("binary", "ternary") and model.scales is None and dev.weight_scale == "auto":
            _check_discrete(w_raw, b_raw, kind, li, model.source)
        gain = model.gains[li] if model.gains is not None else amp.gain(li)
        n_rows = fan_in + 1
        col_gain = ideal_column_gain(fan_in, dev.r_low_ohm, dev.r_high_ohm, gain)
        # the full (fan_in + 1) x fan_out conductance matrices, bias as the last row
        w_full = np.vstack([wq, bq[None, :]])
        readout = not hidden and (slices > 1 or per_partition)
        layer_slices = slices if readout else 1
        places = np.ones(1)
        column_weights = None
        if layer_slices > 1:
            if join != "sum" and not per_partition:
                raise ConfigError("bit slicing reads every slice column by its own ADC: use circuit.amplifier.join "
                                  "sum, or converters.adc_per_partition true (a partial sum per crossbar)")
            column_weights, places = slice_weights(w_full, kind, levels, layer_slices)
            g_pos, g_neg = map_conductances(column_weights, dev, "multilevel")
        else:
            g_pos, g_neg = map_conductances(w_full, dev, kind)
        rng = layer_rng(dev, li)
        g_pos = apply_nonidealities(g_pos, dev, rng)
        g_neg = apply_nonidealities(g_neg, dev, rng)
        read_sigma = None
        if dev.read_noise_draw == "sample" and dev.read_noise != "none":
            from imaclab.devices.aging import age_for_sampled_reads

            # drift, relaxation, ... at devices.time_s; the read noise is the solver's, per sample
            g_pos, g_neg, s_pos, s_neg = age_for_sampled_reads(g_pos, g_neg, dev, rng)
            read_sigma = (s_pos, s_neg)
        else:
            g_pos, g_neg = age_pair(g_pos, g_neg, dev, rng)  # drift, read noise, ... at devices.time_s
        n_cols = fan_out * layer_slices  # physical columns (see "Digital readout")
        n_h, n_v = partition_counts(fan_in, n_cols, rows, cols)
        row_parts = tuple(imacsim_row_partitions(n_rows, n_h, rows) if convention == "imacsim"
                          else np.array_split(np.arange(n_rows), n_h))
        col_parts = tuple(np.array_split(np.arange(n_cols), n_v))
        tiles = []
        for h, rp in enumerate(row_parts):
            for v, cp in enumerate(col_parts):
                shape = (rp.size, cp.size)
                tiles.append(Tile(layer=li, h=h, v=v, rows=rp, cols=cp,
                                  g_pos=g_pos[np.ix_(rp, cp)].copy(), g_neg=g_neg[np.ix_(rp, cp)].copy(),
                                  r_in_seg=np.full(shape, par.input_line_r_ohm),
                                  c_in_node=np.full(shape, par.input_line_c_f),
                                  r_out_seg=np.full(shape, par.output_line_r_ohm),
                                  c_out_node=np.full(shape, par.output_line_c_f),
                                  has_bias_row=bool(rp[-1] == fan_in)))
        sign = -1 if (hidden and convention == "imaclab") else 1
        out_neurons = convention == "imacsim"  # IMAC-Sim: a neuron after the output layer too
        amps = []
        for j in range(0 if readout else fan_out):
            if join == "sum":
                out_node = f"l{li}_u{j}" if (hidden or out_neurons) else f"out{j}"
                amps.append(Amplifier(layer=li, column=j, partition=None, pos_node=f"l{li}_a{j}_p",
                                      neg_node=f"l{li}_a{j}_n", out_node=out_node,
                                      transimpedance_ohm=gain / (n_rows * g_mid), sign=sign,
                                      input_resistance_ohm=amp.input_resistance_ohm, clamp_v=amp.output_clamp_v))
            else:
                for h in range(n_h):
                    amps.append(Amplifier(layer=li, column=j, partition=h, pos_node=f"l{li}_a{j}_h{h}_p",
                                          neg_node=f"l{li}_a{j}_h{h}_n", out_node=f"l{li}_a{j}_h{h}_o",
                                          transimpedance_ohm=n_h * gain / (n_rows * g_mid), sign=sign,
                                          input_resistance_ohm=amp.input_resistance_ohm,
                                          clamp_v=amp.output_clamp_v, tie_node=f"l{li}_u{j}",
                                          tie_resistance_ohm=amp.tie_resistance_ohm))
        if readout:
            amps = readout_amplifiers(li, fan_out, layer_slices, places, n_h if per_partition else 0,
                                      transimpedance_ohm=gain / (n_rows * g_mid), sign=sign, amp=amp)
        neurons = []
        if hidden:
            buffered = circ.loading.mode != "direct"
            for j in range(fan_out):
                out = f"l{li}_y{j}"
                neurons.append(Neuron(layer=li, column=j, in_node=f"l{li}_u{j}", out_node=out,
                                      drive_node=f"l{li}_b{j}" if buffered else out))
        elif out_neurons:
            neurons = [Neuron(layer=li, column=j, in_node=f"l{li}_u{j}", out_node=f"out{j}", drive_node=f"out{j}")
                       for j in range(fan_out)]
        layers.append(LayerCircuit(index=li, fan_in=fan_in, fan_out=fan_out, weights=wq, bias=bq,
                                   weight_scale=float(scale), gain=float(gain), column_gain=float(col_gain),
                                   row_partitions=row_parts, col_partitions=col_parts, tiles=tuple(tiles),
                                   amplifiers=tuple(amps), neurons=tuple(neurons), hidden=hidden,
                                   bias_node=f"l{li}_bias", bias_source=f"vb{li}", slices=layer_slices,
                                   column_weights=column_weights, digital_readout=readout,
                                   read_sigma=read_sigma))
    # the next layer's physical columns load a neuron (a sliced layer: S cells per output)
    layer_curves = hidden_layer_curves(curve, [lay.n_columns for lay in layers], neuron_kind=neu.kind,
                                       loading=circ.loading.mode, convention=convention,
                                       r_low_ohm=dev.r_low_ohm, r_high_ohm=dev.r_high_ohm)
    return NetworkCircuit(layers=tuple(layers), supply_v=supply, layer_curves=tuple(layer_curves), ngspice_path=ngspice,
                          bias_v=bias_voltage(supply),
                          input_mode=inp.mode, input_threshold=inp.threshold,
                          sampling_period_s=inp.sampling_period_s, rise_time_s=inp.rise_time_s,
                          driver_resistance_ohm=inp.driver_resistance_ohm, join=join,
                          loading=circ.loading.mode,
                          buffer_output_resistance_ohm=(circ.loading.buffer_output_resistance_ohm
                                                        if circ.loading.mode == "buffer" else 0.0),
                          neuron=neu, neuron_curve=curve, parasitics=par,
                          cell_area_m2=circ.parasitics.cell_area_m2, crossbar_rows=rows, crossbar_columns=cols,
                          amplifier_static_power_w=amp.static_power_w, model=model,
                          meta={"weight_kind": kind, "convention": convention, "seed": dev.seed,
                                **({"convention_note": convention_note} if convention_note else {})},
                          convention=convention)


def readout_settings(config: Any) -> tuple[int, bool]:
    """(weight slices, ADC per partition) of the output layer's digital readout, from the config's
    ``converters`` (an :class:`~imaclab.imac.ImacConfig`; a config without them reads (1, False))."""
    conv = getattr(config, "converters", None)
    return int(getattr(conv, "weight_slices", 1) or 1), bool(getattr(conv, "adc_per_partition", False))


def slice_weights(w: np.ndarray, kind: str, levels: int, slices: int) -> tuple[np.ndarray, np.ndarray]:
    """Bit-sliced weights: ``(column_weights [rows, columns * slices], places [slices])``.

    ``w`` holds multilevel weights on the ``levels``-point grid ``-1 + 2k/(levels-1)``;
    ``levels`` must be ``B^slices`` (``B`` >= 2 levels per slice).  Digit ``s`` (least
    significant first) of ``k`` in base ``B`` becomes the ``B``-level weight
    ``w_s = -1 + 2 k_s/(B-1)`` in physical column ``j slices + s``, and
    ``w = sum_s places[s] w_s`` exactly, ``places[s] = B^s (B-1)/(levels-1)``.
    """
    if kind != "multilevel":
        raise ConfigError(f"bit slicing (converters.weight_slices {slices}) needs multilevel weights, the layer's "
                          f"are {kind}: set devices.weight_kind multilevel")
    base = int(round(levels ** (1.0 / slices)))
    if base < 2 or base ** slices != levels:
        raise ConfigError(f"{slices} weight slices need devices.levels = B^{slices} (B >= 2 levels per slice, e.g. "
                          f"{', '.join(str(b ** slices) for b in (2, 3, 4))}), got {levels}")
    k = np.rint((np.asarray(w, dtype=np.float64) + 1.0) * (levels - 1) / 2.0).astype(np.int64)
    digits = [(k // base ** s) % base for s in range(slices)]
    stacked = np.stack([-1.0 + 2.0 * d / (base - 1) for d in digits], axis=-1)  # [rows, columns, slices]
    places = np.array([base ** s * (base - 1) / (levels - 1) for s in range(slices)])
    return stacked.reshape(w.shape[0], -1), places


def readout_amplifiers(layer: int, fan_out: int, slices: int, places: np.ndarray, partitions: int, *,
                       transimpedance_ohm: float, sign: int, amp: Any) -> list[Amplifier]:
    """The readout channels of a digitally read output layer, ordered by physical column
    ``j slices + s``, then by partition (``partitions`` 0: one amplifier per column, summing all
    partitions in its input nodes)."""
    out = []
    for p in range(fan_out * slices):
        j, s = divmod(p, slices)
        for h in (range(partitions) if partitions else [None]):
            tag = f"{p}" if h is None else f"{p}_h{h}"
            name = f"out{j}" + (f"_s{s}" if slices > 1 else "") + (f"_h{h}" if h is not None else "")
            out.append(Amplifier(layer=layer, column=p, partition=h, pos_node=f"l{layer}_a{tag}_p",
                                 neg_node=f"l{layer}_a{tag}_n", out_node=name, transimpedance_ohm=transimpedance_ohm,
                                 sign=sign, input_resistance_ohm=amp.input_resistance_ohm, clamp_v=amp.output_clamp_v,
                                 output=j, place=float(places[s])))
    return out


def imacsim_row_partitions(n_rows: int, n_h: int, rows: int) -> list[np.ndarray]:
    """The horizontal partitions of IMAC-Sim's ``mapLayer.py``: partition ``k`` (1-based) ends
    at row ``int(n_rows k / n_h + min((n_rows % n_h) / k, 1))`` (exclusive), e.g. 401 rows in
    13 partitions -> 31 x 6, 30, 31 x 5, 30 (``np.array_split`` puts both 30s last).  Falls back
    to the even split should a partition come out empty or larger than the crossbar."""
    ends = [int(n_rows * k / n_h + min((n_rows % n_h) / k, 1)) for k in range(1, n_h + 1)]
    ends[-1] = n_rows
    sizes = np.diff([0, *ends])
    if np.any(sizes < 1) or np.any(sizes > rows):
        return np.array_split(np.arange(n_rows), n_h)
    return [np.arange(a, b) for a, b in zip([0, *ends[:-1]], ends)]


def resolve_convention(requested: str, model: MLPModel) -> tuple[str, str]:
    """(convention, note): ``auto`` -> ``imacsim`` for a model read from an IMAC-Sim folder
    (``model.meta['convention']``), else ``imaclab``; the note is the one line that says so."""
    if requested in CONVENTIONS:
        return requested, ""
    if requested != "auto":
        raise ConfigError(f"unknown circuit convention '{requested}': use auto, {' or '.join(CONVENTIONS)}")
    meta = model.meta or {}
    trained = meta.get("convention")
    if trained in CONVENTIONS and trained != "imaclab":
        where = model.source or "the model"
        what = "is an IMAC-Sim folder" if meta.get("layout") == "imacsim" else f"was trained for {trained}"
        return trained, (f"{where} {what}: using IMAC-Sim's circuit convention ({trained}); "
                         "--convention imaclab (circuit.convention) overrides")
    return "imaclab", ""


#: The partition join each convention brings (``circuit.amplifier.join: auto``): IMAC-Sim averages
#: its horizontal partitions (``mapLayer.py``: an ``XDIFFw`` per partition, ``Rconn`` ties).
CONVENTION_JOIN = {"imaclab": "sum", "imacsim": "average"}


def resolve_join(requested: str, convention: str) -> str:
    """The partition join of ``circuit.amplifier.join``: ``auto`` -> the convention's
    (:data:`CONVENTION_JOIN`: ``sum`` under imaclab, ``average`` under imacsim), else as given."""
    if requested in ("sum", "average"):
        return requested
    if requested != "auto":
        raise ConfigError(f"unknown amplifier join '{requested}': use auto, sum or average")
    return CONVENTION_JOIN[convention]


def _imacsim_curve(neu: NeuronConfig, given: NeuronCurve | None) -> NeuronCurve:
    """The neuron of the imacsim convention: IMAC-Sim's, on 0..VDD (behavioral)."""
    from imaclab.devices.neuron import imacsim_behavioral_curve

    if given is not None and given.meta.get("rails") == "unipolar":
        return given
    return imacsim_behavioral_curve(neu)


def _check_discrete(w: np.ndarray, b: np.ndarray, kind: str, layer: int, source: str) -> None:
    allowed = {-1.0, 1.0} if kind == "binary" else {-1.0, 0.0, 1.0}
    values = set(np.unique(np.concatenate([w.ravel(), b.ravel()])).tolist())
    if not values <= allowed:
        where = f"{source}: " if source else ""
        extra = sorted(values - allowed)[:3]
        raise InputError(f"{where}layer {layer + 1} is declared {kind} but holds values like {extra}: "
                         f"export quantized weights or use weight_kind multilevel/real")
