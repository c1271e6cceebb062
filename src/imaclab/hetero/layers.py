"""Layer extraction: trace any ``torch.nn.Module`` with a sample input into a flat layer list.

:func:`extract_layers` runs one forward pass of a single sample and records, in execution
order, every layer the accelerator has to execute:

========== =====================================================================================
kind       recorded from
========== =====================================================================================
conv       ``nn.Conv2d`` with ``groups == 1`` and a kernel larger than 1x1 (or grouped convolution)
depthwise  ``nn.Conv2d`` with ``groups == in_channels > 1`` (one filter per channel)
pointwise  ``nn.Conv2d`` with a 1x1 kernel and ``groups == 1``
linear     ``nn.Linear`` (and the quantized ``QLinear``) and the IMAC crossbar layer ``IMACLinear``
pool       ``nn.MaxPool2d`` / ``AvgPool2d`` / ``AdaptiveAvg/MaxPool2d`` modules, the functional
           ``max_pool2d`` / ``avg_pool2d`` / ``adaptive_*_pool2d``, and a spatial ``mean`` over
           dims (2, 3) of a 4-D activation (global average pooling written as ``x.mean((2, 3))``)
add        a tensor + tensor of the same shape outside any recorded layer (residual connections)
========== =====================================================================================

Modules are seen through forward hooks (exact input/output shapes); functional operations
through a :class:`torch.overrides.TorchFunctionMode`, counted only when they are not inside a
recorded layer or inside a module whose internals are not accelerator layers (quantizers, the
IMAC head's input drivers, the input normalization).  BatchNorm, ReLU, flatten, concatenation,
channel shuffle and dropout are not recorded: an int8 accelerator folds BatchNorm and the
activation into the requantization of the preceding layer's outputs, and the others only
re-index data.

Precisions come from the modules: ``QConv2d``/``QLinear`` carry their weight and input bit
widths (the TPU's integer operands), ``IMACLinear`` its device weight kind and level count,
and a plain float layer is reported as 32-bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from imaclab.errors import InputError

if TYPE_CHECKING:
    from imaclab.nn.imac_layers import IMACLinear

LayerKind = Literal["conv", "depthwise", "pointwise", "linear", "pool", "add"]
COMPUTE_KINDS = ("conv", "depthwise", "pointwise", "linear")
"""Kinds with weights, executed as matrix products (systolic array or crossbar)."""
FLOAT_BITS = 32
"""Bit width reported for an unquantized (float32) layer's weights and inputs."""
BIAS_BITS = 32
"""Bias width of an integer accelerator: int32 biases added to int32 accumulators (TFLite int8 scheme,
Jacob et al. CVPR 2018, section 2.4)."""

_POOL_FUNCS = {"max_pool2d": "max", "avg_pool2d": "avg", "adaptive_avg_pool2d": "avg",
               "adaptive_max_pool2d": "max"}
_ADD_FUNCS = {"add", "add_", "__add__", "__iadd__", "__radd__"}


