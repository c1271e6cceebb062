"""The fast backend: the steady state of the whole network, batched over samples.

``simulate(circuit, input_volts)`` returns per-sample outputs, power per component and
latency, with the measures the SPICE runner (:mod:`imaclab.spice.runner`) defines:

* outputs: the last layer's output nodes at the DC solution;
* power, watts, at the DC solution (the runner's ``_instantaneous_power``):
  ``crossbars`` = input drivers (``v(x_i) i_i``, i.e. including the driver resistance)
  + bias sources + rows driven by neurons/buffers (power entering the arrays at the row
  driver nodes); ``amplifiers`` = power their outputs deliver into the neuron pins + static
  power per amplifier; ``neurons`` = neuron supply power minus what directly driven rows
  take (transistor neurons; ideal behavioral sources count 0); ``buffers`` = buffer
  output-resistance loss;
* latency: see :mod:`imaclab.solver.latency`.

Per layer: source voltages ``s`` -> amplifier currents ``s A^T`` (exact map from
:mod:`imaclab.solver.reduction`) -> ideal amplifiers -> neurons (behavioral: ideal source;
transistor: Newton with the next layer's source admittance as load) -> next layer.

Read noise per sample (``devices.read_noise_draw: sample``, :attr:`LayerCircuit.read_sigma`):
each amplifier output gets ``sqrt(v^2 @ V_amp) z`` with ``V_amp`` from
:mod:`imaclab.solver.read_noise` and ``z ~ N(0, 1)`` drawn per sample and amplifier, from the generator
``[devices.seed, READ_NOISE_STREAM, layer]`` in sample order (the same draws whatever the batch
size or thread count).  The latency is estimated on the noiseless solution.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Literal, cast

import numpy as np
from pydantic import Field

from imaclab.circuit.description import NetworkCircuit
from imaclab.circuit.measures import CircuitMeasures
from imaclab.config import ConfigModel
from imaclab.devices.neuron_loaded import DEFAULT_CURRENT_POINTS, DEFAULT_PIN_STEP_V, LoadedNeuronTable, NeuronDynamics
from imaclab.errors import InputError, SimulationError
from imaclab.solver import kernels
from imaclab.solver.backend import cpu_threads, get_backend, map_batches
from imaclab.solver.blocks import BlockProduct
from imaclab.solver.neurons import BehavioralNeuron, NeuronLoad, NewtonSettings, TransistorNeuron, solve_loaded
from imaclab.solver.read_noise import layer_read_variance
from imaclab.solver.reduction import LayerMap, reduce_network

#: Power components, in the SPICE runner's order (imaclab.spice.runner.POWER_COMPONENTS).
POWER_COMPONENTS = ("crossbars", "amplifiers", "neurons", "buffers")
#: Bound on a neuron's output magnitude relative to VDD when sizing the loaded table's current
#: range (a loaded output stays within the rails; the margin covers injected current).
_OUTPUT_BOUND_PER_VDD = 1.25
#: Default samples per batch (measured on the 400-120-84-10 benchmark, numpy with the compiled
#: kernels: 512 keeps a batch's [samples x neurons] arrays in cache, 6 % faster than 256 on one
#: thread and 10 % on two, 8192 is 1.5-2x slower; a GPU wants large batches).
_CPU_BATCH = 512
_GPU_BATCH = 8192
#: Stream tag of the per-sample read-noise generator (apart from the devices' per-layer streams).
READ_NOISE_STREAM = 104729


class SolverOptions(ConfigModel):
    """How the fast backend computes."""

    array_backend: Literal["numpy", "torch"] = Field("numpy", description="numpy, or torch (uses a GPU when "
                                                                         "present with device auto)")
    device: str = Field("auto", description="torch device: auto (cuda if available, else cpu), cpu, cuda, cuda:N")
    batch_size: int | None = Field(None, ge=1, description="samples solved together; None: 512 on a CPU (each "
                                                               "layer's working set stays in cache: 1.5-2x faster "
                                                               "than 8192 with numpy), 8192 on a GPU")
    latency: bool = Field(True, description="estimate the latency of every sample (see imaclab.solver.latency)")
    settle_tolerance: float = Field(0.01, gt=0, lt=1, description="latency: outputs within this fraction of "
                                                                  "their final value (as the SPICE runner)")
    settle_floor_v: float = Field(1e-3, ge=0, description="latency: absolute settling band floor, volts")
    newton_tolerance_v: float = Field(NewtonSettings.tolerance_v, gt=0,
                                      description="transistor neurons: error left in the neuron outputs "
                                                  "when Newton stops (estimated from the last two "
                                                  "steps), volts; 1e-5: 1/100 of the validation bound, "
                                                  "1/10 of the neuron table's interpolation error, 80x "
                                                  "tighter than ngspice's own convergence test at 0.8 V "
                                                  "(reltol 1e-3 |v| + vntol 1e-6)")
    neuron_cache_dir: str | None = Field(None, description="cache folder of neuron characterizations "
                                                           "(None = ~/.cache/imaclab/neuron)")
    neuron_pin_step_v: float = Field(DEFAULT_PIN_STEP_V, gt=0, le=0.05,
                                     description="pin-voltage step of the loaded transistor "
                                                 "neuron table, volts (bilinear error ~3 V^-1 "
                                                 "h^2 / 8)")
    blas_threads: int | None = Field(1, ge=1, description="BLAS threads of the numpy backend while it solves (its "
                                                          "per-batch products are small: more threads only add "
                                                          "synchronization, 2-6x slower on a busy 2-core machine); "
                                                          "None: leave the process's setting")
    threads: int | None = Field(None, ge=1, description="CPU threads solving batches in parallel (numpy backend; "
                                                      "each runs single-threaded BLAS); None: the CPUs this "
                                                      "process may use, at most OMP_NUM_THREADS where set")
    neuron_current_points: int = Field(DEFAULT_CURRENT_POINTS, ge=5,
                                       description="output-current points of the loaded neuron table "
                                                   "(odd)")


@dataclass(kw_only=True)
class SolverResult(CircuitMeasures):
    """Per-sample measures of the fast backend: the SPICE runner's fields, plus the hidden
    layers' neuron outputs and run metadata."""

    analysis: str = "fast"
    hidden: list[np.ndarray] = field(default_factory=list)  # per hidden layer: neuron outputs [n, fan_out]
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**super().to_dict(), **self.meta}


