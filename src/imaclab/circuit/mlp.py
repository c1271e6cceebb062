"""The network to map: a multilayer perceptron's weights, biases and (optional) gains.

Semantics on the circuit (``docs/imac-circuit.md``): layer ``l`` computes

    u_l = gain_l * (v_{l-1} @ Wq_l + v_bias * bq_l),   v_l = f(u_l)  (hidden),  outputs = u_L

with ``Wq = quantize(W / s)``, ``bq = quantize(B / s)`` (``s`` the layer's weight scale),
``v_0`` the encoded input voltages, ``v_bias = +VDD`` and ``f`` the neuron curve.  The class
of the largest output is the prediction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imaclab.errors import InputError

WEIGHT_KINDS = ("binary", "ternary", "multilevel", "real")


@dataclass(frozen=True)
class MLPModel:
    """Weights ``W[l]`` (inputs x outputs) and biases ``B[l]`` (outputs,) of a fully connected net."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    weight_kind: str = "real"
    gains: tuple[float, ...] | None = None
    scales: tuple[float, ...] | None = None
    levels: int | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        ws = tuple(np.asarray(w, dtype=np.float64) for w in self.weights)
        bs = tuple(np.asarray(b, dtype=np.float64).reshape(-1) for b in self.biases)
        object.__setattr__(self, "weights", ws)
        object.__setattr__(self, "biases", bs)
        where = f"{self.source}: " if self.source else ""
        if not ws:
            raise InputError(f"{where}model has no layers")
        if len(ws) != len(bs):
            raise InputError(f"{where}{len(ws)} weight matrices but {len(bs)} bias vectors")
        if self.weight_kind not in WEIGHT_KINDS:
            raise InputError(f"{where}unknown weight_kind '{self.weight_kind}': use one of {', '.join(WEIGHT_KINDS)}")
        for i, (w, b) in enumerate(zip(ws, bs), start=1):
            if w.ndim != 2:
                raise InputError(f"{where}W{i} must be a 2-D (inputs x outputs) matrix, got shape {w.shape}")
            if b.shape[0] != w.shape[1]:
                raise InputError(f"{where}B{i} has {b.shape[0]} entries but W{i} has {w.shape[1]} outputs")
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
                raise InputError(f"{where}W{i}/B{i} contain NaN or infinite values")
            if i > 1 and w.shape[0] != ws[i - 2].shape[1]:
                raise InputError(f"{where}W{i} expects {w.shape[0]} inputs but layer {i - 1} has "
                                 f"{ws[i - 2].shape[1]} outputs")
        for name, vals in (("gains", self.gains), ("scales", self.scales)):
            if vals is not None:
                if len(vals) != len(ws):
                    raise InputError(f"{where}{len(vals)} {name} for {len(ws)} layers")
                if any(not np.isfinite(v) or v <= 0 for v in vals):
                    raise InputError(f"{where}{name} must be positive numbers")
                object.__setattr__(self, name, tuple(float(v) for v in vals))

    @property
    def layer_sizes(self) -> list[int]:
        """[inputs, hidden..., outputs], e.g. [64, 32, 10]."""
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]

    @property
    def n_layers(self) -> int:
        return len(self.weights)

    def to_dict(self) -> dict:
        return {"layer_sizes": self.layer_sizes, "weight_kind": self.weight_kind, "levels": self.levels,
                "gains": list(self.gains) if self.gains else None,
                "scales": list(self.scales) if self.scales else None, "source": self.source}
