"""Quantizers: exact values on hand-checked tensors and straight-through gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imaclab.errors import ConfigError
from imaclab.nn.quantizers import (ActivationQuantizer, BinaryQuantizer, QuantSpec, TernaryQuantizer,
                                   UniformQuantizer, calibrate, fake_quantize, integer_range,
                                   make_weight_quantizer)


def _grad(quantizer, w):
    w = w.clone().requires_grad_(True)
    out = quantizer(w)
    out.backward(torch.ones_like(out))
    return out.detach(), w.grad


def test_binary_mean_scale_per_tensor_and_channel():
    w = torch.tensor([[0.2, -0.4, 0.0], [1.5, -0.5, 0.1]])
    q, g = _grad(BinaryQuantizer(QuantSpec(kind="binary", per_channel=False)), w)
    alpha = w.abs().mean()
    torch.testing.assert_close(q, alpha * torch.tensor([[1.0, -1.0, 1.0], [1.0, -1.0, 1.0]]))
    # STE: gradient alpha where |w| <= 1, zero beyond the clip (1.5); alpha itself is a constant
    torch.testing.assert_close(g, alpha * torch.tensor([[1.0, 1.0, 1.0], [0.0, 1.0, 1.0]]))
    q, _ = _grad(BinaryQuantizer(QuantSpec(kind="binary", per_channel=True), channels=2), w)
    torch.testing.assert_close(q[0], torch.tensor([0.2, -0.2, 0.2]))
    torch.testing.assert_close(q[1], torch.tensor([0.7, -0.7, 0.7]))


def test_binary_without_scale_is_exact_signs_and_learned_scale_gets_gradient():
    w = torch.tensor([0.3, -0.01, 0.0, -2.0])
    q, g = _grad(BinaryQuantizer(QuantSpec(kind="binary", scale="none", per_channel=False)), w)
    torch.testing.assert_close(q, torch.tensor([1.0, -1.0, 1.0, -1.0]))
    torch.testing.assert_close(g, torch.tensor([1.0, 1.0, 1.0, 0.0]))
    learned = BinaryQuantizer(QuantSpec(kind="binary", scale="learned", per_channel=False))
    out = learned(w)
    # initialized to mean |w| on first use
    assert abs(float(out[0].detach()) - float(w.abs().mean())) < 1e-6
    out.sum().backward()
    # d/d log(alpha) of sum(alpha * sign(w)) = alpha * sum(sign(w))
    assert abs(float(learned.log_scale.grad) - float(w.abs().mean()) * 0.0) < 1e-6  # signs sum to 0
    learned.zero_grad()
    (learned(w) * torch.tensor([1.0, 0, 0, 0])).sum().backward()
    assert abs(float(learned.log_scale.grad) - float(w.abs().mean())) < 1e-6


def test_ternary_threshold_and_twn_scale():
    w = torch.tensor([0.9, -0.6, 0.1, -0.05, 0.3, 0.0])
    spec = QuantSpec(kind="ternary", per_channel=False, ternary_threshold=0.7)
    q, g = _grad(TernaryQuantizer(spec), w)
    delta = 0.7 * float(w.abs().mean())  # 0.7 * 0.325 = 0.2275
    kept = w.abs() > delta
    assert kept.tolist() == [True, True, False, False, True, False]
    alpha = float(w.abs()[kept].mean())  # (0.9 + 0.6 + 0.3) / 3
    torch.testing.assert_close(q, alpha * torch.tensor([1.0, -1.0, 0.0, 0.0, 1.0, 0.0]))
    torch.testing.assert_close(g, torch.full_like(w, alpha))
    # a larger threshold zeroes more weights
    q2 = TernaryQuantizer(QuantSpec(kind="ternary", per_channel=False, ternary_threshold=1.5, scale="none"))(w)
    assert q2.tolist() == [1.0, -1.0, 0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("bits", range(2, 9))
def test_uniform_symmetric_per_channel_values(bits):
    torch.manual_seed(bits)
    w = torch.randn(4, 3, 3, 3)
    quant = UniformQuantizer(QuantSpec(kind="uniform", bits=bits, symmetric=True, per_channel=True))
    q = quant(w)
    qmax = 2 ** (bits - 1) - 1
    for c in range(4):
        scale = float(w[c].abs().max()) / qmax
        codes = q[c] / scale
        np.testing.assert_allclose(codes.numpy(), np.round(codes.numpy()), atol=1e-4)
        assert codes.abs().max() <= qmax + 1e-4
        # round to nearest: error at most half a step
        assert float((q[c] - w[c]).abs().max()) <= scale / 2 + 1e-6
    codes, scale = quant.codes(w)
    torch.testing.assert_close(codes * scale, q)
    assert len(torch.unique(codes)) <= 2 * qmax + 1


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_uniform_asymmetric_per_tensor_values_and_gradient(bits):
    w = torch.linspace(-0.3, 1.2, 301)
    quant = UniformQuantizer(QuantSpec(kind="uniform", bits=bits, symmetric=False, per_channel=False))
    q, g = _grad(quant, w)
    scale = (1.2 - -0.3) / (2 ** bits - 1)
    assert len(torch.unique(q)) <= 2 ** bits
    assert float((q - w).abs().max()) <= scale / 2 + 1e-5
    assert float(q.abs().min()) < 1e-6  # zero is exactly representable
    torch.testing.assert_close(g, torch.ones_like(w))  # the range covers the tensor: plain STE


def test_fake_quantize_matches_torch_reference_values_and_gradient():
    torch.manual_seed(0)
    x = (torch.randn(5000) * 3).requires_grad_(True)
    scale, zero = torch.tensor(0.037), torch.tensor(17, dtype=torch.int32)
    ours = fake_quantize(x, scale, zero, 0, 255)
    ref = torch.fake_quantize_per_tensor_affine(x, scale, zero, 0, 255)
    torch.testing.assert_close(ours, ref)
    g1, = torch.autograd.grad(ours.sum(), x)
    g2, = torch.autograd.grad(ref.sum(), x)
    torch.testing.assert_close(g1, g2)
    assert 0 < float(g1.sum()) < x.numel()  # some values are clipped (zero gradient)
    w = torch.randn(6, 2, 3, 3, requires_grad=True)
    scales = torch.rand(6) * 0.05 + 0.01
    zeros = torch.zeros(6, dtype=torch.int32)
    torch.testing.assert_close(fake_quantize(w, scales, zeros, -127, 127, axis=0),
                               torch.fake_quantize_per_channel_affine(w, scales, zeros, 0, -127, 127))


def test_activation_quantizer_ema_calibration_and_frozen_eval():
    quant = ActivationQuantizer(4, symmetric=False, momentum=0.5)
    quant.train()
    x1 = torch.linspace(0.0, 2.0, 100)
    out = quant(x1)
    assert float(quant.range_max) == pytest.approx(2.0)
    assert len(torch.unique(out)) <= 16
    quant(torch.linspace(0.0, 4.0, 100))
    assert float(quant.range_max) == pytest.approx(3.0)  # EMA: 2 + 0.5 * (4 - 2)
    quant.eval()
    frozen = quant(torch.tensor([10.0, 1.0]))
    assert float(frozen[0]) == pytest.approx(3.0)  # clipped to the frozen range
    assert float(quant.range_max) == pytest.approx(3.0)
    # calibration accumulates the extremes over all batches
    model = torch.nn.Sequential(quant)
    seen = calibrate(model, [torch.tensor([0.0, 1.0]), (torch.tensor([5.0, 0.5]), None)])
    assert seen == 4 and float(quant.range_max) == pytest.approx(5.0)
    assert not quant.calibrating and model.training  # the caller's mode is restored
    quant.eval()
    # gradient: straight through inside the range, zero outside
    x = torch.tensor([0.5, 7.0], requires_grad=True)
    quant(x).sum().backward()
    assert x.grad.tolist() == [1.0, 0.0]


def test_percentile_calibration_ignores_outliers():
    x = torch.cat([torch.linspace(0, 1, 100000), torch.tensor([1000.0])])
    q = ActivationQuantizer(8, calibration="percentile", percentile=99.9)
    q.train()
    q(x)
    assert float(q.range_max) < 2.0


def test_integer_ranges_and_bad_bits():
    assert integer_range(8, True) == (-127, 127)
    assert integer_range(8, False) == (0, 255)
    assert integer_range(2, True) == (-1, 1)
    with pytest.raises(ConfigError, match="bit width 9"):
        integer_range(9, True)
    with pytest.raises(ConfigError):
        QuantSpec.from_dict({"kind": "uniform", "bits": 1})
    assert isinstance(make_weight_quantizer(QuantSpec(kind="ternary")), TernaryQuantizer)


def test_quant_spec_round_trip(tmp_path):
    spec = QuantSpec(kind="ternary", bits=4, ternary_threshold=0.5, scale="learned")
    assert QuantSpec.load(spec.save(tmp_path / "q.yaml")) == spec
    assert QuantSpec.load(spec.save(tmp_path / "q.json")) == spec
