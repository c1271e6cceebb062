"""Export a trained mixed-precision model to the other rooms.

``imac.npz`` -- the IMAC part, read by :func:`imaclab.imac.load_mlp`:

=====================  =====================================================================
key                    meaning
=====================  =====================================================================
``W1`` .. ``Wn``       normalized weights, shape (inputs, outputs), values on the device grid
                       (binary {-1, 1}; ternary {-1, 0, 1}; multilevel ``-1 + 2k/(levels-1)``)
``B1`` .. ``Bn``       normalized biases (outputs,), same grid; the bias row is driven at
                       ``v_bias`` (:func:`imaclab.devices.inputs.bias_voltage`)
``weight_kind``        ``binary`` | ``ternary`` | ``multilevel`` (devices.memristor.WeightKind)
``levels``             device levels of a multilevel kind (2 binary, 3 ternary)
``amplifier_gains``    per-layer amplifier voltage gain ``A`` (trained), V/V
``gains``              per-layer ideal column gain ``ideal_column_gain(fan_in, R_low, R_high, A)``:
                       ``u = gain * (v @ W + v_bias * B)``, volts per (volt x unit weight)
``input_mode``         first-layer drivers, ``binary`` or ``analog`` (devices.inputs.encode_inputs)
``input_threshold``    binary-mode threshold on [0, 1] data
``vdd_v``, ``v_bias_v``  neuron supply and bias-row voltage, volts
``r_low_ohm``, ``r_high_ohm``  the device resistances the gains were computed with
``neuron_v_in``, ``neuron_v_out``  the first hidden layer's neuron table used in training (f(u), volts)
``neuron_config``, ``device_config``  JSON of the NeuronConfig / DeviceConfig used
``network_config``     JSON of the whole circuit it was trained for: the
                       :class:`~imaclab.circuit.config.NetworkConfig` of
                       :meth:`IMACSpec.network_config <imaclab.nn.imac_layers.IMACSpec.network_config>`
                       (devices, crossbar, parasitics, amplifier gains and join, loading, neuron,
                       inputs); ``imaclab imac run`` and ``imaclab hetero evaluate`` start from it
``dims``               layer sizes [inputs, hidden..., outputs]
=====================  =====================================================================

Hidden layers apply the neuron ``f``; the output layer's column signals ``u`` are the
scores (prediction = argmax).  Inputs are data in [0, 1]: pixels for an MLP; for a CNN
the TPU features as input codes, ``0.5 + 0.5 * round(clamp(x / feature_full_scale, 0,
1) * 127) / 127`` (``feature_encoding`` zero-centered: a zero feature drives 0 V) or
``round(clamp(x / feature_full_scale, 0, 1) * 255) / 255`` (full-range);
:func:`imac_inputs` computes them.

``layers.json`` -- every conv / FC layer in execution order with its target (tpu,
imac, fp32), precision and shapes (ifmap/ofmap, kernel, stride, padding, groups,
MACs), the systolic model's topology input.

``tpu_weights.npz`` -- integer weight codes, scales and input quantization of every
TPU layer (``<layer>.weight_codes``, ``<layer>.weight_scale``, ...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from imaclab.devices.memristor import quantize_weights
from imaclab.files import write_json, write_npz
from imaclab.nn.imac_layers import IMACHead, IMACLinear, UnitRange
from imaclab.nn.layers import QConv2d, QLinear
from imaclab.nn.policy import MixedHead
from imaclab.nn.quantizers import ActivationQuantizer
from imaclab.nn.zoo import ZooModel

IMAC_FILE, LAYERS_FILE, TPU_WEIGHTS_FILE = "imac.npz", "layers.json", "tpu_weights.npz"


def _imac_head(model: ZooModel) -> IMACHead | None:
    return model.classifier.imac if isinstance(model.classifier, MixedHead) else None


# ------------------------------------------------------------------------------ IMAC npz
def imac_arrays(head: IMACHead) -> dict[str, Any]:
    """The ``imac.npz`` contents of an IMAC head (see the module docstring)."""
    spec = head.spec
    arrays: dict[str, Any] = {}
    with torch.no_grad():
        for i, layer in enumerate(head.layers, start=1):
            wq, bq = layer.quantized()
            # snap the float32 training values onto the exact float64 device grid
            arrays[f"W{i}"] = quantize_weights(wq.t().double().numpy(), layer.kind, layer.levels)
            arrays[f"B{i}"] = quantize_weights(bq.double().numpy(), layer.kind, layer.levels)
    first: IMACLinear = head.layers[0]
    curve = first.neuron if first.neuron is not None else None
    arrays.update({
        "weight_kind": np.array(first.kind),
        "levels": np.int64(first.levels),
        "amplifier_gains": np.array([layer.amplifier_gain_value for layer in head.layers]),
        "gains": np.array([layer.column_gain for layer in head.layers]),
        "input_mode": np.array(spec.inputs.mode),
        "input_threshold": np.float64(spec.inputs.threshold),
        "vdd_v": np.float64(spec.neuron.vdd_v),
        "v_bias_v": np.float64(first.v_bias),
        "r_low_ohm": np.float64(spec.devices.r_low_ohm),
        "r_high_ohm": np.float64(spec.devices.r_high_ohm),
        "neuron_config": np.array(spec.neuron.to_json(indent=None)),
        "device_config": np.array(spec.devices.to_json(indent=None)),
        "network_config": np.array(head.network_config().to_json(indent=None)),
        "dims": np.array(head.dims, dtype=np.int64),
    })
    if curve is not None:
        arrays["neuron_v_in"] = curve.v_in.double().numpy().copy()
        arrays["neuron_v_out"] = curve.v_out.double().numpy().copy()
    kinds = {layer.kind for layer in head.layers}
    if len(kinds) > 1:
        arrays["layer_weight_kinds"] = np.array(json.dumps([layer.kind for layer in head.layers]))
    if isinstance(head.to_unit, UnitRange):
        arrays["feature_full_scale"] = np.float64(float(head.to_unit.full_scale))
        arrays["feature_encoding"] = np.array(head.to_unit.encoding)
    return arrays


def export_imac(model: ZooModel, path: str | Path) -> Path | None:
    """Write the model's IMAC part as ``path`` (npz); None when the model has no IMAC layers."""
    head = _imac_head(model)
    if head is None:
        return None
    return write_npz(Path(path), **imac_arrays(head))


