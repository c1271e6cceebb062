"""Latency: a reduced-order transient of every sample's input transition, batched over samples.

The SPICE runner measures, for sample ``k`` of a transient, the time from the start of its
period until every output stays within ``max(settle_tolerance * |final|, settle_floor_v)`` of
its end-of-period value; the inputs move from sample ``k-1`` to sample ``k`` linearly over
``rise_time_s`` (``imaclab.circuit.netlist``, ``imaclab.spice.runner.settling_time``).  This
module computes the same quantity from a reduced model of the same circuit:

* Crossbars (wires, cells, driver/buffer resistances): the exact DC maps of
  :mod:`imaclab.solver.reduction` plus their first moments.  The wire RC time constants are
  picoseconds (cells of kilohms on femtofarad lines), so each layer's response to its
  inputs is the DC map delayed by the Elmore delay of each amplifier's current,
  ``tau_k = -sum_j A1_kj sgn(A0_kj) / sum_j |A0_kj|`` (``I(s) = (A0 + s A1) v``): exact for
  the first layer (a delayed input ramp), added as a time shift for later layers.
* Amplifiers: ideal (instantaneous), as in the netlist.
* Behavioral neurons: instantaneous (the netlist's ideal source).
* Transistor neurons: the two-node large-signal model of
  :class:`~imaclab.devices.neuron_loaded.NeuronDynamics` (gate and output node; the
  inverter's static current and the transistors' bias-dependent capacitance matrix from the
  BSIM charges, both tabulated by ngspice; extra overlap/fringe capacitances fitted to
  ngspice step responses of the subcircuit), loaded by the next layer's exact source
  admittance and by the rows' wire capacitance.  Integrated with the trapezoidal rule and
  two Newton iterations per step (per neuron, 2x2), on a time grid of ``rise_time / 40``
  during the input ramp growing to ``rise_time / 4``.

Each sample starts from the model's equilibrium for the previous sample (sample 0 from the
equilibrium with all inputs at 0 V: the netlist's inputs rise from 0 V to sample 0) and is
integrated until every output has stayed within a fifth of its band (or the
period ends: then the latency is the period, and the period was too short to settle, which
the SPICE measurement reports the same way).  The crossing of the band is interpolated
linearly between grid points.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from imaclab.solver.backend import NumpyBackend, cpu_threads, map_batches
from imaclab.solver.forward import join_amplifiers
from imaclab.solver.reduction import LayerMap

_NUMPY = NumpyBackend()

#: Time steps per input rise time during the ramp, and the largest step (in rise times).
_STEPS_PER_RISE = 40
_MAX_STEP_RISES = 0.25
#: Growth factor of the time step after the ramp.
_STEP_GROWTH = 1.06
#: Integration stops once every output of every sample is within this fraction of its band.
_STOP_FRACTION = 0.2
#: Jacobi sweeps / tolerance (volts) of the equilibrium over the rows' weak coupling.
_EQUILIBRIUM_SWEEPS = 30
_EQUILIBRIUM_TOLERANCE_V = 1e-9


def elmore_delays(lm: LayerMap) -> np.ndarray:
    """Per-amplifier Elmore delay of the line currents, seconds (0 without capacitance)."""
    weight = np.abs(lm.amp_current).sum(axis=1)
    lead = -(lm.amp_moment1 * np.sign(lm.amp_current)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = np.where(weight > 0, lead / weight, 0.0)
    return np.nan_to_num(np.maximum(tau, 0.0))


class _Stage:
    """One layer's amplifiers: the rows' source voltages -> joined output node voltages (the
    fast backend's map, :meth:`LayerMap.amplifier_gain` and :func:`join_amplifiers`)."""

    def __init__(self, lm: LayerMap, bias_v: float):
        self.lm = lm
        self.gain_t, self.bias = lm.amplifier_gain(bias_v)  # [fan_in, n_amp], [n_amp]

    def amps(self, v: np.ndarray) -> np.ndarray:
        return v @ self.gain_t + self.bias

    def join(self, amp: np.ndarray) -> np.ndarray:
        return join_amplifiers(_NUMPY, self.lm, amp)


class _TransistorLayer:
    """The two-node neurons of one hidden layer with their load (the next layer's rows).

    The load's own-row conductance is integrated implicitly; the rest of the load current
    (other rows through the output-line wires, the bias row) is frozen at its final value,
    so the transient converges exactly to the model's equilibrium.
    """

    def __init__(self, dyn, load: np.ndarray | None, load_bias: np.ndarray | None, extra_c: np.ndarray | float,
                 shape: tuple[int, int]):
        self.dyn = dyn
        self.load = load
        self.load_g = 0.0 if load is None else np.diagonal(load).copy()
        self.load_bias = load_bias
        # per neuron and sample once (the transient step takes full arrays; broadcasting them
        # at every step cost 4 % of the transient)
        self.load_g_full = np.ascontiguousarray(np.broadcast_to(self.load_g, shape))
        self.extra_c_full = np.ascontiguousarray(np.broadcast_to(extra_c, shape))

    def rest_current(self, o: np.ndarray) -> np.ndarray | float:
        if self.load is None:
            return 0.0
        return o @ (self.load - np.diag(self.load_g)).T + self.load_bias

    def equilibrium(self, pin: np.ndarray, o_start: np.ndarray):
        """Static (g, o, frozen rest current); Jacobi sweeps over the weak row coupling."""
        o = o_start
        rest = self.rest_current(o)
        for _ in range(_EQUILIBRIUM_SWEEPS):
            g, o_new = self.dyn.equilibrium(pin, o, self.load_g, rest)
            rest_new = self.rest_current(o_new)
            done = np.max(np.abs(o_new - o), initial=0.0) < _EQUILIBRIUM_TOLERANCE_V
            o, rest = o_new, rest_new
            if done:
                break
        return g, o, rest

    def step(self, g, o, pin_now, pin_next, rest, h):
        return self.dyn.step(g, o, pin_now, pin_next, h, self.load_g_full, rest, self.extra_c_full)


def time_grid(rise_s: float, period_s: float) -> np.ndarray:
    """Steps of rise/40 up to the end of the ramp, then growing by 6 % per step to rise/4."""
    h0 = rise_s / _STEPS_PER_RISE
    t = list(np.linspace(0.0, rise_s, _STEPS_PER_RISE + 1))
    h = h0
    while t[-1] < period_s:
        h = min(h * _STEP_GROWTH, _MAX_STEP_RISES * rise_s)
        t.append(min(t[-1] + h, period_s))
    return np.asarray(t)


def estimate_latency(plan, v_in: np.ndarray, outputs: np.ndarray, hidden: list[np.ndarray], options,
                     batch_size: int = 256) -> np.ndarray:
    """Latency of every sample [n], seconds (see the module docstring).

    ``outputs`` / ``hidden``: the exact DC solution (network outputs, hidden neuron outputs).
    """
    n = v_in.shape[0]
    latency = np.zeros(n)

    def run(lo: int) -> None:
        hi = min(n, lo + batch_size)
        # the transient's inputs rise from 0 V to sample 0, then move from sample k-1 to k
        prev = v_in[lo - 1:hi - 1] if lo > 0 else np.vstack([np.zeros((1, v_in.shape[1])), v_in[:hi - 1]])
        # the previous samples' exact DC solution starts their equilibrium (batch 0 starts from 0 V)
        hidden_prev = [h[lo - 1:hi - 1] for h in hidden] if lo > 0 else None
        latency[lo:hi] = _latency_batch(plan, prev, v_in[lo:hi], outputs[lo:hi], [h[lo:hi] for h in hidden],
                                        options, hidden_prev=hidden_prev)

    # independent batches: each starts from its own previous inputs
    map_batches(run, range(0, n, batch_size), cpu_threads(options.threads))
    return latency


def _latency_batch(plan, v_prev: np.ndarray, v_new: np.ndarray, y_dc: np.ndarray, hidden_dc: list[np.ndarray],
                   options, trace: list | None = None, hidden_prev: list[np.ndarray] | None = None) -> np.ndarray:
    """Latencies of one batch; ``trace`` (a list) receives ``(t, outputs, hidden outputs)`` per step.
    ``hidden_prev``: the exact DC hidden outputs for ``v_prev`` where known (a start for the
    model's equilibrium there, as ``hidden_dc`` is for ``v_new``: a few Jacobi sweeps instead of
    ~7 from the unloaded curve).

    The two-node neuron model's equilibrium differs from the exact DC solution by a fraction
    of a millivolt (its 20 mV tables); each neuron's output is offset by that difference at the
    sample's final state, so the transient converges to the exact DC outputs that the band
    (1 mV floor) is measured against.
    """
    circuit = plan.circuit
    maps: tuple[LayerMap, ...] = plan.layers
    b = v_new.shape[0]
    vb = circuit.bias_v
    stages = [_Stage(lm, vb) for lm in maps]
    rise, period = circuit.rise_time_s, circuit.sampling_period_s
    dyn = getattr(plan, "dynamics", None)
    transistor = circuit.neuron.kind == "transistor"
    # the neurons of every hidden layer, with the next layer's rows as their load
    layers: list[Any] = []  # per hidden layer: a _TransistorLayer (transistor neurons) or None
    for li, lm in enumerate(maps[:-1]):
        if transistor:
            if circuit.loading == "direct":
                nxt = maps[li + 1]
                y = nxt.source_admittance
                n = lm.fan_out
                # the rows' wire capacitance hangs on the neuron output (first moment of the load)
                layers.append(_TransistorLayer(dyn, y[:n, :n], y[:n, n] * vb, np.diagonal(nxt.source_moment1)[:n],
                                               (b, n)))
            else:
                layers.append(_TransistorLayer(dyn, None, None, 0.0, (b, lm.fan_out)))
        else:
            layers.append(None)
    # input ramp through the first layer's amplifiers, each delayed by its Elmore delay
    a_prev = stages[0].amps(v_prev)
    a_new = stages[0].amps(v_new)
    tau0 = elmore_delays(maps[0])
    shift = sum(float(elmore_delays(lm).max(initial=0.0)) for lm in maps[1:])

    def first_node(t: float) -> np.ndarray:
        ramp = np.clip((t - tau0) / rise, 0.0, 1.0)
        return stages[0].join(a_prev + (a_new - a_prev) * ramp)

    behavioral = plan.neuron if not transistor else None

    def propagate(node: np.ndarray) -> np.ndarray:
        """Behavioral neuron outputs (instantaneous) for joined amplifier outputs."""
        assert behavioral is not None  # called for behavioral neurons only
        return behavioral.output(_NUMPY, node)

    # equilibria of the model before (previous sample) and after (this sample)
    def equilibrium(node0: np.ndarray, guesses: list[np.ndarray] | None):
        states: list[Any] = []  # per hidden layer: (gate, out, rest) (transistor neurons) or None
        node = node0
        for li in range(len(maps) - 1):
            if transistor:
                guess = guesses[li] if guesses is not None else _unloaded_guess(node, circuit)
                g, o, rest = layers[li].equilibrium(node, guess)
                states.append((g, o, rest))
                v = o
            else:
                v = propagate(node)
                states.append(None)
            node = stages[li + 1].join(stages[li + 1].amps(v))
        return states, node

    start_states, _ = equilibrium(stages[0].join(a_prev), hidden_prev)
    final_states, _ = equilibrium(stages[0].join(a_new), hidden_dc)
    offsets = [hidden_dc[li] - st[1] if st is not None else 0.0 for li, st in enumerate(final_states)]
    y_final = y_dc
    band = np.maximum(options.settle_tolerance * np.abs(y_dc), options.settle_floor_v)
    grid = time_grid(rise, period)
    state: list[Any] = [(s[0].copy(), s[1].copy()) if s is not None else None for s in start_states]
    rests = [s[2] if s is not None else None for s in final_states]

    def outputs_at(t: float, node_now_prev: list | None, h: float | None):
        node = first_node(t)
        nodes = [node]
        for li in range(len(maps) - 1):
            if transistor:
                g, o = state[li]
                if h is not None:
                    assert node_now_prev is not None  # given with h
                    g, o = layers[li].step(g, o, node_now_prev[li], node, rests[li], h)
                    state[li] = (g, o)
                v = o + offsets[li]
            else:
                v = propagate(node)
            node = stages[li + 1].join(stages[li + 1].amps(v))
            nodes.append(node)
        return node, nodes

    y, pins = outputs_at(0.0, None, None)
    excess_prev = np.abs(y - y_final) - band
    outside_prev = np.any(excess_prev > 0, axis=1)
    latency = np.zeros(b)
    for n_step in range(1, grid.size):
        t0, t1 = grid[n_step - 1], grid[n_step]
        y, pins = outputs_at(t1, pins, t1 - t0)
        if trace is not None:
            trace.append((t1, y.copy(), [st[1].copy() for st in state] if transistor else []))
        excess = np.abs(y - y_final) - band
        outside = np.any(excess > 0, axis=1)
        entered = outside_prev & ~outside
        if entered.any():
            # where each output that was outside crosses into its band, linearly between t0 and t1
            ep, en = excess_prev[entered], excess[entered]
            with np.errstate(invalid="ignore", divide="ignore"):
                frac = np.where(ep > 0, ep / (ep - en), 0.0)
            latency[entered] = t0 + (t1 - t0) * np.clip(frac, 0.0, 1.0).max(axis=1)
        excess_prev, outside_prev = excess, outside
        if trace is None and t1 >= rise and np.all(np.abs(y - y_final) <= _STOP_FRACTION * band):
            break
    # still outside at the end of the period: SPICE reports the last time point (the period)
    latency[outside_prev] = grid[-1]
    moved = latency > 0
    latency[moved] += shift
    return latency


def _unloaded_guess(node: np.ndarray, circuit) -> np.ndarray:
    """Starting output voltages for the equilibrium Newton: the neuron curve at u = -pin."""
    return circuit.neuron_curve.pin_transfer(node)