@dataclass
class SolverPlan:
    """Everything precomputed for a circuit: the reduced layers and the neuron models."""

    circuit: NetworkCircuit
    layers: tuple[LayerMap, ...]
    neuron: BehavioralNeuron | LoadedNeuronTable | ImacSimNeuron | None  # None: no hidden layer
    prepare_s: float
    dynamics: NeuronDynamics | None = None   # NeuronDynamics of transistor neurons (latency), else None
    #: per backend: the matrices and neuron tables in the backend's form (built on first use)
    device_cache: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        return {"layers": len(self.layers), "internal_nodes": [m.internal_nodes for m in self.layers],
                "amplifiers": [m.amplifiers for m in self.layers], "prepare_s": self.prepare_s,
                "neuron": (self.neuron.to_dict() if isinstance(self.neuron, LoadedNeuronTable) else
                           {"kind": "behavioral", "slope": getattr(self.neuron, "slope", None)}),
                "dynamics": self.dynamics.to_dict() if self.dynamics is not None else None}


def neuron_current_bound(circuit: NetworkCircuit, layers: tuple[LayerMap, ...]) -> float:
    """Largest output current a directly loaded neuron can deliver, amperes (for the table range)."""
    bound = 0.0
    for lm in layers[1:]:
        rows = np.abs(lm.source_admittance[:lm.fan_in]).sum(axis=1)
        bound = max(bound, float(rows.max()) * _OUTPUT_BOUND_PER_VDD * circuit.supply_v)
    return bound


def prepare(circuit: NetworkCircuit, options: SolverOptions | None = None, *, max_pin_v: float = 0.0) -> SolverPlan:
    """Reduce every layer and load the neuron model (characterizing it when not cached).

    ``max_pin_v``: the largest neuron input voltage to cover (transistor neurons; the table
    spans at least the neuron config's ``sweep_v``; :func:`simulate` widens it on demand).
    """
    options = options or SolverOptions()
    start = time.perf_counter()
    # the reductions' dense products are small too: threaded BLAS only spins (10x slower measured on
    # a loaded 2-core machine, 93 s against 8.7 s for a 400-120-84-10 network on 32x32 crossbars)
    with _blas_threads(get_backend("numpy"), options):
        layers = reduce_network(circuit)
    neuron = _load_neuron(circuit, layers, options, max_pin_v)
    dynamics = None
    if options.latency and len(layers) > 1 and circuit.neuron.kind == "transistor":
        from imaclab.devices.neuron_loaded import load_neuron_dynamics

        dynamics = load_neuron_dynamics(circuit.neuron, cache_dir=options.neuron_cache_dir,
                                        ngspice=circuit.ngspice_path)
    return SolverPlan(circuit=circuit, layers=layers, neuron=neuron, prepare_s=time.perf_counter() - start,
                      dynamics=dynamics)