@torch.no_grad()
def imac_inputs(model: ZooModel, x: np.ndarray | torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """The [0, 1] values the IMAC part receives for images ``x`` (what the TPU part hands over).

    For an MLP these are the flattened pixels; for a CNN the features after the digital
    layers, scaled to the calibrated full scale and rounded to the 8-bit DAC grid.
    """
    head = _imac_head(model)
    if head is None:
        raise ValueError("the model has no IMAC layers")
    was_training = model.training
    model.eval()
    outs = []
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    for s in range(0, x.shape[0], batch_size):
        h = model.features(model.normalize(x[s:s + batch_size]))
        mixed = cast(MixedHead, model.classifier)  # _imac_head found its IMAC tail
        for layer in mixed.digital:
            h = layer(h).relu()
        outs.append(head.to_unit(h))
    model.train(was_training)
    return torch.cat(outs).double().numpy()


# ------------------------------------------------------------------------------ layer list
def _pair(v) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(a) for a in v]


@torch.no_grad()
def layer_table(model: ZooModel, assigned: dict | None = None) -> list[dict[str, Any]]:
    """Every conv / FC layer in execution order with target, precision and shapes (one dummy forward)."""
    records: list[dict[str, Any]] = []
    names = {m: n for n, m in model.named_modules()}
    policy_names = _policy_names(model)
    hooks = []

    def hook(module, inputs, output):
        name = names[module]
        x = inputs[0]
        rec: dict[str, Any] = {"name": name, "policy_name": policy_names.get(name, name)}
        if isinstance(module, nn.Conv2d):
            depthwise = module.groups > 1 and module.groups == module.in_channels
            kh, kw = _pair(module.kernel_size)
            rec.update(type="depthwise" if depthwise else "conv", in_channels=module.in_channels,
                       out_channels=module.out_channels, kernel=[kh, kw], stride=_pair(module.stride),
                       padding=_pair(module.padding), groups=module.groups,
                       ifmap=list(x.shape[1:]), ofmap=list(output.shape[1:]),
                       macs=int(output.shape[1] * output.shape[2] * output.shape[3] * kh * kw
                                * module.in_channels // module.groups),
                       params=int(module.weight.numel()))
        else:
            rec.update(type="fc", in_features=int(module.in_features), out_features=int(module.out_features),
                       ifmap=list(x.shape[1:]), ofmap=list(output.shape[1:]),
                       macs=int(module.in_features * module.out_features), params=int(module.weight.numel()))
        if isinstance(module, (QConv2d, QLinear)):
            spec = module.weight_spec
            rec.update(target="tpu", weight_kind=spec.kind, weight_bits=spec.bits, act_bits=module.act_bits,
                       per_channel=spec.per_channel, symmetric=spec.symmetric)
        elif isinstance(module, IMACLinear):
            rec.update(target="imac", weight_kind=module.kind, levels=module.levels,
                       imac_layer_index=module.layer_index, amplifier_gain=module.amplifier_gain_value,
                       column_gain=module.column_gain, neuron=module.neuron is not None)
        else:
            rec.update(target="fp32", weight_kind="fp32", weight_bits=32, act_bits=32)
        records.append(rec)

    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear, IMACLinear)):
            hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(torch.rand(1, *model.input_shape))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return records


