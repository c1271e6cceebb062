"""TPU layers, the neuron-curve activation and IMAC layers against the devices room's models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imaclab.devices.column import ideal_column_gain
from imaclab.devices.inputs import bias_voltage, encode_inputs
from imaclab.devices.memristor import DeviceConfig, quantize_weights
from imaclab.devices.neuron import NeuronConfig, load_neuron_curve
from imaclab.errors import ConfigError
from imaclab.nn.imac_layers import IMACHead, IMACLinear, IMACSpec, InputDrivers, neuron_signal_scale
from imaclab.nn.layers import CurveActivation, QConv2d, QDepthwiseConv2d, QLinear
from imaclab.nn.quantizers import QuantSpec


@pytest.fixture(scope="module")
def curve():
    return load_neuron_curve(NeuronConfig(kind="behavioral"))


def test_curve_activation_equals_neuron_curve_and_its_slope(curve):
    act = CurveActivation.from_curve(curve)
    assert act.uniform_step > 0  # the characterization sweep is uniform: fast path
    # random points, kept off the table's knots (where left and right slopes are both valid)
    u_np = np.random.default_rng(0).uniform(curve.v_in[0] - 0.5, curve.v_in[-1] + 0.5, 4000)
    step = curve.v_in[1] - curve.v_in[0]
    frac = ((u_np - curve.v_in[0]) / step) % 1.0
    u_np = u_np[(frac > 0.01) & (frac < 0.99)]
    u = torch.tensor(u_np, dtype=torch.float32, requires_grad=True)
    out = act(u)
    np.testing.assert_allclose(out.detach().numpy(), curve(u.detach().numpy()), atol=2e-6)
    out.sum().backward()
    np.testing.assert_allclose(u.grad.numpy(), curve.slope(u.detach().numpy()), rtol=1e-4, atol=1e-4)


def test_curve_activation_nonuniform_table_and_errors():
    v_in = np.array([-1.0, -0.2, 0.0, 0.5, 2.0])
    v_out = np.array([-0.8, -0.5, 0.0, 0.6, 0.8])
    act = CurveActivation(v_in, v_out)
    assert act.uniform_step == 0.0
    u = torch.tensor([-3.0, -0.6, -0.1, 0.25, 1.0, 5.0], requires_grad=True)
    out = act(u)
    np.testing.assert_allclose(out.detach().numpy(), np.interp(u.detach().numpy(), v_in, v_out), atol=1e-6)
    out.sum().backward()
    expected = [0.0, 0.3 / 0.8, 0.5 / 0.2, 0.6 / 0.5, 0.2 / 1.5, 0.0]
    np.testing.assert_allclose(u.grad.numpy(), expected, rtol=1e-5)
    with pytest.raises(ConfigError, match="strictly increasing"):
        CurveActivation([0.0, 0.0, 1.0], [0.0, 1.0, 2.0])
    with pytest.raises(ConfigError, match="NaN"):
        CurveActivation([0.0, 1.0], [0.0, float("nan")])


def test_qconv2d_uses_quantized_weights_and_inputs():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    q = QConv2d.from_float(conv, weight_spec=QuantSpec(kind="uniform", bits=4), act_bits=None)
    x = torch.randn(2, 3, 6, 6)
    codes, scale = q.weight_quant.codes(q.weight)
    assert codes.abs().max() <= 7
    expected = torch.nn.functional.conv2d(x, codes * scale, conv.bias, padding=1)
    torch.testing.assert_close(q(x), expected)
    # with 8-bit inputs the layer differs from float by a bounded quantization error
    q8 = QConv2d.from_float(conv, weight_spec=QuantSpec(kind="uniform", bits=8), act_bits=8)
    q8.train()
    diff = (q8(x) - conv(x)).abs().max()
    assert 0 < float(diff.detach()) < 0.1
    dw = QDepthwiseConv2d(5, 3, padding=1)
    assert dw.is_depthwise and dw(torch.randn(1, 5, 4, 4)).shape == (1, 5, 4, 4)
    lin = QLinear(6, 3, act_bits=None)
    wq = lin.weight_quant(lin.weight)
    torch.testing.assert_close(lin(torch.ones(1, 6)), torch.ones(1, 6) @ wq.t() + lin.bias)


def _layer(kind="binary", bits=8, fan_in=7, fan_out=3, curve=None, devices=None, neuron=True):
    spec = IMACSpec(devices=devices or DeviceConfig(), learn_amplifier_gain=False, amplifier_gain=2.0)
    weight = QuantSpec(kind=kind, bits=bits, scale="none", per_channel=False)
    act = CurveActivation.from_curve(curve) if (neuron and curve is not None) else None
    return IMACLinear(fan_in, fan_out, weight=weight, spec=spec, curve=act)


@pytest.mark.parametrize("kind, bits", [("binary", 8), ("ternary", 8), ("uniform", 3)])
def test_imac_linear_equals_devices_relation(kind, bits, curve):
    torch.manual_seed(1)
    layer = _layer(kind, bits, curve=curve)
    v = torch.from_numpy(encode_inputs(np.random.default_rng(0).random((5, 7)), mode="analog")).float()
    wq, bq = layer.quantized()
    values = set(np.round(torch.cat([wq.flatten(), bq]).detach().numpy(), 6))
    if kind == "binary":
        assert values <= {-1.0, 1.0}
    elif kind == "ternary":
        assert values <= {-1.0, 0.0, 1.0} and 0.0 in values
    else:  # 3-bit symmetric -> the devices' 7-level grid, normalized by max |w|
        grid = np.unique(quantize_weights(np.linspace(-1, 1, 101), "multilevel", 7))
        assert len(grid) == 7
        assert all(np.min(np.abs(grid - x)) < 1e-6 for x in values) and 1.0 in {abs(x) for x in values}
        assert layer.levels == 7 and layer.kind == "multilevel"
    # snapped values are a fixed point of the devices room's quantizer
    np.testing.assert_allclose(quantize_weights(wq.detach().double().numpy(), layer.kind, layer.levels),
                               wq.detach().double().numpy(), atol=1e-6)
    gain = ideal_column_gain(7, 5e3, 15e3, 2.0)
    u = gain * (v.double().numpy() @ wq.detach().double().numpy().T + bias_voltage(0.8) * bq.detach().double().numpy())
    np.testing.assert_allclose(layer(v).detach().numpy(), curve(u), atol=1e-5)
    assert layer.column_gain == pytest.approx(gain)


def test_imac_linear_straight_through_gradient_and_clip():
    layer = _layer("binary", neuron=False)
    with torch.no_grad():
        layer.weight.fill_(0.5)
        layer.weight[0, 0] = 1.7  # beyond the clip: no gradient
    v = torch.ones(1, 7)
    layer(v).sum().backward()
    grad = layer.weight.grad
    gain = layer.unit_gain * layer.amplifier_gain_value
    assert float(grad[0, 0]) == 0.0
    assert float(grad[0, 1]) == pytest.approx(gain)
    layer.clip_latent()
    assert float(layer.weight.detach().max()) == 1.0


def test_device_faults_and_variation(curve):
    torch.manual_seed(2)
    # every device stuck at R_low: G+ = G-, so every effective weight is 0 and u = 0
    stuck = _layer("binary", devices=DeviceConfig(stuck_at_low_rate=1.0), neuron=False)
    stuck.noise_enabled = True
    w_eff, b_eff = stuck.effective()
    assert float(w_eff.detach().abs().max()) < 1e-12 and float(b_eff.detach().abs().max()) < 1e-12
    # variation: seeded draws are reproducible, differ from ideal, and average back to it
    noisy = _layer("binary", fan_in=200, fan_out=50, devices=DeviceConfig(variation_sigma_pct=10.0), neuron=False)
    wq, _ = noisy.quantized()
    noisy.noise_enabled = True
    noisy.noise_generator = np.random.default_rng(5)
    w1, _ = noisy.effective()
    noisy.noise_generator = np.random.default_rng(5)
    w2, _ = noisy.effective()
    torch.testing.assert_close(w1, w2)
    err = (w1 - wq).detach()
    assert 0.05 < float(err.std()) < 0.5
    assert abs(float(err.mean())) < 0.02
    # the noisy forward still passes gradients to the latent weights (straight through)
    noisy.noise_generator = None
    noisy(torch.ones(2, 200)).sum().backward()
    assert noisy.weight.grad is not None and float(noisy.weight.grad.abs().sum()) > 0


def test_input_drivers_probe_encode_inputs():
    x = torch.tensor([[0.0, 0.3, 0.5, 1.0]])
    for mode in ("analog", "binary"):
        drivers = InputDrivers(IMACSpec(input_mode=mode))
        np.testing.assert_allclose(drivers(x).numpy(), encode_inputs(x.numpy(), mode=mode), atol=1e-6)


def test_imac_head_gain_initialization_targets_neuron_region(curve):
    torch.manual_seed(3)
    spec = IMACSpec()
    head = IMACHead([20, 16, 4], [QuantSpec(kind="binary", scale="none", per_channel=False)] * 2, spec,
                    unit_inputs=True, curve=curve)
    assert all(not bool(layer.gain_initialized) for layer in head.layers)
    head.train()
    x = torch.rand(256, 20)
    head(x)
    target = neuron_signal_scale(curve)
    wq, bq = head.layers[0].quantized()
    v = head.drivers(x)
    u = head.layers[0].unit_gain * head.layers[0].amplifier_gain_value * (v @ wq.t() + head.layers[0].v_bias * bq)
    assert float(u.detach().std()) == pytest.approx(target, rel=1e-3)
    assert all(bool(layer.gain_initialized) for layer in head.layers)
    assert head.layers[-1].log_amplifier_gain.requires_grad is False


@pytest.mark.parametrize("kind, levels", [("binary", 2), ("ternary", 3), ("multilevel", 7), ("multilevel", 16),
                                          ("real", 0)])
def test_torch_device_levels_equal_the_devices_quantizer(kind, levels):
    from imaclab.nn.imac_layers import device_levels

    rng = np.random.default_rng(levels)
    w = np.concatenate([rng.uniform(-1.5, 1.5, 5000), [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5]])
    ours = device_levels(torch.from_numpy(w), kind, levels).numpy()
    np.testing.assert_array_equal(ours, quantize_weights(w, kind, levels))


def test_curve_activation_adopts_a_checkpoints_table():
    grid_a, grid_b = np.linspace(-1, 1, 11), np.linspace(-2, 2, 21)
    source = CurveActivation(grid_a, np.tanh(grid_a))
    target = CurveActivation(grid_b, 0.5 * np.tanh(grid_b))
    target.load_state_dict(source.state_dict())
    u = torch.linspace(-3, 3, 13)
    torch.testing.assert_close(target(u), source(u))
    assert target.uniform_step == pytest.approx(0.2)