class ImacSimNeuron:
    """IMAC-Sim's behavioral neuron (convention imacsim), as the netlist writes it:
    ``v_out = VDD/2 (1 + tanh(-slope v_pin / (VDD/2)))``; it also follows the output layer."""

    def __init__(self, vdd_v: float, slope: float):
        self.half, self.slope = vdd_v / 2.0, slope

    def output(self, be, pin):
        return self.half * (1.0 + be.tanh((-self.slope / self.half) * pin))


def _load_neuron(circuit: NetworkCircuit, layers: tuple[LayerMap, ...], options: SolverOptions, max_pin_v: float):
    if circuit.convention == "imacsim":
        return ImacSimNeuron(circuit.supply_v, float(circuit.neuron_curve.meta.get("slope",
                                                                                   circuit.neuron.behavioral_slope)))
    if len(layers) < 2:
        return None
    if circuit.neuron.kind == "behavioral":
        return BehavioralNeuron.from_curve(circuit.neuron, circuit.neuron_curve)
    from imaclab.devices.neuron_loaded import load_loaded_neuron

    bound = neuron_current_bound(circuit, layers) if circuit.loading == "direct" else 0.0
    return load_loaded_neuron(circuit.neuron, max_current_a=bound, max_pin_v=max_pin_v,
                              cache_dir=options.neuron_cache_dir, pin_step_v=options.neuron_pin_step_v,
                              current_points=options.neuron_current_points, ngspice=circuit.ngspice_path)


def simulate(circuit: NetworkCircuit, input_volts: np.ndarray, *, options: SolverOptions | None = None,
             plan: SolverPlan | None = None) -> SolverResult:
    """Steady state of ``circuit`` for input voltages ``input_volts`` [samples, fan_in].

    ``plan`` (from :func:`prepare`) may be passed to reuse the reductions across calls.
    """
    options = options or SolverOptions()
    start = time.perf_counter()
    v_in = np.atleast_2d(np.asarray(input_volts, dtype=np.float64))
    if v_in.shape[1] != circuit.n_inputs:
        raise InputError(f"input voltages have {v_in.shape[1]} columns, the network expects {circuit.n_inputs}")
    # one sum carries any NaN or infinity (2x faster than a mask); a sum that overflows is checked in full
    with np.errstate(over="ignore"):
        total = v_in.sum()
    if not np.isfinite(total) and not np.all(np.isfinite(v_in)):
        raise InputError("input voltages contain NaN or infinite values")
    if plan is None or plan.circuit is not circuit:
        plan = prepare(circuit, options)
    be = get_backend(options.array_backend, options.device)
    n = v_in.shape[0]
    noise = read_noise_draws(circuit, plan.layers, n)
    with _blas_threads(be, options):
        while True:
            outputs, power, hidden, pin_peak = _run_batches(be, plan, v_in, options, noise)
            table = plan.neuron
            if not isinstance(table, LoadedNeuronTable) or pin_peak <= table.pin_range_v:
                break
            # an amplifier drove a neuron input past the characterized range: widen the table (in
            # the plan, so later calls reuse it) and solve again
            plan.neuron = _load_neuron(circuit, plan.layers, options, pin_peak)
        check_power_balance(power)
        latency = np.full(n, np.nan)
        if options.latency and circuit.convention != "imacsim":  # (no transient model of IMAC-Sim's chain yet)
            from imaclab.solver.latency import estimate_latency

            # the transient model is noiseless: it settles to the noiseless solution
            quiet_out, quiet_hidden = outputs, hidden
            if noise:
                quiet_out, _, quiet_hidden, _ = _run_batches(be, plan, v_in, options)
            latency = estimate_latency(plan, v_in, quiet_out, quiet_hidden, options)
    return SolverResult(outputs=outputs, power_w=power, latency_s=latency, ok=np.ones(n, dtype=bool),
                        hidden=hidden, wall_s=time.perf_counter() - start,
                        meta={"backend": f"fast/{be.name}:{be.device}", "prepare_s": plan.prepare_s})


