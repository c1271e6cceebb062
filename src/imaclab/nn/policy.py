"""Mixed-precision policy: which layer runs where (FP32, 8-bit TPU, IMAC) and at what precision.

A :class:`PrecisionPolicy` gives a rule per layer type -- ``conv`` (every Conv2d,
depthwise included) and ``fc`` (every fully connected layer of the classifier head) --
plus optional per-layer overrides keyed by module name (``features.0``,
``classifier.layers.2``; shell-style wildcards allowed).  Presets:

=====================  ==============================  ===================================
preset                 convolutions                    fully connected layers
=====================  ==============================  ===================================
``fp32``               FP32                            FP32
``tpu-int8``           TPU, 8-bit weights + inputs     TPU, 8-bit
``tpu-imac``           TPU, 8-bit                      IMAC, binary weights, sigmoid neuron
``tpu-imac-ternary``   TPU, 8-bit                      IMAC, ternary weights
``tpu-imac-4level``    TPU, 8-bit                      IMAC, 3-bit symmetric (7 levels)
=====================  ==============================  ===================================

``imac`` is the circuit the IMAC layers train for (:class:`~imaclab.nn.imac_layers.IMACSpec`:
the circuit room's :class:`~imaclab.circuit.config.NetworkConfig` and its defaults).  The three
``tpu-imac`` presets set two of its fields explicitly (:data:`IMAC_PRESET`): ``inputs.mode:
analog`` (the TPU part hands over multi-bit values; an MLP's pixels drive the lines linearly)
and ``neuron.kind: behavioral`` (the ideal-inverter sigmoid, no ngspice characterization
needed); everything else is the circuit's default (32x32 crossbars, parasitics on, join auto,
direct loading, 5k/15k devices).  A policy file sets others, e.g. ``imac: {neuron: {kind:
transistor}}``, or the command line: ``imaclab train --neuron transistor --crossbar 16x16``.

IMAC layers must form the tail of the classifier (the crossbar chain feeds its neuron
outputs to the next crossbar; nothing digital follows it).

:func:`apply_policy` converts a :class:`~imaclab.nn.zoo.ZooModel` in place of its
float layers, keeping their initial weights.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from torch import nn

from imaclab.config import ConfigModel
from imaclab.errors import ConfigError, unknown_name
from imaclab.nn.imac_layers import IMACHead, IMACSpec
from imaclab.nn.layers import TPU_BITS, QConv2d, QLinear
from imaclab.nn.quantizers import QuantSpec
from imaclab.nn.zoo import FCHead, ZooModel

Target = Literal["fp32", "tpu", "imac"]


class LayerPrecision(ConfigModel):
    """Where one layer runs and how its operands are quantized."""

    target: Target = Field("tpu", description="fp32 (unquantized), tpu (k-bit systolic array) or imac (crossbar)")
    weight: QuantSpec = Field(default_factory=lambda: QuantSpec(kind="uniform", bits=TPU_BITS),
                              description="weight quantization (tpu: uniform k-bit; imac: binary/ternary/uniform)")
    act_bits: int | None = Field(TPU_BITS, ge=2, le=8,
                                 description="tpu: bit width of the layer's input activations (null = float)")

    @model_validator(mode="after")
    def _consistent(self):
        if self.target == "tpu" and self.weight.kind not in ("uniform", "fp32"):
            raise ValueError("a tpu layer takes uniform k-bit weights (weight.kind: uniform)")
        return self


def _tpu(bits: int = TPU_BITS) -> LayerPrecision:
    return LayerPrecision(target="tpu", weight=QuantSpec(kind="uniform", bits=bits), act_bits=bits)


def _imac(kind: str, bits: int = 8) -> LayerPrecision:
    # IMAC weights are exact conductance levels; the circuit gain is the only scale
    return LayerPrecision(target="imac", weight=QuantSpec(kind=kind, bits=bits, scale="none", per_channel=False),
                          act_bits=None)


class PrecisionPolicy(ConfigModel):
    """Per-layer precision by layer type, with per-layer overrides and the IMAC circuit settings."""

    name: str = Field("custom", description="policy name (a preset name or 'custom')")
    conv: LayerPrecision = Field(default_factory=_tpu, description="rule for every convolution")
    fc: LayerPrecision = Field(default_factory=lambda: _imac("binary"),
                               description="rule for every fully connected layer of the classifier")
    layers: dict[str, LayerPrecision] = Field(default_factory=dict,
                                              description="overrides by module name (wildcards allowed)")
    imac: IMACSpec = Field(default_factory=IMACSpec, description="the IMAC circuit the imac layers train for: the "
                                                                 "circuit room's devices, circuit, neuron, inputs")

    def for_layer(self, name: str, kind: Literal["conv", "fc"]) -> LayerPrecision:
        """The precision of module ``name`` (an override if one matches, else the type rule)."""
        if name in self.layers:
            return self.layers[name]
        for pattern, precision in self.layers.items():
            if fnmatch.fnmatchcase(name, pattern):
                return precision
        return self.conv if kind == "conv" else self.fc

    @property
    def uses_imac(self) -> bool:
        return self.fc.target == "imac" or any(p.target == "imac" for p in self.layers.values())


#: The circuit fields the tpu-imac presets set (the rest are the circuit room's defaults).
IMAC_PRESET = {"inputs": {"mode": "analog"}, "neuron": {"kind": "behavioral"}}


def _imac_spec() -> IMACSpec:
    return IMACSpec.from_dict(IMAC_PRESET, source="tpu-imac preset")


POLICY_PRESETS: dict[str, dict] = {
    "fp32": dict(conv=LayerPrecision(target="fp32", weight=QuantSpec(kind="fp32"), act_bits=None),
                 fc=LayerPrecision(target="fp32", weight=QuantSpec(kind="fp32"), act_bits=None)),
    "tpu-int8": dict(conv=_tpu(), fc=_tpu()),
    "tpu-imac": dict(conv=_tpu(), fc=_imac("binary"), imac=_imac_spec()),
    "tpu-imac-ternary": dict(conv=_tpu(), fc=_imac("ternary"), imac=_imac_spec()),
    "tpu-imac-4level": dict(conv=_tpu(), fc=_imac("uniform", bits=3), imac=_imac_spec()),
}
POLICIES = list(POLICY_PRESETS)


def get_policy(name_or_path: str | Path | PrecisionPolicy) -> PrecisionPolicy:
    """A preset by name, or a policy YAML/JSON file (which may start from ``base: <preset>``)."""
    if isinstance(name_or_path, PrecisionPolicy):
        return name_or_path
    text = str(name_or_path)
    if text in POLICY_PRESETS:
        return PrecisionPolicy(name=text, **{k: v.model_copy(deep=True) for k, v in POLICY_PRESETS[text].items()})
    path = Path(text)
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        return load_policy_file(path)
    raise unknown_name("policy", text, [*POLICIES, "<file>.yaml"])


def load_policy_file(path: str | Path) -> PrecisionPolicy:
    """Read a policy file; ``base: tpu-imac`` starts from a preset, other keys override it.

    Example::

        base: tpu-imac
        fc: {target: imac, weight: {kind: ternary, scale: none, per_channel: false}}
        layers:
          classifier.layers.0: {target: tpu}          # first FC on the systolic array
          features.0: {target: fp32, act_bits: null}  # keep the first conv in float
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: policy file not found (or use a preset: {', '.join(POLICIES)})")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a policy file must be a mapping of fields")
    base = data.pop("base", None)
    merged = {}
    if base is not None:
        merged = get_policy(str(base)).to_dict()
    merged.update(data)
    merged["name"] = data.get("name", path.stem)
    return PrecisionPolicy.from_dict(merged, source=str(path))


