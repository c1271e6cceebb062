"""Placement: which unit runs each layer under the TPU-only and the TPU-IMAC design.

* ``tpu-only``: every conv / depthwise / pointwise / linear layer on the systolic array (a
  linear layer as a GEMM with one row per sample), 8-bit weights and activations; pooling and
  residual adds on the array's vector unit.
* ``tpu-imac``: convolutions on the systolic array; the fully connected layers chosen by
  ``imac_layers`` on IMAC crossbars; pooling / adds on the vector unit.  Every change from a
  digital layer to an IMAC layer is a hand-off ``to-imac`` (buffer read + input conversion),
  every change back, and the end of the network when it ends in IMAC, a hand-off
  ``to-digital`` (output conversion).  Consecutive IMAC layers pass analog neuron voltages.

:func:`systolic_layer` lowers a :class:`~imaclab.hetero.layers.LayerSpec` to the systolic
room's layer types (:mod:`imaclab.systolic.layers`): SCALE-Sim has no padding, so a
convolution gets the input extent its outputs actually read, ``(out - 1) * stride + kernel``,
which makes SCALE-Sim's output size and MAC count equal PyTorch's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from imaclab.errors import ConfigError
from imaclab.hetero.layers import LayerSpec

Design = Literal["tpu-only", "tpu-imac"]
DESIGNS: tuple[str, ...] = ("tpu-only", "tpu-imac")
Unit = Literal["tpu", "vector", "imac"]
TPU_BITS = 8
"""Operand width of the TPU-only baseline (weights and activations), as the issue fixes it."""


@dataclass(frozen=True)
class Handoff:
    """A digital <-> analog boundary before layer ``before`` (index into the layer list)."""

    direction: Literal["to-imac", "to-digital"]
    before: int            # index of the first layer after the boundary (len(layers) = the network output)
    values: int            # activations crossing the boundary per image
    name: str

    def to_dict(self) -> dict[str, Any]:
        return {"direction": self.direction, "before": self.before, "values": self.values, "name": self.name}


@dataclass(frozen=True)
class MappedLayer:
    layer: LayerSpec
    unit: Unit
    weight_bits: int | None          # bits per stored weight on that unit (imac: device-level bits)
    act_bits: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.layer.name, "kind": self.layer.kind, "unit": self.unit, "weight_bits": self.weight_bits,
                "act_bits": self.act_bits}


@dataclass(frozen=True)
class DesignMapping:
    design: Design
    layers: tuple[MappedLayer, ...]
    handoffs: tuple[Handoff, ...] = field(default_factory=tuple)

    def on(self, unit: Unit) -> list[MappedLayer]:
        return [m for m in self.layers if m.unit == unit]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.layers:
            out[m.unit] = out.get(m.unit, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"design": self.design, "counts": self.counts(), "layers": [m.to_dict() for m in self.layers],
                "handoffs": [h.to_dict() for h in self.handoffs]}


def select_imac_layers(layers: Sequence[LayerSpec], rule: str | Sequence[str]) -> set[int]:
    """Indices of the layers the TPU-IMAC design puts on crossbars (see ``HeteroConfig.imac_layers``)."""
    linear = [i for i, layer in enumerate(layers) if layer.kind == "linear"]
    if isinstance(rule, str):
        if rule == "none":
            return set()
        if rule == "all-fc":
            return set(linear)
        if rule != "auto":
            raise ConfigError(f"imac_layers '{rule}': use auto, all-fc, none or a list of layer names")
        trained = {i for i in linear if layers[i].target == "imac"}
        if trained:
            return trained
        convs = [i for i, layer in enumerate(layers) if layer.kind in ("conv", "depthwise", "pointwise")]
        last_conv = max(convs, default=-1)
        return {i for i in linear if i > last_conv}
    names = {layer.name: i for i, layer in enumerate(layers)}
    chosen = set()
    for name in rule:
        if name not in names:
            raise ConfigError(f"imac_layers: no layer named '{name}' (linear layers: "
                              f"{', '.join(layers[i].name for i in linear) or 'none'})")
        if layers[names[name]].kind != "linear":
            raise ConfigError(f"imac_layers: '{name}' is a {layers[names[name]].kind} layer; only fully connected "
                              "layers run on IMAC crossbars")
        chosen.add(names[name])
    return chosen


def _imac_weight_bits(layer: LayerSpec) -> int:
    # a model without IMAC layers mapped onto crossbars gets the crossbar's binary weights
    return layer.weight_bits if layer.target == "imac" and layer.weight_bits else 1


def map_design(layers: Sequence[LayerSpec], design: Design, *,
               imac_layers: str | Sequence[str] = "auto") -> DesignMapping:
    """Place every layer of ``layers`` for ``design`` and find the hand-offs."""
    if design not in DESIGNS:
        raise ConfigError(f"unknown design '{design}': use {' or '.join(DESIGNS)}")
    on_imac = select_imac_layers(layers, imac_layers) if design == "tpu-imac" else set()
    mapped = []
    for i, layer in enumerate(layers):
        if i in on_imac:
            mapped.append(MappedLayer(layer, "imac", _imac_weight_bits(layer), None))
        elif layer.is_compute:
            mapped.append(MappedLayer(layer, "tpu", TPU_BITS, TPU_BITS))
        else:
            mapped.append(MappedLayer(layer, "vector", None, TPU_BITS))
    handoffs = []
    for i, m in enumerate(mapped):
        prev_imac = i > 0 and mapped[i - 1].unit == "imac"
        if m.unit == "imac" and not prev_imac:
            handoffs.append(Handoff("to-imac", i, m.layer.in_elements, f"handoff>{m.layer.name}"))
        elif m.unit != "imac" and prev_imac:
            handoffs.append(Handoff("to-digital", i, mapped[i - 1].layer.out_elements,
                                    f"{mapped[i - 1].layer.name}>handoff"))
    if mapped and mapped[-1].unit == "imac":
        handoffs.append(Handoff("to-digital", len(mapped), mapped[-1].layer.out_elements,
                                f"{mapped[-1].layer.name}>output"))
    return DesignMapping(design, tuple(mapped), tuple(handoffs))


# ------------------------------------------------------------------------------ systolic lowering
def systolic_layer(layer: LayerSpec) -> tuple[Any, int]:
    """``(systolic layer, repeats)`` for a conv / depthwise / pointwise / linear layer.

    ``repeats`` > 1 only for grouped (not depthwise) convolutions: ``groups`` identical
    convolutions of ``in/groups`` channels and ``out/groups`` filters, run one after the other.
    """
    from imaclab.systolic.layers import ConvLayer, DepthwiseConvLayer, GemmLayer

    if layer.kind == "linear":
        rows = int(layer.extra.get("rows", 1))
        return GemmLayer(name=layer.name, m=rows, n=layer.out_channels, k=layer.in_channels), 1
    if layer.kind not in ("conv", "depthwise", "pointwise"):
        raise ConfigError(f"layer {layer.name} ({layer.kind}) does not run on the systolic array")
    (kh, kw), (sh, sw) = layer.kernel, layer.stride
    oh, ow = layer.out_shape[1], layer.out_shape[2]
    ih, iw = (oh - 1) * sh + kh, (ow - 1) * sw + kw
    if layer.kind == "depthwise":
        return DepthwiseConvLayer(name=layer.name, ifmap_height=ih, ifmap_width=iw, filter_height=kh, filter_width=kw,
                                  channels=layer.in_channels, multiplier=layer.out_channels // layer.in_channels,
                                  stride_height=sh, stride_width=sw), 1
    groups = layer.groups
    return ConvLayer(name=layer.name, ifmap_height=ih, ifmap_width=iw, filter_height=kh, filter_width=kw,
                     channels=layer.in_channels // groups, num_filters=layer.out_channels // groups,
                     stride_height=sh, stride_width=sw), groups