def with_layer_maps(plan: SolverPlan, layers: tuple[LayerMap, ...]) -> SolverPlan:
    """``plan`` with the layer maps ``layers`` (same circuit and neuron), reusing the backend
    matrices of every layer whose source admittance is unchanged (a patched amplifier map costs
    two small arrays, not the blocked source products).  For callers that patch maps between
    reductions (:mod:`imaclab.nn.circuit_loop`)."""
    new = SolverPlan(circuit=plan.circuit, layers=layers, neuron=plan.neuron, prepare_s=0.0,
                     dynamics=plan.dynamics)
    vb = plan.circuit.bias_v
    for key, (mats, tneuron, neuron) in plan.device_cache.items():
        if neuron is not plan.neuron:
            continue
        be = get_backend(key[0], key[1])
        fresh = _device_matrices  # (a layer whose source admittance changed gets all its matrices anew)
        patched = []
        for li, (old_map, lm, m) in enumerate(zip(plan.layers, layers, mats)):
            if lm is old_map:
                patched.append(m)
            elif lm.source_admittance is old_map.source_admittance:
                amp_t, amp_bias = lm.amplifier_gain(vb)
                patched.append({**m, "amp_t": be.asarray(amp_t), "amp_bias": be.asarray(amp_bias)})
            else:
                patched.append(fresh(be, new)[li])
        new.device_cache = {key: (patched, tneuron, neuron)}
    return new


def network_outputs(plan: SolverPlan, input_volts: np.ndarray,
                    options: SolverOptions | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """The DC outputs and hidden neuron outputs of ``plan`` for ``input_volts`` [samples, fan_in]:
    :func:`simulate`'s forward pass without its checks, power balance and latency.

    For callers that solve the same plan many times with maps they patch themselves (the training
    room's circuit-in-the-loop forward: :mod:`imaclab.nn.circuit_loop`); a transistor neuron table
    is widened as in :func:`simulate` when an input leaves its range.
    """
    options = options or SolverOptions(latency=False)
    be = get_backend(options.array_backend, options.device)
    v_in = np.atleast_2d(np.asarray(input_volts, dtype=np.float64))
    with _blas_threads(be, options):
        while True:
            outputs, _, hidden, pin_peak = _run_batches(be, plan, v_in, options)
            table = plan.neuron
            if not isinstance(table, LoadedNeuronTable) or pin_peak <= table.pin_range_v:
                return outputs, hidden
            plan.neuron = _load_neuron(plan.circuit, plan.layers, options, pin_peak)


#: Relative round-off a passive part's power may show below zero (of the batch's largest).
_BALANCE_TOLERANCE = 1e-9


def check_power_balance(power: dict[str, np.ndarray]) -> None:
    """The solver's own energy balance, before a result is reported.

    The crossbars (cells, wires, amplifier input resistances) and the buffers' output
    resistances are passive: the power the sources deliver into them is what they dissipate,
    never negative.  A result whose powers are not finite, or whose passive parts deliver
    power (beyond round-off: ``1e-9`` of the batch's largest), is refused with a
    :class:`SimulationError` naming the check: the circuit's values are outside what the
    equations resolve in double precision.
    """
    for name, values in power.items():
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise SimulationError(f"power balance check failed: the {name} power of sample {bad[0]} is "
                                  f"{values[bad[0]]}; the circuit's values are outside the solver's numerical range")
    for name in ("crossbars", "buffers"):
        values = power[name]
        if values.size == 0:
            continue
        floor = -_BALANCE_TOLERANCE * float(np.abs(values).max())
        bad = np.flatnonzero(values < floor)
        if bad.size:
            raise SimulationError(f"power balance check failed: the passive {name} deliver {-values[bad[0]]:.3g} W "
                                  f"in sample {bad[0]} (dissipated power must be >= 0): the circuit's values are "
                                  "outside the solver's numerical range (device resistances 1 to 1e12 ohm)")


def _blas_threads(be, options: SolverOptions):
    """Limit numpy's BLAS to ``options.blas_threads`` while solving (the latency transient is
    numpy whatever the backend)."""
    if options.blas_threads is None:
        return contextlib.nullcontext()
    global _THREADPOOLS
    if _THREADPOOLS is None:
        from threadpoolctl import ThreadpoolController

        # finding the loaded BLAS libraries costs ~15 ms: once per process, not per solve
        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=options.blas_threads, user_api="blas")


_THREADPOOLS = None


def read_noise_draws(circuit: NetworkCircuit, layers: tuple[LayerMap, ...], n: int) -> dict[int, np.ndarray]:
    """Per layer with per-sample read noise: ``z`` [n, amplifiers], standard normal (see the
    module docstring)."""
    seed = int(circuit.meta.get("seed", 0))
    return {li: np.random.default_rng([seed, READ_NOISE_STREAM, li]).standard_normal((n, lm.amplifiers))
            for li, (lay, lm) in enumerate(zip(circuit.layers, layers)) if lay.read_sigma is not None}