@dataclass(frozen=True)
class LayerSpec:
    """One executed layer with per-sample shapes (no batch dimension) and precisions.

    ``in_shape``/``out_shape`` are ``(C, H, W)`` for feature maps and ``(F,)`` for vectors.
    ``kernel``, ``stride`` and ``padding`` are ``(h, w)``; for a linear layer they are (1, 1),
    (1, 1), (0, 0).  ``macs`` counts multiply-accumulates of one sample; ``params`` the weights
    (no bias), ``bias`` the bias entries.  ``target`` is where the traced model itself runs
    the layer: ``tpu`` (quantized TPU layer), ``imac`` (crossbar layer), ``fp32`` (float layer)
    or ``vector`` (pooling / elementwise, no weights).
    """

    index: int
    name: str
    kind: LayerKind
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    in_channels: int
    out_channels: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1
    macs: int = 0
    params: int = 0
    bias: int = 0
    target: str = "fp32"
    weight_kind: str = "fp32"
    weight_bits: int | None = FLOAT_BITS
    weight_levels: int | None = None
    act_bits: int | None = FLOAT_BITS
    pool_op: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_compute(self) -> bool:
        """True for layers with weights (conv, depthwise, pointwise, linear)."""
        return self.kind in COMPUTE_KINDS

    @property
    def in_elements(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_elements(self) -> int:
        return math.prod(self.out_shape)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("in_shape", "out_shape", "kernel", "stride", "padding"):
            out[key] = list(out[key])
        return out


# ------------------------------------------------------------------------------ module classification
def _pair(value) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    values = tuple(int(v) for v in value)
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


def _imac_classes() -> tuple[type[IMACLinear], ...]:
    from imaclab.nn.imac_layers import IMACLinear

    return (IMACLinear,)


def _opaque_classes() -> tuple[type, ...]:
    """Modules whose internal tensor operations are not accelerator layers."""
    from imaclab.nn import quantizers
    from imaclab.nn.imac_layers import InputDrivers, UnitRange
    from imaclab.nn.layers import CurveActivation
    from imaclab.nn.zoo import Normalize

    return (quantizers.WeightQuantizer, quantizers.ActivationQuantizer, InputDrivers, UnitRange, CurveActivation,
            Normalize)


_POOL_MODULES = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def _is_recorded(module: nn.Module) -> bool:
    return isinstance(module, (nn.Conv2d, nn.Linear, *_POOL_MODULES, *_imac_classes()))


def _precision(module: nn.Module) -> dict[str, Any]:
    """target, weight kind/bits/levels and input bits of a layer module."""
    from imaclab.nn.layers import QConv2d, QLinear

    if isinstance(module, (QConv2d, QLinear)):
        spec = module.weight_spec
        bits = spec.bits if spec.kind == "uniform" else (FLOAT_BITS if spec.kind == "fp32" else 1)
        return {"target": "tpu", "weight_kind": spec.kind, "weight_bits": bits, "weight_levels": None,
                "act_bits": module.act_bits if module.act_bits else FLOAT_BITS}
    if isinstance(module, _imac_classes()):
        levels = int(module.levels)
        return {"target": "imac", "weight_kind": str(module.kind), "weight_bits": max(1, math.ceil(math.log2(levels))),
                "weight_levels": levels, "act_bits": None}
    return {"target": "fp32", "weight_kind": "fp32", "weight_bits": FLOAT_BITS, "weight_levels": None,
            "act_bits": FLOAT_BITS}


def conv_kind(in_channels: int, out_channels: int, kernel: tuple[int, int], groups: int) -> LayerKind:
    """depthwise, pointwise or conv for a convolution of these dimensions."""
    if groups > 1 and groups == in_channels:
        return "depthwise"
    if groups == 1 and kernel == (1, 1):
        return "pointwise"
    return "conv"


# ------------------------------------------------------------------------------ tracer
class _Recorder(TorchFunctionMode):
    """Records functional pooling and residual adds outside recorded / opaque modules."""

    def __init__(self, tracer: _Tracer):
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.tracer.suspended:
            return out
        name = getattr(func, "__name__", "")
        if name in _POOL_FUNCS and args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
            self.tracer.add_functional_pool(args[0], out, _POOL_FUNCS[name], args, kwargs)
        elif name == "mean" and args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
            dims = kwargs.get("dim", args[1] if len(args) > 1 else None)
            dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
            x = args[0]
            if x.dim() == 4 and sorted(d % 4 for d in dims) == [2, 3]:
                self.tracer.add_functional_pool(x, out, "avg", None, None, global_pool=True)
        elif name in _ADD_FUNCS and len(args) >= 2 and all(isinstance(a, torch.Tensor) for a in args[:2]):
            a, b = args[0], args[1]
            if a.shape == b.shape and a.dim() >= 2 and isinstance(out, torch.Tensor):
                self.tracer.add_elementwise(a, out)
        return out


class _Tracer:
    def __init__(self, model: nn.Module):
        self.model = model
        self.names = {m: n for n, m in model.named_modules()}
        self.records: list[LayerSpec] = []
        self.stack: list[nn.Module] = []
        self.opaque = _opaque_classes()
        self.counters: dict[str, int] = {}

    @property
    def suspended(self) -> bool:
        """Inside a recorded layer or an opaque module: functional ops are its internals."""
        return any(_is_recorded(m) or isinstance(m, self.opaque) for m in self.stack)

    def _functional_name(self, op: str) -> str:
        parent = self.names.get(self.stack[-1], "") if self.stack else ""
        base = f"{parent}.{op}" if parent else op
        count = self.counters.get(base, 0)
        self.counters[base] = count + 1
        return base if count == 0 else f"{base}{count}"

    # -- hooks --------------------------------------------------------------------------
    def pre_hook(self, module, inputs):
        self.stack.append(module)

    def post_hook(self, module, inputs, output):
        self.stack.pop()
        outer_suspended = self.suspended
        if not _is_recorded(module) or outer_suspended:
            return
        x = inputs[0] if inputs else None
        if not isinstance(x, torch.Tensor) or not isinstance(output, torch.Tensor):
            return
        self.records.append(self._module_record(module, x, output))

    # -- records ------------------------------------------------------------------------
    def _module_record(self, module: nn.Module, x: torch.Tensor, out: torch.Tensor) -> LayerSpec:
        name = self.names.get(module, type(module).__name__)
        in_shape = tuple(int(s) for s in x.shape[1:])
        out_shape = tuple(int(s) for s in out.shape[1:])
        index = len(self.records)
        if isinstance(module, nn.Conv2d):
            kernel = _pair(module.kernel_size)
            groups = int(module.groups)
            cin, cout = int(module.in_channels), int(module.out_channels)
            kind = conv_kind(cin, cout, kernel, groups)
            macs = math.prod(out_shape) * kernel[0] * kernel[1] * cin // groups
            padding = module.padding if not isinstance(module.padding, str) else _same_padding(module, kernel)
            return LayerSpec(index, name, kind, in_shape, out_shape, cin, cout, kernel, _pair(module.stride),
                             _pair(padding), groups, macs, int(module.weight.numel()),
                             int(module.bias.numel()) if module.bias is not None else 0, **_precision(module))
        if isinstance(module, _POOL_MODULES):
            op = "max" if isinstance(module, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)) else "avg"
            if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
                kernel = _adaptive_window(in_shape, out_shape)
                stride, padding = kernel, (0, 0)
            else:
                kernel = _pair(module.kernel_size)
                stride = _pair(module.stride if module.stride is not None else module.kernel_size)
                padding = _pair(module.padding)
            return LayerSpec(index, name, "pool", in_shape, out_shape, in_shape[0], out_shape[0], kernel, stride,
                             padding, target="vector", weight_kind="none", weight_bits=None, act_bits=None,
                             pool_op=op)
        # nn.Linear / QLinear / IMACLinear; inputs may carry extra leading dims (treated as rows)
        linear = cast("nn.Linear | IMACLinear", module)
        fan_in, fan_out = int(linear.in_features), int(linear.out_features)
        rows = math.prod(in_shape[:-1]) if len(in_shape) > 1 else 1
        bias = getattr(module, "bias", None)
        return LayerSpec(index, name, "linear", in_shape, out_shape, fan_in, fan_out, macs=rows * fan_in * fan_out,
                         params=fan_in * fan_out, bias=int(bias.numel()) if bias is not None else 0,
                         extra={"rows": rows} if rows > 1 else {}, **_precision(module))

    def add_functional_pool(self, x, out, op, args, kwargs, global_pool: bool = False) -> None:
        in_shape = tuple(int(s) for s in x.shape[1:])
        out_shape = tuple(int(s) for s in out.shape[1:])
        if global_pool or len(out_shape) < 3:
            kernel = (in_shape[1], in_shape[2])
            stride, padding = kernel, (0, 0)
            out_shape = (in_shape[0], 1, 1) if global_pool else out_shape
        elif args is not None and len(args) > 1 and not isinstance(args[1], torch.Tensor) and "adaptive" not in op:
            kernel = _pair(args[1])
            stride = _pair(args[2] if len(args) > 2 and args[2] else kwargs.get("stride") or args[1])
            padding = _pair(args[3] if len(args) > 3 else kwargs.get("padding", 0))
        else:
            kernel = _adaptive_window(in_shape, out_shape)
            stride, padding = kernel, (0, 0)
        self.records.append(LayerSpec(len(self.records), self._functional_name("pool"), "pool", in_shape, out_shape,
                                      in_shape[0], out_shape[0], kernel, stride, padding, target="vector",
                                      weight_kind="none", weight_bits=None, act_bits=None, pool_op=op))

    def add_elementwise(self, x, out) -> None:
        shape = tuple(int(s) for s in out.shape[1:])
        self.records.append(LayerSpec(len(self.records), self._functional_name("add"), "add", shape, shape,
                                      shape[0], shape[0], target="vector", weight_kind="none", weight_bits=None,
                                      act_bits=None))