def _policy_names(model: ZooModel) -> dict[str, str]:
    """Converted head names -> the ``classifier.layers.<i>`` names policies use."""
    out = {}
    head = model.classifier
    if isinstance(head, MixedHead):
        n_digital = len(head.digital)
        for i in range(n_digital):
            out[f"classifier.digital.{i}"] = f"classifier.layers.{i}"
        if head.imac is not None:
            for j in range(len(head.imac.layers)):
                out[f"classifier.imac.layers.{j}"] = f"classifier.layers.{n_digital + j}"
    return out


def export_layers(model: ZooModel, path: str | Path, *, extra: dict | None = None) -> Path:
    """Write ``layers.json``: model summary plus :func:`layer_table`."""
    table = layer_table(model)
    head = _imac_head(model)
    doc: dict[str, Any] = {
        "model": model.name, "input_shape": list(model.input_shape), "num_classes": model.num_classes,
        "width": model.width, **(extra or {}),
        "totals": {target: {"layers": sum(r["target"] == target for r in table),
                            "macs": sum(r["macs"] for r in table if r["target"] == target),
                            "params": sum(r["params"] for r in table if r["target"] == target)}
                   for target in ("tpu", "imac", "fp32")},
        "layers": table,
    }
    if head is not None:
        doc["imac"] = {"file": IMAC_FILE, "dims": head.dims, "input_mode": head.spec.inputs.mode,
                       "inputs": "pixels in [0, 1]" if head.unit_inputs else "TPU features -> codes (feature_code)"}
        if isinstance(head.to_unit, UnitRange):
            doc["imac"]["feature_full_scale"] = float(head.to_unit.full_scale)
            doc["imac"]["feature_encoding"] = head.to_unit.encoding
            doc["imac"]["feature_code"] = ("0.5 + 0.5 * round(clamp(x / full_scale, 0, 1) * 127) / 127"
                                           if head.to_unit.encoding == "zero-centered"
                                           else "round(clamp(x / full_scale, 0, 1) * 255) / 255")
    return write_json(Path(path), doc)


def tpu_arrays(model: ZooModel) -> dict[str, np.ndarray | np.generic]:
    """Integer weight codes, scales and input quantization parameters of the TPU layers."""
    arrays: dict[str, np.ndarray | np.generic] = {}
    with torch.no_grad():
        for name, module in model.named_modules():
            if not isinstance(module, (QConv2d, QLinear)):
                continue
            codes, scale = module.weight_quant.codes(module.weight)
            arrays[f"{name}.weight_codes"] = codes.numpy().astype(np.int32 if module.weight_spec.bits > 8 else np.int16)
            arrays[f"{name}.weight_scale"] = scale.reshape(-1).double().numpy()
            if module.bias is not None:
                arrays[f"{name}.bias"] = module.bias.double().numpy()
            if isinstance(module.input_quant, ActivationQuantizer) and bool(module.input_quant.initialized):
                s, z = module.input_quant.qparams()
                arrays[f"{name}.input_scale"] = np.float64(float(s))
                arrays[f"{name}.input_zero_point"] = np.int64(int(z))
    return arrays


def export_run(model: ZooModel, out_dir: str | Path, *, config=None, assigned: dict | None = None,
               data=None) -> dict[str, str]:
    """Write every export of a trained model into ``out_dir``; returns ``{kind: path}``."""
    out = Path(out_dir)
    written: dict[str, str] = {}
    extra = {}
    if config is not None:
        extra["policy"] = config.precision_policy.name
    if data is not None:
        extra["data"] = data.test.name
    written["layers"] = str(export_layers(model, out / LAYERS_FILE, extra=extra))
    imac_path = export_imac(model, out / IMAC_FILE)
    if imac_path is not None:
        written["imac"] = str(imac_path)
    tpu = tpu_arrays(model)
    if tpu:
        written["tpu_weights"] = str(write_npz(out / TPU_WEIGHTS_FILE, **tpu))
    return written
