"""Train an MLP for the IMAC circuit in plain PyTorch and export it for ``imaclab imac run``.

The network is trained exactly as the circuit computes (docs/imac-circuit.md)::

    u_l = ideal_column_gain(fan_in, R_low, R_high, A_l) * (v_{l-1} @ Wq_l + v_bias * bq_l)
    v_l = f(u_l)   (hidden layers: the neuron's characterized transfer curve)

with inputs binarized to +-VDD by the same ``encode_inputs`` the circuit's drivers use,
weights quantized onto the device grid (straight-through estimator) and amplifier gains
``A_l`` learned in log space.  With ``--loaded`` (default) each hidden layer's activation is
the neuron curve under the load of the next layer's rows, as the circuit drives them
directly.

    python examples/train_digits_mlp.py -o digits_64_32_10.npz          # ternary weights (default)
    imaclab imac run --model digits_64_32_10.npz --data digits --samples 200 --parasitics on \
        --neuron transistor --backend spice -o runs/digits

    # the 400-120-84-10 network on 20x20 Fashion-MNIST
    python examples/train_digits_mlp.py --data fashion-mnist --crop 20 --hidden 120,84 --epochs 8 \
        -o fmnist_400_120_84_10.npz
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from imaclab.devices import (NeuronConfig, bias_voltage, encode_inputs, ideal_column_gain, load_neuron_curve,
                             quantize_weights, row_load_ohm)
from imaclab.devices.neuron import loaded_curve
from imaclab.imac import MLPModel, save_npz
from imaclab.data.datasets import load_dataset

R_LOW_OHM, R_HIGH_OHM = 5e3, 15e3
#: Softmax temperature applied to the output layer's column signals (volts) in the loss only.
LOGIT_SCALE_PER_V = 2.0


def torch_interp(u: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear ``ys(xs)`` at ``u``, clamped at the ends (differentiable in ``u``)."""
    u = u.clamp(xs[0], xs[-1])
    idx = torch.clamp(torch.searchsorted(xs, u.detach().contiguous()) - 1, 0, xs.numel() - 2)
    x0, x1, y0, y1 = xs[idx], xs[idx + 1], ys[idx], ys[idx + 1]
    return y0 + (u - x0) * (y1 - y0) / (x1 - x0)


class QuantizeSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, kind: str, levels: int):
        ctx.save_for_backward(w)
        return torch.from_numpy(quantize_weights(w.detach().numpy(), kind, levels)).to(w.dtype)

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * (w.abs() <= 1).to(grad.dtype), None, None


