"""Hardware-aware layers: 8-bit TPU convolutions / linear layers and IMAC crossbar layers.

TPU part (systolic array, integer MACs):

* :class:`QConv2d` (and :class:`QDepthwiseConv2d`) -- convolution whose weights are
  fake-quantized (default 8-bit symmetric per output channel) and whose *inputs* are
  fake-quantized activations (default 8-bit, range calibrated), i.e. exactly the
  operands an int8 systolic array multiplies.  With per-channel weight scales a
  following BatchNorm folds into the per-channel requantization scale without
  changing the integer weights, so BN stays a separate float module here.
* :class:`QLinear` -- the same for a fully connected layer run on the TPU.

IMAC part (analog crossbar + analog sigmoid neurons):

* :class:`CurveActivation` -- the neuron's transfer curve as a differentiable torch
  function: piecewise-linear interpolation of the circuit room's characterized table
  (``NeuronCurve.v_in``/``v_out``), gradient = the table's true slope, flat (zero
  slope) outside the table like ``numpy.interp``.
* :class:`IMACLinear` -- crossbar layer in volts:
  ``v_neuron_in = gain * (v_in @ Wq + v_bias * bq)`` with ``Wq`` binary / ternary /
  multi-level, optional device variation and stuck-at faults, then the neuron curve.
* :class:`IMACHead` -- a chain of IMAC layers replacing a model's FC head: converts
  its [0, 1] inputs to crossbar voltages with the circuit room's input encoding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from imaclab.errors import ConfigError
from imaclab.nn.quantizers import ActivationQuantizer, Calibration, QuantSpec, make_weight_quantizer

TPU_BITS = 8
"""Default operand width of the systolic array (int8 MACs, as Google's TPUv1)."""


# ------------------------------------------------------------------------------ TPU layers
class QConv2d(nn.Conv2d):
    """Conv2d with fake-quantized weights and input activations (the TPU's int operands)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, *, weight_spec: QuantSpec | None = None,
                 act_bits: int | None = TPU_BITS, act_calibration: Calibration = "minmax"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)
        self.weight_spec = weight_spec or QuantSpec(kind="uniform", bits=TPU_BITS)
        self.weight_quant = make_weight_quantizer(self.weight_spec, out_channels)
        self.input_quant = ActivationQuantizer(act_bits, calibration=act_calibration) if act_bits else nn.Identity()
        self.act_bits = act_bits

    @classmethod
    def from_float(cls, conv: nn.Conv2d, *, weight_spec: QuantSpec, act_bits: int | None = TPU_BITS,
                   act_calibration: Calibration = "minmax") -> QConv2d:
        """A quantized copy of ``conv`` sharing its trained weights."""
        q = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                conv.groups, conv.bias is not None, weight_spec=weight_spec, act_bits=act_bits,
                act_calibration=act_calibration)
        with torch.no_grad():
            q.weight.copy_(conv.weight)
            if conv.bias is not None and q.bias is not None:  # q has a bias exactly when conv has
                q.bias.copy_(conv.bias)
        return q

    @property
    def is_depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.in_channels

    def forward(self, x):
        return self._conv_forward(self.input_quant(x), self.weight_quant(self.weight), self.bias)


class QDepthwiseConv2d(QConv2d):
    """Depthwise (one filter per channel) quantized convolution."""

    def __init__(self, channels: int, kernel_size, stride=1, padding=0, bias: bool = True, **kwargs):
        super().__init__(channels, channels, kernel_size, stride, padding, groups=channels, bias=bias, **kwargs)


class QLinear(nn.Linear):
    """Linear layer with fake-quantized weights and inputs (a fully connected layer on the TPU)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 weight_spec: QuantSpec | None = None, act_bits: int | None = TPU_BITS,
                 act_calibration: Calibration = "minmax"):
        super().__init__(in_features, out_features, bias)
        self.weight_spec = weight_spec or QuantSpec(kind="uniform", bits=TPU_BITS)
        self.weight_quant = make_weight_quantizer(self.weight_spec, out_features)
        self.input_quant = ActivationQuantizer(act_bits, calibration=act_calibration) if act_bits else nn.Identity()
        self.act_bits = act_bits

    @classmethod
    def from_float(cls, linear: nn.Linear, *, weight_spec: QuantSpec, act_bits: int | None = TPU_BITS,
                   act_calibration: Calibration = "minmax") -> QLinear:
        q = cls(linear.in_features, linear.out_features, linear.bias is not None, weight_spec=weight_spec,
                act_bits=act_bits, act_calibration=act_calibration)
        with torch.no_grad():
            q.weight.copy_(linear.weight)
            if linear.bias is not None:
                q.bias.copy_(linear.bias)
        return q

    def forward(self, x):
        return nn.functional.linear(self.input_quant(x), self.weight_quant(self.weight), self.bias)


