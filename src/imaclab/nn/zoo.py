"""Model zoo: MLPs, LeNet-5, a small VGG, MobileNetV1/V2, ShuffleNetV2, ResNet-18.

Every model is a :class:`ZooModel` with three parts, the split the TPU-IMAC mapping
works on:

* ``normalize`` -- per-channel ``(x - mean) / std`` (identity for MLPs, whose first
  layer reads the [0, 1] pixels as crossbar input voltages);
* ``features`` -- the convolutional part (TPU), ending in a flatten to ``[N, D]``
  (just a flatten for MLPs);
* ``classifier`` -- an :class:`FCHead`, the fully connected layers (the IMAC part
  under the ``tpu-imac`` policy).

The models are plain ``torch.nn`` layers; :func:`imaclab.nn.policy.apply_policy`
swaps them for quantized TPU layers and IMAC layers.

CNNs use CIFAR-style stems (3x3, stride 1, no max pool) so they work on 28x28 and
32x32 inputs; the flattened feature size is measured with a dummy forward pass, and
``width`` multiplies every channel count (rounded to multiples of
:data:`CHANNEL_DIVISOR`, as in MobileNet's ``make_divisible``).  Architectures follow
the original papers and the widely used CIFAR adaptations of
github.com/kuangliu/pytorch-cifar.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import cast

import torch
from torch import nn

from imaclab.errors import ConfigError, unknown_name

CHANNEL_DIVISOR = 8
"""Channel counts are rounded to multiples of this (MobileNet's make_divisible)."""
LENET5_CHANNELS = (6, 16)
LENET5_HIDDEN = (120, 84)
"""LeNet-5's conv channels and fully connected widths (LeCun et al. 1998)."""
LENET5_FEATURE_SIDE = 5
"""LeNet-5's second pooling output is 5x5; inputs are padded to 32x32 to get it."""
VGG_SMALL_CFG = (64, 64, "M", 128, 128, "M", 256, 256, "M")
VGG_SMALL_HIDDEN = (256,)
MOBILENET_V1_CFG = (64, (128, 2), 128, (256, 2), 256, (512, 2), 512, 512, 512, 512, 512, (1024, 2), 1024)
# (expansion, out_channels, blocks, stride) of Sandler et al. Table 2; with the stride-1 stem a
# 32x32 input ends at 2x2 (kuangliu also sets stage 2 to stride 1, 4x the compute)
MOBILENET_V2_CFG = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                    (6, 160, 3, 2), (6, 320, 1, 1))
MOBILENET_V2_LAST = 1280
SHUFFLENET_V2_STAGES = (116, 232, 464)
SHUFFLENET_V2_REPEATS = (4, 8, 4)
SHUFFLENET_V2_LAST = 1024
RESNET18_CHANNELS = (64, 128, 256, 512)
RESNET18_BLOCKS = (2, 2, 2, 2)


def make_divisible(value: float, divisor: int = CHANNEL_DIVISOR, minimum: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never below 90 % of it (MobileNetV2)."""
    minimum = minimum or divisor
    rounded = max(minimum, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


# ------------------------------------------------------------------------------ building blocks
class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, held as buffers so checkpoints carry it."""

    # buffers (registered in __init__)
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,)):
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32))

    def set(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.tensor(list(mean), dtype=torch.float32)
        self.std = torch.tensor(list(std), dtype=torch.float32)

    def forward(self, x):
        if x.dim() == 4:
            return (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)
        return (x - self.mean) / self.std


class FCHead(nn.Module):
    """Fully connected layers ``dims[0] -> dims[1] -> ... -> dims[-1]`` with ReLU between.

    ``layers[i]`` is the i-th ``nn.Linear``; the last layer has no activation (logits).
    """

    def __init__(self, dims: Sequence[int], dropout: float = 0.0):
        super().__init__()
        if len(dims) < 2:
            raise ConfigError(f"a fully connected head needs at least 2 sizes, got {list(dims)}")
        self.dims = [int(d) for d in dims]
        # an nn.ModuleList (torch's is not generic): typed as the sequence of nn.Linear it holds
        self.layers = cast("Sequence[nn.Linear]",
                           nn.ModuleList(nn.Linear(a, b) for a, b in zip(self.dims[:-1], self.dims[1:])))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.dropout(torch.relu(x))
        return x


class ZooModel(nn.Module):
    """``classifier(features(normalize(x)))`` with metadata of how it was built."""

    def __init__(self, name: str, features: nn.Module, classifier: nn.Module, *, input_shape: Sequence[int],
                 num_classes: int, width: float, normalize: nn.Module | None = None):
        super().__init__()
        self.name = name
        self.input_shape = tuple(int(s) for s in input_shape)
        self.num_classes = int(num_classes)
        self.width = float(width)
        self.normalize = normalize if normalize is not None else nn.Identity()
        self.features = features
        self.classifier = classifier

    def forward(self, x):
        return self.classifier(self.features(self.normalize(x)))

    def extra_repr(self) -> str:
        return f"name={self.name}, input_shape={self.input_shape}, num_classes={self.num_classes}, width={self.width}"


def conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 relu: bool = True) -> list[nn.Module]:
    mods: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                             nn.BatchNorm2d(cout)]
    if relu:
        mods.append(nn.ReLU(inplace=True))
    return mods