def _run_batches(be, plan: SolverPlan, v_in: np.ndarray, options: SolverOptions,
                 noise: dict[int, np.ndarray] | None = None):
    n = v_in.shape[0]
    outputs = np.zeros((n, plan.circuit.n_readout))
    power = {k: np.zeros(n) for k in POWER_COMPONENTS}
    hidden = [np.zeros((n, lm.fan_out)) for lm in plan.layers if lm.hidden]
    # the backend's copies of the matrices and neuron tables (~25 ms to build for the 400-120-84-10
    # benchmark: the rank-one load factors, the tables' bilinear patches) are kept in the plan; a
    # widened neuron table is a new object, hence a new key
    key = (be.name, str(be.device), id(plan.neuron))
    if key not in plan.device_cache:
        tneuron = TransistorNeuron(plan.neuron, be) if isinstance(plan.neuron, LoadedNeuronTable) else None
        plan.device_cache = {key: (_device_matrices(be, plan), tneuron, plan.neuron)}
    mats, tneuron, _ = plan.device_cache[key]
    gpu = str(be.device).startswith("cuda")
    batch = options.batch_size or (_GPU_BATCH if gpu else _CPU_BATCH)

    def run(lo: int) -> float:
        hi = min(n, lo + batch)
        z = {li: be.asarray(draws[lo:hi]) for li, draws in (noise or {}).items()}
        out, pw, hid, peak = _forward(be, plan, mats, tneuron, be.asarray(v_in[lo:hi]), options, z)
        outputs[lo:hi] = be.to_numpy(out)
        for k in POWER_COMPONENTS:
            power[k][lo:hi] = be.to_numpy(pw[k])
        for h, arr in zip(hidden, hid):
            h[lo:hi] = be.to_numpy(arr)
        return peak

    peaks = map_batches(run, range(0, n, batch), 1 if gpu else cpu_threads(options.threads))
    return outputs, power, hidden, max(peaks, default=0.0)


def _row_power(be, s, rows_i, r_src):
    """Per sample: (``sum s_i i_i``, ``sum r_i i_i^2``) over a layer's rows (source voltages
    ``s`` and currents ``rows_i`` [B, rows]), watts."""
    if be.name == "numpy":
        delivered, lost = np.empty(s.shape[0]), np.empty(s.shape[0])
        kernels.row_power(s, rows_i, r_src, delivered, lost)
        return delivered, lost
    return (s * rows_i).sum(axis=1), (rows_i * rows_i * r_src).sum(axis=1)


def _device_matrices(be, plan: SolverPlan) -> list[dict]:
    mats = []
    transistor_direct = isinstance(plan.neuron, LoadedNeuronTable) and plan.circuit.loading == "direct"
    vb = plan.circuit.bias_v
    for li, lm in enumerate(plan.layers):
        amp_t, amp_bias = lm.amplifier_gain(vb)
        lay = plan.circuit.layers[li]
        noise_var = layer_read_variance(lay) if lay.read_sigma is not None else None
        mats.append({"amp_t": be.asarray(amp_t),                                  # rows -> unclamped amp outputs
                     # per-sample read noise: rows' v^2 -> variance of the amp outputs (and the bias row's)
                     "noise_t": be.asarray(noise_var[:lm.fan_in]) if noise_var is not None else None,
                     "noise_bias": be.asarray(vb * vb * noise_var[lm.fan_in]) if noise_var is not None else None,
                     "amp_bias": be.asarray(amp_bias),                            # what the bias row adds
                     "y_src": BlockProduct(be, lm.source_admittance),             # sources -> source currents
                     "y_bias": be.asarray(lm.source_admittance[lm.fan_in]),       # sources -> bias source current
                     "r_src": be.asarray(lm.source_resistance_ohm),
                     # the neurons that drive this layer's rows see them as their load
                     "load": NeuronLoad(be, lm.source_admittance, vb, lm.source_resistance_ohm)
                     if transistor_direct and li > 0 else None})
    return mats


