"""IMAC crossbar layers for training, built on the circuit room's device and neuron models.

One IMAC layer computes, in volts (:mod:`imaclab.devices.column`)::

    u = gain * (v_in @ Wn + v_bias * bn)        gain = ideal_column_gain(fan_in, R_low, R_high, A)
    v_out = f(u)                                 (hidden layers; f = the neuron's NeuronCurve)

* ``Wn``, ``bn``: normalized weights and bias in [-1, 1] snapped to the device levels
  (binary, ternary, multilevel, real) by :func:`device_levels`, the torch twin of
  :func:`imaclab.devices.memristor.quantize_weights` (tested equal bit for bit; the export
  snaps with the devices function itself), i.e. the exact values the crossbar holds; the
  straight-through gradient is passed where the latent value lies in [-1, 1].
* ``A``: the layer's amplifier voltage gain, learned per layer (log-parametrized) unless
  fixed in :class:`IMACSpec`; exported so the circuit uses the trained value.
* ``v_in``: the previous neuron's outputs, or for the first layer
  :func:`imaclab.devices.inputs.encode_inputs` of data in [0, 1]; ``v_bias`` from
  :func:`imaclab.devices.inputs.bias_voltage`.
* ``f``: :class:`~imaclab.nn.layers.CurveActivation` of the curve returned by
  :func:`imaclab.devices.neuron.load_neuron_curve` -- the characterized table, not a
  re-typed formula -- under the layer's real load, by the circuit's own rule
  (:func:`imaclab.circuit.description.hidden_layer_curves`: a directly driven transistor
  neuron sees the next layer's rows), so ``IMACHead.layer_curves`` equals the circuit's
  ``NetworkCircuit.layer_curves``.
* :class:`IMACSpec` is the circuit room's :class:`~imaclab.circuit.config.NetworkConfig`
  (same classes, same defaults) plus the training-only fields; ``network_config(gains)``
  is the circuit the model is exported for.
* The output layer has no neuron: the prediction is ``argmax u``; training uses
  ``logit_scale * u`` (a learned temperature, which does not change the argmax).

Device variation and stuck-at faults (noise-aware training, noisy evaluation) come from
:func:`imaclab.devices.memristor.map_conductances` and ``apply_nonidealities`` applied to
the layer's (G+, G-) pairs; the perturbed effective weight is ``(G+ - G-) / dG``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn

from imaclab.circuit.config import NetworkConfig
from imaclab.circuit.description import hidden_layer_curves
from imaclab.config import ConfigModel
from imaclab.devices.aging import age, is_static
from imaclab.devices.column import delta_conductance_s, ideal_column_gain
from imaclab.devices.inputs import bias_voltage, encode_inputs
from imaclab.devices.memristor import WeightKind, apply_nonidealities, map_conductances
from imaclab.devices.neuron import NeuronCurve, load_neuron_curve
from imaclab.errors import ConfigError
from imaclab.nn.layers import CurveActivation
from imaclab.nn.quantizers import STE_CLIP, QuantSpec

if TYPE_CHECKING:
    from imaclab.nn.circuit_loop import CircuitLoop

INPUT_DAC_BITS = 8
"""Resolution of the [0, 1] values handed from the TPU part to the IMAC input drivers."""
GAIN_BOUNDS = (1e-3, 1e4)
"""Trained amplifier gains are kept in this range (an amplifier with gain 1e-3..1e4 V/V)."""


#: Keys of the flat spec of earlier versions (run folders on disk hold them) -> their place now.
LEGACY_SPEC_KEYS = {"input_mode": ("inputs", "mode"), "input_threshold": ("inputs", "threshold"),
                    "amplifier_gain": (None, "initial_amplifier_gain")}


class IMACSpec(NetworkConfig):
    """The IMAC circuit a model trains for: the circuit room's own
    :class:`~imaclab.circuit.config.NetworkConfig` (``devices``, ``circuit`` -- crossbar, parasitics,
    amplifier gains and join, loading --, ``neuron``, ``inputs``) with the same classes and
    defaults, plus what only training has (the amplifier-gain learning, the CNN feature
    encoding, the neuron-curve cache).  :meth:`network_config` is the circuit it exports.

    The keys of the earlier flat spec (``input_mode``, ``input_threshold``, ``amplifier_gain``)
    still load: they move to ``inputs.mode``, ``inputs.threshold``, ``initial_amplifier_gain``
    (the last only for fixed gains: a learned gain's start value was replaced by the first batch).
    """

    learn_amplifier_gain: bool = Field(True, description="train A per layer (exported with the weights, as "
                                                         "circuit.amplifier.gains)")
    initial_amplifier_gain: float | None = Field(
        None, gt=0, description="learned gains: the start value before the first batch sets it (data-dependent); "
                                "fixed gains (learn_amplifier_gain false): the gain A, V/V; None = the layer's "
                                "circuit.amplifier.gains")
    feature_encoding: Literal["zero-centered", "full-range"] = Field(
        "zero-centered", description="how a CNN's non-negative features become [0, 1] input codes: "
                                     "zero-centered maps feature 0 to code 0.5 (0 V on the line, no current) "
                                     "and the full scale to 1; full-range maps [0, full scale] onto [0, 1]")
    neuron_cache_dir: str | None = Field(None, description="cache folder of characterized transistor "
                                                           "neuron curves (None = ~/.cache/imaclab/neuron)")

    @model_validator(mode="before")
    @classmethod
    def _legacy_keys(cls, data: Any) -> Any:
        """Move the flat spec's keys (``input_mode`` ...) to their place in the circuit's configs."""
        if not isinstance(data, dict) or not any(k in data for k in LEGACY_SPEC_KEYS):
            return data
        data = dict(data)
        for old, (section, key) in LEGACY_SPEC_KEYS.items():
            if old not in data:
                continue
            value = data.pop(old)
            if section is None:
                # with learned gains the old value was only a start that the first batch replaced:
                # dropped, so an old run folder compares equal to (and resumes as) the same job now
                if not data.get("learn_amplifier_gain", True):
                    data.setdefault(key, value)
                continue
            node = data.get(section)
            node = node.model_dump() if isinstance(node, ConfigModel) else dict(node or {})
            node.setdefault(key, value)
            data[section] = node
        return data

    def initial_gain(self, layer: int) -> float:
        """The amplifier gain layer ``layer`` starts from (or keeps, when not learned), V/V."""
        return self.initial_amplifier_gain if self.initial_amplifier_gain is not None \
            else self.circuit.amplifier.gain(layer)

    def network_config(self, gains: Sequence[float] | None = None) -> NetworkConfig:
        """The circuit of this spec as the circuit room reads it; ``gains``: the trained per-layer
        amplifier gains (V/V), written to ``circuit.amplifier.gains``."""
        data = self.to_dict()
        config = NetworkConfig.from_dict({key: data[key] for key in NetworkConfig.model_fields},
                                         source="IMACSpec.network_config")
        if gains is not None:
            config = config.with_overrides({"circuit.amplifier.gains": [float(g) for g in gains]})
        return config


def neuron_signal_scale(curve: NeuronCurve) -> float:
    """Half the width of the neuron's linear region, volts of u: ``0.5 * half_swing / peak_slope``.

    Initial amplifier gains put the column signals' spread there, so the neurons start
    in their sensitive region rather than saturated or linear-and-tiny.
    """
    v_in, v_out = np.asarray(curve.v_in, dtype=float), np.asarray(curve.v_out, dtype=float)
    half_swing = 0.5 * float(v_out.max() - v_out.min())
    peak_slope = float(np.max(np.abs(np.diff(v_out) / np.diff(v_in))))
    return 0.5 * half_swing / peak_slope if peak_slope > 0 else 1.0


def device_weight_kind(spec: QuantSpec) -> tuple[WeightKind, int]:
    """The devices room's weight kind and level count for an IMAC layer's QuantSpec.

    binary -> binary; ternary -> ternary; uniform k-bit -> multilevel with ``2^k - 1``
    levels (symmetric, zero included) or ``2^k`` (asymmetric), the grid of
    :func:`imaclab.devices.memristor.quantize_weights`; fp32 -> real (analog
    conductances, the unquantized limit; levels 0).
    """
    if spec.kind in ("binary", "ternary"):
        return spec.kind, 3 if spec.kind == "ternary" else 2
    if spec.kind == "uniform":
        return "multilevel", (2 ** spec.bits - 1) if spec.symmetric else 2 ** spec.bits
    return "real", 0


def device_levels(w: torch.Tensor, kind: str, levels: int) -> torch.Tensor:
    """Torch twin of :func:`imaclab.devices.memristor.quantize_weights` (no gradient).

    Same formulas (numpy and torch both round half to even); the tests check it against
    the devices room's function.  A twin because the numpy round trip per training step
    costs ~15 % of a LeNet-5 step.
    """
    if kind == "binary":
        return (w >= 0).to(w.dtype).mul_(2.0).sub_(1.0)
    if kind == "ternary":
        return torch.round(w).clamp_(-1.0, 1.0)
    if kind == "multilevel":
        steps = levels - 1
        # same operation order as numpy's, so the float results agree bit for bit
        return torch.round((w.clamp(-1.0, 1.0) + 1.0) * steps / 2.0) * 2.0 / steps - 1.0
    if kind == "real":
        return w.clamp(-1.0, 1.0)
    raise ConfigError(f"unknown weight kind '{kind}': use binary, ternary, multilevel or real")


class _DeviceQuantSTE(torch.autograd.Function):
    """Snap to device levels; clipped straight-through gradient (zero where |w| > 1)."""

    @staticmethod
    def forward(ctx, w, kind, levels):
        ctx.save_for_backward((w.abs() <= STE_CLIP).to(w.dtype))
        return device_levels(w.detach(), kind, levels)

    @staticmethod
    def backward(ctx, grad):
        (passed,) = ctx.saved_tensors
        return grad * passed, None, None


class IMACLinear(nn.Module):
    """One crossbar layer: quantized differential weights, column gain, optional neuron.

    ``forward(v)`` takes input-line voltages ``[N, fan_in]`` and returns the neuron
    outputs (``neuron=True``) or the column signals ``u`` (output layer), volts.
    """

    # buffers (registered in __init__)
    gain_initialized: torch.Tensor

    def __init__(self, in_features: int, out_features: int, *, weight: QuantSpec, spec: IMACSpec,
                 curve: CurveActivation | None, layer_index: int = 0):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight_spec = weight
        self.kind, self.levels = device_weight_kind(weight)
        self.spec = spec
        self.layer_index = layer_index
        # latent weights in [-1, 1] (BinaryConnect clip); stored [out, in] like nn.Linear
        self.weight = nn.Parameter(torch.empty(self.out_features, self.in_features))
        self.bias = nn.Parameter(torch.zeros(self.out_features))
        self.log_amplifier_gain = nn.Parameter(torch.tensor(float(np.log(spec.initial_gain(layer_index)))),
                                               requires_grad=spec.learn_amplifier_gain)
        self.neuron = curve
        self.unit_gain = ideal_column_gain(self.in_features, spec.devices.r_low_ohm, spec.devices.r_high_ohm, 1.0)
        self.v_bias = bias_voltage(spec.neuron.vdd_v)
        self.noise_enabled = False
        self.noise_generator: np.random.Generator | None = None
        # the gain is initialized from the first training batch (data-dependent, like ActNorm)
        self.register_buffer("gain_initialized", torch.tensor(not spec.learn_amplifier_gain))
        self.target_signal_v = 0.0
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / np.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.zeros_(self.bias)

    def load_float(self, linear: nn.Linear) -> None:
        """Start from a float layer's weights, rescaled into the latent range [-1, 1]."""
        with torch.no_grad():
            peak = float(max(linear.weight.abs().max(), linear.bias.abs().max() if linear.bias is not None else 0))
            scale = 1.0 / peak if peak > 1.0 else 1.0
            self.weight.copy_(linear.weight * scale)
            if linear.bias is not None:
                self.bias.copy_(linear.bias * scale)

    # ---- quantized values -------------------------------------------------------------
    @property
    def amplifier_gain(self) -> torch.Tensor:
        return self.log_amplifier_gain.exp().clamp(*GAIN_BOUNDS)

    @property
    def amplifier_gain_value(self) -> float:
        """The amplifier voltage gain A as a number, V/V."""
        return float(self.amplifier_gain.detach())

    @property
    def column_gain(self) -> float:
        """Volts of ``u`` per (volt x unit weight): ``ideal_column_gain(fan_in, R_low, R_high, A)``."""
        return ideal_column_gain(self.in_features, self.spec.devices.r_low_ohm, self.spec.devices.r_high_ohm,
                                 self.amplifier_gain_value)

    def _normalized(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent weights/bias divided by the per-layer scale the devices room applies."""
        if self.kind in ("binary", "ternary"):
            return self.weight, self.bias
        # multilevel / real: divide by max |w| over weights and bias (DeviceConfig.weight_scale = auto)
        peak = torch.maximum(self.weight.detach().abs().max(), self.bias.detach().abs().max()).clamp_min(1e-12)
        return self.weight / peak, self.bias / peak

    def _ternary_prescale(self, w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scale latent ternary weights so that round() cuts at threshold * mean|w| (TWN)."""
        delta = (self.weight_spec.ternary_threshold * w.detach().abs().mean()).clamp_min(1e-12)
        factor = 0.5 / delta  # quantize_weights rounds: |w| > 0.5 -> +-1
        return w * factor, b * factor

    def quantized(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Wn [out, in], bn [out])`` on the device grid, with straight-through gradients."""
        w, b = self._normalized()
        if self.kind == "ternary":
            w_s, b_s = self._ternary_prescale(w, b)
            wq = _DeviceQuantSTE.apply(w_s, "ternary", self.levels)
            bq = _DeviceQuantSTE.apply(b_s, "ternary", self.levels)
            # straight-through to the latent weights (not the prescaled ones)
            return w + (wq - w).detach(), b + (bq - b).detach()
        return _DeviceQuantSTE.apply(w, self.kind, self.levels), _DeviceQuantSTE.apply(b, self.kind, self.levels)

    def effective(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantized weights, perturbed by device variation/faults when noise is enabled."""
        wq, bq = self.quantized()
        if not self.noise_enabled:
            return wq, bq
        # unseeded use draws its seed from torch's generator, which training seeds and checkpoints
        rng = self.noise_generator or np.random.default_rng(int(torch.randint(0, 2 ** 62, (1,))))
        w_eff = self._perturb(wq.detach(), rng)
        b_eff = self._perturb(bq.detach(), rng)
        return wq + (w_eff - wq).detach(), bq + (b_eff - bq).detach()

    def _perturb(self, wq: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        devices = self.spec.devices
        values = wq.cpu().double().numpy()
        g_pos, g_neg = map_conductances(values, devices, self.kind)
        g_pos = apply_nonidealities(g_pos, devices, rng)
        g_neg = apply_nonidealities(g_neg, devices, rng)
        if not is_static(devices):  # drift, read noise, ... at devices.time_s (imaclab.devices.aging)
            g_pos, g_neg = age(g_pos, g_neg, devices, rng, row_axis=values.ndim - 1)
        w_eff = (g_pos - g_neg) / delta_conductance_s(devices.r_low_ohm, devices.r_high_ohm)
        return torch.from_numpy(w_eff).to(dtype=wq.dtype, device=wq.device)

    def clip_latent(self) -> None:
        """Keep latent binary/ternary weights in [-1, 1] (BinaryConnect) after an optimizer step."""
        if self.kind in ("binary", "ternary"):
            with torch.no_grad():
                self.weight.clamp_(-STE_CLIP, STE_CLIP)
                self.bias.clamp_(-STE_CLIP, STE_CLIP)

    @torch.no_grad()
    def _init_gain(self, summed: torch.Tensor) -> None:
        """Choose A so the batch's column signals have standard deviation ``target_signal_v``."""
        spread = float(summed.std()) * self.unit_gain
        if self.target_signal_v > 0 and spread > 0:
            gain = min(max(self.target_signal_v / spread, GAIN_BOUNDS[0]), GAIN_BOUNDS[1])
            self.log_amplifier_gain.fill_(float(np.log(gain)))
        self.gain_initialized.fill_(True)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        wq, bq = self.effective()
        summed = torch.addmm(bq * self.v_bias, v, wq.t())  # v @ W + v_bias * b
        if self.training and not bool(self.gain_initialized):
            self._init_gain(summed)
        u = (self.unit_gain * self.amplifier_gain) * summed
        return self.neuron(u) if self.neuron is not None else u

    def extra_repr(self) -> str:
        return (f"{self.in_features} -> {self.out_features}, kind={self.kind}, levels={self.levels}, "
                f"neuron={'yes' if self.neuron is not None else 'no (output)'}")


class InputDrivers(nn.Module):
    """Data in [0, 1] -> input-line volts, by probing :func:`imaclab.devices.inputs.encode_inputs`.

    Analog mode is affine, so two probes (x = 0, 1) give it exactly; binary mode
    switches between the two probed levels at the threshold with a straight-through
    gradient (slope of the analog line).
    """

    def __init__(self, spec: IMACSpec):
        super().__init__()
        vdd = spec.neuron.vdd_v
        self.mode = spec.inputs.mode
        self.threshold = spec.inputs.threshold
        probe = encode_inputs(np.array([0.0, 1.0]), mode=self.mode, vdd_v=vdd, threshold=self.threshold)
        self.v_low, self.v_high = float(probe[0]), float(probe[1])
        if self.mode == "analog":
            mid = float(encode_inputs(np.array([0.5]), mode="analog", vdd_v=vdd)[0])
            if abs(mid - 0.5 * (self.v_low + self.v_high)) > 1e-9:
                raise ConfigError("analog input encoding is not affine; IMAC training assumes it is")

    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        span = self.v_high - self.v_low
        linear = self.v_low + span * x01
        if self.mode == "analog":
            return linear
        hard = torch.where(x01 >= self.threshold, torch.full_like(x01, self.v_high), torch.full_like(x01, self.v_low))
        return linear + (hard - linear).detach()

    def extra_repr(self) -> str:
        return f"mode={self.mode}, v=[{self.v_low:g}, {self.v_high:g}] V"


class _UnitQuantFunction(torch.autograd.Function):
    """``offset + span * round(clamp(x / full, 0, 1) * q) / q``; gradient ``span/full`` inside (0, full), else 0."""

    @staticmethod
    def forward(ctx, x, full_scale, qmax, offset, span):
        scaled = x / full_scale
        clamped = scaled.clamp(0.0, 1.0)
        ctx.save_for_backward(clamped == scaled)  # d out / d x = span / full_scale where not clipped
        ctx.factor = span / full_scale
        return torch.round(clamped.mul_(qmax)).mul_(span / qmax).add_(offset)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return torch.where(inside, grad * ctx.factor, 0.0), None, None, None, None


class UnitRange(nn.Module):
    """TPU features (>= 0 after ReLU) -> input codes in [0, 1], range calibrated.

    ``zero-centered``: ``code = 0.5 + 0.5 * q(x / full)`` with ``q`` rounding to
    ``bits - 1`` bits, so a zero feature drives 0 V (no line current, like a zero
    activation in software) -- codes use the upper half of the ``bits``-bit DAC.
    ``full-range``: ``code = q(x / full)`` on all ``bits`` bits (zero -> -VDD).
    The full scale (feature value mapped to code 1) follows an EMA of the batch maxima
    while training (``momentum``), as :class:`~imaclab.nn.quantizers.ActivationQuantizer`
    does, and is frozen at evaluation.
    """

    # buffers (registered in __init__)
    range_max: torch.Tensor
    initialized: torch.Tensor

    def __init__(self, bits: int = INPUT_DAC_BITS, momentum: float = 0.1, encoding: str = "zero-centered"):
        super().__init__()
        self.bits = bits
        self.momentum = momentum
        self.encoding = encoding
        if encoding == "zero-centered":
            self.offset, self.span, self.levels = 0.5, 0.5, 2 ** (bits - 1) - 1
        else:
            self.offset, self.span, self.levels = 0.0, 1.0, 2 ** bits - 1
        self.register_buffer("range_max", torch.zeros(()))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    @property
    def full_scale(self) -> torch.Tensor:
        """The feature value mapped to 1.0 (the calibrated range maximum)."""
        return self.range_max.clamp_min(1e-8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                batch_max = x.detach().max()
                if not bool(self.initialized):
                    self.range_max.copy_(batch_max)
                    self.initialized.fill_(True)
                else:
                    self.range_max.lerp_(batch_max, self.momentum)
        if not bool(self.initialized):
            return self.offset + self.span * x.clamp(0.0, 1.0)
        return _UnitQuantFunction.apply(x, float(self.full_scale), float(self.levels), self.offset, self.span)

    def extra_repr(self) -> str:
        return f"encoding={self.encoding}, bits={self.bits}, full_scale={float(self.range_max):.4g}"


class IMACHead(nn.Module):
    """A chain of IMAC layers: [0, 1] inputs -> drivers -> crossbars + neurons -> output column signals.

    Hidden layer ``i`` applies ``layer_curves[i]``: the neuron curve under the load of layer
    ``i + 1``'s rows, by the circuit's own rule
    (:func:`imaclab.circuit.description.hidden_layer_curves`; the device curve itself for a
    behavioral neuron or a buffered output).
    """

    def __init__(self, dims: Sequence[int], weights: Sequence[QuantSpec], spec: IMACSpec, *, unit_inputs: bool,
                 curve: NeuronCurve | None = None):
        super().__init__()
        if len(weights) != len(dims) - 1:
            raise ConfigError(f"IMAC head: {len(dims) - 1} layers but {len(weights)} weight specs")
        if spec.circuit.convention == "imacsim":
            raise ConfigError("training models the imaclab circuit convention: set policy.imac.circuit.convention "
                              "to auto or imaclab (evaluate IMAC-Sim networks with imaclab imac run)")
        self.spec = spec
        self.circuit_loop: CircuitLoop | None = None   # circuit-in-the-loop training (imaclab.nn.circuit_loop)
        self.dims = [int(d) for d in dims]
        curve = curve if curve is not None else load_neuron_curve(spec.neuron, spec.neuron_cache_dir)
        self.curve_source = curve.source
        #: the effective neuron curve of each hidden layer (the circuit's NetworkCircuit.layer_curves)
        self.layer_curves = hidden_layer_curves(curve, self.dims[1:], neuron_kind=spec.neuron.kind,
                                                loading=spec.circuit.loading.mode, convention="imaclab",
                                                r_low_ohm=spec.devices.r_low_ohm, r_high_ohm=spec.devices.r_high_ohm)
        self.to_unit = nn.Identity() if unit_inputs else UnitRange(encoding=spec.feature_encoding)
        self.unit_inputs = unit_inputs
        self.drivers = InputDrivers(spec)
        n = len(weights)
        # an nn.ModuleList (torch's is not generic): typed as the sequence of IMACLinear it holds
        self.layers = cast("Sequence[IMACLinear]", nn.ModuleList(
            IMACLinear(a, b, weight=w, spec=spec,
                       curve=CurveActivation.from_curve(self.layer_curves[i]) if i < n - 1 else None,
                       layer_index=i)
            for i, (a, b, w) in enumerate(zip(self.dims[:-1], self.dims[1:], weights))))
        # the output layer's gain only sets the softmax temperature: keep it fixed
        self.layers[-1].log_amplifier_gain.requires_grad_(False)
        target = neuron_signal_scale(curve)
        for layer in self.layers:
            layer.target_signal_v = target
        # logits = u / target start with unit spread (the output gain is initialized to the same target)
        self.log_logit_scale = nn.Parameter(torch.tensor(float(np.log(1.0 / target))))

    def network_config(self) -> NetworkConfig:
        """The circuit this head was trained for, with its trained amplifier gains."""
        return self.spec.network_config([layer.amplifier_gain_value for layer in self.layers])

    @classmethod
    def from_linears(cls, linears: Sequence[nn.Linear], weights: Sequence[QuantSpec], spec: IMACSpec, *,
                     unit_inputs: bool) -> IMACHead:
        dims = [linears[0].in_features] + [lin.out_features for lin in linears]
        head = cls(dims, weights, spec, unit_inputs=unit_inputs)
        for layer, linear in zip(head.layers, linears):
            layer.load_float(linear)
        return head

    def column_signals(self, x01: torch.Tensor) -> torch.Tensor:
        """Output-layer column voltages ``u`` (volts) for inputs in [0, 1] (the circuit's readout);
        the circuit's own, solved, when a :class:`~imaclab.nn.circuit_loop.CircuitLoop` is attached."""
        if self.circuit_loop is not None:
            return self.circuit_loop.forward(x01)
        v = self.drivers(x01)
        for layer in self.layers:
            v = layer(v)
        return v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.column_signals(self.to_unit(x)) * self.log_logit_scale.exp()

    def set_noise(self, enabled: bool, seed: int | None = None) -> None:
        """Turn device variation/faults on or off; ``seed`` makes the draws reproducible."""
        for i, layer in enumerate(self.layers):
            layer.noise_enabled = enabled
            layer.noise_generator = np.random.default_rng([seed, i]) if (enabled and seed is not None) else None

    def clip_latent(self) -> None:
        for layer in self.layers:
            layer.clip_latent()