# ------------------------------------------------------------------------------ conversion
def _replace_convs(module: nn.Module, prefix: str, policy: PrecisionPolicy, assigned: dict) -> None:
    for child_name, child in list(module.named_children()):
        full = f"{prefix}.{child_name}" if prefix else child_name
        if isinstance(child, nn.Conv2d) and not isinstance(child, QConv2d):
            precision = policy.for_layer(full, "conv")
            if precision.target == "imac":
                raise ConfigError(f"layer {full}: convolutions cannot run on IMAC; use target tpu or fp32")
            assigned[full] = precision
            if precision.target == "tpu":
                setattr(module, child_name, QConv2d.from_float(child, weight_spec=precision.weight,
                                                               act_bits=precision.act_bits))
        else:
            _replace_convs(child, full, policy, assigned)


class MixedHead(nn.Module):
    """A classifier head split into digital layers (FP32 / TPU) followed by an IMAC tail."""

    def __init__(self, digital: list[nn.Module], imac: IMACHead | None, dims: list[int], dropout: float = 0.0):
        super().__init__()
        self.dims = dims
        self.digital = nn.ModuleList(digital)
        self.imac = imac
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x):
        last = len(self.digital) - 1
        for i, layer in enumerate(self.digital):
            x = layer(x)
            if i < last or self.imac is not None:
                x = self.dropout(x.relu())
        return self.imac(x) if self.imac is not None else x


