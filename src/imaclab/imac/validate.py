"""Cross-check the fast solver against ngspice on the same circuit and samples.

``validate(config=..., model=..., dataset=..., samples=N)`` builds the circuit once, runs
the fast backend (:func:`imaclab.solver.simulate`) and ngspice (:func:`imaclab.spice.run_spice`)
on the same encoded samples and reports:

* the largest absolute difference of any output voltage (bound: 1 mV);
* the samples whose predicted class differs (bound: none);
* the largest relative difference of the total power per sample (bound: 1 %), both at the
  DC solution (the SPICE ``dc`` analysis), and per component relative to the total;
* with ``latency_samples = M > 0``: an ngspice transient of the first M samples (time step
  ``tran_step_s``, default rise time / 50) against the solver's latency estimate, the
  largest relative difference (bound: 10 %);
* the time per sample of each backend, measured in the same run.

``imaclab.imac.run(ValidateJob(model=..., samples=N))`` does the same from files.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imaclab.circuit.description import NetworkCircuit, build_circuit, resolve_convention
from imaclab.circuit.mlp import MLPModel
from imaclab.devices.neuron import load_neuron_curve
from imaclab.errors import InputError, SimulationError
from imaclab.imac.config import ImacConfig
from imaclab.result import Result, Table

#: Acceptance bounds of the cross-check (issue 5): outputs, power, latency.
MAX_OUTPUT_DIFF_V = 1e-3
MAX_POWER_REL_DIFF = 0.01
MAX_LATENCY_REL_DIFF = 0.10
#: Transient step of the latency cross-check, as a fraction of the input rise time.
_TRAN_STEPS_PER_RISE = 50


@dataclass
class ValidateResult(Result):
    """Figures of one fast-vs-SPICE cross-check (see the module docstring); ``passed`` is all checks."""

    kind = "imac.validate"

    circuit: dict
    samples: int
    max_output_diff_v: float
    class_mismatches: int
    max_power_rel_diff: float
    max_component_rel_diff: dict[str, float]
    latency_samples: int
    max_latency_rel_diff: float
    mean_latency_rel_diff: float
    fast_s_per_sample: float
    spice_dc_s_per_sample: float
    spice_tran_s_per_sample: float
    outputs_fast: np.ndarray = field(repr=False)
    outputs_spice: np.ndarray = field(repr=False)
    power_fast_w: np.ndarray = field(repr=False)
    power_spice_w: np.ndarray = field(repr=False)
    latency_fast_s: np.ndarray = field(repr=False)
    latency_spice_s: np.ndarray = field(repr=False)
    warnings: list[str] = field(default_factory=list)
    #: the :class:`~imaclab.imac.ValidateJob` (or the ImacConfig) that produced it
    job: Any = None
    wall_s: float = float("nan")

    @property
    def checks(self) -> dict[str, bool]:
        out = {"outputs within 1 mV": self.max_output_diff_v <= MAX_OUTPUT_DIFF_V,
               "identical classes": self.class_mismatches == 0,
               "power within 1 %": self.max_power_rel_diff <= MAX_POWER_REL_DIFF}
        if self.latency_samples:
            out["latency within 10 %"] = self.max_latency_rel_diff <= MAX_LATENCY_REL_DIFF
        return out

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    @property
    def speedup_dc(self) -> float:
        return self.spice_dc_s_per_sample / self.fast_s_per_sample if self.fast_s_per_sample > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {"circuit": self.circuit, "samples": self.samples, "max_output_diff_v": self.max_output_diff_v,
                "class_mismatches": self.class_mismatches, "max_power_rel_diff": self.max_power_rel_diff,
                "max_component_rel_diff": self.max_component_rel_diff, "latency_samples": self.latency_samples,
                "max_latency_rel_diff": self.max_latency_rel_diff,
                "mean_latency_rel_diff": self.mean_latency_rel_diff,
                "fast_s_per_sample": self.fast_s_per_sample, "spice_dc_s_per_sample": self.spice_dc_s_per_sample,
                "spice_tran_s_per_sample": self.spice_tran_s_per_sample, "speedup_dc": self.speedup_dc,
                "checks": self.checks, "passed": self.passed, "warnings": self.warnings,
                "latency_fast_s": self.latency_fast_s.tolist(), "latency_spice_s": self.latency_spice_s.tolist(),
                **({"model": self.job.model, "data": self.job.data, "wall_s": self.wall_s}
                   if hasattr(self.job, "model") else {})}

    def tables(self) -> list[Table]:
        c = self.circuit
        rows = [("network", "-".join(map(str, c["layer_sizes"]))), ("crossbar", c["crossbar"]),
                ("partitions", str(c["partitions"])),
                ("parasitics", f"R={c['parasitics']['r']} C={c['parasitics']['c']}"),
                ("variation", str(c["variation"])), ("weights / neurons", f"{c['weight_kind']} / {c['neuron']}"),
                ("samples", str(self.samples)),
                ("max |dV_out|", f"{self.max_output_diff_v * 1e3:.4g} mV"),
                ("class mismatches", str(self.class_mismatches)),
                ("max power difference", f"{self.max_power_rel_diff * 100:.3g} %")]
        if self.latency_samples:
            rows += [("transient samples", str(self.latency_samples)),
                     ("latency difference max / mean", f"{self.max_latency_rel_diff * 100:.3g} % / "
                                                       f"{self.mean_latency_rel_diff * 100:.3g} %")]
        rows += [("fast, per sample", f"{self.fast_s_per_sample:.3g} s"),
                 ("ngspice DC, per sample", f"{self.spice_dc_s_per_sample:.3g} s ({self.speedup_dc:.3g}x)")]
        if self.latency_samples:
            rows.append(("ngspice transient, per sample", f"{self.spice_tran_s_per_sample:.3g} s"))
        checks = tuple(("PASS" if ok else "FAIL", name) for name, ok in self.checks.items())
        return [Table(title="fast solver vs ngspice", columns=("quantity", "value"), rows=tuple(rows),
                      show_header=False),
                Table(title="checks", columns=("result", "check"), rows=checks, text_columns=2, show_header=False)]

    def notes(self) -> list[str]:
        return [f"warning: {w}" for w in self.warnings] + super().notes()

    def write_report(self, path: str | Path) -> Path:
        """The report as one JSON file, atomic (``imac validate -o FILE``; a run folder's ``summary.json``
        holds the same)."""
        from imaclab.files import write_json

        return write_json(path, self.to_dict())


def _as_inputs(dataset: Any, samples: int) -> np.ndarray:
    x = dataset.x if hasattr(dataset, "x") else dataset[0] if isinstance(dataset, (tuple, list)) else dataset
    x = np.asarray(x, dtype=np.float64)
    x = x.reshape(x.shape[0], -1)[:samples]
    if x.shape[0] < 1:
        raise InputError("no samples to validate")
    return x


def circuit_summary(circuit: NetworkCircuit, config: ImacConfig) -> dict:
    """What the cross-check covered (shape, partitions, parasitics, variation, weights, neuron)."""
    dev = config.devices
    par = circuit.parasitics
    return {"layer_sizes": circuit.layer_sizes, "crossbar": f"{circuit.crossbar_rows}x{circuit.crossbar_columns}",
            "partitions": [[len(lay.row_partitions), len(lay.col_partitions)] for lay in circuit.layers],
            "parasitics": {"r": par.input_line_r_ohm > 0 or par.output_line_r_ohm > 0,
                           "c": par.input_line_c_f > 0 or par.output_line_c_f > 0},
            "variation": dev.variation_uniform_pct > 0 or dev.variation_sigma_pct > 0
                         or dev.stuck_at_low_rate > 0 or dev.stuck_at_high_rate > 0 or not _static(dev),
            "weight_kind": circuit.meta.get("weight_kind"), "neuron": circuit.neuron.kind,
            "join": circuit.join, "loading": circuit.loading}


def _static(dev: Any) -> bool:
    from imaclab.devices.aging import is_static

    return is_static(dev)


def validate(*, config: ImacConfig, model: MLPModel, dataset: Any, samples: int, latency_samples: int = 0,
             tran_step_s: float | None = None, workdir: str | Path | None = None,
             progress: bool = False) -> ValidateResult:
    """Run both backends on the first ``samples`` samples of ``dataset`` and compare them."""
    from imaclab.solver import simulate
    from imaclab.spice.runner import POWER_COMPONENTS, run_spice

    if samples < 1:
        raise InputError(f"--samples must be >= 1, got {samples}")
    if latency_samples < 0:
        raise InputError(f"--latency-samples must be >= 0, got {latency_samples}")
    sim = config.simulation
    x = _as_inputs(dataset, samples)
    curve = None if resolve_convention(config.circuit.convention, model)[0] == "imacsim" else \
        load_neuron_curve(config.neuron, sim.neuron_cache_dir, ngspice=sim.spice.ngspice_path)
    circuit = build_circuit(config, model, neuron_curve=curve)
    if x.shape[1] != circuit.n_inputs:
        raise InputError(f"the data have {x.shape[1]} features but the model expects {circuit.n_inputs}: "
                         "use --crop/--resize")
    v_in = circuit.encode(x)
    n = v_in.shape[0]
    m = min(latency_samples, n)
    options = sim.solver_options(latency=m > 0)
    from imaclab.solver import prepare

    plan = prepare(circuit, options)
    dc_options = options.with_overrides({"latency": False})
    table = plan.neuron
    fast = simulate(circuit, v_in, options=dc_options, plan=plan)
    if plan.neuron is not table:
        # the solve widened the neuron table (an input left its range: a one-off, cached
        # characterization inside the timed call): solve again for the solver's own time
        fast = simulate(circuit, v_in, options=dc_options, plan=plan)
    fast_s = fast.wall_s
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="imaclab-validate-")
        workdir = tmp.name
    workdir = Path(workdir)
    warnings: list[str] = []
    try:
        dc_opts = sim.spice.with_overrides({"analysis": "dc"})
        spice = run_spice(circuit=circuit, samples_v=v_in, options=dc_opts, workdir=workdir / "dc", progress=progress)
        if spice.errors:
            raise SimulationError(f"ngspice failed on the DC cross-check: {spice.errors[0]}")
        lat_fast = np.full(m, np.nan)
        lat_spice = np.full(m, np.nan)
        tran_s = float("nan")
        if m:
            lat = simulate(circuit, v_in[:m], options=options, plan=plan)
            lat_fast = lat.latency_s
            step = tran_step_s or circuit.rise_time_s / _TRAN_STEPS_PER_RISE
            tran_opts = sim.spice.with_overrides({"analysis": "tran", "tran_step_s": step})
            tran = run_spice(circuit=circuit, samples_v=v_in[:m], options=tran_opts, workdir=workdir / "tran",
                             progress=progress)
            if tran.errors:
                raise SimulationError(f"ngspice failed on the transient cross-check: {tran.errors[0]}")
            lat_spice = tran.latency_s
            tran_s = tran.ngspice_s / m
            unsettled = int(np.sum(lat_spice >= circuit.sampling_period_s * (1 - 1e-6)))
            if unsettled:
                warnings.append(f"{unsettled} transient sample(s) did not settle within the sampling period "
                                f"({circuit.sampling_period_s:g} s): raise inputs.sampling_period_s")
    finally:
        if tmp is not None:
            tmp.cleanup()
    diff = np.abs(fast.outputs - spice.outputs)
    # (a digital readout reports its channels: the classes come from their digital sum)
    mismatches = int(np.sum(np.argmax(circuit.combine_readout(fast.outputs), axis=1)
                            != np.argmax(circuit.combine_readout(spice.outputs), axis=1)))
    p_fast, p_spice = fast.total_power_w, spice.total_power_w
    comp = {k: float(np.max(np.abs(fast.power_w[k] - spice.power_w[k]) / np.abs(p_spice))) for k in POWER_COMPONENTS}
    if m:
        moved = lat_spice > 0
        rel = np.where(moved, np.abs(lat_fast - lat_spice) / np.where(moved, lat_spice, 1.0),
                       (lat_fast > 0).astype(float))
        lat_max, lat_mean = float(rel.max()), float(rel.mean())
    else:
        lat_max = lat_mean = float("nan")
    if circuit.meta.get("convention_note"):
        warnings.insert(0, circuit.meta["convention_note"])
    return ValidateResult(circuit=circuit_summary(circuit, config), samples=n,
                            max_output_diff_v=float(diff.max()), class_mismatches=mismatches,
                            max_power_rel_diff=float(np.max(np.abs(p_fast - p_spice) / np.abs(p_spice))),
                            max_component_rel_diff=comp, latency_samples=m, max_latency_rel_diff=lat_max,
                            mean_latency_rel_diff=lat_mean, fast_s_per_sample=fast_s / n,
                            spice_dc_s_per_sample=spice.ngspice_s / n, spice_tran_s_per_sample=tran_s,
                            outputs_fast=fast.outputs, outputs_spice=spice.outputs, power_fast_w=p_fast,
                            power_spice_w=p_spice, latency_fast_s=lat_fast, latency_spice_s=lat_spice,
                            warnings=warnings, job=config)
