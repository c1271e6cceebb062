"""SPICE netlists of a :class:`~imaclab.circuit.description.NetworkCircuit` (ngspice and HSPICE).

Layout of a netlist (readable: one subcircuit per layer, comments naming layers and tiles)::

    * header: network, partitions, parasitics, analysis
    .subckt imac_neuron pin out vp vn          (transistor neurons)
    .subckt imac_layer0 <row drivers> <bias> <amplifier outputs>
      * tile h,v: input-line segments, cells, output-line segments, capacitances
      * amplifiers: input sense, transimpedance output (clamp), ties for join=average
    .ends
    ...
    top level: supplies, bias sources, input drivers, layer instances, 0-V meters,
               neurons, buffers, analysis, saved vectors

Every source whose power is reported sits at the top level, with a 0-V meter in series where
the power flows between layers, so the runner computes all measures from the raw file.

Two analyses:

* ``dc`` -- the fast path for accuracy and power: a ``.dc`` sweep of a sample-index source
  ``vidx`` over 0..n-1; every input driver is a source whose value is a piecewise-linear
  table of ``v(idx)`` (ngspice ``B ... V = pwl(...)``, HSPICE ``E ... PWL(1)``), so each sweep
  point is one sample's DC solution.  Capacitors are left out (open at DC).
* ``tran`` -- for latency: each input is a PWL waveform holding sample ``k`` over
  ``[k T, (k+1) T]`` after a ``rise_time`` transition (sample 0 rises from 0 V).

Dialect differences (measured with ngspice-39): ngspice rejects HSPICE's ``E ... OPAMP``,
expressions in ``.tran``/``.meas`` without braces and ``AVG POWER``, so everything here is
numeric and measured from raw data; behavioral sources are ``B ... V=`` in ngspice and
``E ... VOL=`` in HSPICE; library sections use ``.lib "file" sec`` / ``.lib 'file' sec``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from imaclab.circuit.description import LayerCircuit, NetworkCircuit, Tile
from imaclab.devices.neuron import neuron_subcircuit_lines
from imaclab.errors import ConfigError, InputError

Dialect = Literal["ngspice", "hspice"]
Analysis = Literal["dc", "tran"]
NEURON_SUBCKT = "imac_neuron"
SAMPLE_INDEX_NODE = "idx"
SAMPLE_INDEX_SOURCE = "vidx"
#: Default transient time step as a fraction of the sampling period.
DEFAULT_TRAN_STEPS_PER_PERIOD = 100


def _num(x: float) -> str:
    """A plain SPICE number (no expressions, no SI suffix ambiguity such as 'm' vs 'meg')."""
    return f"{float(x):.9g}"


@dataclass
class Netlist:
    """Netlist text plus the names the runner needs to measure it."""

    text: str
    dialect: str
    analysis: str
    n_samples: int
    output_nodes: list[str]
    input_meters: list[tuple[str, str]]            # (meter source, node) of the first layer's drivers
    bias_sources: list[tuple[str, str]]            # (source, node) per layer
    row_meters: list[tuple[int, str, str]]         # (layer, meter source, driving node) for hidden rows
    amp_meters: list[tuple[int, str, str]]         # (layer, meter source, amplifier output node)
    neuron_supplies: list[tuple[int, str, str]]    # (layer, source, node): transistor neuron supplies
    neuron_outputs: list[tuple[int, str, str]]     # (layer, row-meter source, node): behavioral outputs
    buffer_meters: list[tuple[int, str, str, str]]  # (layer, meter, source node, drive node)
    period_s: float
    t_stop_s: float
    saved: list[str] = field(default_factory=list)


def write_netlist(circuit: NetworkCircuit, samples_v: np.ndarray, *, analysis: Analysis = "dc",
                  dialect: Dialect = "ngspice", title: str = "imaclab IMAC network",
                  tran_step_s: float | None = None) -> Netlist:
    """The netlist of ``circuit`` applied to input voltages ``samples_v`` [n_samples, n_inputs]."""
    samples_v = np.atleast_2d(np.asarray(samples_v, dtype=np.float64))
    if samples_v.shape[1] != circuit.n_inputs:
        raise InputError(f"samples have {samples_v.shape[1]} inputs, the network expects {circuit.n_inputs}")
    if samples_v.shape[0] < 1:
        raise InputError("no samples to simulate")
    if dialect not in ("ngspice", "hspice"):
        raise ConfigError(f"unknown netlist dialect '{dialect}': use ngspice or hspice")
    if analysis not in ("dc", "tran"):
        raise ConfigError(f"unknown analysis '{analysis}': use dc or tran")
    if any(lay.read_sigma is not None for lay in circuit.layers):
        raise ConfigError("read noise drawn per sample (devices.read_noise_draw sample) is a model of the fast "
                          "backend; a netlist reads fixed resistors: use --backend fast, or "
                          "devices.read_noise_draw evaluation (one draw per evaluation)")
    n = samples_v.shape[0]
    w = _Writer(circuit, dialect, analysis)
    w.header(title, n)
    w.neuron_subckt()
    for lay in circuit.layers:
        w.layer_subckt(lay)
    w.top_level(samples_v)
    period = circuit.sampling_period_s
    t_stop = n * period
    step = tran_step_s if tran_step_s else period / DEFAULT_TRAN_STEPS_PER_PERIOD
    if analysis == "dc":
        w.line(f".dc {SAMPLE_INDEX_SOURCE} 0 {n - 1} 1")
    else:
        w.line(f".tran {_num(step)} {_num(t_stop)} 0 {_num(step)}")
    w.save_lines()
    w.line(".end")
    return Netlist(text="\n".join(w.lines) + "\n", dialect=dialect, analysis=analysis, n_samples=n,
                   output_nodes=circuit.output_nodes(), input_meters=w.input_meters, bias_sources=w.bias_sources,
                   row_meters=w.row_meters, amp_meters=w.amp_meters, neuron_supplies=w.neuron_supplies,
                   neuron_outputs=w.neuron_outputs, buffer_meters=w.buffer_meters, period_s=period,
                   t_stop_s=t_stop, saved=w.saved)


class _Writer:
    def __init__(self, circuit: NetworkCircuit, dialect: Dialect, analysis: Analysis):
        self.c = circuit
        self.dialect = dialect
        self.analysis = analysis
        self.lines: list[str] = []
        self.input_meters: list[tuple[str, str]] = []
        self.bias_sources: list[tuple[str, str]] = []
        self.row_meters: list[tuple[int, str, str]] = []
        self.amp_meters: list[tuple[int, str, str]] = []
        self.neuron_supplies: list[tuple[int, str, str]] = []
        self.neuron_outputs: list[tuple[int, str, str]] = []
        self.buffer_meters: list[tuple[int, str, str, str]] = []
        self.saved: list[str] = []
        self.transistor = circuit.neuron.kind == "transistor"

    def line(self, text: str = "") -> None:
        self.lines.append(text)

    def comment(self, text: str) -> None:
        self.lines.append(f"* {text}")

    # behavioral sources ---------------------------------------------------------------------
    def bsource(self, name: str, plus: str, minus: str, expr: str) -> str:
        if self.dialect == "ngspice":
            return f"B{name} {plus} {minus} V={expr}"
        return f"E{name} {plus} {minus} VOL='{expr}'"

    def current_ref(self, source: str) -> str:
        return f"i(v{source})" if self.dialect == "ngspice" else f"I(V{source})"

    # sections ---------------------------------------------------------------------------------
    def header(self, title: str, n: int) -> None:
        c = self.c
        par = c.parasitics
        self.line(f"* {title}")
        self.comment(f"generated by imaclab ({self.dialect} dialect, {self.analysis} analysis, {n} samples)")
        self.comment(f"network {'-'.join(str(s) for s in c.layer_sizes)}, crossbar {c.crossbar_rows}x"
                     f"{c.crossbar_columns}, crossbars per layer {c.crossbars_per_layer}")
        self.comment(f"supplies +-{c.supply_v:g} V, inputs {c.input_mode}, sampling period {c.sampling_period_s:g} s,"
                     f" join {c.join}, loading {c.loading}, convention {c.convention}")
        self.comment(f"wire segment R: input lines {par.input_line_r_ohm:.4g} ohm, output lines "
                     f"{par.output_line_r_ohm:.4g} ohm; C: {par.input_line_c_f:.4g} F / {par.output_line_c_f:.4g} F")
        if self.transistor:
            self.comment(f"neuron: transistor level, {c.neuron.models.describe()}")
        else:
            self.comment(f"neuron: {c.neuron_curve.source}")
        if self.dialect == "hspice":
            self.line(".option post=2 ingold=2")
        if self.transistor:
            self.line(f".temp {c.neuron.temperature_c:g}")
            for ln in c.neuron.models.include_lines(self.dialect):
                self.line(ln)
        self.line()

    def neuron_subckt(self) -> None:
        if not self.transistor:
            return
        for ln in neuron_subcircuit_lines(self.c.neuron, NEURON_SUBCKT, self.dialect):
            self.line(ln)
        self.line()

    def layer_ports(self, lay: LayerCircuit) -> list[str]:
        rows = [f"r{i}" for i in range(lay.fan_in)]
        return rows + ["bias"] + lay.output_ports()

    def layer_subckt(self, lay: LayerCircuit) -> None:
        ports = self.layer_ports(lay)
        self.line("*" * 78)
        role = "hidden" if lay.hidden else "output"
        if lay.digital_readout:
            self.comment(f"digital readout: {len(lay.amplifiers)} channels ({lay.slices} weight slices per output"
                         f"{', one per row partition' if lay.amplifiers[0].partition is not None else ''}), each "
                         "read by its own ADC and summed with its place value outside the circuit")
        self.comment(f"layer {lay.index}: {lay.fan_in} inputs + bias -> {lay.fan_out} outputs ({role}), "
                     f"{len(lay.row_partitions)} horizontal x {len(lay.col_partitions)} vertical partitions, "
                     f"amplifier gain {lay.gain:g}")
        self.line(f".subckt imac_layer{lay.index} " + " ".join(ports))
        for tile in lay.tiles:
            self.tile(lay, tile)
        self.amplifiers(lay)
        self.line(f".ends imac_layer{lay.index}")
        self.line()

    def tile(self, lay: LayerCircuit, t: Tile) -> None:
        n_r, n_c = t.shape
        first, last = int(t.rows[0]), int(t.rows[-1])
        row_desc = f"rows {first}..{last}" + (" (incl. bias row)" if t.has_bias_row else "")
        self.comment(f"-- tile h{t.h} v{t.v}: {row_desc}, outputs {int(t.cols[0])}..{int(t.cols[-1])} "
                     f"({n_r}x{n_c})")
        with_c = self.analysis == "tran"

        def driver(r: int) -> str:
            row = int(t.rows[r])
            return "bias" if row == lay.fan_in else f"r{row}"

        # input lines: driver -> seg0 -> cell (r,0) -> seg1 -> ... ; zero R merges nodes
        in_nodes = [[""] * n_c for _ in range(n_r)]
        for r in range(n_r):
            prev = driver(r)
            for col in range(n_c):
                rs = t.r_in_seg[r, col]
                if rs > 0:
                    node = t.in_node(r, col)
                    self.line(f"Rwi_{t.h}_{t.v}_{r}_{col} {prev} {node} {_num(rs)}")
                else:
                    node = prev
                in_nodes[r][col] = node
                prev = node
        # output lines: from the far row toward the amplifier input
        line_nodes = {}
        for pol in ("p", "n"):
            nodes = [[""] * n_c for _ in range(n_r)]
            for col in range(n_c):
                j = int(t.cols[col])
                amp = self.amp_input(lay, j, t.h, pol)
                nxt = amp
                for r in range(n_r - 1, -1, -1):
                    rs = t.r_out_seg[r, col]
                    if rs > 0:
                        node = t.out_node(r, col, pol)
                        self.line(f"Rwo{pol}_{t.h}_{t.v}_{r}_{col} {node} {nxt} {_num(rs)}")
                    else:
                        node = nxt
                    nodes[r][col] = node
                    nxt = node
            line_nodes[pol] = nodes
        # cells
        for r in range(n_r):
            for col in range(n_c):
                self.line(f"Rcp_{t.h}_{t.v}_{r}_{col} {in_nodes[r][col]} {line_nodes['p'][r][col]} "
                          f"{_num(1.0 / t.g_pos[r, col])}")
                self.line(f"Rcn_{t.h}_{t.v}_{r}_{col} {in_nodes[r][col]} {line_nodes['n'][r][col]} "
                          f"{_num(1.0 / t.g_neg[r, col])}")
        if with_c:
            for r in range(n_r):
                for col in range(n_c):
                    if t.c_in_node[r, col] > 0 and t.r_in_seg[r, col] > 0:
                        self.line(f"Cwi_{t.h}_{t.v}_{r}_{col} {in_nodes[r][col]} 0 {_num(t.c_in_node[r, col])}")
                    if t.c_out_node[r, col] > 0 and t.r_out_seg[r, col] > 0:
                        for pol in ("p", "n"):
                            self.line(f"Cwo{pol}_{t.h}_{t.v}_{r}_{col} {line_nodes[pol][r][col]} 0 "
                                      f"{_num(t.c_out_node[r, col])}")

    def amp_input(self, lay: LayerCircuit, j: int, h: int, pol: str) -> str:
        """Input node of the amplifier reading column ``j`` (physical) of partition ``h``."""
        if lay.amplifiers[0].partition is None:
            return f"a{j}_{pol}"
        return f"a{j}_h{h}_{pol}"

    def amplifiers(self, lay: LayerCircuit) -> None:
        self.comment("-- amplifiers: v_out = sign * R_f * (I+ - I-), inputs on virtual ground")
        for a in lay.amplifiers:
            tag = f"{a.column}" if a.partition is None else f"{a.column}_h{a.partition}"
            pos, neg = f"a{tag}_p", f"a{tag}_n"
            if lay.digital_readout:  # a readout channel: its own output port, no tie
                out = a.out_node
            else:
                out = lay.signal_node(a.column) if a.partition is None else f"a{tag}_o"
            gain = a.sign * a.transimpedance_ohm
            if a.input_resistance_ohm > 0:
                self.line(f"Rsp{tag} {pos} 0 {_num(a.input_resistance_ohm)}")
                self.line(f"Rsn{tag} {neg} 0 {_num(a.input_resistance_ohm)}")
                vgain = gain / a.input_resistance_ohm
                if a.clamp_v is None:
                    self.line(f"Ea{tag} {out} 0 {pos} {neg} {_num(vgain)}")
                else:
                    expr = f"max(-{_num(a.clamp_v)}, min({_num(a.clamp_v)}, {_num(vgain)}*(v({pos})-v({neg}))))"
                    self.line(self.bsource(f"a{tag}", out, "0", expr))
            else:
                self.line(f"Vsp{tag} {pos} 0 0")
                self.line(f"Vsn{tag} {neg} 0 0")
                if a.clamp_v is None:
                    self.line(f"Hap{tag} a{tag}_m 0 Vsp{tag} {_num(gain)}")
                    self.line(f"Han{tag} {out} a{tag}_m Vsn{tag} {_num(-gain)}")
                else:
                    diff = f"{self.current_ref(f'sp{tag}')}-{self.current_ref(f'sn{tag}')}"
                    expr = f"max(-{_num(a.clamp_v)}, min({_num(a.clamp_v)}, {_num(gain)}*({diff})))"
                    self.line(self.bsource(f"a{tag}", out, "0", expr))
            if a.tie_node is not None:
                assert a.tie_resistance_ohm is not None  # set with the tie (join='average')
                self.line(f"Rtie{tag} {out} {lay.signal_node(a.column)} {_num(a.tie_resistance_ohm)}")

    # top level ----------------------------------------------------------------------------------
    def top_level(self, samples_v: np.ndarray) -> None:
        c = self.c
        n = samples_v.shape[0]
        self.line("*" * 78)
        self.comment("top level: supplies, bias rows, input drivers, layers, neurons")
        vdd = _num(c.supply_v)
        self.line(f"Vdd vdd 0 {vdd}")
        self.line(f"Vss vss 0 {_num(-c.supply_v)}")
        for lay in c.layers:
            self.line(f"{lay.bias_source} {lay.bias_node} 0 {_num(c.bias_v)}")
            self.bias_sources.append((lay.bias_source, lay.bias_node))
        self.comment(f"input drivers ({c.input_mode}), {n} samples")
        if self.analysis == "dc":
            self.line(f"{SAMPLE_INDEX_SOURCE} {SAMPLE_INDEX_NODE} 0 0")
        period, rise = c.sampling_period_s, c.rise_time_s
        for i in range(c.n_inputs):
            vals = samples_v[:, i]
            src_node = f"x{i}_s"
            if self.analysis == "dc":
                if n == 1:
                    self.line(f"Vin{i} {src_node} 0 {_num(vals[0])}")
                elif self.dialect == "ngspice":
                    pts = ", ".join(f"{k}, {_num(v)}" for k, v in enumerate(vals))
                    self.line(f"Bin{i} {src_node} 0 V=pwl(v({SAMPLE_INDEX_NODE}), {pts})")
                else:
                    pts = " ".join(f"{k},{_num(v)}" for k, v in enumerate(vals))
                    self.line(f"Ein{i} {src_node} 0 PWL(1) {SAMPLE_INDEX_NODE} 0 {pts}")
            else:
                # from 0 V (reset) into sample 0, so every sample, the first too, has a transition
                knots = ["0 0", f"{_num(rise)} {_num(vals[0])}"]
                for k in range(1, n):
                    knots.append(f"{_num(k * period)} {_num(vals[k - 1])}")
                    knots.append(f"{_num(k * period + rise)} {_num(vals[k])}")
                self.line(f"Vin{i} {src_node} 0 PWL({' '.join(knots)})")
            # 0-V meter: the driver's current (and power) into the crossbar
            self.line(f"Vmx{i} {src_node} x{i} 0")
            self.input_meters.append((f"vmx{i}", f"x{i}"))
            if c.driver_resistance_ohm > 0:
                self.line(f"Rdrv{i} x{i} x{i}_d {_num(c.driver_resistance_ohm)}")
        for lay in c.layers:
            self.layer_instance(lay)

    def layer_instance(self, lay: LayerCircuit) -> None:
        c = self.c
        li = lay.index
        self.comment(f"layer {li}")
        drivers = [c.row_driver_node(li, i) for i in range(lay.fan_in)]
        self.line(f"Xl{li} " + " ".join(drivers + [lay.bias_node] + lay.output_ports()) + f" imac_layer{li}")
        if not lay.hidden:
            # imacsim: IMAC-Sim's neuron after every output (unloaded; the class is the largest)
            for nrn in lay.neurons:
                self.line(self.bsource(f"n{li}_{nrn.column}", nrn.out_node, "0", self.behavioral_expr(nrn.in_node)))
            return
        # neuron supplies per layer (metered separately)
        if self.transistor:
            self.line(f"Vnp{li} vnp{li} 0 {_num(c.supply_v)}")
            self.line(f"Vnn{li} vnn{li} 0 {_num(-c.supply_v)}")
            self.neuron_supplies.append((li, f"vnp{li}", f"vnp{li}"))
            self.neuron_supplies.append((li, f"vnn{li}", f"vnn{li}"))
        nxt = li + 1
        for nrn in lay.neurons:
            j = nrn.column
            pin = f"l{li}_pin{j}"
            self.line(f"Vma{li}_{j} {nrn.in_node} {pin} 0")
            self.amp_meters.append((li, f"vma{li}_{j}", nrn.in_node))
            if self.transistor:
                self.line(f"Xn{li}_{j} {pin} {nrn.out_node} vnp{li} vnn{li} {NEURON_SUBCKT}")
            else:
                curve_expr = self.behavioral_expr(pin)
                self.line(self.bsource(f"n{li}_{j}", nrn.out_node, "0", curve_expr))
            drive = nrn.out_node
            if c.loading != "direct":
                r_buf = c.buffer_output_resistance_ohm
                src = f"l{li}_bs{j}" if r_buf > 0 else nrn.drive_node
                self.line(f"Eb{li}_{j} {src} 0 {nrn.out_node} 0 1")
                if r_buf > 0:
                    self.line(f"Rb{li}_{j} {src} {nrn.drive_node} {_num(r_buf)}")
                drive = nrn.drive_node
                self.buffer_meters.append((li, f"vmr{nxt}_{j}", src, drive))
            # 0-V meter: current from the neuron (or buffer) into the next layer's rows
            self.line(f"Vmr{nxt}_{j} {drive} {c.row_driver_node(nxt, j)} 0")
            self.row_meters.append((nxt, f"vmr{nxt}_{j}", drive))
            if not self.transistor and c.loading == "direct":
                self.neuron_outputs.append((li, f"vmr{nxt}_{j}", nrn.out_node))

    def behavioral_expr(self, pin: str) -> str:
        """f(u) at u = -v(pin): VDD * tanh(slope * u / VDD) (the behavioral neuron); IMAC-Sim's
        neuron on 0..VDD (imacsim convention): VDD/2 * (1 + tanh(slope * u / (VDD/2)))."""
        vdd = self.c.supply_v
        slope = float(self.c.neuron_curve.meta.get("slope", self.c.neuron.behavioral_slope))
        if self.c.neuron_curve.meta.get("rails") == "unipolar":
            half = vdd / 2.0
            return f"{_num(half)}*(1+tanh({_num(-slope / half)}*v({pin})))"
        return f"{_num(vdd)}*tanh({_num(-slope / vdd)}*v({pin}))"

    def save_lines(self) -> None:
        vecs = [f"v({n})" for n in self.c.output_nodes()]
        for meter, node in self.input_meters:
            vecs += [f"i({meter})", f"v({node})"]
        for src, _node in self.bias_sources:
            vecs.append(f"i({src})")
        for _, meter, node in self.row_meters:
            vecs += [f"i({meter})", f"v({node})"]
        for _, meter, node in self.amp_meters:
            vecs += [f"i({meter})", f"v({node})"]
        for _, src, _node in self.neuron_supplies:
            vecs.append(f"i({src})")
        for _, _, src, _drive in self.buffer_meters:
            vecs.append(f"v({src})")
        seen = []
        for v in vecs:
            if v not in seen:
                seen.append(v)
        self.saved = seen
        kw = ".save" if self.dialect == "ngspice" else f".probe {self.analysis}"
        chunk = 8
        for k in range(0, len(seen), chunk):
            self.line(f"{kw} " + " ".join(seen[k:k + chunk]))