def _adaptive_window(in_shape: Sequence[int], out_shape: Sequence[int]) -> tuple[int, int]:
    """Window of an adaptive pool (exact when the input divides evenly, else the largest window)."""
    h_in, w_in = in_shape[-2], in_shape[-1]
    h_out, w_out = (out_shape[-2], out_shape[-1]) if len(out_shape) >= 3 else (1, 1)
    return (math.ceil(h_in / h_out), math.ceil(w_in / w_out))


def _same_padding(module: nn.Conv2d, kernel: tuple[int, int]) -> tuple[int, int]:
    if module.padding == "valid":
        return (0, 0)
    dil = _pair(module.dilation)
    return ((dil[0] * (kernel[0] - 1)) // 2, (dil[1] * (kernel[1] - 1)) // 2)


def sample_input(model: nn.Module, input_shape: Sequence[int] | None = None) -> torch.Tensor:
    """A deterministic batch-of-one input: ``input_shape`` or the model's own ``input_shape``."""
    shape = input_shape if input_shape is not None else getattr(model, "input_shape", None)
    if shape is None:
        raise InputError(f"{type(model).__name__} has no input_shape attribute: pass input_shape=(C, H, W) "
                         "(or a sample tensor)")
    generator = torch.Generator().manual_seed(0)
    return torch.rand(1, *[int(s) for s in shape], generator=generator)


@torch.no_grad()
def extract_layers(model: nn.Module, sample: torch.Tensor | None = None, *,
                   input_shape: Sequence[int] | None = None) -> list[LayerSpec]:
    """Trace ``model`` with one sample and return its layers in execution order.

    ``sample`` is a batch of one (``[1, C, H, W]`` or ``[1, F]``); without it a seeded random
    input of ``input_shape`` (or ``model.input_shape``, as zoo models carry) is used.  The
    model runs in eval mode (restored afterwards), so BatchNorm and quantizer statistics are
    not touched.
    """
    if sample is None:
        sample = sample_input(model, input_shape)
    if not isinstance(sample, torch.Tensor) or sample.dim() < 2 or sample.shape[0] != 1:
        raise InputError("extract_layers needs a batch of exactly one sample, e.g. torch.rand(1, 1, 28, 28)")
    tracer = _Tracer(model)
    handles = []
    for module in model.modules():
        handles.append(module.register_forward_pre_hook(tracer.pre_hook))
        handles.append(module.register_forward_hook(tracer.post_hook))
    was_training = model.training
    model.eval()
    try:
        with _Recorder(tracer):
            model(sample)
    except (RuntimeError, ValueError, TypeError) as err:
        raise InputError(f"tracing {type(model).__name__} with an input of shape {tuple(sample.shape)} failed: "
                         f"{str(err).splitlines()[0]} (check the input shape)") from None
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    if not any(r.is_compute for r in tracer.records):
        raise InputError(f"{type(model).__name__} has no convolution or linear layer to map")
    return tracer.records


def layer_counts(layers: Sequence[LayerSpec]) -> dict[str, int]:
    """Number of layers of each kind."""
    counts: dict[str, int] = {}
    for layer in layers:
        counts[layer.kind] = counts.get(layer.kind, 0) + 1
    return counts
