"""Run a circuit's samples through ngspice: batches, parallel processes, raw parsing, measures.

``run_spice(circuit=..., samples_v=..., options=..., workdir=...)`` splits the samples into
netlists of ``samples_per_netlist``, runs them ``workers`` at a time (each is an ngspice
process) with a progress bar, reads every raw file and returns per-sample measures
(:class:`SpiceResult`).  A batch that fails (no convergence, missing model, ngspice missing)
is recorded with its one-line error; the other batches' results are kept.

Measures per sample (from raw vectors only):

* outputs -- the network outputs at the end of the sample's period (``tran``) or at its DC
  solution (``dc``);
* power per component, averaged over the period (``tran``) or at the DC point:
  crossbars = input drivers + bias rows + rows driven by the previous layer's neurons/buffers
  (the power entering the arrays); amplifiers = power their outputs deliver (+ static);
  neurons = neuron supply power minus what they deliver to the next crossbar; buffers =
  buffer output-resistance loss;
* latency (``tran`` only) -- the time from the start of the period until every output stays
  within ``settle_tolerance`` x |final| (or ``settle_floor_v``, whichever is larger) of its
  end-of-period value.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from imaclab.progress import progress_line
from imaclab.circuit.description import NetworkCircuit
from imaclab.circuit.measures import CircuitMeasures
from imaclab.circuit.netlist import Netlist, write_netlist
from imaclab.config import ConfigModel
from imaclab.devices.ngspice_io import RawPlot, find_ngspice, kill_running, run_ngspice
from imaclab.errors import ImaclabError, SimulationError
from imaclab.files import write_text

POWER_COMPONENTS = ("crossbars", "amplifiers", "neurons", "buffers")
#: Best case of ngspice's transient speed, time steps per second (a small circuit on a fast
#: core; real netlists are slower): a run needing more steps than this times its time limit
#: cannot finish and is refused before it starts.
MAX_STEPS_PER_S = 1e6


class SpiceOptions(ConfigModel):
    """How the SPICE backend writes and runs netlists."""

    analysis: Literal["dc", "tran"] = Field("dc", description="dc: one DC solution per sample (fast: accuracy, "
                                                              "power); tran: transient (adds latency)")
    dialect: Literal["ngspice", "hspice"] = Field("ngspice", description="netlist dialect; only ngspice "
                                                                         "netlists are run here")
    samples_per_netlist: int = Field(50, ge=1, description="samples simulated by one ngspice process")
    workers: int = Field(2, ge=1, description="ngspice processes run in parallel")
    timeout_s: float = Field(21600.0, gt=0, description="wall-clock limit of one ngspice process, seconds (a "
                                                          "full 400-120-84-10 netlist ran past 1 h on a loaded "
                                                          "machine)")
    ngspice_path: str | None = Field(None, description="ngspice executable (None = 'ngspice' on PATH)")
    tran_step_s: float | None = Field(None, gt=0, description="transient time step, seconds "
                                                              "(None = sampling period / 100)")
    settle_tolerance: float = Field(0.01, gt=0, lt=1, description="latency: outputs within this fraction "
                                                                  "of their final value")
    settle_floor_v: float = Field(1e-3, ge=0, description="latency: absolute settling band floor, volts "
                                                          "(for outputs that end near 0 V)")
    keep_raw: bool = Field(False, description="keep the raw files after reading them")
    latency_samples: int = Field(0, ge=0, description="with analysis dc: also run the first N samples as a "
                                                      "transient to measure their latency")


@dataclass
class BatchOutcome:
    index: int
    netlist: Path
    samples: np.ndarray          # sample indices in this batch
    ok: bool
    error: str = ""
    ngspice_s: float = 0.0
    ngspice_cpu_s: float = 0.0


@dataclass(kw_only=True)
class SpiceResult(CircuitMeasures):
    """Per-sample measures of a SPICE run (NaN where a batch failed); ``batches`` holds a
    :class:`BatchOutcome` per netlist."""


class SpiceInterrupted(KeyboardInterrupt):
    """A SPICE run interrupted (Ctrl-C) before every batch finished.

    ``partial`` is the :class:`SpiceResult` of the batches that finished (the others NaN,
    ``ok`` False), also written to ``partial_path`` (``<workdir>/partial.npz``); ``str(err)``
    says how many finished and where they are (also printed on stderr when raised).  Exit
    code 130, as for any interruption.  A :class:`KeyboardInterrupt`, not an ``Exception``:
    code that records a failed job and goes on (``except Exception``) must not swallow an
    interruption.
    """

    exit_code = 130

    def __init__(self, message: str, partial: SpiceResult | None = None, partial_path: Path | None = None):
        super().__init__(message)
        self.partial = partial
        self.partial_path = partial_path


def run_spice(*, circuit: NetworkCircuit, samples_v: np.ndarray, options: SpiceOptions, workdir: str | Path,
              progress: bool = True) -> SpiceResult:
    """Simulate every sample of ``samples_v`` [n, n_inputs] (volts) and measure it."""
    samples_v = np.atleast_2d(np.asarray(samples_v, dtype=np.float64))
    n = samples_v.shape[0]
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if options.dialect != "ngspice":
        raise SimulationError(f"only ngspice netlists can be run here (dialect '{options.dialect}'): "
                              "write HSPICE netlists with `imaclab imac netlist --dialect hspice` and run them "
                              "in HSPICE")
    exe = find_ngspice(options.ngspice_path)
    per = options.samples_per_netlist
    if options.analysis == "tran":
        check_transient_steps(circuit, min(per, n), options)
    chunks = [np.arange(k, min(k + per, n)) for k in range(0, n, per)]
    outputs = np.full((n, circuit.n_readout), np.nan)
    power = {k: np.full(n, np.nan) for k in POWER_COMPONENTS}
    latency = np.full(n, np.nan)
    ok = np.zeros(n, dtype=bool)
    start = time.perf_counter()
    netlists: list[tuple[int, Netlist, Path]] = []
    for b, idx in enumerate(chunks):
        nl = write_netlist(circuit, samples_v[idx], analysis=options.analysis, dialect="ngspice",
                           title=f"imaclab IMAC network, batch {b} (samples {idx[0]}..{idx[-1]})",
                           tran_step_s=options.tran_step_s)
        path = workdir / f"batch_{b:04d}.sp"
        write_text(path, nl.text)  # kept beside the results: written whole or not at all
        netlists.append((b, nl, path))

    def work(item: tuple[int, Netlist, Path]) -> tuple[BatchOutcome, dict | None]:
        b, nl, path = item
        idx = chunks[b]
        try:
            run = run_ngspice(path, path.with_suffix(".raw"), timeout_s=options.timeout_s, ngspice=exe)
            plot = run.plots[-1] if run.plots else None
            if plot is None:
                raise SimulationError(f"{path}: ngspice wrote an empty raw file; see {path.stem}.log")
            meas = measure(plot, nl, circuit, options)
            if not options.keep_raw:
                run.raw_path.unlink(missing_ok=True)
            return BatchOutcome(b, path, idx, True, ngspice_s=run.wall_s, ngspice_cpu_s=run.cpu_s), meas
        except ImaclabError as err:
            return BatchOutcome(b, path, idx, False, error=str(err)), None

    outcomes: list[BatchOutcome] = []
    bar = _progress(progress, len(chunks), n)

    def result() -> SpiceResult:
        outcomes.sort(key=lambda o: o.index)
        return SpiceResult(outputs=outputs, power_w=power, latency_s=latency, ok=ok, batches=outcomes,
                           netlists=[p for _, _, p in netlists], ngspice_s=sum(o.ngspice_s for o in outcomes),
                           ngspice_cpu_s=sum(o.ngspice_cpu_s for o in outcomes),
                           wall_s=time.perf_counter() - start, analysis=options.analysis,
                           errors=[o.error for o in outcomes if not o.ok])

    with bar as prog:
        task = prog.add_task("ngspice", total=n) if prog is not None else None
        pool = ThreadPoolExecutor(max_workers=max(1, min(options.workers, len(chunks))))
        futures = []
        try:
            futures = [pool.submit(work, item) for item in netlists]
            for fut in as_completed(futures):
                outcome, meas = fut.result()
                outcomes.append(outcome)
                if meas is not None:
                    idx = outcome.samples
                    outputs[idx] = meas["outputs"]
                    for k in POWER_COMPONENTS:
                        power[k][idx] = meas["power"][k]
                    latency[idx] = meas["latency"]
                    ok[idx] = True
                if prog is not None:
                    prog.update(task, advance=len(outcome.samples))
        except KeyboardInterrupt:
            # keep what finished; end the running ngspice processes and start no others
            pool.shutdown(wait=False, cancel_futures=True)
            while not all(f.done() for f in futures):
                kill_running()
                time.sleep(0.05)
            raise _interrupted(result(), workdir, len(chunks)) from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return result()


def _interrupted(partial: SpiceResult, workdir: Path, n_batches: int) -> SpiceInterrupted:
    """The interruption error, with the finished batches' measures written to ``partial.npz``."""
    from imaclab.files import write_npz

    done = sum(1 for o in partial.batches if o.ok)
    path = workdir / "partial.npz"
    where = "none finished"
    try:
        write_npz(path, outputs=partial.outputs, ok=partial.ok, latency_s=partial.latency_s,
                  **{f"power_{k}_w": v for k, v in partial.power_w.items()})
        where = f"their measures are in {path}" if done else f"none finished ({path})"
    except ImaclabError as err:
        where = f"their measures could not be written ({err})"
    message = (f"interrupted: {done} of {n_batches} ngspice batches finished ({int(partial.ok.sum())} of "
               f"{partial.ok.size} samples); {where}; the netlists are in {workdir}")
    progress_line(message)
    return SpiceInterrupted(message, partial, path)


