"""Analog sigmoid neurons and their characterized DC transfer curves.

The neuron after each hidden layer is the inverter-based sigmoid of IMAC (Amin et al.,
GLSVLSI 2022; the ``neuron.sp`` of IMAC-Sim): a CMOS inverter between supplies +-VDD whose
gate sits on a resistive divider between the (offset-shifted) input and the inverter's own
output::

    pin --[V offset]-- a --[R_input]-- gate --[R_feedback]-- out
                                         |                    |
                                     inverter (gate -> out, supplies +VDD / -VDD)

With a high-gain inverter the gate is held near its switching point, so the stage is an
inverting amplifier of small-signal gain ``-R_feedback/R_input`` that saturates softly at the
rails: an (inverted) sigmoid of the pin voltage, with output in [-VDD, +VDD].

Sign convention (one for the whole package): the hidden-layer amplifier is *inverting*, so
the neuron's pin carries ``-u`` where ``u = gain * (sum_i v_i w_i + v_bias b)`` is the signed
column signal; the neuron then outputs an *increasing* sigmoid of ``u``.  :class:`NeuronCurve`
is that increasing function ``v_out = f(u)``, which is what training uses as the activation.
The physical pin-to-output transfer is ``f(-v_pin)`` (:meth:`NeuronCurve.pin_transfer`).

``kind='behavioral'`` is the ideal-inverter limit of the same circuit,
``f(u) = VDD * tanh(slope * u / VDD)`` with ``slope = R_feedback / R_input``;
``kind='transistor'`` is characterized once per model/sizing by an ngspice DC sweep and
cached on disk (:func:`load_neuron_curve`).
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from imaclab.cache import cached, short_error
from imaclab.config import ConfigModel
from imaclab.devices.memristor import MAX_RESISTANCE_OHM
from imaclab.devices.transistors import TransistorModelConfig
from imaclab.errors import InputError, SimulationError
from imaclab.progress import progress_line

#: Version of the characterization netlist; bump to invalidate cached curves.
_CHARACTERIZATION_VERSION = 2
#: Offset that centres the default sky130 sizing (calibrate_offset, ngspice-39, tt, 27 C): f(0) = -2e-5 V.
DEFAULT_OFFSET_V = -0.0562
#: tanh(x) differs from 1 by 2 exp(-2x) < 1e-8 beyond this argument.
_BEHAVIORAL_FLAT_ARG = 10.0
#: Probe current drawn from the neuron output to measure its large-signal output resistance, A.
_PROBE_CURRENT_A = 1e-3


class NeuronConfig(ConfigModel):
    """The analog neuron after each hidden layer (its circuit, sizing and characterization)."""

    kind: Literal["behavioral", "transistor"] = Field(
        "transistor", description="transistor: inverter-based sigmoid simulated with MOSFET models; "
                                  "behavioral: ideal-inverter sigmoid VDD*tanh(slope*u/VDD)")
    vdd_v: float = Field(0.8, gt=0, le=100.0, description="neuron supplies are +vdd_v and -vdd_v, volts")
    r_input_ohm: float = Field(500.0, gt=0, le=MAX_RESISTANCE_OHM,
                               description="divider resistor from the offset-shifted input to "
                                           "the inverter gate, ohms")
    r_feedback_ohm: float = Field(500.0, gt=0, le=MAX_RESISTANCE_OHM,
                                  description="divider resistor from the inverter gate to "
                                              "its output, ohms")
    offset_v: float = Field(DEFAULT_OFFSET_V, description="offset source in series with the input (centres the "
                                                          "curve: f(0) = 0), volts; see calibrate_offset")
    nmos_width_m: float = Field(5e-6, gt=0, description="NMOS finger width, metres")
    pmos_width_m: float = Field(5e-6, gt=0, description="PMOS finger width, metres")
    length_m: float = Field(0.15e-6, gt=0, description="channel length of both devices, metres")
    nmos_fingers: int = Field(40, ge=1, description="parallel NMOS devices (multiplier m)")
    pmos_fingers: int = Field(120, ge=1, description="parallel PMOS devices (multiplier m)")
    models: TransistorModelConfig = Field(default_factory=TransistorModelConfig,
                                          description="where the MOSFET models come from")
    slope: float | None = Field(None, gt=0, description="behavioral small-signal slope d v_out/d u; "
                                                        "None = r_feedback_ohm / r_input_ohm")
    sweep_v: float = Field(3.0, gt=0, description="characterize u over [-sweep_v, +sweep_v], volts")
    sweep_step_v: float = Field(0.005, gt=0, description="characterization step, volts")
    temperature_c: float = Field(27.0, description="simulation temperature, Celsius")

    @field_validator("sweep_step_v")
    @classmethod
    def _step(cls, v: float) -> float:
        if v > 0.1:
            raise ValueError("sweep_step_v above 0.1 V is too coarse for a transfer curve")
        return v

    @property
    def behavioral_slope(self) -> float:
        return self.slope if self.slope is not None else self.r_feedback_ohm / self.r_input_ohm


@dataclass(frozen=True)
class NeuronCurve:
    """A characterized DC transfer curve ``v_out = f(u)``, volts, with ``v_in`` (= u) increasing.

    ``r_out_ohm`` is the large-signal output resistance over ``v_in`` (how much the output
    drops per ampere drawn; zero for the behavioral neuron) and ``supply_current_a`` the
    current drawn from +VDD with no load, so a solver can account for loading and power.
    """

    v_in: np.ndarray
    v_out: np.ndarray
    vdd_v: float
    source: str
    r_out_ohm: np.ndarray | None = None
    supply_current_a: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        v_in = np.asarray(self.v_in, dtype=float)
        if v_in.ndim != 1 or v_in.size < 2 or np.any(np.diff(v_in) <= 0):
            raise InputError("neuron curve: v_in must be a strictly increasing 1-D array")
        if np.asarray(self.v_out).shape != v_in.shape:
            raise InputError("neuron curve: v_out must have the shape of v_in")

    def __call__(self, v: np.ndarray | float) -> np.ndarray:
        """f(u) by linear interpolation, clamped to the end values outside the sweep."""
        return np.interp(np.asarray(v, dtype=float), self.v_in, self.v_out)

    def pin_transfer(self, v_pin: np.ndarray | float) -> np.ndarray:
        """Output for a voltage at the neuron's physical input pin (which carries -u)."""
        return self(-np.asarray(v_pin, dtype=float))

    def slope(self, v: np.ndarray | float) -> np.ndarray:
        """d f / d u, piecewise constant between samples (zero outside the sweep)."""
        dv = np.diff(self.v_out) / np.diff(self.v_in)
        idx = np.clip(np.searchsorted(self.v_in, np.asarray(v, dtype=float), side="right") - 1, 0, dv.size - 1)
        out = dv[idx]
        v = np.asarray(v, dtype=float)
        return np.where((v < self.v_in[0]) | (v > self.v_in[-1]), 0.0, out)

    def output_resistance(self, v: np.ndarray | float) -> np.ndarray:
        if self.r_out_ohm is None:
            return np.zeros_like(np.asarray(v, dtype=float))
        return np.interp(np.asarray(v, dtype=float), self.v_in, self.r_out_ohm)

    def save(self, path: str | Path) -> Path:
        """Write the curve as ``.npz`` (atomically: :func:`imaclab.files.write_npz`)."""
        from imaclab.files import write_npz

        arrays = {"v_in": self.v_in, "v_out": self.v_out, "vdd_v": np.float64(self.vdd_v),
                  "source": np.array(self.source), "meta": np.array(json.dumps(self.meta))}
        if self.r_out_ohm is not None:
            arrays["r_out_ohm"] = self.r_out_ohm
        if self.supply_current_a is not None:
            arrays["supply_current_a"] = self.supply_current_a
        return write_npz(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> NeuronCurve:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: neuron curve file not found")
        try:
            with np.load(path, allow_pickle=False) as z:
                curve = cls(v_in=z["v_in"], v_out=z["v_out"], vdd_v=float(z["vdd_v"]), source=str(z["source"]),
                            r_out_ohm=z["r_out_ohm"] if "r_out_ohm" in z else None,
                            supply_current_a=z["supply_current_a"] if "supply_current_a" in z else None,
                            meta=json.loads(str(z["meta"])) if "meta" in z else {})
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise InputError(f"{path}: not a neuron curve file ({short_error(err)})") from None
        require_finite(path, "neuron curve", curve.v_in, curve.v_out, curve.r_out_ohm, curve.supply_current_a)
        return curve

    def to_dict(self) -> dict:
        return {"source": self.source, "vdd_v": self.vdd_v, "points": int(self.v_in.size),
                "v_in_range": [float(self.v_in[0]), float(self.v_in[-1])],
                "v_out_range": [float(self.v_out.min()), float(self.v_out.max())], **self.meta}


# ---------------------------------------------------------------------------- behavioral
def behavioral_curve(config: NeuronConfig) -> NeuronCurve:
    """The ideal-inverter sigmoid ``VDD * tanh(slope * u / VDD)``."""
    vdd = config.vdd_v
    slope = config.behavioral_slope
    # extend the table until tanh is flat to ~1e-8, so that clamping at its ends is exact
    span = max(config.sweep_v, _BEHAVIORAL_FLAT_ARG * vdd / slope)
    n = int(round(2 * span / config.sweep_step_v)) + 1
    u = np.linspace(-span, span, n)
    return NeuronCurve(v_in=u, v_out=vdd * np.tanh(slope * u / vdd), vdd_v=vdd,
                       source=f"behavioral: {vdd:g}*tanh({slope:g}*u/{vdd:g})",
                       r_out_ohm=np.zeros_like(u), supply_current_a=np.zeros_like(u),
                       meta={"kind": "behavioral", "slope": slope})


def imacsim_behavioral_curve(config: NeuronConfig) -> NeuronCurve:
    """IMAC-Sim's neuron in its ideal-inverter limit (``circuit.convention: imacsim``).

    IMAC-Sim's ``neuron.sp`` is the same inverter + divider as here, but supplied from 0 V and
    +VDD (``Xsig nin out vdd 0 neuron``) with the input shifted by +VDD/2 (``vin in in2 -0.4``
    at 0.8 V), so its output swings over [0, VDD] around VDD/2.  As a function of the signed
    column signal ``u`` (the increasing form the whole package uses)::

        f(u) = VDD/2 * (1 + tanh(slope * u / (VDD/2)))       (slope = d f / d u at 0)

    and, its amplifier being non-inverting, the pin carries ``+u``: the physical transfer
    ``f(-v_pin)`` is a falling sigmoid of the column sum, IMAC-Sim's polarity.
    """
    vdd = config.vdd_v
    half = vdd / 2.0
    slope = config.behavioral_slope
    span = max(config.sweep_v, _BEHAVIORAL_FLAT_ARG * half / slope)
    n = int(round(2 * span / config.sweep_step_v)) + 1
    u = np.linspace(-span, span, n)
    return NeuronCurve(v_in=u, v_out=half * (1.0 + np.tanh(slope * u / half)), vdd_v=vdd,
                       source=f"behavioral (IMAC-Sim, 0..{vdd:g} V): {half:g}*(1+tanh({slope:g}*u/{half:g}))",
                       r_out_ohm=np.zeros_like(u), supply_current_a=np.zeros_like(u),
                       meta={"kind": "behavioral", "slope": slope, "rails": "unipolar"})


# ---------------------------------------------------------------------------- transistor
def neuron_subcircuit_lines(config: NeuronConfig, name: str = "imac_neuron",
                            dialect: Literal["ngspice", "hspice"] = "ngspice") -> list[str]:
    """``.subckt NAME pin out vp vn``: the transistor-level neuron (pin carries -u)."""
    m = config.models
    lines = ["* inverter-based sigmoid neuron: pin -> offset -> R_input -> gate; gate -> R_feedback -> out",
             f".subckt {name} pin out vp vn",
             f"Voff a pin {config.offset_v:.6g}",
             f"Rin a gate {config.r_input_ohm:.6g}",
             f"Rfb gate out {config.r_feedback_ohm:.6g}",
             m.instance("n", "out", "gate", "vn", "vn", polarity="n", width_m=config.nmos_width_m,
                        length_m=config.length_m, multiplier=config.nmos_fingers),
             m.instance("p", "out", "gate", "vp", "vp", polarity="p", width_m=config.pmos_width_m,
                        length_m=config.length_m, multiplier=config.pmos_fingers),
             f".ends {name}"]
    return lines


def characterization_netlist(config: NeuronConfig, load_ohm: float | None = None) -> str:
    """DC sweep netlist: the neuron (optionally loaded by ``load_ohm`` to ground) and a copy
    with a probe current drawn from its output."""
    loads = ([f"Rload out 0 {load_ohm:.6g}", f"Rloadp outp 0 {load_ohm:.6g}"] if load_ohm else [])
    start, stop = -config.sweep_v, config.sweep_v
    lines = ["* imaclab neuron characterization (DC transfer curve)",
             *config.models.include_lines("ngspice"),
             *neuron_subcircuit_lines(config),
             f"Vp vp 0 {config.vdd_v:.6g}",
             f"Vn vn 0 {-config.vdd_v:.6g}",
             f"Vpp vpp 0 {config.vdd_v:.6g}",
             f"Vnp vnp 0 {-config.vdd_v:.6g}",
             # the physical pin carries -u: sweep the pin, u = -v(pin)
             "Vpin pin 0 0",
             "X1 pin out vp vn imac_neuron",
             "X2 pin outp vpp vnp imac_neuron",
             f"Iprobe outp 0 {_PROBE_CURRENT_A:.6g}",
             *loads,
             f".temp {config.temperature_c:g}",
             ".options nomod",
             f".dc Vpin {start:.6g} {stop:.6g} {config.sweep_step_v:.6g}",
             ".end", ""]
    return "\n".join(lines)


def characterization_key(config: NeuronConfig, ngspice_version: str, **extra) -> str:
    """Cache key of a characterization of ``config``: its fields (but ``kind``), the model files
    (path, size, mtime), the ngspice version and ``extra`` (netlist version, grid)."""
    fields = config.to_dict()
    fields.pop("kind")
    files = []
    for f in config.models.model_files():
        st = f.stat()
        files.append([str(f), st.st_size, int(st.st_mtime)])
    blob = json.dumps({"config": fields, "files": files, "ngspice": ngspice_version, **extra}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _cache_key(config: NeuronConfig, ngspice_version: str, load_ohm: float | None = None) -> str:
    return characterization_key(config, ngspice_version, version=_CHARACTERIZATION_VERSION, load_ohm=load_ohm)


def require_finite(path: Path, what: str, *arrays) -> None:
    """Refuse a file whose arrays hold NaN or infinity (a damaged cache entry)."""
    if any(a is not None and not np.all(np.isfinite(a)) for a in arrays):
        raise InputError(f"{path}: the {what} holds NaN or infinite values")


def characterize_transistor_neuron(config: NeuronConfig, workdir: str | Path, *,
                                   load_ohm: float | None = None, ngspice: str | None = None) -> NeuronCurve:
    """Run the ngspice DC sweep of the transistor neuron in ``workdir`` and build its curve."""
    from imaclab.devices.ngspice_io import CHARACTERIZATION_TIMEOUT_HINT, run_ngspice

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    netlist = workdir / "neuron_dc.sp"
    netlist.write_text(characterization_netlist(config, load_ohm))
    points = int(round(2 * config.sweep_v / config.sweep_step_v)) + 1
    progress_line(f"ngspice DC sweep of the transistor neuron ({points} points, {netlist})")
    run = run_ngspice(netlist, workdir / "neuron_dc.raw", ngspice=ngspice, timeout_s=600,
                      timeout_hint=CHARACTERIZATION_TIMEOUT_HINT)
    plot = next((p for p in run.plots if "dc" in p.plotname.lower()), None)
    if plot is None:
        raise SimulationError(f"{netlist}: ngspice wrote no DC sweep")
    v_pin = plot["v-sweep"] if "v-sweep" in plot else plot["v(pin)"]
    v_out = plot["v(out)"]
    v_probe = plot["v(outp)"]
    i_vp = -plot["i(vp)"]  # SPICE reports current into the + terminal; supply delivers -i
    u = -v_pin[::-1]
    f = v_out[::-1]
    r_out = ((v_out - v_probe) / _PROBE_CURRENT_A)[::-1]
    curve = NeuronCurve(v_in=u.copy(), v_out=f.copy(), vdd_v=config.vdd_v,
                        source=f"ngspice DC sweep: {config.models.describe()}",
                        r_out_ohm=r_out.copy(), supply_current_a=i_vp[::-1].copy(),
                        meta={"kind": "transistor", "models": config.models.describe(), "load_ohm": load_ohm,
                              "ngspice_s": round(run.wall_s, 3)})
    if not np.all(np.isfinite(curve.v_out)):
        raise SimulationError(f"{netlist}: the neuron sweep produced non-finite voltages")
    return curve


def load_neuron_curve(config: NeuronConfig, cache_dir: str | Path | None = None, *,
                      load_ohm: float | None = None, ngspice: str | None = None) -> NeuronCurve:
    """The neuron's transfer curve: computed (behavioral) or characterized and cached (transistor).

    ``load_ohm`` characterizes the neuron driving that resistance to ground, which is what a
    directly driven next layer presents (its rows' cells end on virtual grounds):
    :func:`row_load_ohm` gives it.  The behavioral neuron is an ideal source (load-free).

    Transistor curves are cached as ``<cache_dir>/<hash>.npz`` keyed by the sizing, the
    model files (path, size, mtime), the ngspice version and the netlist version, through
    :func:`imaclab.cache.cached` (one characterization among concurrent processes, damaged
    files characterized again, progress on stderr).  ``ngspice``: the executable (None:
    ``IMACLAB_NGSPICE``, else ``ngspice`` on PATH).
    """
    if load_ohm is not None and not (math.isfinite(load_ohm) and load_ohm > 0):
        raise InputError(f"load_ohm must be a finite resistance > 0 ohm, got {load_ohm}")
    if config.kind == "behavioral":
        return behavioral_curve(config)
    from imaclab.devices.ngspice_io import ngspice_version

    key = _cache_key(config, ngspice_version(ngspice), load_ohm)
    return cached("transistor neuron curve", key,
                  lambda workdir: characterize_transistor_neuron(config, workdir, load_ohm=load_ohm, ngspice=ngspice),
                  NeuronCurve.load, lambda curve, path: curve.save(path), cache_dir=cache_dir)


def row_load_ohm(fan_out: int, r_low_ohm: float, r_high_ohm: float) -> float:
    """Resistance to (virtual) ground that one input line of a layer with ``fan_out`` outputs
    presents to its driver, ignoring wires: every output contributes ``G+ + G- = 2 G_mid``
    (exact for binary and symmetric multi-level mappings)."""
    from imaclab.devices.column import mid_conductance_s

    return 1.0 / (2.0 * fan_out * mid_conductance_s(r_low_ohm, r_high_ohm))


def calibrate_offset(config: NeuronConfig, *, cache_dir: str | Path | None = None,
                     iterations: int = 3) -> NeuronConfig:
    """A copy of ``config`` whose ``offset_v`` centres the transistor curve (f(0) = 0).

    Secant steps on the characterized curve; each step is one (cached) ngspice sweep.
    """
    cfg = config
    for _ in range(iterations):
        curve = load_neuron_curve(cfg, cache_dir)
        f0 = float(curve(0.0))
        slope = float(curve.slope(0.0)) or 1.0
        if abs(f0) < 1e-4:
            break
        # pin = -u, a = pin + offset: raising the offset acts like lowering u
        cfg = cfg.with_overrides({"offset_v": cfg.offset_v + f0 / slope})
    return cfg


def loaded_curve(curve: NeuronCurve, load_ohm: float) -> NeuronCurve:
    """Thevenin estimate of ``curve`` driving ``load_ohm`` to ground:
    ``f_L(u) = f(u) * R_L / (R_L + r_out(u))`` (exact for an ideal source, r_out = 0)."""
    if not (math.isfinite(load_ohm) and load_ohm > 0):
        raise InputError(f"load_ohm must be a finite resistance > 0 ohm, got {load_ohm}")
    r_out = curve.r_out_ohm if curve.r_out_ohm is not None else np.zeros_like(curve.v_in)
    v_out = curve.v_out * load_ohm / (load_ohm + np.maximum(r_out, 0.0))
    return NeuronCurve(v_in=curve.v_in, v_out=v_out, vdd_v=curve.vdd_v, source=f"{curve.source}, loaded by "
                       f"{load_ohm:.4g} ohm (Thevenin)", r_out_ohm=curve.r_out_ohm,
                       supply_current_a=curve.supply_current_a, meta={**curve.meta, "load_ohm": load_ohm})
