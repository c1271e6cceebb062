"""The imac room's jobs and its one entry point, ``run(job) -> result``.

    from imaclab.imac import ImacJob, run
    result = run(ImacJob(model="digits.npz", data="digits").with_overrides({"simulation.backend": "fast"}))
    print(result.accuracy, result.metrics()["mean_power_w"])

Jobs (YAML round trip, dotted overrides, ``--set``):

* :class:`ImacJob` -- ``imaclab imac run``: an :class:`~imaclab.imac.ImacConfig` (the circuit
  tree, ``simulation.spice`` and ``simulation.fast``) plus the network and the data set;
  :class:`~imaclab.imac.ImacResult`.
* :class:`ValidateJob` -- ``imaclab imac validate``: both backends on the first ``samples``;
  :class:`~imaclab.imac.ValidateResult`.
* :class:`NetlistJob` -- ``imaclab imac netlist``: the SPICE netlist; :class:`NetlistResult`.
* :class:`NeuronJob` -- ``imaclab imac neuron``: the neuron's transfer curve; :class:`NeuronCurveResult`.

``run(job, out_dir=DIR)`` refuses an unwritable ``DIR`` before any work, then writes
``config.yaml`` (replays with ``imaclab imac <cmd> -c DIR/config.yaml``), the job's files and
``summary.json`` last.  The single-file outputs of the CLI (``imac netlist -o x.sp``, ``imac
neuron -o curve.npz``, ``imac validate -o report.json``) are ``run(job, out_file=...)``.

The small parsers of the CLI's option strings (:func:`parse_crossbar`, :func:`parse_parasitics`,
:func:`parse_resistance`, :func:`model_card_overrides`) live here too, so every caller refuses
a bad string with the same one-line :class:`~imaclab.errors.ConfigError`.
"""

from __future__ import annotations

import copy
import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
from pydantic import Field, field_validator, model_validator

from imaclab.config import ConfigModel, parse_si
from imaclab.devices.neuron import NeuronConfig, NeuronCurve
from imaclab.errors import ConfigError, InputError
from imaclab.imac.config import ImacConfig
from imaclab.imac.evaluate import ImacResult, evaluate
from imaclab.imac.model_io import MISSING, NETWORK_SECTIONS, get_path, leaf_paths, load_mlp, trained_settings
from imaclab.imac.validate import ValidateResult, validate
from imaclab.result import Result, Table


# ------------------------------------------------------------------------------ option strings
def parse_crossbar(text: str) -> dict[str, int]:
    """``'32x32'`` -> ``{"circuit.crossbar.rows": 32, "circuit.crossbar.columns": 32}``."""
    from imaclab.circuit.config import CrossbarConfig

    size = CrossbarConfig.parse(str(text))
    return {"circuit.crossbar.rows": size.rows, "circuit.crossbar.columns": size.columns}


#: ``--parasitics`` values -> (resistance, capacitance).
PARASITICS = {"on": (True, True), "rc": (True, True), "off": (False, False), "r": (True, False), "c": (False, True)}


def parse_parasitics(text: str) -> dict[str, bool]:
    """``'on' | 'off' | 'r' | 'c'`` (and ``'rc'``) -> the two wire switches as dotted overrides."""
    flag = str(text).strip().lower()
    if flag not in PARASITICS:
        raise ConfigError(f"--parasitics '{text}': use on, off, r (resistance only) or c (capacitance only)")
    r, c = PARASITICS[flag]
    return {"circuit.parasitics.resistance": r, "circuit.parasitics.capacitance": c}


def parse_resistance(text: str | float) -> float:
    """``'5k'`` -> 5000.0 ohms; must be > 0."""
    value = parse_si(text)
    if not value > 0:
        raise ConfigError(f"resistance '{text}' must be > 0 ohms")
    return value


