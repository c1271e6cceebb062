"""Circuit-in-the-loop training: the IMAC layers' forward pass is the circuit the fast solver solves.

Plain hardware-aware training (:mod:`imaclab.nn.imac_layers`) computes each crossbar layer as the
ideal ``u = gain * (v @ W + v_bias * b)``; the circuit the model runs on has wire resistance (IR
drop along every input and output line), partitions joined by amplifiers and loaded neurons, and
loses accuracy to them (docs/training.md).  This module makes the circuit itself the forward pass.

**Programming.** :meth:`CircuitLoop.program` builds the circuit of the head's current weights and
gains with :func:`imaclab.circuit.build_circuit` -- the same description the netlist and the
evaluation use -- and reduces every layer exactly (:func:`imaclab.solver.prepare`: each layer
becomes an affine map of its source voltages, ``I_amp = A s``, with every wire segment, cell,
partition and amplifier in it).  That costs about a second per LeNet-5-sized head on 32x32
crossbars, so it happens every ``refresh_steps`` optimizer steps and before every evaluation, not
every step.

**Between programmings** the weights keep moving (a binary weight flips when its latent value
changes sign).  A flipped cell changes the differential conductance of its pair by exactly
``dG * (w_now - w_programmed)`` (``dG = G_on - G_off``, :func:`imaclab.devices.memristor.map_conductances`
is affine in ``w``); the maps used for a step are the programmed exact maps plus that change
through an ideal (wire-free) cell, and the amplifier transimpedances scaled by the gains' change.
The step's forward pass is then exact for every cell that did not change since the programming and
first-order exact for those that did (their own IR drop is left out until the next programming).

**Forward.** :func:`imaclab.solver.forward.network_outputs` solves the whole network with those
maps: amplifier joins, clamps, behavioral or transistor neurons with their real load (Newton
on the next layer's rows).  Its outputs are the values training sees.

**Backward (the surrogate).** A circuit solve has no autograd.  Each layer's gradient is taken
through a differentiable twin evaluated at the circuit's own operating point:

* the linear part uses the exact joined map ``M`` of the current programming (a constant
  matrix): ``u = A * [v, v_bias] @ M`` -- so ``du/dv`` includes the IR drop exactly -- plus a
  straight-through term ``A * (v @ W^T + v_bias b) * g_unit`` minus its own value, which gives
  ``du/dW`` of an ideal cell (the quantized weights' gradient, as in plain training);
* the neuron is the layer's characterized curve (the loaded one where the circuit loads it);
* the values passed on are the circuit's: ``h = f(u) + (h_circuit - f(u)).detach()``, so the
  next layer's twin is evaluated at the real voltages, and the loss at the real outputs.

With behavioral neurons the twin's value equals the solver's (tested), so the only approximation
is the ideal-cell ``du/dW``; with transistor neurons the twin's curve differs from the Newton
solution by the output resistance's share of the load, which the straight-through term absorbs.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch

from imaclab.circuit.config import NetworkConfig
from imaclab.circuit.description import NetworkCircuit, build_circuit
from imaclab.circuit.mlp import MLPModel
from imaclab.errors import ConfigError
from imaclab.nn.api import CircuitLoopConfig
from imaclab.solver.forward import SolverOptions, SolverPlan, network_outputs, prepare, with_layer_maps
from imaclab.solver.reduction import LayerMap

__all__ = ["CircuitLoop", "CircuitLoopConfig"]


@dataclasses.dataclass
class _Programmed:
    """One programming of the head: its circuit, the exact reduced maps and what they were built from."""

    circuit: NetworkCircuit
    plan: SolverPlan
    weights: list[np.ndarray]        # per layer: the [fan_in + 1, fan_out] device-grid weights (bias row last)
    gains: list[float]               # per layer: amplifier voltage gain A, V/V
    row_masks: list[np.ndarray | None]  # join='average': [partitions, fan_in + 1] rows of each partition
    seconds: float


class CircuitLoop:
    """The exact circuit of an :class:`~imaclab.nn.imac_layers.IMACHead`, kept in step with its weights.

    ``network``: the circuit settings (devices, crossbar, parasitics, amplifiers/join, loading,
    neuron, inputs) -- the same :class:`~imaclab.circuit.config.NetworkConfig` an evaluation uses.
    Attach with :meth:`attach`; the head's forward pass then runs through :meth:`forward`.
    """

    def __init__(self, head: Any, network: NetworkConfig, config: CircuitLoopConfig | None = None):
        self.head = head
        self.network = network
        self.config = config or CircuitLoopConfig(enabled=True)
        self.options = SolverOptions(latency=False, batch_size=self.config.batch_size,
                                     array_backend=self.config.array_backend, device=self.config.device,
                                     neuron_cache_dir=getattr(head.spec, "neuron_cache_dir", None))
        self.programmed: _Programmed | None = None
        self.steps_since_programming = 0
        self.programmings = 0
        self.programming_seconds = 0.0
        kinds = {layer.kind for layer in head.layers}
        if len(kinds) != 1:
            raise ConfigError(f"circuit-in-the-loop training needs one weight kind in the IMAC head, got "
                              f"{sorted(kinds)}: give every IMAC layer the same weight kind in the policy")
        self.kind = kinds.pop()
        self.levels = head.layers[0].levels
        # dG = G_on - G_off: G+ - G- = w dG for every kind (imaclab.devices.memristor.map_conductances)
        self.delta_g_s = float(network.devices.g_low_s - network.devices.g_high_s)

    # ---- programming ---------------------------------------------------------------------------
    def attach(self) -> CircuitLoop:
        """Make this loop the head's forward pass (``head.circuit_loop``); returns self."""
        self.head.circuit_loop = self
        return self

    def detach(self) -> None:
        self.head.circuit_loop = None

    def _current(self) -> tuple[list[np.ndarray], list[float]]:
        """The head's device-grid weights (bias row last) and amplifier gains now."""
        from imaclab.devices.memristor import quantize_weights

        weights, gains = [], []
        with torch.no_grad():
            for layer in self.head.layers:
                wq, bq = layer.quantized()
                full = np.vstack([wq.t().double().cpu().numpy(), bq.double().cpu().numpy()[None, :]])
                # snap float32 training values onto the exact float64 grid (as the export does)
                weights.append(quantize_weights(full, self.kind, self.levels))
                gains.append(layer.amplifier_gain_value)
        return weights, gains

    def program(self) -> _Programmed:
        """Build and reduce the circuit of the current weights (the exact maps of this programming)."""
        start = time.perf_counter()
        weights, gains = self._current()
        model = MLPModel(weights=tuple(w[:-1] for w in weights), biases=tuple(w[-1] for w in weights),
                         weight_kind=self.kind, gains=tuple(gains), scales=tuple(1.0 for _ in weights),
                         levels=self.levels if self.kind == "multilevel" else None,
                         source="circuit-in-the-loop programming")
        circuit = build_circuit(self.network, model)
        if circuit.convention != "imaclab":
            raise ConfigError("circuit-in-the-loop training runs the imaclab circuit convention: set "
                              "circuit.convention to imaclab (or auto)")
        if any(lay.slices > 1 or lay.digital_readout or lay.read_sigma is not None for lay in circuit.layers):
            raise ConfigError("circuit-in-the-loop training runs one analog readout per output: turn off "
                              "converters.weight_slices, converters.adc_per_partition and per-sample read noise "
                              "(devices.read_noise_draw: evaluation) for training")
        plan = prepare(circuit, self.options)
        masks: list[np.ndarray | None] = []
        for lay, lm in zip(circuit.layers, plan.layers):
            if lm.partitions > 1:
                mask = np.zeros((lm.partitions, lay.fan_in + 1))
                for h, rows in enumerate(lay.row_partitions):
                    mask[h, rows] = 1.0
                masks.append(mask)
            else:
                masks.append(None)
        seconds = time.perf_counter() - start
        self.programmed = _Programmed(circuit=circuit, plan=plan, weights=weights, gains=gains, row_masks=masks,
                                      seconds=seconds)
        self.steps_since_programming = 0
        self.programmings += 1
        self.programming_seconds += seconds
        return self.programmed

    def _layer_map(self, li: int, lm: LayerMap, w_now: np.ndarray, a_now: float) -> LayerMap:
        """The programmed exact map of layer ``li`` with the cells changed since then entering as ideal
        cells and the transimpedances following the gain."""
        prog = self.programmed
        assert prog is not None
        dw = w_now - prog.weights[li]
        ratio = a_now / prog.gains[li]
        if ratio == 1.0 and not dw.any():
            return lm
        amp = lm.amp_current
        src = lm.source_admittance
        if dw.any():
            delta = self.delta_g_s * dw.T                                 # [fan_out, S]
            mask = prog.row_masks[li]
            if mask is not None:                                          # amplifiers by output, then partition
                delta = (delta[:, None, :] * mask[None, :, :]).reshape(-1, delta.shape[1])
            amp = amp + delta
            if self.kind != "binary":
                # what the rows' drivers see: G+ + G- of every cell in the row, which a binary flip keeps
                # (the pair swaps) and a ternary zero changes
                from imaclab.devices.memristor import map_conductances

                devices = self.network.devices
                gp_now, gn_now = map_conductances(w_now, devices, self.kind)
                gp_old, gn_old = map_conductances(prog.weights[li], devices, self.kind)
                row_change = (gp_now + gn_now - gp_old - gn_old).sum(axis=1)
                if row_change.any():
                    src = src + np.diag(row_change)
        return dataclasses.replace(lm, amp_current=amp, source_admittance=src,
                                   transimpedance_ohm=lm.transimpedance_ohm * ratio)

    def current_plan(self) -> SolverPlan:
        """The solver plan of the current weights (see the module docstring)."""
        prog = self.programmed
        assert prog is not None
        weights, gains = self._current()
        layers = tuple(self._layer_map(li, lm, w, a)
                       for li, (lm, w, a) in enumerate(zip(prog.plan.layers, weights, gains)))
        if all(new is old for new, old in zip(layers, prog.plan.layers)):
            return prog.plan
        return with_layer_maps(prog.plan, layers)

    def changed_since_programming(self) -> bool:
        prog = self.programmed
        if prog is None:
            return True
        weights, gains = self._current()
        return any(g != g0 for g, g0 in zip(gains, prog.gains)) or any(
            not np.array_equal(w, w0) for w, w0 in zip(weights, prog.weights))

    def map_distortion(self) -> list[dict[str, float]]:
        """Per layer, how far the programmed circuit's map is from the ideal crossbar's.

        ``M`` is the exact joined map per unit amplifier gain (:meth:`unit_map`), ``M_0`` the ideal
        one, ``g (W; v_bias b)``.  ``attenuation`` = the best single scale ``a`` (``<M, M_0> / <M_0, M_0>``,
        what one amplifier gain can undo); ``distortion`` = ``|M - a M_0| / |a M_0|`` (Frobenius):
        the position-dependent part of the IR drop, a weight error no gain can undo and binary
        weights cannot represent -- the signal margin the crossbar size costs.
        """
        prog = self.programmed if self.programmed is not None else self.program()
        out = []
        for li, (lay, lm) in enumerate(zip(prog.circuit.layers, prog.plan.layers)):
            exact = self.unit_map(lm, prog.circuit.bias_v) / prog.gains[li]
            ideal = lay.column_gain / lay.gain * np.vstack([lay.weights, prog.circuit.bias_v * lay.bias[None, :]])
            scale = float((exact * ideal).sum() / (ideal * ideal).sum())
            error = float(np.linalg.norm(exact - scale * ideal) / np.linalg.norm(scale * ideal))
            out.append({"layer": li, "rows": lay.fan_in + 1, "attenuation": scale, "distortion": error})
        return out

    # ---- forward -------------------------------------------------------------------------------
    @staticmethod
    def unit_map(lm: LayerMap, bias_v: float) -> np.ndarray:
        """Layer map per unit amplifier gain in the ``u`` convention: ``u = A * ([v, 1] @ M)``,
        M [fan_in + 1, fan_out] (the bias row already multiplied by ``bias_v``), amplifier
        partitions joined; ``sign`` undone so that ``u`` is what the neuron curve takes."""
        rows_t, bias = lm.amplifier_gain(bias_v)
        full = np.vstack([rows_t, bias[None, :]])                     # [S, n_amp]
        if lm.partitions > 1:
            full = full.reshape(full.shape[0], lm.fan_out, lm.partitions).mean(axis=-1)
        return full * lm.sign[0]

    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        """Output-layer column signals ``u`` (volts) of the circuit for inputs in [0, 1]."""
        head = self.head
        if head.training and not all(bool(layer.gain_initialized) for layer in head.layers):
            # plain training initializes the gains from the first batch: do the same, then program
            with torch.no_grad():
                v = head.drivers(x01)
                for layer in head.layers:
                    v = layer(v)
            self.programmed = None
        if self.programmed is None:
            self.program()
        elif head.training:
            if self.steps_since_programming >= self.config.refresh_steps:
                self.program()
        elif self.changed_since_programming():
            self.program()      # evaluation: always the exact circuit of the weights being evaluated
        if head.training:
            self.steps_since_programming += 1
        prog = self.programmed
        assert prog is not None
        plan = self.current_plan()
        v = head.drivers(x01)
        outputs, hidden = network_outputs(plan, v.detach().double().cpu().numpy(), self.options)
        prog.plan.neuron = plan.neuron          # a widened transistor table is kept for the next steps
        bias_v = prog.circuit.bias_v
        for li, (layer, lm) in enumerate(zip(head.layers, plan.layers)):
            m = torch.from_numpy(self.unit_map(lm, bias_v) / layer.amplifier_gain_value).to(v.dtype)
            wq, bq = layer.quantized()
            gain = layer.amplifier_gain
            exact = v @ m[:-1] + m[-1]
            # du/dW of an ideal cell at the circuit's operating point (value 0: straight-through)
            ideal = (torch.addmm(bq * layer.v_bias, v.detach(), wq.t())) * layer.unit_gain
            u = gain * (exact + ideal - ideal.detach())
            if lm.hidden:
                a = layer.neuron(u)
                v = a + (torch.from_numpy(hidden[li]).to(a.dtype) - a).detach()
            else:
                return u + (torch.from_numpy(outputs).to(u.dtype) - u).detach()
        raise AssertionError("the last IMAC layer must be an output layer")  # pragma: no cover