def apply_policy(model: ZooModel, policy: PrecisionPolicy) -> dict[str, LayerPrecision]:
    """Swap ``model``'s convolutions and FC head for quantized / IMAC layers; return ``{layer: precision}``.

    The conversion keeps each layer's current (initial) weights.  IMAC layers must be
    the tail of the classifier; their inputs are taken as [0, 1] values (pixels for
    MLPs, calibrated 8-bit features for CNNs).
    """
    if not isinstance(model.classifier, FCHead):
        raise ConfigError("apply_policy expects a fresh zoo model (its classifier was already converted)")
    assigned: dict[str, LayerPrecision] = {}
    _replace_convs(model.features, "features", policy, assigned)
    head: FCHead = model.classifier
    names = [f"classifier.layers.{i}" for i in range(len(head.layers))]
    precisions = [policy.for_layer(n, "fc") for n in names]
    first_imac = next((i for i, p in enumerate(precisions) if p.target == "imac"), len(precisions))
    if any(p.target != "imac" for p in precisions[first_imac:]):
        bad = [n for n, p in zip(names[first_imac:], precisions[first_imac:]) if p.target != "imac"]
        raise ConfigError(f"IMAC layers must be the tail of the classifier, but {', '.join(bad)} follows an "
                          "IMAC layer: make them imac too, or move the IMAC layers to the end")
    digital: list[nn.Module] = []
    for name, layer, precision in zip(names[:first_imac], head.layers[:first_imac], precisions[:first_imac]):
        assigned[name] = precision
        digital.append(QLinear.from_float(layer, weight_spec=precision.weight, act_bits=precision.act_bits)
                       if precision.target == "tpu" else layer)
    imac = None
    if first_imac < len(precisions):
        tail = list(zip(names[first_imac:], head.layers[first_imac:], precisions[first_imac:]))
        for name, _layer, precision in tail:
            assigned[name] = precision
        # an MLP's inputs are the pixels themselves; a CNN's features need a calibrated range
        unit_inputs = first_imac == 0 and not any(isinstance(m, nn.Conv2d) for m in model.features.modules())
        imac = IMACHead.from_linears([layer for _, layer, _ in tail], [p.weight for _, _, p in tail],
                                     policy.imac, unit_inputs=unit_inputs)
    dropout = head.dropout.p if isinstance(head.dropout, nn.Dropout) else 0.0
    model.classifier = MixedHead(digital, imac, head.dims, dropout)
    return assigned


def layer_targets(model: ZooModel) -> dict[str, str]:
    """``{module name: 'fp32'|'tpu'|'imac'}`` for every conv and FC layer of a converted model."""
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, (QConv2d, QLinear)):
            out[name] = "tpu"
        elif isinstance(module, (nn.Conv2d, nn.Linear)) and not name.startswith("classifier.imac"):
            out[name] = "fp32"
    if isinstance(model.classifier, MixedHead) and model.classifier.imac is not None:
        for i, _ in enumerate(model.classifier.imac.layers):
            out[f"classifier.imac.layers.{i}"] = "imac"
    return out