def check_transient_steps(circuit: NetworkCircuit, samples: int, options: SpiceOptions) -> float:
    """The time steps of one netlist's transient; refuses (ConfigError, one line) a run that
    cannot finish within ``options.timeout_s`` even at :data:`MAX_STEPS_PER_S`."""
    from imaclab.circuit.netlist import DEFAULT_TRAN_STEPS_PER_PERIOD
    from imaclab.errors import ConfigError

    period = circuit.sampling_period_s
    step = options.tran_step_s or period / DEFAULT_TRAN_STEPS_PER_PERIOD
    steps = samples * period / step
    if steps > options.timeout_s * MAX_STEPS_PER_S:
        raise ConfigError(f"a transient of {steps:.3g} time steps per netlist ({samples} samples x {period:.3g} s at "
                          f"tran_step_s {step:.3g} s) cannot finish within the {options.timeout_s:.0f} s limit "
                          f"(ngspice manages at most ~{MAX_STEPS_PER_S:.0e} steps/s): use a larger step "
                          f"(--set simulation.spice.tran_step_s=SECONDS; default: the sampling period / "
                          f"{DEFAULT_TRAN_STEPS_PER_PERIOD}) or fewer samples per netlist")
    return steps


class _NoBar:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


class _PlainProgress:
    """Progress without a terminal (logs, pipes): one stderr line per finished tenth of the samples."""

    def __init__(self, n_batches: int, n: int) -> None:
        self.n_batches, self.n, self.done, self.next_line = n_batches, n, 0, 0.1
        self.start = time.perf_counter()

    def __enter__(self) -> _PlainProgress:
        progress_line(f"ngspice: {self.n} samples in {self.n_batches} netlist(s)")
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: int) -> int:
        return 0

    def update(self, task: int, advance: int) -> None:
        self.done += advance
        if self.done >= self.next_line * self.n or self.done == self.n:
            progress_line(f"ngspice: {self.done}/{self.n} samples ({time.perf_counter() - self.start:.0f} s)")
            while self.next_line * self.n <= self.done:
                self.next_line += 0.1