def join_amplifiers(be, lm: LayerMap, amp):
    """The neuron input nodes [..., fan_out] of unclamped amplifier outputs [..., n_amp], volts:
    clamped to the amplifiers' swing, and the partitions of an output averaged (join='average');
    a digitally read layer's readout channels [..., n_amp] as they are (summed after the ADCs)."""
    if lm.clamp_v is not None:
        amp = be.clip(amp, -lm.clamp_v, lm.clamp_v)
    if lm.partitions == 1 or lm.digital_readout:
        return amp
    parts = amp.reshape(*amp.shape[:-1], lm.fan_out, lm.partitions)
    return parts.mean(axis=-1) if be.name == "numpy" else parts.mean(dim=-1)


def _forward(be, plan: SolverPlan, mats: list[dict], tneuron: TransistorNeuron | None, v_in,
             options: SolverOptions, noise: dict | None = None):
    """One batch through the network.  A layer's sources are its rows, at voltages ``v``
    [B, fan_in] (the inputs, then the neuron outputs), and the bias row at ``vb``, kept apart
    (never concatenated: each copy of a batch costs as much as a small product)."""
    circuit = plan.circuit
    b = v_in.shape[0]
    vb = circuit.bias_v
    n_amps = sum(lm.amplifiers for lm in plan.layers)
    pw = {"crossbars": be.zeros((b,)), "amplifiers": be.full((b,), circuit.amplifier_static_power_w * n_amps),
          "neurons": be.zeros((b,)), "buffers": be.zeros((b,))}
    v = v_in
    at_rows = None  # (delivered, lost, bias current) of this layer's rows, when the loaded solve gave them
    hidden: list = []
    neuron = plan.neuron
    transistor = tneuron is not None
    pin_peak = 0.0
    newton = NewtonSettings(tolerance_v=options.newton_tolerance_v)
    for li, (lm, m) in enumerate(zip(plan.layers, mats)):
        n_rows = lm.fan_in
        if at_rows is None:
            i_src = m["y_src"](v, last=vb)
            delivered, lost = _row_power(be, v, i_src[:, :n_rows], m["r_src"])
            bias_i = i_src[:, n_rows]
        else:
            delivered, lost, bias_i = at_rows
        if li == 0:
            # input meters sit before the driver resistance: v(x_i) = the source voltage
            pw["crossbars"] = pw["crossbars"] + delivered
        else:
            # rows see the source voltage minus the drop in its output resistance
            pw["crossbars"] = pw["crossbars"] + (delivered - lost)
            pw["buffers"] = pw["buffers"] + lost
            if transistor and circuit.loading == "direct":
                pw["neurons"] = pw["neurons"] - delivered
        pw["crossbars"] = pw["crossbars"] + vb * bias_i
        amp = v @ m["amp_t"]
        amp += m["amp_bias"]
        if noise and li in noise:  # this sample's read of the cells: a Gaussian per amplifier
            amp = amp + ((v * v) @ m["noise_t"] + m["noise_bias"]) ** 0.5 * noise[li]
        node = join_amplifiers(be, lm, amp)
        if not lm.hidden:
            if isinstance(neuron, ImacSimNeuron):  # IMAC-Sim's output neurons (unloaded, ideal)
                node = neuron.output(be, node)
            return node, pw, hidden, pin_peak
        pin_peak = max(pin_peak, be.abs_max(node))
        tie = lm.tie_resistance_ohm / lm.partitions if lm.partitions > 1 else 0.0
        at_rows = None
        if tneuron is None:  # not transistor
            v_out = cast(BehavioralNeuron, neuron).output(be, node)
        else:
            if circuit.loading == "direct":
                # the next layer's rows are the neurons' load: the solve gives their currents and power
                sol = solve_loaded(be, tneuron, node, mats[li + 1]["load"], tie_ohm=tie, settings=newton, layer=li)
                v_out, pin_power, supply_power = sol.v, sol.pin_power, sol.supply_power
                at_rows = (sol.row_delivered, sol.row_lost, sol.bias_current)
            else:
                i_out = be.zeros(node.shape)
                pin = node
                pins = tneuron.pin_cells(pin)
                for _ in range(3 if tie > 0 else 1):  # the tie drop is ~1e-7 V: two updates are exact
                    if tie > 0:
                        pin = node - tie * tneuron.pin_current(pins, i_out)
                        pins = tneuron.pin_cells(pin)
                    v_out, _ = tneuron.output(pins, i_out)
                pin_power, supply_power = tneuron.power(pin, pins, i_out)
            pw["amplifiers"] = pw["amplifiers"] + pin_power
            pw["neurons"] = pw["neurons"] + supply_power
        hidden.append(v_out)
        v = v_out
    raise AssertionError("the last layer must be an output layer")  # pragma: no cover