class IMACMLP(nn.Module):
    def __init__(self, sizes: list[int], curves: list, kind: str, levels: int, vdd: float, init_gain: list[float]):
        super().__init__()
        self.sizes, self.kind, self.levels = sizes, kind, levels
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.log_gains = nn.ParameterList()
        gen = torch.Generator().manual_seed(0)
        for (a, b), g in zip(zip(sizes[:-1], sizes[1:]), init_gain):
            self.weights.append(nn.Parameter(torch.empty(a, b).uniform_(-1, 1, generator=gen)))
            self.biases.append(nn.Parameter(torch.zeros(b)))
            self.log_gains.append(nn.Parameter(torch.tensor(float(np.log(g)))))
        self.curves = [(torch.tensor(c.v_in, dtype=torch.float32), torch.tensor(c.v_out, dtype=torch.float32))
                       for c in curves]
        self.v_bias = bias_voltage(vdd)

    def unit_gain(self, layer: int) -> float:
        return ideal_column_gain(self.sizes[layer], R_LOW_OHM, R_HIGH_OHM, 1.0)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        n = len(self.weights)
        for i in range(n):
            wq = QuantizeSTE.apply(self.weights[i], self.kind, self.levels)
            bq = QuantizeSTE.apply(self.biases[i], self.kind, self.levels)
            u = self.unit_gain(i) * self.log_gains[i].exp() * (v @ wq + self.v_bias * bq)
            v = torch_interp(u, *self.curves[i]) if i < n - 1 else u
        return v

    def export(self, source: str) -> MLPModel:
        with torch.no_grad():
            ws = [quantize_weights(w.numpy(), self.kind, self.levels) for w in self.weights]
            bs = [quantize_weights(b.numpy(), self.kind, self.levels) for b in self.biases]
            gains = [float(g.exp()) for g in self.log_gains]
        return MLPModel(weights=tuple(ws), biases=tuple(bs), weight_kind=self.kind, gains=tuple(gains),
                        scales=tuple(1.0 for _ in ws), levels=self.levels if self.kind == "multilevel" else None,
                        source=source)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="digits")
    ap.add_argument("--crop", type=int, default=None)
    ap.add_argument("--hidden", default="32", help="hidden sizes, e.g. 32 or 120,84")
    ap.add_argument("--weight-kind", default="ternary", choices=["binary", "ternary", "multilevel"])
    ap.add_argument("--levels", type=int, default=16)
    ap.add_argument("--neuron", default="transistor", choices=["transistor", "behavioral"])
    ap.add_argument("--unloaded", action="store_true", help="train with the unloaded neuron curve")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--train-samples", type=int, default=None, help="use only the first N training samples")
    ap.add_argument("-o", "--out", default="digits_64_32_10.npz")
    args = ap.parse_args(argv)
    torch.manual_seed(0)

    train = load_dataset(args.data, split="train", crop=args.crop, flatten=True)
    test = load_dataset(args.data, split="test", crop=args.crop, flatten=True)
    if args.train_samples:
        train = train.head(args.train_samples)
    neuron = NeuronConfig(kind=args.neuron)
    vdd = neuron.vdd_v
    sizes = [train.num_features] + [int(h) for h in args.hidden.split(",")] + [train.num_classes]
    base = load_neuron_curve(neuron)
    curves = []
    for i in range(len(sizes) - 2):
        curves.append(base if args.unloaded or args.neuron == "behavioral"
                      else loaded_curve(base, row_load_ohm(sizes[i + 2], R_LOW_OHM, R_HIGH_OHM)))
    # initial gains: hidden u of about +-1 V, output layer fixed scale
    init = [float(np.sqrt(n)) for n in sizes[:-1]]
    model = IMACMLP(sizes, curves, args.weight_kind, args.levels, vdd, init)
    model.log_gains[-1].requires_grad_(False)
    x_tr = torch.tensor(encode_inputs(train.x, "binary", vdd), dtype=torch.float32)
    y_tr = torch.tensor(train.y)
    x_te = torch.tensor(encode_inputs(test.x, "binary", vdd), dtype=torch.float32)
    y_te = torch.tensor(test.y)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    loss_fn = nn.CrossEntropyLoss()
    start = time.time()
    for epoch in range(args.epochs):
        perm = torch.randperm(len(y_tr))
        model.train()
        for k in range(0, len(perm), args.batch):
            idx = perm[k:k + args.batch]
            logits = model(x_tr[idx]) * LOGIT_SCALE_PER_V
            loss = loss_fn(logits, y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for w in list(model.weights) + list(model.biases):
                    w.clamp_(-1.0, 1.0)
        sched.step()
        if epoch % max(1, args.epochs // 10) == 0 or epoch == args.epochs - 1:
            with torch.no_grad():
                acc = (model(x_te).argmax(1) == y_te).float().mean().item()
            print(f"epoch {epoch:3d}  loss {loss.item():.3f}  test accuracy {100 * acc:.2f} %  "
                  f"gains {[round(float(g.detach().exp()), 2) for g in model.log_gains]}")
    with torch.no_grad():
        acc = (model(x_te).argmax(1) == y_te).float().mean().item()
        acc200 = (model(x_te[:200]).argmax(1) == y_te[:200]).float().mean().item()
    mlp = model.export(args.out)
    path = save_npz(mlp, args.out)
    print(f"network {'-'.join(map(str, sizes))} ({args.weight_kind}) trained in {time.time() - start:.1f} s: "
          f"test accuracy {100 * acc:.2f} % (first 200: {100 * acc200:.2f} %); wrote {path}")


if __name__ == "__main__":
    main()