def _progress(enabled: bool, n_batches: int, n: int):
    if not enabled:
        return _NoBar()
    if not sys.stderr.isatty():
        return _PlainProgress(n_batches, n)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn(f"samples in {n_batches} netlist(s)"), TimeElapsedColumn(), transient=True)


# ---------------------------------------------------------------------------- measures
def measure(plot: RawPlot, nl: Netlist, circuit: NetworkCircuit, options: SpiceOptions) -> dict:
    """Per-sample outputs, power per component and latency from one raw plot."""
    n = nl.n_samples
    if nl.analysis == "dc":
        if plot.n_points != n:
            raise SimulationError(f"{plot.title}: expected {n} DC points, raw file has {plot.n_points}; "
                                  "ngspice stopped early (see the .log)")
        outs = np.stack([plot[f"v({node})"] for node in nl.output_nodes], axis=1)
        inst = _instantaneous_power(plot, nl, circuit)
        power = {k: v for k, v in inst.items()}
        return {"outputs": outs, "power": power, "latency": np.full(n, np.nan)}
    t = plot["time"].real
    period = nl.period_s
    if t[-1] < nl.t_stop_s * (1 - 1e-6):
        raise SimulationError(f"{plot.title}: transient stopped at {t[-1]:.3g} s of {nl.t_stop_s:.3g} s "
                              "(did not converge); see the .log")
    vouts = np.stack([plot[f"v({node})"] for node in nl.output_nodes], axis=1)
    inst = _instantaneous_power(plot, nl, circuit)
    outs = np.zeros((n, vouts.shape[1]))
    power = {k: np.zeros(n) for k in POWER_COMPONENTS}
    latency = np.zeros(n)
    for k in range(n):
        t0, t1 = k * period, (k + 1) * period
        outs[k] = [np.interp(t1, t, vouts[:, j]) for j in range(vouts.shape[1])]
        mask = (t >= t0) & (t <= t1)
        tt = t[mask]
        for comp in POWER_COMPONENTS:
            # energy over the period / period (trapezoid on the simulator's own time points)
            power[comp][k] = (np.trapezoid(inst[comp][mask], tt) / (tt[-1] - tt[0]) if tt.size > 1
                              else inst[comp][mask][0])
        latency[k] = settling_time(tt - t0, vouts[mask], outs[k], options.settle_tolerance, options.settle_floor_v)
    return {"outputs": outs, "power": power, "latency": latency}