# ------------------------------------------------------------------------------ neuron curve
class _CurveFunction(torch.autograd.Function):
    """Table lookup on a uniform grid; backward = the segment's slope (0 outside the table).

    ``v_ext``/``slope_ext`` are the table's left-knot values and segment slopes padded
    with one flat segment on each side (index 0: left of the table, index n: right of
    it), so out-of-range inputs need no mask; knots are ``first + i * step``.
    """

    @staticmethod
    def forward(ctx, u, v_ext, slope_ext, first, step):
        n = v_ext.numel() - 1  # table points
        seg = ((u - first) / step).floor_().clamp_(-1, n - 1)
        idx = (seg + 1).long()
        seg_slope = slope_ext.take(idx)
        ctx.save_for_backward(seg_slope)
        knot = seg.mul_(step).add_(first)
        return (u - knot).mul_(seg_slope).add_(v_ext.take(idx))

    @staticmethod
    def backward(ctx, grad):
        (seg_slope,) = ctx.saved_tensors
        return grad * seg_slope, None, None, None, None


class CurveActivation(nn.Module):
    """Piecewise-linear interpolation of a measured transfer curve ``v_out(v_in)`` (volts).

    Equal to ``numpy.interp(v, v_in, v_out)`` (constant beyond the table's ends); its
    gradient is the slope of the table segment the input falls in.
    """

    # buffers (registered in __init__)
    v_in: torch.Tensor
    v_out: torch.Tensor
    slope: torch.Tensor
    v_ext: torch.Tensor
    slope_ext: torch.Tensor

    def __init__(self, v_in: Sequence[float] | np.ndarray, v_out: Sequence[float] | np.ndarray):
        super().__init__()
        self._set_table(v_in, v_out)
        self.register_load_state_dict_pre_hook(CurveActivation._adopt_loaded_table)

    @staticmethod
    def _adopt_loaded_table(module, state_dict, prefix, *_args) -> None:
        """A checkpoint holding another table replaces this one, with its derived lookup tables.

        The same table (the usual case) is left alone, so the lookup built from the float64
        curve is not rebuilt from its float32 copy (which would shift segment boundaries).
        """
        v_in, v_out = state_dict.get(prefix + "v_in"), state_dict.get(prefix + "v_out")
        if v_in is None or v_out is None:
            return
        if v_in.shape == module.v_in.shape and torch.equal(v_in, module.v_in) and torch.equal(v_out, module.v_out):
            return
        module._set_table(v_in.double().numpy(), v_out.double().numpy())

    def _set_table(self, v_in, v_out) -> None:
        v_in = np.asarray(v_in, dtype=np.float64)
        v_out = np.asarray(v_out, dtype=np.float64)
        if v_in.ndim != 1 or v_in.shape != v_out.shape or v_in.size < 2:
            raise ConfigError(f"neuron curve needs two equal 1-D tables of >= 2 points, got {v_in.shape} "
                              f"and {v_out.shape}")
        if not np.all(np.isfinite(v_in)) or not np.all(np.isfinite(v_out)):
            raise ConfigError("neuron curve holds NaN or infinite values: re-characterize the neuron")
        if np.any(np.diff(v_in) <= 0):
            raise ConfigError("neuron curve input voltages must be strictly increasing")
        slope = np.diff(v_out) / np.diff(v_in)
        step = (v_in[-1] - v_in[0]) / (v_in.size - 1)
        # a uniformly sampled table (DC sweeps are) is indexed arithmetically, ~10x faster than bucketize
        self.uniform_step = float(step) if np.allclose(np.diff(v_in), step, rtol=1e-6, atol=0.0) else 0.0
        self.register_buffer("v_in", torch.tensor(v_in, dtype=torch.float32))
        self.register_buffer("v_out", torch.tensor(v_out, dtype=torch.float32))
        self.register_buffer("slope", torch.tensor(slope, dtype=torch.float32))
        # padded tables of the uniform-grid lookup: [left of table, segments..., right of table]
        v_ext = np.concatenate([[v_out[0]], v_out[:-1], [v_out[-1]]])
        slope_ext = np.concatenate([[0.0], slope, [0.0]])
        self.register_buffer("v_ext", torch.tensor(v_ext, dtype=torch.float32), persistent=False)
        self.register_buffer("slope_ext", torch.tensor(slope_ext, dtype=torch.float32), persistent=False)

    @classmethod
    def from_curve(cls, curve) -> CurveActivation:
        """From an object with ``v_in`` and ``v_out`` arrays (``imaclab.devices.neuron.NeuronCurve``)."""
        return cls(curve.v_in, curve.v_out)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        knots = self.v_in
        first, last = float(knots[0]), float(knots[-1])
        if self.uniform_step > 0:
            return _CurveFunction.apply(v, self.v_ext, self.slope_ext, first, self.uniform_step)
        clamped = torch.clamp(v, min=first, max=last)
        # segment index i such that knots[i] <= v < knots[i+1] (the last segment holds the right end)
        idx = torch.bucketize(clamped.detach(), knots[1:-1], right=True)
        return self.v_out[idx] + self.slope[idx] * (clamped - knots[idx])

    def extra_repr(self) -> str:
        return (f"points={self.v_in.numel()}, v_in=[{float(self.v_in[0]):.3g}, {float(self.v_in[-1]):.3g}] V, "
                f"v_out=[{float(self.v_out.min()):.3g}, {float(self.v_out.max()):.3g}] V")
