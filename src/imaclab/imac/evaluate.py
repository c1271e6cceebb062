"""Evaluate an MLP on its IMAC circuit: accuracy, power, latency, area, next to software accuracy.

``evaluate(config=..., model=..., dataset=...) -> ImacResult`` (in memory: a model object and
arrays; ``imaclab.imac.run(ImacJob(...))`` is the same from files): build the
circuit description, run the backend (ngspice or the fast solver) on the test samples,
compare with the software reference (the same mapped network evaluated digitally with the
neuron's transfer curve, :meth:`NetworkCircuit.ideal_forward`), and, given ``out_dir``, write
the netlists, ``samples.csv`` (label, prediction, outputs, power, latency per sample),
``summary.json`` and the ``config.yaml`` that reproduces the run.  A backend failure keeps
the samples that finished: they are written before the error is raised.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imaclab.circuit.description import NetworkCircuit, build_circuit, resolve_convention
from imaclab.circuit.mlp import MLPModel
from imaclab.devices.neuron import NeuronCurve, load_neuron_curve
from imaclab.errors import ConfigError, ImaclabError, InputError, SimulationError
from imaclab.imac.area import AreaReport, circuit_area
from imaclab.imac.config import ImacConfig
from imaclab.result import SUMMARY_FILE, Result, Scalar, Table, flat_scalars
from imaclab.spice.runner import POWER_COMPONENTS, run_spice

#: The scalar figures a sweep stores per point (``metrics()``), besides ``power_w.<component>``,
#: ``area_um2.<part>`` and ``crossbars``.
METRIC_KEYS = ("accuracy", "software_accuracy", "software_accuracy_unloaded", "agreement", "samples", "samples_ok",
               "mean_power_w", "mean_latency_s", "worst_latency_s", "simulation_s", "simulation_s_per_sample")


@dataclass
class ImacResult(Result):
    """Outcome of one evaluation (per-sample arrays plus summary numbers).

    ``save(dir)`` writes ``config.yaml`` (the job), ``samples.csv`` and ``summary.json``
    (:meth:`to_dict`, last); :meth:`metrics` are the figures a sweep keeps per point.
    """

    kind = "imac.run"

    labels: np.ndarray
    predicted: np.ndarray             # [n] circuit prediction (-1 where the backend failed)
    software_predicted: np.ndarray    # [n] software-reference prediction (neurons under nominal load)
    software_unloaded_predicted: np.ndarray  # [n] software reference with the unloaded neuron curve
    outputs: np.ndarray               # [n, n_out] circuit output voltages
    software_outputs: np.ndarray      # [n, n_out]
    power_w: dict[str, np.ndarray]    # component -> [n]
    latency_s: np.ndarray             # [n] (NaN without transient analysis)
    ok: np.ndarray                    # [n] bool
    area: AreaReport
    circuit: NetworkCircuit
    backend: str
    analysis: str
    simulation_s: float               # backend time (summed ngspice process wall time for spice)
    wall_s: float
    simulation_cpu_s: float = float("nan")  # summed ngspice CPU time (user + system)
    latency_simulation: dict = field(default_factory=dict)  # the extra transient run, if any
    out_dir: Path | None = None
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: the config (an :class:`ImacConfig`, or the :class:`~imaclab.imac.ImacJob`) that produced it
    job: Any = None

    @property
    def n_samples(self) -> int:
        return int(self.labels.size)

    @property
    def accuracy(self) -> float:
        ok = self.ok
        return float((self.predicted[ok] == self.labels[ok]).mean()) if ok.any() else float("nan")

    @property
    def software_accuracy(self) -> float:
        ok = self.ok
        return float((self.software_predicted[ok] == self.labels[ok]).mean()) if ok.any() else float("nan")

    @property
    def software_unloaded_accuracy(self) -> float:
        ok = self.ok
        return float((self.software_unloaded_predicted[ok] == self.labels[ok]).mean()) if ok.any() else float("nan")

    @property
    def agreement(self) -> float:
        """Fraction of samples where circuit and software predict the same class."""
        ok = self.ok
        return float((self.predicted[ok] == self.software_predicted[ok]).mean()) if ok.any() else float("nan")

    @property
    def total_power_w(self) -> np.ndarray:
        total = np.zeros(self.n_samples)
        for component in self.power_w.values():
            total = total + component
        return total

    def to_dict(self) -> dict[str, Any]:
        ok = self.ok
        lat = self.latency_s[ok]
        has_lat = lat.size and np.isfinite(lat).any()
        n_ok = int(ok.sum())
        return {
            "accuracy": self.accuracy, "software_accuracy": self.software_accuracy,
            "software_accuracy_unloaded": self.software_unloaded_accuracy, "agreement": self.agreement,
            "samples": self.n_samples, "samples_ok": n_ok, "backend": self.backend, "analysis": self.analysis,
            "mean_power_w": float(np.mean(self.total_power_w[ok])) if n_ok else None,
            "mean_power_by_component_w": {k: float(np.mean(v[ok])) if n_ok else None
                                          for k, v in self.power_w.items()},
            "mean_latency_s": float(np.nanmean(lat)) if has_lat else None,
            "worst_latency_s": float(np.nanmax(lat)) if has_lat else None,
            "area_um2": self.area.to_dict(),
            "crossbars_per_layer": self.circuit.crossbars_per_layer,
            "layer_sizes": self.circuit.layer_sizes,
            "simulation_s": self.simulation_s,
            "simulation_s_per_sample": self.simulation_s / n_ok if n_ok else None,
            "simulation_cpu_s": self.simulation_cpu_s,
            "simulation_cpu_s_per_sample": self.simulation_cpu_s / n_ok if n_ok else None,
            **self.latency_simulation,
            "wall_s": self.wall_s,
            "circuit": self.circuit.to_dict(),
            "warnings": self.warnings, "errors": self.errors,
            "out_dir": str(self.out_dir) if self.out_dir else None,
        }

    def metrics(self) -> dict[str, Scalar]:
        """What a sweep stores per point: :data:`METRIC_KEYS`, ``power_w.<component>``,
        ``area_um2.<part>`` and ``crossbars`` (all crossbars of the network)."""
        summary = self.to_dict()
        out: dict[str, Scalar] = flat_scalars({k: summary[k] for k in METRIC_KEYS if k in summary})
        out.update(flat_scalars(summary.get("mean_power_by_component_w") or {}, "power_w."))
        out.update(flat_scalars(summary.get("area_um2") or {}, "area_um2."))
        out["crossbars"] = sum(summary.get("crossbars_per_layer") or [])
        return out

    def tables(self) -> list[Table]:
        s = self.to_dict()

        def fmt(v, unit="", scale=1.0, digits=4):
            return "-" if v is None else f"{v * scale:.{digits}g}{unit}"

        rows = [("layers", "-".join(str(n) for n in s["layer_sizes"])),
                ("crossbars per layer", str(s["crossbars_per_layer"])),
                ("backend / analysis", f"{s['backend']} / {s['analysis']}"),
                ("samples (ok)", f"{s['samples']} ({s['samples_ok']})"),
                ("circuit accuracy", fmt(s["accuracy"], " %", 100, 4)),
                ("software accuracy", fmt(s["software_accuracy"], " %", 100, 4)),
                ("software accuracy (unloaded neuron)", fmt(s["software_accuracy_unloaded"], " %", 100, 4)),
                ("mean power", fmt(s["mean_power_w"], " mW", 1e3))]
        rows += [(f"  {comp}", fmt(val, " mW", 1e3)) for comp, val in s["mean_power_by_component_w"].items()]
        rows += [("mean latency", fmt(s["mean_latency_s"], " ps", 1e12)),
                 ("worst latency", fmt(s["worst_latency_s"], " ps", 1e12)),
                 ("area", fmt(s["area_um2"]["total_um2"], " um^2")),
                 ("simulation time per sample (wall / CPU)", f'{fmt(s["simulation_s_per_sample"], " s")} / '
                                                              f'{fmt(s["simulation_cpu_s_per_sample"], " s")}'),
                 ("output folder", str(s["out_dir"]))]
        return [Table(title="IMAC evaluation", columns=("metric", "value"), rows=tuple(rows), show_header=False)]

    def notes(self) -> list[str]:
        return [f"warning: {w}" for w in self.warnings]

    def write_files(self, out_dir: Path) -> dict[str, Path]:
        """``samples.csv``: label, predictions, output voltages, power per component, latency per sample."""
        from imaclab.files import atomic_open

        n_out = self.outputs.shape[1]
        header = (["sample", "label", "predicted", "software_predicted", "ok"]
                  + [f"v_out{j}" for j in range(n_out)]
                  + ["power_w"] + [f"power_{k}_w" for k in POWER_COMPONENTS] + ["latency_s"])
        total = self.total_power_w
        first = getattr(getattr(self.job, "simulation", None), "first_sample", 0)
        path = Path(out_dir) / "samples.csv"
        with atomic_open(path, "w") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for i in range(self.n_samples):
                row = [first + i, int(self.labels[i]), int(self.predicted[i]), int(self.software_predicted[i]),
                       int(self.ok[i])]
                row += [f"{v:.6g}" for v in self.outputs[i]]
                row += [f"{total[i]:.6g}"] + [f"{self.power_w[k][i]:.6g}" for k in POWER_COMPONENTS]
                row += [f"{self.latency_s[i]:.6g}"]
                writer.writerow(row)
        return {"samples": path}


def evaluate(*, config: ImacConfig, model: MLPModel, dataset: Any, out_dir: str | Path | None = None,
             progress: bool = True, neuron_curve: NeuronCurve | None = None) -> ImacResult:
    """Evaluate ``model`` on ``dataset`` (an ``imaclab.data.datasets.Dataset`` or ``(x, y)`` with x in
    [0, 1]) through the IMAC circuit ``config`` describes."""
    start = time.perf_counter()
    if out_dir is not None:
        from imaclab.files import check_writable_dir

        # before any simulation; the folder's old run marker goes now, as its netlists are replaced
        check_writable_dir(out_dir)
        (Path(out_dir) / SUMMARY_FILE).unlink(missing_ok=True)
    x_all, y_all = _as_arrays(dataset)
    sim = config.simulation
    lo, hi = sim.first_sample, sim.first_sample + sim.samples
    if lo >= x_all.shape[0]:
        raise InputError(f"first_sample {lo} is past the end of the data set ({x_all.shape[0]} samples)")
    x, y = x_all[lo:hi], y_all[lo:hi]
    if x.shape[1] != model.layer_sizes[0]:
        raise InputError(f"the data have {x.shape[1]} features per sample but the model expects "
                         f"{model.layer_sizes[0]} inputs: crop or resize the data (e.g. --crop 20 for 400 inputs)")
    curve = neuron_curve
    if curve is None and resolve_convention(config.circuit.convention, model)[0] == "imaclab":
        # (imacsim builds IMAC-Sim's behavioral neuron with the circuit)
        curve = load_neuron_curve(config.neuron, sim.neuron_cache_dir, ngspice=sim.spice.ngspice_path)
    circuit = build_circuit(config, model, neuron_curve=curve)
    warnings = _consistency_warnings(config, model)
    conv = getattr(config, "converters", None)
    if conv is not None and conv.dac_bits is not None:
        from imaclab.solver.adc import dac_levels

        x = dac_levels(x, conv.dac_bits)
    v_in = circuit.encode(x)
    sw_out = np.asarray(circuit.ideal_forward(v_in))
    sw_pred = np.argmax(sw_out, axis=1)
    sw_unloaded_pred = np.argmax(circuit.ideal_forward(v_in, loaded=False), axis=1)
    if circuit.meta.get("convention_note"):
        warnings.insert(0, circuit.meta["convention_note"])
    warnings += convention_warnings(config, model, circuit, v_in, y, sw_pred)
    out_path = Path(out_dir) if out_dir is not None else None
    errors: list[str] = []
    latency_sim: dict = {}
    import tempfile

    if sim.backend == "spice":
        workdir = (out_path / "netlists") if out_path is not None else None

        tmp = None
        if workdir is None:
            tmp = tempfile.TemporaryDirectory(prefix="imaclab-spice-")
            workdir = Path(tmp.name)
        try:
            res = run_spice(circuit=circuit, samples_v=v_in, options=sim.spice, workdir=workdir, progress=progress)
        finally:
            if tmp is not None:
                tmp.cleanup()
        outputs, power, latency, ok = res.outputs, res.power_w, res.latency_s, res.ok
        sim_s, analysis, errors = res.ngspice_s, res.analysis, res.errors
        cpu_s = res.ngspice_cpu_s
        k = min(sim.spice.latency_samples, v_in.shape[0])
        if analysis == "dc" and k > 0:
            # latency needs a transient: run the first k samples again as one
            opts = sim.spice.with_overrides({"analysis": "tran", "samples_per_netlist": k})
            with tempfile.TemporaryDirectory(prefix="imaclab-spice-") as tmp_lat:
                lat_dir = (out_path / "netlists" / "latency") if out_path is not None else Path(tmp_lat)
                tran = run_spice(circuit=circuit, samples_v=v_in[:k], options=opts, workdir=lat_dir,
                                 progress=progress)
            latency = latency.copy()
            latency[:k] = tran.latency_s
            latency_sim = {"latency_samples": k, "latency_ngspice_s": tran.ngspice_s,
                           "latency_ngspice_cpu_s": tran.ngspice_cpu_s}
            errors = errors + tran.errors
    elif sim.backend == "fast":
        outputs, power, latency, ok, sim_s = _run_fast(circuit, v_in, config)
        analysis, cpu_s = "fast", sim_s
    else:
        raise ConfigError(f"unknown backend '{sim.backend}': use spice or fast")
    if conv is not None and conv.adc_bits is not None:
        # one ADC per reported column: the outputs, or the readout channels of a digital readout
        reference = circuit.ideal_readout(v_in) if circuit.digital_readout else sw_out
        outputs = _adc(outputs, reference, conv)
    outputs = circuit.combine_readout(outputs)  # the shift-and-add of the channels' codes
    pred = np.where(ok, np.argmax(np.nan_to_num(outputs, nan=-np.inf), axis=1), -1)
    result = ImacResult(labels=y, predicted=pred, software_predicted=sw_pred,
                        software_unloaded_predicted=sw_unloaded_pred, outputs=outputs,
                        software_outputs=sw_out, power_w=power, latency_s=latency, ok=ok,
                        area=circuit_area(circuit, config.area), circuit=circuit, backend=sim.backend,
                        analysis=analysis, simulation_s=float(sim_s), wall_s=time.perf_counter() - start,
                        simulation_cpu_s=float(cpu_s), latency_simulation=latency_sim,
                        out_dir=out_path, warnings=warnings, errors=errors, job=config)
    if out_path is not None:
        result.save(out_path)
    if errors:
        where = f"; results of {int(ok.sum())} samples written to {out_path}" if out_path else ""
        more = f" (+{len(errors) - 1} more failed netlists)" if len(errors) > 1 else ""
        raise SimulationError(f"{errors[0]}{more}{where}")
    return result


def _adc(outputs: np.ndarray, reference: np.ndarray, conv: Any) -> np.ndarray:
    """The reported columns as their ADCs read them (:mod:`imaclab.solver.adc`): ``reference``
    (the software reference of the same columns) sets a calibrated full scale."""
    from imaclab.solver.adc import adc_read, calibrated_full_scale

    fs = calibrated_full_scale(reference) if conv.adc_range == "calibrated" else float(conv.adc_range)
    return adc_read(outputs, conv.adc_bits, fs)


def _as_arrays(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(dataset, "x") and hasattr(dataset, "y"):
        x, y = dataset.x, dataset.y
    elif isinstance(dataset, (tuple, list)) and len(dataset) == 2:
        x, y = dataset
    else:
        raise InputError("dataset must be an imaclab Dataset or an (x, y) pair")
    x = np.asarray(x, dtype=np.float64)
    x = x.reshape(x.shape[0], -1)
    y = np.asarray(y, dtype=np.int64).reshape(-1)
    if x.shape[0] != y.shape[0]:
        raise InputError(f"{x.shape[0]} samples but {y.shape[0]} labels")
    return x, y


def convention_warnings(config: ImacConfig, model: MLPModel, circuit: NetworkCircuit, v_in: np.ndarray,
                        y: np.ndarray, sw_pred: np.ndarray) -> list[str]:
    """A warning when the software reference (the circuit's own ideal) scores near chance: the
    network does not fit the circuit convention.  The other convention's software accuracy is
    computed too (with the behavioral neuron where imacsim needs it) and named when it fits."""
    n_cls = max(circuit.n_outputs, 2)
    chance = 1.0 / n_cls
    if y.size < 5 or float(np.mean(sw_pred == y)) > chance + 0.15 * (1.0 - chance):
        return []
    acc = float(np.mean(sw_pred == y))
    other = "imaclab" if circuit.convention == "imacsim" else "imacsim"
    text = (f"the software reference scores {100 * acc:.1f} % (chance {100 * chance:.0f} %) in the "
            f"{circuit.convention} circuit convention: the network does not fit it")
    try:
        cfg = config.with_overrides({"circuit.convention": other})
        if other == "imacsim":
            cfg = cfg.with_overrides({"neuron.kind": "behavioral"})
        alt = build_circuit(cfg, model, neuron_curve=None if other == "imacsim" else circuit.neuron_curve)
        alt_acc = float(np.mean(np.argmax(alt.ideal_forward(v_in), axis=1) == y))
    except ImaclabError:
        return [text]
    if alt_acc > acc + 0.15:
        return [f"{text}; in the {other} convention it scores {100 * alt_acc:.1f} %: use --convention {other} "
                f"(circuit.convention)"]
    return [text]


def _consistency_warnings(config: ImacConfig, model: MLPModel) -> list[str]:
    """Differences between what the model was trained for and the circuit it runs on: for a model
    that carries its circuit settings (``network_config``), the one line naming the fields set
    otherwise; for an older export, the fields it records."""
    from imaclab.imac.model_io import trained_settings, trained_settings_notice

    if trained_settings(model) is not None:
        notice = trained_settings_notice(config, model)
        return [notice] if notice else []
    meta = model.meta or {}
    out = []
    checks = (("vdd_v", config.neuron.vdd_v), ("r_low_ohm", config.devices.r_low_ohm),
              ("r_high_ohm", config.devices.r_high_ohm), ("input_mode", config.inputs.mode))
    for key, used in checks:
        if key in meta and meta[key] != used and not (isinstance(used, float) and
                                                      abs(float(meta[key]) - used) <= 1e-9 * abs(used)):
            out.append(f"model trained with {key}={meta[key]}, circuit uses {used}")
    trained = (meta.get("neuron_config") or {}).get("kind")
    if trained and trained != config.neuron.kind:
        out.append(f"model trained with a {trained} neuron, circuit uses {config.neuron.kind}")
    return out


def _run_fast(circuit: NetworkCircuit, v_in: np.ndarray, config: ImacConfig):
    """The sparse nodal solver (``imaclab.solver``) on the same circuit description."""
    from imaclab.solver.forward import simulate

    options = config.simulation.solver_options()
    t0 = time.perf_counter()
    sol = simulate(circuit, v_in, options=options)
    sim_s = time.perf_counter() - t0
    outputs = np.asarray(sol.outputs, dtype=np.float64)
    n = outputs.shape[0]
    power = {k: np.asarray(sol.power_w.get(k, np.zeros(n)), dtype=np.float64) for k in POWER_COMPONENTS}
    latency = np.asarray(sol.latency_s, dtype=np.float64)
    return outputs, power, latency, np.asarray(sol.ok, dtype=bool), sim_s
