"""The transistor neuron as a loaded two-port: output voltage vs input voltage AND output current.

A transistor-level neuron (:mod:`imaclab.devices.neuron`) is not an ideal voltage source.  Its
output sags under the load of the next crossbar (tens of ohms per row in a layer with many
outputs, comparable to the neuron's own output resistance), and its input draws current
through ``R_input``.  A static curve ``v_out = f(u)`` measured unloaded (or into one assumed
load) therefore misses the circuit's voltages by tens of millivolts.

This module characterizes the same subcircuit (:func:`~imaclab.devices.neuron.neuron_subcircuit_lines`,
the one the netlist writer instantiates) with a two-dimensional ngspice DC sweep: the pin
voltage ``v_pin`` (which carries ``-u``) and a current ``i_out`` drawn from the output by an
ideal current source::

    Vpin pin 0 {sweep}      X1 pin out vp vn imac_neuron      Iload out 0 {sweep}

and tabulates on the grid (cached on disk like the unloaded curve):

* ``v_out(v_pin, i_out)``                  output voltage, volts
* ``i_pin(v_pin, i_out)``                  current into the pin (its input network), amperes
* ``p_supply(v_pin, i_out)``               power delivered by the +-VDD supplies, watts

Between grid points the tables are interpolated bilinearly; a solver that knows the load
(the next layer's exact source admittance) finds ``v_out`` by Newton on
``v - v_out(v_pin, Y v + y_b v_bias) = 0`` (:mod:`imaclab.solver.neurons`).

Resolution (measured with sky130 tt, ngspice-39): the output's curvature in ``i_out`` is at
most ~1.3e3 V/A^2 and in ``v_pin`` ~3 V^-1, so the bilinear error is below
``1.3e3 * h_i^2 / 8 + 3 * h_v^2 / 8``: 0.1 mV for the default 81 current points over
+-32 mA and a 10 mV pin step.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imaclab.cache import cached, short_error
from imaclab.devices import kernels
from imaclab.devices.neuron import NeuronConfig, characterization_key, neuron_subcircuit_lines, require_finite
from imaclab.errors import InputError, SimulationError
from imaclab.files import write_npz
from imaclab.grid import UniformGrid, flat_patches, patch_slopes, patch_value
from imaclab.progress import progress_line

#: Version of the loaded characterization netlist; bump to invalidate cached tables.
_LOADED_VERSION = 1
#: Version of the dynamic model (inverter tables + fit); bump to invalidate cached models.
_DYNAMICS_VERSION = 2
#: Points of the output-current axis (odd: i_out = 0 is a grid point).
DEFAULT_CURRENT_POINTS = 81
#: Pin-voltage step of the 2-D table, volts (bilinear error ~3 V^-1 * h^2 / 8 = 40 uV).
DEFAULT_PIN_STEP_V = 0.01
#: Smallest current range characterized, amperes (ranges are powers of two times this).
MIN_CURRENT_RANGE_A = 1e-3


@dataclass(frozen=True)
class LoadedNeuronTable:
    """The neuron's DC behaviour on a (pin voltage x output current) grid, both uniform."""

    pin_v: np.ndarray          # [P] increasing, volts
    current_a: np.ndarray      # [M] increasing, amperes drawn from the output
    v_out: np.ndarray          # [P, M] volts
    i_pin: np.ndarray          # [P, M] amperes into the pin
    p_supply: np.ndarray       # [P, M] watts delivered by the two supplies
    vdd_v: float
    source: str
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, axis in (("pin_v", self.pin_v), ("current_a", self.current_a)):
            a = np.asarray(axis, dtype=float)
            if a.ndim != 1 or a.size < 2 or np.any(np.diff(a) <= 0):
                raise InputError(f"loaded neuron table: {name} must be strictly increasing")
            steps = np.diff(a)
            if np.ptp(steps) > 1e-6 * steps.mean():
                raise InputError(f"loaded neuron table: {name} must be uniformly spaced")
        shape = (self.pin_v.size, self.current_a.size)
        for name in ("v_out", "i_pin", "p_supply"):
            if np.asarray(getattr(self, name)).shape != shape:
                raise InputError(f"loaded neuron table: {name} must have shape {shape}")
        # the three tables as bilinear patches on one grid (imaclab.grid), columns 0-3 v_out,
        # 4-7 the pin current, 8-11 the supply power
        self._grid: UniformGrid  # derived attributes (not dataclass fields), set on the frozen instance
        self._patches: np.ndarray
        object.__setattr__(self, "_grid", UniformGrid.of(np.asarray(self.pin_v), np.asarray(self.current_a)))
        object.__setattr__(self, "_patches", np.concatenate([flat_patches(self.v_out), flat_patches(self.i_pin),
                                                             flat_patches(self.p_supply)], axis=1))

    @property
    def current_range_a(self) -> float:
        return float(self.current_a[-1])

    @property
    def pin_range_v(self) -> float:
        return float(self.pin_v[-1])

    # interpolation --------------------------------------------------------------------------
    def _lookup(self, pin: np.ndarray, current: np.ndarray, first: int):
        cell, fx, fy = self._grid.cells(np.asarray(pin, dtype=float), np.asarray(current, dtype=float))
        c = np.take(self._patches, cell, axis=0)[..., first:first + 4]
        return c, fx, fy

    def output(self, pin: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(v_out, d v_out / d i_out) at pin voltages and output currents (bilinear)."""
        c, fx, fy = self._lookup(pin, current, 0)
        return patch_value(c, fx, fy), patch_slopes(c, fx, fy)[1] * self._grid.inv_dy

    def pin_current(self, pin: np.ndarray, current: np.ndarray) -> np.ndarray:
        """Current into the pin, amperes."""
        return patch_value(*self._lookup(pin, current, 4))

    def supply_power(self, pin: np.ndarray, current: np.ndarray) -> np.ndarray:
        """Power delivered by the neuron's two supplies, watts."""
        return patch_value(*self._lookup(pin, current, 8))

    # files ----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the table as ``.npz`` (atomically: :func:`imaclab.files.write_npz`)."""
        return write_npz(path, pin_v=self.pin_v, current_a=self.current_a, v_out=self.v_out, i_pin=self.i_pin,
                         p_supply=self.p_supply, vdd_v=np.float64(self.vdd_v), source=np.array(self.source),
                         meta=np.array(json.dumps(self.meta)))

    @classmethod
    def load(cls, path: str | Path) -> LoadedNeuronTable:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: loaded neuron table not found")
        try:
            with np.load(path, allow_pickle=False) as z:
                table = cls(pin_v=z["pin_v"], current_a=z["current_a"], v_out=z["v_out"], i_pin=z["i_pin"],
                            p_supply=z["p_supply"], vdd_v=float(z["vdd_v"]), source=str(z["source"]),
                            meta=json.loads(str(z["meta"])))
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise InputError(f"{path}: not a loaded neuron table ({short_error(err)})") from None
        require_finite(path, "loaded neuron table", table.pin_v, table.current_a, table.v_out, table.i_pin,
                       table.p_supply)
        return table

    def to_dict(self) -> dict:
        return {"source": self.source, "vdd_v": self.vdd_v, "pin_points": int(self.pin_v.size),
                "current_points": int(self.current_a.size), "current_range_a": self.current_range_a, **self.meta}


# ---------------------------------------------------------------------------- characterization
def current_range_for(max_current_a: float) -> float:
    """The characterized range covering ``max_current_a``: ``MIN_CURRENT_RANGE_A * 2^k`` (so
    circuits of similar load share one cached table)."""
    if not math.isfinite(max_current_a) or max_current_a < 0:
        raise InputError(f"neuron output current bound must be a finite number >= 0, got {max_current_a}")
    k = max(0, math.ceil(math.log2(max(max_current_a, MIN_CURRENT_RANGE_A) / MIN_CURRENT_RANGE_A) - 1e-12))
    return MIN_CURRENT_RANGE_A * 2.0 ** k


def pin_range_for(config: NeuronConfig, max_pin_v: float) -> float:
    """The characterized pin range covering ``max_pin_v``: ``sweep_v * 2^k`` (the neuron config's
    sweep, doubled until it covers the largest amplifier output the circuit produces)."""
    if not math.isfinite(max_pin_v):
        raise InputError(f"neuron pin voltage bound must be finite, got {max_pin_v}")
    span = float(config.sweep_v)
    while span < abs(max_pin_v):
        span *= 2.0
    return span


def loaded_characterization_netlist(config: NeuronConfig, current_range_a: float,
                                    current_points: int = DEFAULT_CURRENT_POINTS,
                                    pin_step_v: float = DEFAULT_PIN_STEP_V, pin_range_v: float | None = None) -> str:
    """The 2-D DC sweep netlist (pin voltage inner, output current outer)."""
    if current_points < 3 or current_points % 2 == 0:
        raise InputError(f"current_points must be odd and >= 3, got {current_points}")
    i_step = 2.0 * current_range_a / (current_points - 1)
    span = pin_range_v if pin_range_v is not None else config.sweep_v
    lines = ["* imaclab loaded neuron characterization (v_out, i_pin, supply power vs v_pin, i_out)",
             *config.models.include_lines("ngspice"),
             *neuron_subcircuit_lines(config),
             f"Vp vp 0 {config.vdd_v:.9g}",
             f"Vn vn 0 {-config.vdd_v:.9g}",
             "Vpin pin 0 0",
             "X1 pin out vp vn imac_neuron",
             # an ideal current source drawing i_out from the output node to ground
             "Iload out 0 0",
             f".temp {config.temperature_c:g}",
             ".options nomod",
             ".save v(pin) v(out) i(vpin) i(vp) i(vn)",
             # stops half a step past the end: ngspice's accumulated sweep value must not drop the last point
             f".dc Vpin {-span:.9g} {span + 0.5 * pin_step_v:.9g} {pin_step_v:.9g} "
             f"Iload {-current_range_a:.9g} {current_range_a + 0.5 * i_step:.9g} {i_step:.9g}",
             ".end", ""]
    return "\n".join(lines)


def characterize_loaded_neuron(config: NeuronConfig, workdir: str | Path, *, current_range_a: float,
                               current_points: int = DEFAULT_CURRENT_POINTS,
                               pin_step_v: float = DEFAULT_PIN_STEP_V, pin_range_v: float | None = None,
                               ngspice: str | None = None) -> LoadedNeuronTable:
    """Run the 2-D sweep in ``workdir`` and build the table."""
    from imaclab.devices.ngspice_io import CHARACTERIZATION_TIMEOUT_HINT, run_ngspice

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    netlist = workdir / "neuron_loaded.sp"
    span = pin_range_v if pin_range_v is not None else config.sweep_v
    netlist.write_text(loaded_characterization_netlist(config, current_range_a, current_points, pin_step_v, span))
    n_pin = int(round(2 * span / pin_step_v)) + 1
    progress_line(f"ngspice 2-D DC sweep of the loaded neuron ({n_pin} pin x {current_points} current points, "
                  f"{netlist})")
    run = run_ngspice(netlist, workdir / "neuron_loaded.raw", ngspice=ngspice, timeout_s=1800,
                      timeout_hint=CHARACTERIZATION_TIMEOUT_HINT)
    plot = next((p for p in run.plots if "dc" in p.plotname.lower()), None)
    if plot is None:
        raise SimulationError(f"{netlist}: ngspice wrote no DC sweep")
    pin_axis = plot["v(pin)"].real
    if plot.n_points != n_pin * current_points or abs(pin_axis[n_pin - 1] - span) > 1e-6 * span:
        raise SimulationError(f"{netlist}: expected {n_pin} x {current_points} sweep points ending at {span:g} V, "
                              f"got {plot.n_points}")
    shape = (current_points, n_pin)  # ngspice: the second source is the outer loop
    v_out = plot["v(out)"].real.reshape(shape).T
    i_pin = -plot["i(vpin)"].real.reshape(shape).T   # SPICE: current into the source's + node
    p_supply = (config.vdd_v * -plot["i(vp)"].real - config.vdd_v * -plot["i(vn)"].real).reshape(shape).T
    pin = np.linspace(-span, span, n_pin)
    current = np.linspace(-current_range_a, current_range_a, current_points)
    if not (np.all(np.isfinite(v_out)) and np.all(np.isfinite(i_pin)) and np.all(np.isfinite(p_supply))):
        raise SimulationError(f"{netlist}: the loaded neuron sweep produced non-finite values")
    return LoadedNeuronTable(pin_v=pin, current_a=current, v_out=np.ascontiguousarray(v_out),
                             i_pin=np.ascontiguousarray(i_pin), p_supply=np.ascontiguousarray(p_supply),
                             vdd_v=config.vdd_v, source=f"ngspice 2-D DC sweep: {config.models.describe()}",
                             meta={"kind": "transistor-loaded", "models": config.models.describe(),
                                   "ngspice_s": round(run.wall_s, 3), "pin_step_v": pin_step_v})


def _cache_key(config: NeuronConfig, ngspice_version: str, current_range_a: float, current_points: int,
               pin_step_v: float, pin_range_v: float) -> str:
    return "loaded-" + characterization_key(config, ngspice_version, version=_LOADED_VERSION, range=current_range_a,
                                            points=current_points, pin_step=pin_step_v, pin_range=pin_range_v)


def load_loaded_neuron(config: NeuronConfig, *, max_current_a: float, max_pin_v: float = 0.0,
                       cache_dir: str | Path | None = None, current_points: int = DEFAULT_CURRENT_POINTS,
                       pin_step_v: float = DEFAULT_PIN_STEP_V, ngspice: str | None = None) -> LoadedNeuronTable:
    """The loaded table of a transistor neuron covering output currents up to ``max_current_a``
    and pin voltages up to ``max_pin_v`` (at least the config's ``sweep_v``): characterized once
    (15-40 s of ngspice for the default grid) and cached as ``<cache_dir>/loaded-<hash>.npz``
    (default: the unloaded curves' cache folder), keyed like the unloaded curve plus the grid."""
    if config.kind != "transistor":
        raise InputError("only transistor neurons have a loaded characterization (behavioral ones are ideal "
                         "sources)")
    from imaclab.devices.ngspice_io import ngspice_version

    current_range = current_range_for(max_current_a)
    pin_range = pin_range_for(config, max_pin_v)
    key = _cache_key(config, ngspice_version(ngspice), current_range, current_points, pin_step_v, pin_range)
    return cached("loaded transistor neuron table", key,
                  lambda workdir: characterize_loaded_neuron(config, workdir, current_range_a=current_range,
                                                             current_points=current_points, pin_step_v=pin_step_v,
                                                             pin_range_v=pin_range, ngspice=ngspice),
                  LoadedNeuronTable.load, lambda table, path: table.save(path), cache_dir=cache_dir)


# ---------------------------------------------------------------------------- dynamics
#: Grid step of the inverter's static current / charge tables used by the dynamic model, volts.
DYNAMIC_GRID_STEP_V = 0.02
#: Margin of the inverter table beyond the static gate/output range, volts.
_DYNAMIC_MARGIN_V = 0.5
#: Capacitance fit: pin steps (from, to) in volts, each into every load (ohms; None = open).
_FIT_STEPS_V = ((-1.0, 1.0), (1.0, -1.0), (-0.5, 0.5), (0.5, -0.5), (-2.0, 0.0), (0.0, 2.0), (0.25, -0.25),
                (-0.25, 0.25), (-3.0, 3.0), (3.0, -3.0), (0.8, 0.2), (-0.2, -0.8))
_FIT_LOADS_OHM = (None, 200.0, 50.0)
#: Fit transient: ramp (IMAC-Sim's input rise time), its start, the window and the time step.
_FIT_RISE_S = 1e-10
_FIT_START_S = 1e-10
_FIT_WINDOW_S = 2e-9
_FIT_STEP_S = 2e-12
#: A fit worse than this rms (volts) means the two-node model does not describe the subcircuit
#: (e.g. its topology changed): refuse it rather than report wrong latencies.
_FIT_MAX_RMS_V = 0.02
#: Newton iterations per trapezoidal step and for the static equilibrium.
_NEWTON_PER_STEP = 2
_EQUILIBRIUM_ITERATIONS = 100
_EQUILIBRIUM_TOLERANCE_A = 1e-12
#: Table columns: inverter current, then the capacitance matrix of the two transistors
#: (dQg/dg, dQg/do, dQd/dg, dQd/do + drain junctions).
_TABLES = ("i_inv", "c_gg", "c_go", "c_og", "c_oo")


@dataclass(frozen=True)
class NeuronDynamics:
    """Two-node large-signal model of the transistor neuron, for transients (latency).

    The subcircuit's topology (:func:`~imaclab.devices.neuron.neuron_subcircuit_lines`):
    ``pin -> offset -> a -R_input- gate -R_feedback- out`` and an inverter from ``gate`` to
    ``out``.  States: the gate voltage ``g`` and the output voltage ``o``::

        C(g, o) [g', o']^T = [(a - g)/R_input + (o - g)/R_feedback,
                              i_inv(g, o) + (g - o)/R_feedback - i_load]^T

        C = [[s_g c_gg + C_g + C_m, s_g c_go - C_m],
             [s_o c_og - C_m,       s_o c_oo + C_o + C_m]]

    ``i_inv(g, o)`` (the current the two transistors deliver into ``out``) and the
    transistors' capacitance matrix ``c_xy = dQ_x/dy`` (the BSIM gate and drain charges
    ``qg``/``qd`` of both devices plus their drain junctions ``capbd``) are tabulated by one
    ngspice DC sweep of the very device instances the subcircuit uses.  Five constants
    (charge scales ``s_g``, ``s_o`` and extra gate, Miller and output capacitances, which the
    model cards place outside the BSIM charges: overlap and fringe) are the least-squares fit
    of this model's step responses to ngspice transients of the subcircuit itself (12 pin steps
    x 3 loads, 0.1 ns ramps); ``fit_rms_v`` is the rms output error of that fit.  Model cards
    whose charges cannot be read get constant capacitances only (``s_g = s_o = 0``).
    """

    gate_v: np.ndarray         # [G] uniform, volts
    out_v: np.ndarray          # [O] uniform, volts
    tables: np.ndarray         # [G, O, 5]: i_inv (A into out), c_gg, c_go, c_og, c_oo (F)
    r_input_ohm: float
    r_feedback_ohm: float
    offset_v: float
    charge_scale_gate: float
    charge_scale_out: float
    c_gate_f: float
    c_miller_f: float
    c_out_f: float
    fit_rms_v: float
    source: str
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._grid: UniformGrid  # derived attributes (not dataclass fields), set on the frozen instance
        self._patches: np.ndarray
        self._patches_inv: np.ndarray
        object.__setattr__(self, "_grid", UniformGrid.of(np.asarray(self.gate_v), np.asarray(self.out_v)))
        # corner-major [cells, 4 * tables] (column corner * 5 + table; imaclab.grid)
        object.__setattr__(self, "_patches", flat_patches(self.tables))
        # the inverter current alone (Newton iterations need only it): a quarter of the gather
        object.__setattr__(self, "_patches_inv", flat_patches(self.tables[..., 0]))

    # statics ----------------------------------------------------------------------------------
    def _lookup(self, gate, out):
        cell, fx, fy = self._grid.cells(np.asarray(gate, dtype=float), np.asarray(out, dtype=float))
        # np.take: ~4x faster than fancy indexing for these gathers; corners on axis -2
        c = np.moveaxis(np.take(self._patches, cell, axis=0).reshape(*cell.shape, 4, len(_TABLES)), -2, -1)
        val = patch_value(c, fx[..., None], fy[..., None])
        d_gate, d_out = patch_slopes(c[..., 0, :], fx, fy)
        return val, d_gate * self._grid.inv_dx, d_out * self._grid.inv_dy

    def inverter(self, gate: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(i_inv, d i_inv / d gate, d i_inv / d out), bilinear on the table."""
        cell, fx, fy = self._grid.cells(np.asarray(gate, dtype=float), np.asarray(out, dtype=float))
        c = np.take(self._patches_inv, cell, axis=0)
        d_gate, d_out = patch_slopes(c, fx, fy)
        return patch_value(c, fx, fy), d_gate * self._grid.inv_dx, d_out * self._grid.inv_dy

    def capacitance(self, gate: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, ...]:
        """The model's capacitance matrix (c11, c12, c21, c22) at (gate, out), farads."""
        val = self._lookup(gate, out)[0]
        return self._cap_matrix(val)

    def _cap_matrix(self, val):
        sg, so, cm = self.charge_scale_gate, self.charge_scale_out, self.c_miller_f
        return (sg * val[..., 1] + self.c_gate_f + cm, sg * val[..., 2] - cm,
                so * val[..., 3] - cm, so * val[..., 4] + self.c_out_f + cm)

    def equilibrium(self, pin: np.ndarray, out_start: np.ndarray, load_g: np.ndarray | float = 0.0,
                    load_rest: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Static (gate, output) voltages for pin voltages, with a load drawing
        ``load_g * o + load_rest`` from the output (Newton on the output KCL)."""
        k = self.r_input_ohm / (self.r_input_ohm + self.r_feedback_ohm)
        a = np.asarray(pin, dtype=float) + self.offset_v
        o = np.array(out_start, dtype=float, copy=True)
        for _ in range(_EQUILIBRIUM_ITERATIONS):
            g = a * (1 - k) + o * k  # no gate current: the divider sets the gate
            i, dg, do = self.inverter(g, o)
            res = i + (g - o) / self.r_feedback_ohm - load_g * o - load_rest
            if np.max(np.abs(res), initial=0.0) < _EQUILIBRIUM_TOLERANCE_A:
                break
            deriv = dg * k + do + (k - 1) / self.r_feedback_ohm - load_g
            o = o - res / np.minimum(deriv, -1e-4)  # the output KCL decreases with o
        return a * (1 - k) + o * k, o

    # transient --------------------------------------------------------------------------------
    def step(self, gate: np.ndarray, out: np.ndarray, pin_now: np.ndarray, pin_next: np.ndarray, h: float,
             load_g: np.ndarray | float = 0.0, load_rest: np.ndarray | float = 0.0,
             extra_out_c_f: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """One trapezoidal step of ``h`` seconds (capacitances at the step's start, two Newton
        iterations of a 2x2 system per neuron), for arrays of any shape (the loads broadcast).

        With ``C`` the capacitance matrix at the start ``(g0, o0)`` and ``F`` the right-hand
        side of the model's equations, it solves ``C ([g, o] - [g0, o0]) / h = (F(g, o) + F(g0, o0)) / 2``
        (``F`` with the pin at its next / present value) by Newton from ``(g0, o0)``.  One compiled
        pass over the neurons (:func:`imaclab.devices.kernels.dynamics_step`).
        """
        shape = np.broadcast_shapes(np.shape(gate), np.shape(out), np.shape(pin_now), np.shape(pin_next),
                                    np.shape(load_g), np.shape(load_rest), np.shape(extra_out_c_f))

        def flat(x):
            return np.ascontiguousarray(np.broadcast_to(np.asarray(x, dtype=np.float64), shape)).reshape(-1)

        g_next, o_next = np.empty(shape), np.empty(shape)
        grid = self._grid
        kernels.dynamics_step(flat(gate), flat(out), flat(pin_now), flat(pin_next), float(h), flat(load_g),
                              flat(load_rest), flat(extra_out_c_f), self._patches, self._patches_inv,
                              grid.x0, grid.inv_dx, grid.nx, grid.y0, grid.inv_dy, grid.ny,
                              self.r_input_ohm, self.r_feedback_ohm, self.offset_v, self.charge_scale_gate,
                              self.charge_scale_out, self.c_gate_f, self.c_miller_f, self.c_out_f,
                              _NEWTON_PER_STEP, g_next.reshape(-1), o_next.reshape(-1))
        return g_next, o_next

    def with_fit(self, params: np.ndarray) -> NeuronDynamics:
        """A copy with (s_g, s_o, C_g, C_m, C_o) replaced."""
        from dataclasses import replace

        sg, so, cg, cm, co = (float(v) for v in params)
        return replace(self, charge_scale_gate=sg, charge_scale_out=so, c_gate_f=cg, c_miller_f=cm, c_out_f=co)

    # files ------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the model as ``.npz`` (atomically: :func:`imaclab.files.write_npz`)."""
        return write_npz(path, gate_v=self.gate_v, out_v=self.out_v, tables=self.tables,
                         scalars=np.array([self.r_input_ohm, self.r_feedback_ohm, self.offset_v,
                                           self.charge_scale_gate, self.charge_scale_out, self.c_gate_f,
                                           self.c_miller_f, self.c_out_f, self.fit_rms_v]),
                         source=np.array(self.source), meta=np.array(json.dumps(self.meta)))

    @classmethod
    def load(cls, path: str | Path) -> NeuronDynamics:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                r_in, r_fb, off, sg, so, cg, cm, co, rms = (float(v) for v in z["scalars"])
                model = cls(gate_v=z["gate_v"], out_v=z["out_v"], tables=z["tables"], r_input_ohm=r_in,
                            r_feedback_ohm=r_fb, offset_v=off, charge_scale_gate=sg, charge_scale_out=so,
                            c_gate_f=cg, c_miller_f=cm, c_out_f=co, fit_rms_v=rms, source=str(z["source"]),
                            meta=json.loads(str(z["meta"])))
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise InputError(f"{path}: not a neuron dynamics file ({short_error(err)})") from None
        require_finite(path, "neuron dynamics model", model.gate_v, model.out_v, model.tables,
                       np.array([r_in, r_fb, off, sg, so, cg, cm, co]))
        return model

    def to_dict(self) -> dict:
        return {"source": self.source, "charge_scale_gate": self.charge_scale_gate,
                "charge_scale_out": self.charge_scale_out, "c_gate_extra_f": self.c_gate_f,
                "c_miller_extra_f": self.c_miller_f, "c_out_extra_f": self.c_out_f, "fit_rms_v": self.fit_rms_v,
                **self.meta}


def _dynamic_ranges(config: NeuronConfig) -> tuple[float, float]:
    """(gate, output) half-ranges of the inverter table, volts."""
    r_in, r_fb = config.r_input_ohm, config.r_feedback_ohm
    out = config.vdd_v + _DYNAMIC_MARGIN_V
    gate = ((config.sweep_v + abs(config.offset_v)) * r_fb + out * r_in) / (r_in + r_fb) + _DYNAMIC_MARGIN_V
    return gate, out


def _device_paths(config: NeuronConfig) -> tuple[str, str] | None:
    """ngspice's names of the two transistors' BSIM instances (for ``@dev[qg]``), or None when
    the model card's internal naming is unknown (subcircuit-wrapped custom devices)."""
    m = config.models
    if m.element == "M":
        return "mn", "mp"
    if m.library == "sky130":
        # sky130_fd_pr wraps each device as 'm<model name>' inside its subcircuit
        return f"m.xn.m{m.nmos_name}", f"m.xp.m{m.pmos_name}"
    return None


def _inverter_netlist(config: NeuronConfig, step_v: float, with_charges: bool) -> str:
    m = config.models
    gate, out = _dynamic_ranges(config)
    saves = ["v(gate)", "v(out)", "i(vo)"]
    paths = _device_paths(config) if with_charges else None
    if paths:
        saves += [f"@{d}[{q}]" for d in paths for q in ("qg", "qd", "capbd")]
    # the same instances (drain, gate, source, bulk, sizes) as neuron_subcircuit_lines
    lines = ["* imaclab neuron inverter: output current and charges vs gate and output voltage",
             *m.include_lines("ngspice"),
             m.instance("n", "out", "gate", "vn", "vn", polarity="n", width_m=config.nmos_width_m,
                        length_m=config.length_m, multiplier=config.nmos_fingers),
             m.instance("p", "out", "gate", "vp", "vp", polarity="p", width_m=config.pmos_width_m,
                        length_m=config.length_m, multiplier=config.pmos_fingers),
             f"Vp vp 0 {config.vdd_v:.9g}", f"Vn vn 0 {-config.vdd_v:.9g}",
             "Vg gate 0 0", "Vo out 0 0",
             f".temp {config.temperature_c:g}", ".options nomod",
             ".save " + " ".join(saves),
             f".dc Vg {-gate:.9g} {gate + 0.5 * step_v:.9g} {step_v:.9g} Vo {-out:.9g} {out + 0.5 * step_v:.9g} "
             f"{step_v:.9g}",
             ".end", ""]
    return "\n".join(lines)


def _fit_cases() -> list[tuple[float, float, float | None]]:
    return [(p0, p1, load) for p0, p1 in _FIT_STEPS_V for load in _FIT_LOADS_OHM]


def _step_netlist(config: NeuronConfig) -> str:
    lines = ["* imaclab neuron step responses (capacitance fit of the two-node model)",
             *config.models.include_lines("ngspice"), *neuron_subcircuit_lines(config),
             f"Vp vp 0 {config.vdd_v:.9g}", f"Vn vn 0 {-config.vdd_v:.9g}"]
    t0, t1 = _FIT_START_S, _FIT_START_S + _FIT_RISE_S
    for k, (p0, p1, load) in enumerate(_fit_cases()):
        lines += [f"Vpin{k} pin{k} 0 PWL(0 {p0:.9g} {t0:.9g} {p0:.9g} {t1:.9g} {p1:.9g})",
                  f"X{k} pin{k} out{k} vp vn imac_neuron"]
        if load is not None:
            lines.append(f"Rl{k} out{k} 0 {load:.9g}")
    lines += [f".temp {config.temperature_c:g}", ".options nomod",
              ".save " + " ".join(f"v(out{k})" for k in range(len(_fit_cases()))),
              f".tran {_FIT_STEP_S:.9g} {_FIT_WINDOW_S:.9g} 0 {_FIT_STEP_S:.9g}", ".end", ""]
    return "\n".join(lines)


def simulate_steps(model: NeuronDynamics, pin: np.ndarray, load_g: np.ndarray, times: np.ndarray,
                   out_start: np.ndarray) -> np.ndarray:
    """Output waveforms [len(times), cases] of the two-node model for pin waveforms [len(times), cases]."""
    g, o = model.equilibrium(pin[0], out_start, load_g)
    out = np.empty_like(pin)
    out[0] = o
    for n in range(1, times.size):
        g, o = model.step(g, o, pin[n - 1], pin[n], times[n] - times[n - 1], load_g)
        out[n] = o
    return out


def _charge_tables(plot, paths: tuple[str, str], shape: tuple[int, int], step: float) -> np.ndarray | None:
    """[G, O, 4] capacitance matrix (dQg/dg, dQg/do, dQd/dg, dQd/do + junctions) of both devices."""
    names = {f"@{d}[{q}]" for d in paths for q in ("qg", "qd", "capbd")}
    if not all(n in plot for n in names):
        return None

    def grid(name):
        return plot[name].real.reshape(shape[1], shape[0]).T

    q_g, q_d, c_j = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for dev in paths:
        qg, qd = grid(f"@{dev}[qg]"), grid(f"@{dev}[qd]")
        # ngspice reports a PMOS's BSIM charges in the n-channel frame: orient each device so
        # that its gate capacitance dQg/dVg is positive
        sign = 1.0 if np.mean(np.gradient(qg, step, axis=0)) >= 0 else -1.0
        q_g += sign * qg
        q_d += sign * qd
        c_j += np.abs(grid(f"@{dev}[capbd]"))
    dqg_dg, dqg_do = np.gradient(q_g, step)
    dqd_dg, dqd_do = np.gradient(q_d, step)
    return np.stack([dqg_dg, dqg_do, dqd_dg, dqd_do + c_j], axis=-1)


def characterize_neuron_dynamics(config: NeuronConfig, workdir: str | Path, *,
                                 ngspice: str | None = None) -> NeuronDynamics:
    """Inverter DC sweep (current and charges) + step transients of the subcircuit, then the fit."""
    from scipy.optimize import least_squares

    from imaclab.devices.ngspice_io import CHARACTERIZATION_TIMEOUT_HINT, run_ngspice

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    step = DYNAMIC_GRID_STEP_V
    inv_path = workdir / "neuron_inverter.sp"
    paths = _device_paths(config)
    inv_path.write_text(_inverter_netlist(config, step, with_charges=True))
    progress_line(f"neuron dynamics 1/3: ngspice DC sweep of the inverter's currents and charges ({inv_path})")
    try:
        run = run_ngspice(inv_path, workdir / "neuron_inverter.raw", ngspice=ngspice, timeout_s=1800,
                          timeout_hint=CHARACTERIZATION_TIMEOUT_HINT)
    except SimulationError:
        if paths is None:
            raise
        paths = None  # the charge vectors are not available for these devices: currents only
        inv_path.write_text(_inverter_netlist(config, step, with_charges=False))
        run = run_ngspice(inv_path, workdir / "neuron_inverter.raw", ngspice=ngspice, timeout_s=1800,
                          timeout_hint=CHARACTERIZATION_TIMEOUT_HINT)
    plot = run.plots[-1]
    gate_half, out_half = _dynamic_ranges(config)
    n_g = int(round(2 * gate_half / step)) + 1
    n_o = int(round(2 * out_half / step)) + 1
    if plot.n_points != n_g * n_o:
        raise SimulationError(f"{inv_path}: expected {n_g} x {n_o} sweep points, got {plot.n_points}")
    # i(vo): current from node out through the source to ground = what the inverter delivers
    i_inv = plot["i(vo)"].real.reshape(n_o, n_g).T
    caps = _charge_tables(plot, paths, (n_g, n_o), step) if paths else None
    has_charges = caps is not None
    if caps is None:
        caps = np.zeros((n_g, n_o, 4))
    tables = np.ascontiguousarray(np.concatenate([i_inv[..., None], caps], axis=-1))
    gate_v = np.linspace(-gate_half, -gate_half + (n_g - 1) * step, n_g)
    out_v = np.linspace(-out_half, -out_half + (n_o - 1) * step, n_o)
    step_path = workdir / "neuron_steps.sp"
    step_path.write_text(_step_netlist(config))
    progress_line(f"neuron dynamics 2/3: ngspice step responses of the neuron ({len(_fit_cases())} cases, {step_path})")
    tran = run_ngspice(step_path, workdir / "neuron_steps.raw", ngspice=ngspice, timeout_s=1800,
                       timeout_hint=CHARACTERIZATION_TIMEOUT_HINT)
    tp = tran.plots[-1]
    cases = _fit_cases()
    times = np.arange(0.0, _FIT_WINDOW_S + 0.5 * _FIT_STEP_S, _FIT_STEP_S)
    t_spice = tp["time"].real
    ref = np.stack([np.interp(times, t_spice, tp[f"v(out{k})"].real) for k in range(len(cases))], axis=1)
    ramp = np.clip((times - _FIT_START_S) / _FIT_RISE_S, 0.0, 1.0)[:, None]
    p0 = np.array([c[0] for c in cases])
    p1 = np.array([c[1] for c in cases])
    pins = p0 + (p1 - p0) * ramp
    load_g = np.array([0.0 if c[2] is None else 1.0 / c[2] for c in cases])
    base = NeuronDynamics(gate_v=gate_v, out_v=out_v, tables=tables, r_input_ohm=config.r_input_ohm,
                          r_feedback_ohm=config.r_feedback_ohm, offset_v=config.offset_v, charge_scale_gate=0.0,
                          charge_scale_out=0.0, c_gate_f=0.0, c_miller_f=0.0, c_out_f=0.0,
                          fit_rms_v=float("nan"), source="")
    # parameters: charge scales (1 = the BSIM charges as they are) and extra capacitances in
    # units of the gate area times ~10 fF/um^2 (overlap and fringe are a fraction of that)
    area = (config.nmos_width_m * config.nmos_fingers + config.pmos_width_m * config.pmos_fingers) * config.length_m
    c_unit = 1e-2 * area
    units = np.array([1.0, 1.0, c_unit, c_unit, c_unit])

    def residual(x: np.ndarray) -> np.ndarray:
        return (simulate_steps(base.with_fit(x * units), pins, load_g, times, ref[0]) - ref).ravel()

    if has_charges:
        x0, lower = np.array([1.0, 1.0, 0.1, 0.1, 0.03]), np.array([0.2, 0.2, 0.0, 0.0, 0.0])
    else:  # constant capacitances only
        x0, lower = np.array([0.0, 0.0, 1.0, 0.1, 0.3]), np.array([0.0, 0.0, 0.0, 0.0, 0.0])
    upper = np.array([5.0, 5.0, 50.0, 50.0, 50.0]) if has_charges else np.array([1e-9, 1e-9, 50.0, 50.0, 50.0])
    progress_line("neuron dynamics 3/3: fitting the two-node model's capacitances to the step responses")
    fit = least_squares(residual, x0, bounds=(lower, upper), diff_step=1e-3)
    rms = float(np.sqrt(np.mean(fit.fun ** 2)))
    if rms > _FIT_MAX_RMS_V:
        raise SimulationError(f"{step_path}: the two-node neuron model does not fit the subcircuit's step responses "
                              f"(rms error {rms * 1e3:.3g} mV); latency cannot be estimated for this neuron")
    model = base.with_fit(fit.x * units)
    from dataclasses import replace

    return replace(model, fit_rms_v=rms,
                   source=f"ngspice inverter DC sweep ({'currents and BSIM charges' if has_charges else 'currents'})"
                          f" + step-response fit: {config.models.describe()}",
                   meta={"kind": "transistor-dynamics", "bsim_charges": has_charges, "fit_cases": len(cases),
                         "ngspice_s": round(run.wall_s + tran.wall_s, 3)})


def load_neuron_dynamics(config: NeuronConfig, *, cache_dir: str | Path | None = None,
                         ngspice: str | None = None) -> NeuronDynamics:
    """The neuron's two-node dynamic model, characterized once and cached (``dynamics-<hash>.npz``)."""
    if config.kind != "transistor":
        raise InputError("only transistor neurons have a dynamic model (behavioral ones are instantaneous)")
    from imaclab.devices.ngspice_io import ngspice_version

    key = "dynamics-" + characterization_key(config, ngspice_version(ngspice), version=_DYNAMICS_VERSION,
                                             grid=DYNAMIC_GRID_STEP_V, steps=_FIT_STEPS_V, loads=_FIT_LOADS_OHM,
                                             rise=_FIT_RISE_S)
    return cached("transistor neuron dynamic model", key,
                  lambda workdir: characterize_neuron_dynamics(config, workdir, ngspice=ngspice),
                  NeuronDynamics.load, lambda model, path: model.save(path), cache_dir=cache_dir)