def model_card_overrides(model_lib: str | Path | None = None, nmos: str | None = None, pmos: str | None = None,
                         lib_section: str | None = None) -> dict[str, Any]:
    """``--model-lib/--nmos/--pmos/--lib-section`` -> the custom transistor cards of the neuron
    (empty when none is given; the file path made absolute so a saved config replays anywhere)."""
    if not (model_lib or nmos or pmos):
        return {}
    return {"neuron.models.library": "custom",
            "neuron.models.model_lib": str(Path(model_lib).resolve()) if model_lib else None,
            "neuron.models.nmos": nmos, "neuron.models.pmos": pmos, "neuron.models.lib_section": lib_section}


# ------------------------------------------------------------------------------ trained settings
def _put(data: dict, path: str, value: Any) -> None:
    keys = path.split(".")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = copy.deepcopy(value)


def trained_config(config: Any, model: Any, user_set: Any = None) -> Any:
    """``config`` evaluating ``model`` with the circuit settings it was trained for.

    Every field of ``devices``, ``circuit``, ``neuron`` and ``inputs`` comes from the model's
    ``network_config`` except those the user set: ``user_set``, dotted paths (a path covers
    what lies under it), or, when None, every field whose value differs from its default.
    A model without ``network_config`` leaves ``config`` as it is.  The evaluation names the
    fields that then differ from the trained ones in one notice line
    (:func:`imaclab.imac.model_io.trained_settings_notice`).
    """
    trained = trained_settings(model)
    if trained is None:
        return config
    data = config.to_dict()
    if user_set is None:
        defaults = type(config)().to_dict()
        user_set = [p for section in NETWORK_SECTIONS for p in leaf_paths(data.get(section), section)
                    if get_path(data, p) != get_path(defaults, p)]
    merged = copy.deepcopy(data)
    for section in NETWORK_SECTIONS:
        if section in trained:
            merged[section] = copy.deepcopy(trained[section])
    for path in user_set:
        if path.split(".")[0] in NETWORK_SECTIONS and (value := get_path(data, path)) is not MISSING:
            _put(merged, path, value)
    return type(config).from_dict(merged, source=f"{getattr(model, 'source', 'the model')}: the settings it was "
                                                 "trained for (network_config)")