def _feature_size(features: nn.Module, input_shape: Sequence[int]) -> int:
    with torch.no_grad():
        was = features.training
        features.eval()
        out = features(torch.zeros(1, *input_shape))
        features.train(was)
    return int(out.shape[1])


def _check_image_shape(name: str, input_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise ConfigError(f"model '{name}' needs image inputs (C, H, W), got shape {tuple(input_shape)}; "
                          "do not flatten the data set")
    c, h, w = (int(s) for s in input_shape)
    return c, h, w


# ------------------------------------------------------------------------------ MLP
def build_mlp(num_classes: int, input_shape: Sequence[int], *, hidden: Sequence[int] = (32,),
              dropout: float = 0.0, name: str = "mlp", **_) -> ZooModel:
    """A multilayer perceptron on the flattened input (e.g. 64-32-10 on 8x8 digits)."""
    n_in = 1
    for s in input_shape:
        n_in *= int(s)
    dims = [n_in, *[int(h) for h in hidden], int(num_classes)]
    return ZooModel(name, nn.Flatten(), FCHead(dims, dropout), input_shape=input_shape,
                    num_classes=num_classes, width=1.0)


def parse_mlp_name(name: str, num_features: int, num_classes: int) -> tuple[int, ...] | None:
    """Hidden sizes from ``mlp-<in>-<h1>-...-<out>`` (checked against the data), or None if not that form."""
    match = re.fullmatch(r"mlp((?:-\d+)+)", name)
    if not match:
        return None
    sizes = [int(s) for s in match.group(1).strip("-").split("-")]
    if len(sizes) < 2 or sizes[0] != num_features or sizes[-1] != num_classes:
        raise ConfigError(f"model '{name}': an MLP name lists every layer size, input first "
                          f"(here mlp-{num_features}-...-{num_classes}); use e.g. mlp-{num_features}-32-{num_classes}")
    return tuple(sizes[1:-1])


# ------------------------------------------------------------------------------ LeNet-5
def build_lenet5(num_classes: int, input_shape: Sequence[int], *, width: float = 1.0, dropout: float = 0.0,
                 **_) -> ZooModel:
    """LeNet-5: conv5x5(6) - pool - conv5x5(16) - pool - FC120 - FC84 - FC(classes).

    28x28 inputs are zero-padded by 2 in the first convolution, as LeCun et al. padded
    MNIST to 32x32, so the flattened features are 16x5x5 = 400 (the 400-120-84-10 head).
    ReLU and max pooling replace the original's scaled tanh and subsampling.
    """
    c, h, _w = _check_image_shape("lenet5", input_shape)
    c1, c2 = (max(1, round(ch * width)) for ch in LENET5_CHANNELS)
    pad = max(0, (32 - h) // 2)
    features = nn.Sequential(
        nn.Conv2d(c, c1, 5, padding=pad), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten())
    n_feat = _feature_size(features, input_shape)
    head = FCHead([n_feat, *LENET5_HIDDEN, num_classes], dropout)
    return ZooModel("lenet5", features, head, input_shape=input_shape, num_classes=num_classes, width=width,
                    normalize=Normalize())


# ------------------------------------------------------------------------------ VGG-small
def build_vgg_small(num_classes: int, input_shape: Sequence[int], *, width: float = 1.0, dropout: float = 0.0,
                    **_) -> ZooModel:
    """Six 3x3 conv-BN-ReLU layers in three pooled stages (64-128-256 x width), global
    average pooling, then FC(256) - FC(classes)."""
    c, _h, _w = _check_image_shape("vgg-small", input_shape)
    mods: list[nn.Module] = []
    cin = c
    for item in VGG_SMALL_CFG:
        if item == "M":
            mods.append(nn.MaxPool2d(2))
        else:
            cout = make_divisible(cast(int, item) * width)  # every entry but "M" is a width
            mods += conv_bn_relu(cin, cout)
            cin = cout
    mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    features = nn.Sequential(*mods)
    hidden = [make_divisible(h * width) for h in VGG_SMALL_HIDDEN]
    head = FCHead([cin, *hidden, num_classes], dropout)
    return ZooModel("vgg-small", features, head, input_shape=input_shape, num_classes=num_classes, width=width,
                    normalize=Normalize())


# ------------------------------------------------------------------------------ MobileNetV1
def build_mobilenet_v1(num_classes: int, input_shape: Sequence[int], *, width: float = 1.0, dropout: float = 0.0,
                       **_) -> ZooModel:
    """MobileNetV1 (Howard et al. 2017) with a stride-1 3x3 stem: depthwise-separable blocks."""
    c, _h, _w = _check_image_shape("mobilenet-v1", input_shape)
    cin = make_divisible(32 * width)
    mods: list[nn.Module] = conv_bn_relu(c, cin)
    for item in MOBILENET_V1_CFG:
        out, stride = (item, 1) if isinstance(item, int) else item
        cout = make_divisible(out * width)
        mods += conv_bn_relu(cin, cin, 3, stride, groups=cin)  # depthwise
        mods += conv_bn_relu(cin, cout, 1)  # pointwise
        cin = cout
    mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    head = FCHead([cin, num_classes], dropout)
    return ZooModel("mobilenet-v1", nn.Sequential(*mods), head, input_shape=input_shape,
                    num_classes=num_classes, width=width, normalize=Normalize())


# ------------------------------------------------------------------------------ MobileNetV2
class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand - 3x3 depthwise - 1x1 linear projection (+ identity)."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        mods: list[nn.Module] = []
        if expansion != 1:
            mods += conv_bn_relu(cin, hidden, 1)
        mods += conv_bn_relu(hidden, hidden, 3, stride, groups=hidden)
        mods += conv_bn_relu(hidden, cout, 1, relu=False)
        self.block = nn.Sequential(*mods)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x):
        out = self.block(x)
        return x + out if self.use_residual else out


def build_mobilenet_v2(num_classes: int, input_shape: Sequence[int], *, width: float = 1.0, dropout: float = 0.0,
                       **_) -> ZooModel:
    """MobileNetV2 (Sandler et al. 2018), CIFAR stem (stride 1), ReLU (ReLU6's clip is left to the
    8-bit activation quantizer), last 1x1 conv of ``1280 * max(1, width)`` channels."""
    c, _h, _w = _check_image_shape("mobilenet-v2", input_shape)
    cin = make_divisible(32 * width)
    mods: list[nn.Module] = conv_bn_relu(c, cin)
    for expansion, out, blocks, stride in MOBILENET_V2_CFG:
        cout = make_divisible(out * width)
        for i in range(blocks):
            mods.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expansion))
            cin = cout
    last = make_divisible(MOBILENET_V2_LAST * max(1.0, width))
    mods += conv_bn_relu(cin, last, 1)
    mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    head = FCHead([last, num_classes], dropout)
    return ZooModel("mobilenet-v2", nn.Sequential(*mods), head, input_shape=input_shape,
                    num_classes=num_classes, width=width, normalize=Normalize())


