"""Make an IMAC-Sim data folder for the docs' measurement (not a test; docs/imac-circuit.md):
a binary 64-32-16-10 MLP trained on scikit-learn's digits in IMAC-Sim's circuit convention
(non-inverting amplifiers, neuron on 0..VDD falling with its input after every layer, class =
largest output-neuron voltage), amplifier gains 8/4/2, straight-through sign, Adam, seeded;
written as IMAC-Sim keeps its files: W*.csv, B*.csv, test_data.csv, test_labels.csv.

    PYTHONPATH=src python tests/imac/imacsim_digits.py OUT_FOLDER      # about a second
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_imacsim as T  # noqa: E402  (its forward, constants and folder writer)

from imaclab.circuit import MLPModel  # noqa: E402
from imaclab.data import load_dataset  # noqa: E402

SIZES, GAINS = [64, 32, 16, 10], (8.0, 4.0, 2.0)


def train(x, y, epochs=40, batch=64, lr=0.01, seed=0):
    vdd, half, slope = T.VDD, T.HALF, T.SLOPE
    rng = np.random.default_rng(seed)
    lat = [[rng.normal(0, 0.3, (a, b)), rng.normal(0, 0.3, b)] for a, b in zip(SIZES[:-1], SIZES[1:])]
    m1 = [[np.zeros_like(p) for p in layer] for layer in lat]
    m2 = [[np.zeros_like(p) for p in layer] for layer in lat]
    step = 0
    for _ in range(epochs):
        perm = rng.permutation(len(y))
        for k in range(0, len(y), batch):
            idx = perm[k:k + batch]
            acts, pre = [np.where(x[idx] >= 0.5, vdd, -vdd)], []
            for (w, b), a in zip(lat, GAINS):
                g = a / (w.shape[0] + 1)
                t = np.tanh(-slope * g * (acts[-1] @ np.sign(w) + vdd * np.sign(b)) / half)
                pre.append((g, t))
                acts.append(half * (1 + t))
            z = 20 * acts[-1]
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            d = 20 * (p - np.eye(SIZES[-1])[y[idx]]) / len(idx)
            step += 1
            for li in range(len(lat) - 1, -1, -1):
                g, t = pre[li]
                du = d * half * (1 - t ** 2) * (-slope / half)
                w = lat[li][0]
                grads = [g * acts[li].T @ du, g * vdd * du.sum(0)]
                d = g * du @ np.sign(w).T
                for j in range(2):
                    m1[li][j] = 0.9 * m1[li][j] + 0.1 * grads[j]
                    m2[li][j] = 0.999 * m2[li][j] + 0.001 * grads[j] ** 2
                    upd = (m1[li][j] / (1 - 0.9 ** step)) / (np.sqrt(m2[li][j] / (1 - 0.999 ** step)) + 1e-8)
                    lat[li][j] = np.clip(lat[li][j] - lr * upd, -1, 1)
    return [np.where(w >= 0, 1.0, -1.0) for w, _ in lat], [np.where(b >= 0, 1.0, -1.0) for _, b in lat]


def main(out: str) -> None:
    T.SIZES[:] = SIZES
    T.GAINS = GAINS
    tr = load_dataset("digits", split="train", flatten=True)
    te = load_dataset("digits", split="test", flatten=True)
    ws, bs = train(np.asarray(tr.x, float), np.asarray(tr.y))
    xt, yt = np.asarray(te.x, float), np.asarray(te.y)
    acc = float(np.mean(T._imacsim_forward(ws, bs, xt).argmax(1) == yt))
    print(f"software (imacsim chain) test accuracy {100 * acc:.2f} % on {len(yt)} images")
    model = MLPModel(weights=tuple(ws), biases=tuple(bs), weight_kind="binary", gains=GAINS)
    T._write_imacsim_folder(Path(out), model, xt, yt)
    print(f"wrote {out}: W1..W3.csv, B1..B3.csv, test_data.csv, test_labels.csv (gains {list(GAINS)})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "imacsim-digits")
