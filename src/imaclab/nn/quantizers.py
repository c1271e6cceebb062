"""Fake quantizers with straight-through gradients (torch modules).

Each quantizer maps a float tensor to the nearest value the hardware can hold and
passes gradients straight through (Bengio et al. 2013, "Estimating or propagating
gradients through stochastic neurons"), zeroed outside the representable range.

* :class:`BinaryQuantizer` -- ``alpha * sign(w)`` (BinaryConnect, Courbariaux et al.
  2015; mean-|w| scale of XNOR-Net, Rastegari et al. 2016; or a learned scale; or no
  scale for crossbars whose scale is the circuit's gain).
* :class:`TernaryQuantizer` -- ``alpha * {-1, 0, +1}`` with threshold
  ``delta = t * mean|w|`` (Ternary Weight Networks, Li & Liu 2016, t = 0.7).
* :class:`UniformQuantizer` -- k-bit uniform weights, symmetric (integers in
  ``[-(2^(k-1)-1), 2^(k-1)-1]``, zero point 0, the restricted int8 range of TFLite /
  TPU weights) or asymmetric (``[0, 2^k - 1]`` with a zero point), per tensor or per
  output channel; range from the tensor's own min/max on every call.
* :class:`ActivationQuantizer` -- k-bit uniform activations whose range is observed
  (EMA of batch min/max or a percentile while training, or accumulated during
  :func:`calibrate`), then frozen at evaluation.

The uniform quantizers use :func:`fake_quantize`, numerically the same as
``torch.fake_quantize_per_tensor_affine`` (same rounding, clipping and clipped
straight-through gradient) but written with vectorized elementwise ops: the torch CPU
kernel of torch 2.x runs ~20x slower than these on this machine.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from imaclab.config import ConfigModel
from imaclab.errors import ConfigError

MIN_BITS, MAX_BITS = 2, 8
"""Bit widths supported by the uniform quantizers (the issue's k = 2..8)."""
TWN_THRESHOLD = 0.7
"""Ternary threshold as a fraction of mean |w| (Li & Liu 2016, Eq. 8 approximation)."""
STE_CLIP = 1.0
"""Latent weights beyond +-1 get no gradient through sign/ternary (BinaryConnect's clip)."""
EPS = 1e-8
"""Floor of a quantization scale, so an all-zero tensor does not divide by zero."""

WeightKind = Literal["fp32", "binary", "ternary", "uniform"]
ScaleMode = Literal["mean", "learned", "none"]


class QuantSpec(ConfigModel):
    """How one tensor (weights or activations) is quantized."""

    kind: WeightKind = Field("uniform", description="fp32 (no quantization), binary, ternary or uniform k-bit")
    bits: int = Field(8, ge=MIN_BITS, le=MAX_BITS, description="bit width of uniform quantization (2..8)")
    symmetric: bool = Field(True, description="uniform: symmetric integer range with zero point 0, else asymmetric")
    per_channel: bool = Field(True, description="uniform/binary/ternary weights: one scale per output channel")
    scale: ScaleMode = Field("mean", description="binary/ternary scale: mean |w| (closed form), learned, or none "
                                                  "(values exactly -1/0/+1; the circuit gain scales them)")
    ternary_threshold: float = Field(TWN_THRESHOLD, gt=0.0, lt=2.0,
                                     description="ternary: zero weights with |w| < threshold * mean|w|")


# ------------------------------------------------------------------------------ STE functions
class _FakeQuantFunction(torch.autograd.Function):
    """Forward: the quantized values; backward: the gradient where the code was in range."""

    @staticmethod
    def forward(ctx, x, scale, zero, qmin, qmax):
        codes = torch.round(x / scale)
        if zero is not None:
            codes.add_(zero)
        clamped = codes.clamp(qmin, qmax)
        ctx.save_for_backward(clamped == codes)  # in range: the code was not clipped
        if zero is not None:
            clamped.sub_(zero)
        return clamped.mul_(scale)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return torch.where(inside, grad, 0.0), None, None, None, None


def fake_quantize(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, qmin: int, qmax: int,
                  axis: int | None = None) -> torch.Tensor:
    """``(clamp(round(x / scale) + zero_point, qmin, qmax) - zero_point) * scale``, clipped STE gradient.

    ``scale``/``zero_point`` are scalars, or vectors along ``axis`` (per channel).  The
    gradient is 1 where ``round(x / scale) + zero_point`` lies in ``[qmin, qmax]`` and 0
    outside, exactly as for ``torch.fake_quantize_per_tensor_affine``.
    """
    if axis is not None and scale.dim() == 1:
        shape = [1] * x.dim()
        shape[axis] = -1
        scale = scale.view(shape)
        zero_point = zero_point.view(shape)
    # symmetric quantizers have zero points of 0: skip two passes over the tensor
    zero = None if not bool(zero_point.any()) else zero_point.to(x.dtype)
    return _FakeQuantFunction.apply(x, scale.to(x.dtype), zero, qmin, qmax)


class _SignSTE(torch.autograd.Function):
    """sign(w) with sign(0) = +1; gradient passed where |w| <= STE_CLIP."""

    @staticmethod
    def forward(ctx, w):
        ctx.save_for_backward(w)
        return torch.where(w >= 0, torch.ones_like(w), -torch.ones_like(w))

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * (w.abs() <= STE_CLIP).to(grad.dtype)


class _TernarySTE(torch.autograd.Function):
    """sign(w) * [|w| > delta]; gradient passed where |w| <= STE_CLIP."""

    @staticmethod
    def forward(ctx, w, delta):
        ctx.save_for_backward(w)
        return torch.sign(w) * (w.abs() > delta).to(w.dtype)

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * (w.abs() <= STE_CLIP).to(grad.dtype), None


def sign_ste(w: torch.Tensor) -> torch.Tensor:
    """Binary {-1, +1} values with a clipped straight-through gradient."""
    return _SignSTE.apply(w)


def ternary_ste(w: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Ternary {-1, 0, +1} values (zero where ``|w| <= delta``) with a clipped straight-through gradient."""
    return _TernarySTE.apply(w, delta)


def _channel_view(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a per-output-channel vector to broadcast over a weight tensor (axis 0)."""
    return values.reshape(-1, *([1] * (like.dim() - 1)))


def _reduce_abs_mean(w: torch.Tensor, per_channel: bool, mask: torch.Tensor | None = None) -> torch.Tensor:
    a = w.abs() if mask is None else w.abs() * mask
    if per_channel and w.dim() > 1:
        dims = tuple(range(1, w.dim()))
        if mask is None:
            return a.mean(dim=dims)
        return a.sum(dim=dims) / mask.sum(dim=dims).clamp_min(1.0)
    return a.mean() if mask is None else a.sum() / mask.sum().clamp_min(1.0)


# ------------------------------------------------------------------------------ quantizers
class WeightQuantizer(nn.Module):
    """Base of weight quantizers: ``forward(w)`` returns fake-quantized weights."""

    spec: QuantSpec

    def codes(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer levels and the scale such that ``forward(w) == codes * scale`` (+ zero point for asymmetric)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.spec.to_dict().items())


class IdentityQuantizer(WeightQuantizer):
    """No quantization (FP32)."""

    def __init__(self, spec: QuantSpec | None = None):
        super().__init__()
        self.spec = spec or QuantSpec(kind="fp32")

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w

    def codes(self, w):
        return w.detach(), torch.ones(())


class _ScaledQuantizer(WeightQuantizer):
    """Shared scale handling of binary and ternary quantizers."""

    # buffers (registered in __init__)
    scale_initialized: torch.Tensor

    def __init__(self, spec: QuantSpec, channels: int = 1):
        super().__init__()
        self.spec = spec
        n = channels if spec.per_channel else 1
        if spec.scale == "learned":
            self.log_scale = nn.Parameter(torch.zeros(n))
            self.register_buffer("scale_initialized", torch.zeros((), dtype=torch.bool))

    def _scale(self, w: torch.Tensor, closed_form: torch.Tensor) -> torch.Tensor:
        if self.spec.scale == "none":
            return torch.ones((), dtype=w.dtype, device=w.device)
        if self.spec.scale == "mean":
            # treated as a constant in the backward pass, as in DoReFa-Net / TWN training
            scale = closed_form.detach()
        else:
            if not bool(self.scale_initialized):
                with torch.no_grad():
                    init = closed_form.detach().clamp_min(EPS).log()
                    self.log_scale.copy_(init.expand_as(self.log_scale))
                    self.scale_initialized.fill_(True)
            scale = self.log_scale.exp()
        return _channel_view(scale, w) if scale.dim() == 1 and scale.numel() > 1 else scale.reshape(())


class BinaryQuantizer(_ScaledQuantizer):
    """``alpha * sign(w)``; alpha = mean |w| (per channel or tensor), learned, or 1."""

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        levels = sign_ste(w)
        return levels * self._scale(w, _reduce_abs_mean(w, self.spec.per_channel))

    def codes(self, w):
        with torch.no_grad():
            return sign_ste(w), self._scale(w, _reduce_abs_mean(w, self.spec.per_channel))


class TernaryQuantizer(_ScaledQuantizer):
    """``alpha * t`` with ``t = sign(w) * [|w| > threshold * mean|w|]`` (TWN)."""

    def _delta(self, w: torch.Tensor) -> torch.Tensor:
        mean_abs = _reduce_abs_mean(w.detach(), self.spec.per_channel)
        if mean_abs.dim() == 1:
            mean_abs = _channel_view(mean_abs, w)
        return self.spec.ternary_threshold * mean_abs

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        delta = self._delta(w)
        levels = ternary_ste(w, delta)
        # TWN's optimal scale: the mean |w| of the weights that stay non-zero
        closed = _reduce_abs_mean(w, self.spec.per_channel, mask=(w.abs() > delta).to(w.dtype))
        return levels * self._scale(w, closed)

    def codes(self, w):
        with torch.no_grad():
            delta = self._delta(w)
            closed = _reduce_abs_mean(w, self.spec.per_channel, mask=(w.abs() > delta).to(w.dtype))
            return ternary_ste(w, delta), self._scale(w, closed)


def integer_range(bits: int, symmetric: bool) -> tuple[int, int]:
    """``(qmin, qmax)`` of a k-bit code: restricted symmetric ``+-(2^(k-1)-1)`` or unsigned ``0..2^k-1``."""
    if not MIN_BITS <= bits <= MAX_BITS:
        raise ConfigError(f"bit width {bits} is not supported: use {MIN_BITS}..{MAX_BITS}")
    if symmetric:
        qmax = 2 ** (bits - 1) - 1
        return -qmax, qmax
    return 0, 2 ** bits - 1


class UniformQuantizer(WeightQuantizer):
    """k-bit uniform weight quantizer, range from the tensor's min/max (per tensor or per channel)."""

    def __init__(self, spec: QuantSpec, channels: int = 1):
        super().__init__()
        self.spec = spec
        self.qmin, self.qmax = integer_range(spec.bits, spec.symmetric)

    def qparams(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scale (float32) and zero point (int32), per output channel or per tensor."""
        w = w.detach()
        per_channel = self.spec.per_channel and w.dim() > 1
        flat = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
        if self.spec.symmetric:
            scale = (flat.abs().amax(dim=1) / self.qmax).clamp_min(EPS)
            zero = torch.zeros_like(scale, dtype=torch.int32)
        else:
            lo = flat.amin(dim=1).clamp_max(0.0)  # the range must hold an exact zero
            hi = flat.amax(dim=1).clamp_min(0.0)
            scale = ((hi - lo) / (self.qmax - self.qmin)).clamp_min(EPS)
            zero = (self.qmin - torch.round(lo / scale)).clamp(self.qmin, self.qmax).to(torch.int32)
        if not per_channel:
            return scale[0].float(), zero[0]
        return scale.float(), zero

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        scale, zero = self.qparams(w)
        return fake_quantize(w, scale, zero, self.qmin, self.qmax, axis=0 if scale.dim() == 1 else None)

    def codes(self, w):
        with torch.no_grad():
            scale, zero = self.qparams(w)
            s = _channel_view(scale, w) if scale.dim() == 1 else scale
            z = _channel_view(zero, w) if zero.dim() == 1 else zero
            return torch.clamp(torch.round(w / s) + z, self.qmin, self.qmax) - z, s


def make_weight_quantizer(spec: QuantSpec, channels: int = 1) -> WeightQuantizer:
    """The weight quantizer module that ``spec`` describes (``channels`` = output channels)."""
    if spec.kind == "fp32":
        return IdentityQuantizer(spec)
    if spec.kind == "binary":
        return BinaryQuantizer(spec, channels)
    if spec.kind == "ternary":
        return TernaryQuantizer(spec, channels)
    return UniformQuantizer(spec, channels)


# ------------------------------------------------------------------------------ activations
Calibration = Literal["minmax", "percentile"]


class ActivationQuantizer(nn.Module):
    """k-bit uniform activation fake-quantizer with an observed, then frozen, range.

    While training, the range follows an exponential moving average (``momentum``) of
    each batch's min/max (or ``percentile``/``100-percentile``).  Inside :func:`calibrate`
    it instead accumulates the extreme values over the calibration batches.  At
    evaluation the range is frozen.  Before any range has been observed the quantizer
    passes values through unchanged.
    """

    # buffers (registered in __init__)
    range_min: torch.Tensor
    range_max: torch.Tensor
    initialized: torch.Tensor

    def __init__(self, bits: int = 8, *, symmetric: bool = False, calibration: Calibration = "minmax",
                 percentile: float = 99.99, momentum: float = 0.1):
        super().__init__()
        self.bits = int(bits)
        self.symmetric = bool(symmetric)
        self.calibration = calibration
        self.percentile = float(percentile)
        self.momentum = float(momentum)
        self.qmin, self.qmax = integer_range(self.bits, self.symmetric)
        self.calibrating = False
        self.register_buffer("range_min", torch.zeros(()))
        self.register_buffer("range_max", torch.zeros(()))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def extra_repr(self) -> str:
        return f"bits={self.bits}, symmetric={self.symmetric}, calibration={self.calibration}"

    def reset(self) -> None:
        self.range_min.zero_()
        self.range_max.zero_()
        self.initialized.fill_(False)

    def _batch_range(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.detach()
        if self.calibration == "percentile" and x.numel() > 1:
            flat = x.reshape(-1).float()
            if flat.numel() > 2 ** 20:  # torch.quantile's input limit; a strided sample is enough
                flat = flat[:: flat.numel() // 2 ** 20 + 1]
            q = torch.tensor([1.0 - self.percentile / 100.0, self.percentile / 100.0], device=flat.device)
            lo, hi = torch.quantile(flat, q)
            return lo, hi
        return x.min(), x.max()

    def observe(self, x: torch.Tensor) -> None:
        """Update the range from batch ``x`` (EMA when training, running extremes when calibrating)."""
        lo, hi = self._batch_range(x)
        with torch.no_grad():
            if not bool(self.initialized):
                self.range_min.copy_(lo)
                self.range_max.copy_(hi)
                self.initialized.fill_(True)
            elif self.calibrating:
                self.range_min.copy_(torch.minimum(self.range_min, lo))
                self.range_max.copy_(torch.maximum(self.range_max, hi))
            else:
                self.range_min.lerp_(lo, self.momentum)
                self.range_max.lerp_(hi, self.momentum)

    def qparams(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Scale and zero point of the current range (zero always representable)."""
        lo = self.range_min.clamp_max(0.0)
        hi = self.range_max.clamp_min(0.0)
        if self.symmetric:
            scale = (torch.maximum(-lo, hi) / self.qmax).clamp_min(EPS)
            zero = torch.zeros((), dtype=torch.int32, device=scale.device)
        else:
            scale = ((hi - lo) / (self.qmax - self.qmin)).clamp_min(EPS)
            zero = (self.qmin - torch.round(lo / scale)).clamp(self.qmin, self.qmax).to(torch.int32)
        return scale.float(), zero

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or self.calibrating:
            self.observe(x)
        if not bool(self.initialized):
            return x
        scale, zero = self.qparams()
        return fake_quantize(x, scale, zero, self.qmin, self.qmax)


@torch.no_grad()
def calibrate(model: nn.Module, batches, *, reset: bool = True) -> int:
    """Observe activation ranges over ``batches`` (an iterable of input tensors or (x, y) pairs).

    Runs ``model`` in eval mode, with every :class:`ActivationQuantizer` accumulating
    its min/max (or percentiles); returns the number of samples seen.  The model's
    train/eval mode is restored afterwards.
    """
    quantizers = [m for m in model.modules() if isinstance(m, ActivationQuantizer)]
    was_training = model.training
    model.eval()
    for q in quantizers:
        if reset:
            q.reset()
        q.calibrating = True
    seen = 0
    try:
        for batch in batches:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            model(x)
            seen += int(x.shape[0])
    finally:
        for q in quantizers:
            q.calibrating = False
        model.train(was_training)
    return seen