# ------------------------------------------------------------------------------ ShuffleNetV2
class ChannelShuffle(nn.Module):
    def __init__(self, groups: int = 2):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleBlock(nn.Module):
    """ShuffleNetV2 unit (Ma et al. 2018): channel split (stride 1) or two-branch downsampling (stride 2)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.stride = stride
        branch = cout // 2
        if stride == 1:
            self.left: nn.Module = nn.Identity()
            right_in = cin // 2
        else:
            self.left = nn.Sequential(*conv_bn_relu(cin, cin, 3, 2, groups=cin, relu=False),
                                      *conv_bn_relu(cin, branch, 1))
            right_in = cin
        self.right = nn.Sequential(*conv_bn_relu(right_in, branch, 1),
                                   *conv_bn_relu(branch, branch, 3, stride, groups=branch, relu=False),
                                   *conv_bn_relu(branch, branch, 1))
        self.shuffle = ChannelShuffle(2)

    def forward(self, x):
        if self.stride == 1:
            left, right = x.chunk(2, dim=1)
        else:
            left, right = x, x
        return self.shuffle(torch.cat([self.left(left), self.right(right)], dim=1))


def build_shufflenet_v2(num_classes: int, input_shape: Sequence[int], *, width: float = 1.0, dropout: float = 0.0,
                        **_) -> ZooModel:
    """ShuffleNetV2 (1.0x stage widths 116-232-464 times ``width``), 3x3 stride-1 stem of 24 channels."""
    c, _h, _w = _check_image_shape("shufflenet-v2", input_shape)
    cin = 24
    mods: list[nn.Module] = conv_bn_relu(c, cin)
    for stage_out, repeats in zip(SHUFFLENET_V2_STAGES, SHUFFLENET_V2_REPEATS):
        cout = make_divisible(stage_out * width, 4)  # even halves after the split
        mods.append(ShuffleBlock(cin, cout, 2))
        for _repeat in range(repeats - 1):
            mods.append(ShuffleBlock(cout, cout, 1))
        cin = cout
    last = make_divisible(SHUFFLENET_V2_LAST * max(1.0, width))
    mods += conv_bn_relu(cin, last, 1)
    mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    head = FCHead([last, num_classes], dropout)
    return ZooModel("shufflenet-v2", nn.Sequential(*mods), head, input_shape=input_shape,
                    num_classes=num_classes, width=width, normalize=Normalize())


# ------------------------------------------------------------------------------ ResNet-18
class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN with an identity or 1x1 projection shortcut."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(*conv_bn_relu(cin, cout, 3, stride), *conv_bn_relu(cout, cout, 3, relu=False))
        self.shortcut = (nn.Sequential(*conv_bn_relu(cin, cout, 1, stride, relu=False))
                         if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


def build_resnet18(num_classes: int, input_shape: Sequence[int], *, width: float = 1.0, dropout: float = 0.0,
                   **_) -> ZooModel:
    """ResNet-18 (He et al. 2016) with the CIFAR stem: 3x3 stride-1 conv, no max pool."""
    c, _h, _w = _check_image_shape("resnet18", input_shape)
    cin = make_divisible(RESNET18_CHANNELS[0] * width)
    mods: list[nn.Module] = conv_bn_relu(c, cin)
    for i, (out, blocks) in enumerate(zip(RESNET18_CHANNELS, RESNET18_BLOCKS)):
        cout = make_divisible(out * width)
        for j in range(blocks):
            mods.append(BasicBlock(cin, cout, 2 if (j == 0 and i > 0) else 1))
            cin = cout
    mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    head = FCHead([cin, num_classes], dropout)
    return ZooModel("resnet18", nn.Sequential(*mods), head, input_shape=input_shape,
                    num_classes=num_classes, width=width, normalize=Normalize())


# ------------------------------------------------------------------------------ registry
MODELS: dict[str, Callable[..., ZooModel]] = {
    "mlp": build_mlp,
    "lenet5": build_lenet5,
    "vgg-small": build_vgg_small,
    "mobilenet-v1": build_mobilenet_v1,
    "mobilenet-v2": build_mobilenet_v2,
    "shufflenet-v2": build_shufflenet_v2,
    "resnet18": build_resnet18,
}
"""Model name -> builder ``(num_classes, input_shape, *, width, dropout, hidden) -> ZooModel``."""

_ALIASES = {"lenet": "lenet5", "lenet-5": "lenet5", "vgg": "vgg-small", "vgg_small": "vgg-small",
            "mobilenetv1": "mobilenet-v1", "mobilenet_v1": "mobilenet-v1", "mobilenetv2": "mobilenet-v2",
            "mobilenet_v2": "mobilenet-v2", "shufflenetv2": "shufflenet-v2", "shufflenet_v2": "shufflenet-v2",
            "resnet-18": "resnet18", "resnet_18": "resnet18"}


def canonical_model_name(name: str) -> str:
    """The registry key of ``name`` (aliases like ``mobilenetv2`` accepted); MLP shapes pass through."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in MODELS or re.fullmatch(r"mlp(-\d+)+", key):
        return key
    raise unknown_name("model", name, [*MODELS, "mlp-<in>-<hidden>...-<out>"])


def build_model(name: str, num_classes: int, input_shape: Sequence[int], *, width: float = 1.0,
                hidden: Sequence[int] | None = None, dropout: float = 0.0) -> ZooModel:
    """Build zoo model ``name`` for ``num_classes`` classes and samples of ``input_shape``.

    ``width`` multiplies channel counts (CNNs); ``hidden`` gives an MLP's hidden sizes
    (default one layer of 32); ``mlp-64-32-10`` style names give the full MLP shape.
    """
    key = canonical_model_name(name)
    if width <= 0:
        raise ConfigError(f"model width multiplier must be positive, got {width}")
    n_features = 1
    for s in input_shape:
        n_features *= int(s)
    if key.startswith("mlp"):
        parsed = parse_mlp_name(key, n_features, num_classes)
        sizes = parsed if parsed is not None else tuple(hidden if hidden is not None else (32,))
        return build_mlp(num_classes, input_shape, hidden=sizes, dropout=dropout, name=key)
    return MODELS[key](num_classes, input_shape, width=width, dropout=dropout)
