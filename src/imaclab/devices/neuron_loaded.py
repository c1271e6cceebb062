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

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imaclab.devices.neuron import NeuronConfig, default_cache_dir, neuron_subcircuit_lines
from imaclab.errors import InputError, SimulationError

#: Version of the loaded characterization netlist; bump to invalidate cached tables.
_LOADED_VERSION = 1
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

    @property
    def current_range_a(self) -> float:
        return float(self.current_a[-1])

    @property
    def pin_range_v(self) -> float:
        return float(self.pin_v[-1])

    # interpolation --------------------------------------------------------------------------
    def _cell(self, pin: np.ndarray, current: np.ndarray):
        p0, dp = self.pin_v[0], self.pin_v[1] - self.pin_v[0]
        c0, dc = self.current_a[0], self.current_a[1] - self.current_a[0]
        x = np.clip((np.asarray(pin, dtype=float) - p0) / dp, 0.0, self.pin_v.size - 1)
        y = np.clip((np.asarray(current, dtype=float) - c0) / dc, 0.0, self.current_a.size - 1)
        i = np.minimum(np.floor(x).astype(np.int64), self.pin_v.size - 2)
        j = np.minimum(np.floor(y).astype(np.int64), self.current_a.size - 2)
        return i, j, x - i, y - j, dc

    def _bilinear(self, table: np.ndarray, i, j, fx, fy) -> np.ndarray:
        t00, t01 = table[i, j], table[i, j + 1]
        t10, t11 = table[i + 1, j], table[i + 1, j + 1]
        return (1 - fx) * ((1 - fy) * t00 + fy * t01) + fx * ((1 - fy) * t10 + fy * t11)

    def output(self, pin: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(v_out, d v_out / d i_out) at pin voltages and output currents (bilinear)."""
        i, j, fx, fy, dc = self._cell(pin, current)
        t = self.v_out
        t00, t01 = t[i, j], t[i, j + 1]
        t10, t11 = t[i + 1, j], t[i + 1, j + 1]
        lo = t00 + fy * (t01 - t00)
        hi = t10 + fy * (t11 - t10)
        slope = ((1 - fx) * (t01 - t00) + fx * (t11 - t10)) / dc
        return lo + fx * (hi - lo), slope

    def pin_current(self, pin: np.ndarray, current: np.ndarray) -> np.ndarray:
        """Current into the pin, amperes."""
        return self._bilinear(self.i_pin, *self._cell(pin, current)[:4])

    def supply_power(self, pin: np.ndarray, current: np.ndarray) -> np.ndarray:
        """Power delivered by the neuron's two supplies, watts."""
        return self._bilinear(self.p_supply, *self._cell(pin, current)[:4])

    # files ----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
        np.savez(tmp, pin_v=self.pin_v, current_a=self.current_a, v_out=self.v_out, i_pin=self.i_pin,
                 p_supply=self.p_supply, vdd_v=np.float64(self.vdd_v), source=np.array(self.source),
                 meta=np.array(json.dumps(self.meta)))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "LoadedNeuronTable":
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: loaded neuron table not found")
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(pin_v=z["pin_v"], current_a=z["current_a"], v_out=z["v_out"], i_pin=z["i_pin"],
                           p_supply=z["p_supply"], vdd_v=float(z["vdd_v"]), source=str(z["source"]),
                           meta=json.loads(str(z["meta"])))
        except (KeyError, ValueError, OSError) as err:
            raise InputError(f"{path}: not a loaded neuron table ({err})") from None

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
             ".save v(out) i(vpin) i(vp) i(vn)",
             f".dc Vpin {-span:.9g} {span:.9g} {pin_step_v:.9g} "
             f"Iload {-current_range_a:.9g} {current_range_a:.9g} {i_step:.9g}",
             ".end", ""]
    return "\n".join(lines)


def characterize_loaded_neuron(config: NeuronConfig, workdir: str | Path, *, current_range_a: float,
                               current_points: int = DEFAULT_CURRENT_POINTS,
                               pin_step_v: float = DEFAULT_PIN_STEP_V, pin_range_v: float | None = None,
                               ngspice: str | None = None) -> LoadedNeuronTable:
    """Run the 2-D sweep in ``workdir`` and build the table."""
    from imaclab.devices.ngspice_io import run_ngspice

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    netlist = workdir / "neuron_loaded.sp"
    span = pin_range_v if pin_range_v is not None else config.sweep_v
    netlist.write_text(loaded_characterization_netlist(config, current_range_a, current_points, pin_step_v, span))
    run = run_ngspice(netlist, workdir / "neuron_loaded.raw", ngspice=ngspice, timeout_s=1800)
    plot = next((p for p in run.plots if "dc" in p.plotname.lower()), None)
    if plot is None:
        raise SimulationError(f"{netlist}: ngspice wrote no DC sweep")
    n_pin = int(round(2 * span / pin_step_v)) + 1
    if plot.n_points != n_pin * current_points:
        raise SimulationError(f"{netlist}: expected {n_pin * current_points} sweep points, got {plot.n_points}")
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
    fields = config.to_dict()
    fields.pop("kind")
    files = [[str(f), f.stat().st_size, int(f.stat().st_mtime)] for f in config.models.model_files()]
    blob = json.dumps({"config": fields, "files": files, "ngspice": ngspice_version, "version": _LOADED_VERSION,
                       "range": current_range_a, "points": current_points, "pin_step": pin_step_v,
                       "pin_range": pin_range_v}, sort_keys=True)
    return "loaded-" + hashlib.sha256(blob.encode()).hexdigest()[:20]


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
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = _cache_key(config, ngspice_version(ngspice), current_range, current_points, pin_step_v, pin_range)
    path = cache / f"{key}.npz"
    if path.is_file():
        try:
            return LoadedNeuronTable.load(path)
        except InputError:
            path.unlink(missing_ok=True)  # torn or stale: characterize again
    with tempfile.TemporaryDirectory(prefix="imaclab-neuron-loaded-") as tmp:
        table = characterize_loaded_neuron(config, tmp, current_range_a=current_range,
                                           current_points=current_points, pin_step_v=pin_step_v,
                                           pin_range_v=pin_range, ngspice=ngspice)
    table.save(path)
    return table