# ------------------------------------------------------------------------------ jobs
class _NetworkJob(ImacConfig):
    """An ImacConfig plus the trained network and the test data that drive it.

    A model exported by ``imaclab train`` carries the circuit it was trained for; :meth:`for_model`
    evaluates it with those settings except the ones the user set (``user_set``: recorded from
    the data the job is made from -- a config file, keyword arguments -- and from every
    :meth:`with_overrides`, so the command line's options and ``--set`` count).
    """

    model: str | None = Field(None, description="trained MLP: .npz (imaclab.nn export, "
                                                "examples/train_digits_mlp.py), .pt state_dict or a folder of "
                                                "W1.csv/B1.csv (IMAC-Sim); relative paths from the working directory")
    data: str = Field("digits", description="test data set: digits | fashion-mnist | mnist | cifar10 "
                                            "(imaclab.data.DATASETS), IMAC-Sim's test data (a folder "
                                            "with test_data.csv and test_labels.csv, or its test_data.csv), or "
                                            "an imaclab train run folder (its test split through the run's "
                                            "digital part: the inputs its IMAC head, imac.npz, receives)")
    data_root: str | None = Field(None, description="folder of the data set files (mnist, cifar10)")
    crop: int | None = Field(None, ge=1, description="centre crop to crop x crop pixels (20 -> 400 inputs)")
    resize: int | None = Field(None, ge=1, description="resize images to resize x resize pixels")
    user_set: list[str] = Field(default_factory=list, description=(
        "circuit fields (dotted: devices.*, circuit.*, neuron.*, inputs.*) given explicitly; they win over "
        "the settings a trained model brings (imac.npz's network_config), the others come from it"))

    @field_validator("model", "data_root", mode="before")
    @classmethod
    def _path_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, Path) else value

    def load_model(self) -> Any:
        if not self.model:
            raise ConfigError(f"{type(self).__name__}: no model given: set model (the CLI's --model FILE)")
        path = Path(self.model)
        if not path.exists():
            return load_mlp(self.model)  # its one-line "not found" error
        return _cached_model(str(path.resolve()), path.stat().st_mtime_ns)

    def load_data(self) -> Any:
        checkpoint = Path(self.data) / "checkpoint.pt"
        if checkpoint.is_file():  # an imaclab train run folder: the inputs its IMAC head receives
            return _run_head_inputs(str(Path(self.data).resolve()), checkpoint.stat().st_mtime_ns, self.data_root,
                                    self.crop, self.resize)
        return _cached_test_split(self.data, self.data_root, self.crop, self.resize)

    @model_validator(mode="before")
    @classmethod
    def _record_given(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "user_set" in data:
            return data
        given = [p for section in NETWORK_SECTIONS if section in data
                 for p in (leaf_paths(data[section], section) if isinstance(data[section], dict) else [section])]
        return {**data, "user_set": given} if given else data

    def with_overrides(self, overrides: dict[str, Any]) -> Self:
        """Dotted overrides, recording the circuit fields among them in ``user_set``."""
        given = [k for k in overrides if k.split(".")[0] in NETWORK_SECTIONS]
        if given:
            overrides = {**overrides, "user_set": sorted(set(self.user_set) | set(given))}
        return super().with_overrides(overrides)

    def for_model(self, model: Any) -> Self:
        """This job with the circuit settings ``model`` was trained for where the user set none
        (:func:`trained_config`); itself for a model without them."""
        return trained_config(self, model, self.user_set)


# A sweep worker evaluates many points of one network on one data set: read each once per
# process (the model is keyed by its modification time, so a retrained file is read again).
@functools.lru_cache(maxsize=8)
def _cached_model(path: str, mtime_ns: int) -> Any:
    return load_mlp(path)


@functools.lru_cache(maxsize=4)
def _cached_test_split(name: str, root: str | None, crop: int | None, resize: int | None) -> Any:
    from imaclab.data.datasets import load_dataset

    if name.lower().endswith(".csv") or Path(name).is_dir():  # IMAC-Sim's test_data.csv / test_labels.csv
        from imaclab.imac.model_io import load_imacsim_test_data

        if crop or resize:
            raise ConfigError(f"data {name}: crop/resize do not apply to IMAC-Sim's test-data CSV files")
        from imaclab.data.datasets import Dataset

        x, y = load_imacsim_test_data(name)
        return Dataset(x=x.astype(np.float32), y=y, name=name, num_classes=int(y.max()) + 1 if y.size else 0)
    return load_dataset(name, split="test", root=root, crop=crop, resize=resize, flatten=True)


@functools.lru_cache(maxsize=2)
def _run_head_inputs(run_dir: str, mtime_ns: int, root: str | None, crop: int | None, resize: int | None) -> Any:
    """The test split of the data set a training run learned, as the [0, 1] inputs its IMAC head
    receives (:func:`imaclab.nn.export.imac_inputs`: the digital layers, scaled and on the DAC grid;
    keyed by the checkpoint's modification time, so a retrained run is read again)."""
    from imaclab.data.datasets import Dataset, load_dataset
    from imaclab.nn.export import imac_inputs
    from imaclab.nn.training import load_run

    if crop or resize:
        raise ConfigError(f"data {run_dir}: crop/resize do not apply to a training run (it keeps its own)")
    trained = load_run(run_dir)
    cfg = trained.config
    test = load_dataset(cfg.data, split="test", root=root or cfg.data_root, crop=cfg.crop, resize=cfg.resize)
    try:
        x = imac_inputs(trained.model, test.x)
    except ValueError as exc:
        raise ConfigError(f"data {run_dir}: {exc} (train it with an IMAC policy, e.g. -p tpu-imac)") from None
    return Dataset(x=x.astype(np.float32), y=test.y, name=f"{cfg.data} via {run_dir}",
                   num_classes=trained.num_classes)


class ImacJob(_NetworkJob):
    """``imaclab imac run``: the circuit, simulation (``simulation.backend``, ``.samples``,
    ``.spice``, ``.fast``) and area of an IMAC evaluation, plus the network and the data set."""


class ValidateJob(_NetworkJob):
    """``imaclab imac validate``: the fast solver and ngspice on the same circuit and the first
    ``samples`` test samples (``simulation.backend``/``.samples``/``.first_sample`` are not used;
    ``simulation.spice`` and ``simulation.fast`` are)."""

    samples: int = Field(20, ge=1, description="test samples run through both backends (DC)")
    latency_samples: int = Field(0, ge=0, description="also compare latency on an ngspice transient of the first "
                                                      "N samples")
    tran_step_s: float | None = Field(None, gt=0, description="time step of that transient, s (None: the input "
                                                              "rise time / 50)")


class NetlistJob(_NetworkJob):
    """``imaclab imac netlist``: the SPICE netlist of the network's circuit, driven by the first
    ``samples`` test samples."""

    samples: int = Field(1, ge=1, description="samples in the netlist")
    analysis: Literal["dc", "tran"] = Field("tran", description="dc | tran")
    dialect: Literal["ngspice", "hspice"] = Field("ngspice", description="ngspice | hspice (an HSPICE netlist "
                                                                         "instantiates transistor neurons itself)")


#: Sections of an ImacConfig/ImacJob file that a NeuronJob reads past (it takes ``neuron`` and
#: ``simulation.neuron_cache_dir``), so ``imac neuron -c`` accepts the config of a run.
_IMAC_ONLY = ("devices", "circuit", "inputs", "area", "simulation", "model", "data", "data_root", "crop", "resize",
              "samples", "latency_samples", "tran_step_s", "analysis", "dialect", "converters", "at", "trials",
              "lines", "user_set")


class NeuronJob(ConfigModel):
    """``imaclab imac neuron``: the neuron's DC transfer curve (characterized in ngspice and cached,
    or the behavioral formula), optionally into a resistive load, printed at ``points`` inputs.

    Reads the config of an imac run too: its ``neuron`` and ``simulation.neuron_cache_dir``.
    """

    neuron: NeuronConfig = Field(default_factory=NeuronConfig, description="the neuron (kind, sizing, supply, "
                                                                           "transistor models)")
    load_ohm: float | None = Field(None, gt=0, description="load resistance to ground, ohms (e.g. 45 or '5k'); "
                                                           "None: unloaded")
    points: int = Field(13, ge=2, description="inputs at which the curve is printed")
    neuron_cache_dir: str | None = Field(None, description="where characterized neuron curves are cached "
                                                           "(None = ~/.cache/imaclab/neuron)")
    ngspice_path: str | None = Field(None, description="ngspice executable for the characterization (None: "
                                                       "$IMACLAB_NGSPICE, else 'ngspice' on PATH)")

    @model_validator(mode="before")
    @classmethod
    def _from_imac_config(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not any(k in data for k in _IMAC_ONLY):
            return data
        data = dict(data)
        sim = data.get("simulation")
        if isinstance(sim, dict) and sim.get("neuron_cache_dir") and not data.get("neuron_cache_dir"):
            data["neuron_cache_dir"] = sim["neuron_cache_dir"]
        spice = sim.get("spice") if isinstance(sim, dict) else None
        if isinstance(spice, dict) and spice.get("ngspice_path") and not data.get("ngspice_path"):
            data["ngspice_path"] = spice["ngspice_path"]
        return {k: v for k, v in data.items() if k not in _IMAC_ONLY}

    @field_validator("load_ohm", mode="before")
    @classmethod
    def _si(cls, value: Any) -> Any:
        return parse_si(value) if isinstance(value, str) else value


# ------------------------------------------------------------------------------ results
@dataclass
class NetlistResult(Result):
    """A written (or writable) netlist: its text and what it holds."""

    kind = "imac.netlist"

    job: NetlistJob
    text: str
    crossbars_per_layer: list[int]
    layer_sizes: list[int]
    path: Path | None = None
    convention_note: str = ""

    @property
    def lines(self) -> int:
        return self.text.count("\n")

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.job.model, "data": self.job.data, "samples": self.job.samples,
                "analysis": self.job.analysis, "dialect": self.job.dialect, "lines": self.lines,
                "layer_sizes": self.layer_sizes, "crossbars_per_layer": self.crossbars_per_layer,
                "path": str(self.path) if self.path else None}

    def metrics(self) -> dict[str, Any]:
        return {"lines": self.lines, "crossbars": sum(self.crossbars_per_layer)}

    def notes(self) -> list[str]:
        head = [self.convention_note] if self.convention_note else []
        if self.path is None:
            return head
        return head + [f"wrote {self.path} ({self.lines} lines, crossbars per layer {self.crossbars_per_layer})"]

    def write(self, path: str | Path) -> Path:
        """The netlist text into ``path`` (atomic)."""
        from imaclab.files import write_text

        self.path = write_text(path, self.text)
        self.files["netlist"] = self.path
        return self.path

    def write_files(self, out_dir: Path) -> dict[str, Path]:
        return {"netlist": self.write(Path(out_dir) / "imac.sp")}


@dataclass
class NeuronCurveResult(Result):
    """The neuron's transfer curve, with its output resistance, at ``job.points`` inputs."""

    kind = "imac.neuron"

    job: NeuronJob
    curve: NeuronCurve
    path: Path | None = None

    @property
    def rows(self) -> list[tuple[float, float, float]]:
        """``(u, f(u), r_out(u))`` at ``job.points`` evenly spaced inputs, volts and ohms."""
        c = self.curve
        u = np.linspace(c.v_in[0], c.v_in[-1], self.job.points)
        return [(float(a), float(c(a)), float(c.output_resistance(a))) for a in u]

    def to_dict(self) -> dict[str, Any]:
        return {"curve": self.curve.to_dict(), "load_ohm": self.job.load_ohm,
                "points": [{"u_v": u, "f_v": f, "r_out_ohm": r} for u, f, r in self.rows],
                "path": str(self.path) if self.path else None}

    def metrics(self) -> dict[str, Any]:
        c = self.curve
        return {"vdd_v": float(c.vdd_v), "v_out_min_v": float(np.min(c.v_out)),
                "v_out_max_v": float(np.max(c.v_out))}

    def tables(self) -> list[Table]:
        rows = tuple((f"{u:+.2f}", f"{f:+.4f}", f"{r:.1f}") for u, f, r in self.rows)
        return [Table(title=self.curve.source, columns=("u (V)", "f(u) (V)", "r_out (ohm)"), rows=rows,
                      text_columns=0)]

    def notes(self) -> list[str]:
        return [f"wrote {self.path}"] if self.path else []

    def write(self, path: str | Path) -> Path:
        """The curve as ``.npz`` (:meth:`NeuronCurve.load` reads it), atomic; a device or folder refused."""
        from imaclab.files import write_with

        self.path = write_with(path, self.curve.save)
        self.files["curve"] = self.path
        return self.path

    def write_files(self, out_dir: Path) -> dict[str, Path]:
        return {"curve": self.write(Path(out_dir) / "neuron_curve.npz")}


# ------------------------------------------------------------------------------ run
def _prepare(out_dir: str | Path | None, out_file: str | Path | None) -> None:
    """Refuse an unwritable output before any work."""
    from imaclab.files import check_writable_dir, check_writable_file

    if out_dir is not None:
        check_writable_dir(out_dir)
    if out_file is not None:
        check_writable_file(out_file)


@functools.singledispatch
def run(job: Any, *, out_dir: str | Path | None = None, progress: bool = False,
        out_file: str | Path | None = None) -> Result:
    """Run an imac job: :class:`ImacJob`, :class:`ValidateJob`, :class:`NetlistJob` or :class:`NeuronJob`.

    ``out_dir``: write the run folder (``config.yaml``, the job's files, ``summary.json`` last);
    checked writable before any work.  ``progress``: show the simulator's progress bar.
    ``out_file`` (validate, netlist, neuron): also write the one file the job makes (the JSON
    report, the netlist, the curve's ``.npz``), checked writable before any work.
    """
    raise ConfigError(f"imaclab.imac.run: cannot run a {type(job).__name__}; give an ImacJob, ValidateJob, "
                      "NetlistJob or NeuronJob")


@run.register
def _run_imac(job: ImacJob, *, out_dir: str | Path | None = None, progress: bool = False,
              out_file: str | Path | None = None) -> ImacResult:
    """Evaluate the network on the IMAC circuit (ngspice or the fast solver); ``out_dir`` also gets
    ``netlists/`` (spice) and ``samples.csv``.  Samples that finished are written before a backend
    failure is raised."""
    if out_file is not None:
        raise ConfigError("an imac run writes a folder (samples.csv, summary.json, ...): give out_dir, not out_file")
    _prepare(out_dir, None)
    model = job.load_model()
    job = job.for_model(model)
    result = evaluate(config=job, model=model, dataset=job.load_data(), out_dir=out_dir, progress=progress)
    if out_dir is not None:
        result.plot(out_dir)
    return result


@run.register
def _run_validate(job: ValidateJob, *, out_dir: str | Path | None = None, progress: bool = False,
                  out_file: str | Path | None = None) -> ValidateResult:
    """Both backends on the same samples; ``out_file``: the report as one JSON file."""
    _prepare(out_dir, out_file)
    start = time.perf_counter()
    model = job.load_model()
    job = job.for_model(model)
    result = validate(config=job, model=model, dataset=job.load_data(), samples=job.samples,
                      latency_samples=job.latency_samples, tran_step_s=job.tran_step_s, progress=progress)
    result.wall_s = time.perf_counter() - start
    if out_file is not None:
        result.files["report"] = result.write_report(out_file)
    result.write_run(out_dir)
    return result


@run.register
def _run_netlist(job: NetlistJob, *, out_dir: str | Path | None = None, progress: bool = False,
                 out_file: str | Path | None = None) -> NetlistResult:
    """The netlist of the network driven by the first ``samples`` test samples; ``out_file``: where."""
    from imaclab.circuit.description import build_circuit, resolve_convention
    from imaclab.circuit.netlist import write_netlist
    from imaclab.devices.neuron import behavioral_curve, load_neuron_curve

    _prepare(out_dir, out_file)
    mlp = job.load_model()
    job = job.for_model(mlp)
    dataset = job.load_data().head(job.samples)
    if resolve_convention(job.circuit.convention, mlp)[0] == "imacsim":
        curve = None  # IMAC-Sim's behavioral neuron, built with the circuit
    elif job.dialect == "hspice" and job.neuron.kind == "transistor":
        # the HSPICE netlist instantiates the transistor neuron itself; its ngspice-characterized
        # curve is not needed (and FinFET cards cannot be characterized in ngspice)
        curve = behavioral_curve(job.neuron)
    else:
        curve = load_neuron_curve(job.neuron, job.simulation.neuron_cache_dir,
                                  ngspice=job.simulation.spice.ngspice_path)
    circuit = build_circuit(job, mlp, neuron_curve=curve)
    if dataset.x.shape[1] != circuit.n_inputs:
        raise InputError(f"the data have {dataset.x.shape[1]} features but the model expects {circuit.n_inputs}: "
                         "use --crop/--resize")
    nl = write_netlist(circuit, circuit.encode(dataset.x), analysis=job.analysis, dialect=job.dialect,
                       title=f"imaclab IMAC network from {job.model}")
    result = NetlistResult(job=job, text=nl.text, crossbars_per_layer=list(circuit.crossbars_per_layer),
                           layer_sizes=list(circuit.layer_sizes),
                           convention_note=circuit.meta.get("convention_note", ""))
    if out_file is not None:
        result.write(out_file)
    result.write_run(out_dir)
    return result


@run.register
def _run_neuron(job: NeuronJob, *, out_dir: str | Path | None = None, progress: bool = False,
                out_file: str | Path | None = None) -> NeuronCurveResult:
    """The neuron curve (characterized or from the cache); ``out_file``: the curve as ``.npz``."""
    from imaclab.devices.neuron import load_neuron_curve

    _prepare(out_dir, out_file)
    curve = load_neuron_curve(job.neuron, job.neuron_cache_dir, load_ohm=job.load_ohm, ngspice=job.ngspice_path)
    result = NeuronCurveResult(job=job, curve=curve)
    if out_file is not None:
        result.write(out_file)
    result.write_run(out_dir)
    return result