def settling_time(t: np.ndarray, v: np.ndarray, final: np.ndarray, tolerance: float, floor_v: float) -> float:
    """Last time any output of ``v`` [n_t, n_out] is outside its band around ``final``."""
    band = np.maximum(tolerance * np.abs(final), floor_v)
    outside = np.any(np.abs(v - final[None, :]) > band[None, :], axis=1)
    if not outside.any():
        return 0.0
    last = int(np.nonzero(outside)[0][-1])
    if last + 1 >= t.size:
        return float(t[-1])
    return float(t[last + 1])


def _instantaneous_power(plot: RawPlot, nl: Netlist, circuit: NetworkCircuit) -> dict[str, np.ndarray]:
    npts = plot.n_points
    zero = np.zeros(npts)
    p_inputs = sum((plot[f"v({node})"] * plot[f"i({meter})"] for meter, node in nl.input_meters), zero.copy())
    p_bias = sum((circuit.bias_v * -plot[f"i({src})"] for src, _ in nl.bias_sources), zero.copy())
    p_rows = sum((plot[f"v({node})"] * plot[f"i({meter})"] for _, meter, node in nl.row_meters), zero.copy())
    p_amp = sum((plot[f"v({node})"] * plot[f"i({meter})"] for _, meter, node in nl.amp_meters), zero.copy())
    n_amps = sum(len(lay.amplifiers) for lay in circuit.layers)
    p_amp = p_amp + circuit.amplifier_static_power_w * n_amps
    supply = {"vnp": circuit.supply_v, "vnn": -circuit.supply_v}
    p_supply = sum((supply[src[:3]] * -plot[f"i({src})"] for _, src, _ in nl.neuron_supplies), zero.copy())
    if circuit.neuron.kind == "transistor":
        p_neurons = p_supply - (p_rows if circuit.loading == "direct" else 0.0)
    else:
        p_neurons = zero.copy()  # ideal source: what it delivers is counted where it is dissipated
    p_buffers = sum(((plot[f"v({src})"] - plot[f"v({drive})"]) * plot[f"i({meter})"]
                     for _, meter, src, drive in nl.buffer_meters if src != drive), zero.copy())
    return {"crossbars": p_inputs + p_bias + p_rows, "amplifiers": p_amp, "neurons": p_neurons,
            "buffers": p_buffers}
