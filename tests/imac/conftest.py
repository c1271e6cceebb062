"""Fixtures of the imac tests: a seeded random binary MLP and its .npz file."""

import numpy as np
import pytest

from imaclab.circuit.mlp import MLPModel
from imaclab.imac import save_npz


def _random_binary_mlp(sizes=(64, 12, 10), seed=0) -> MLPModel:
    rng = np.random.default_rng(seed)
    ws = [np.where(rng.random((a, b)) < 0.5, -1.0, 1.0) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [np.where(rng.random(b) < 0.5, -1.0, 1.0) for b in sizes[1:]]
    return MLPModel(weights=tuple(ws), biases=tuple(bs), weight_kind="binary", gains=(8.0, 5.0), source="rand")


@pytest.fixture
def random_mlp():
    """Factory: random_mlp(sizes=(64, 12, 10), seed=0) -> a seeded random binary MLPModel (gains 8, 5)."""
    return _random_binary_mlp


@pytest.fixture
def model_path(tmp_path):
    """The default random MLP saved as ``tmp_path/m.npz``."""
    return save_npz(_random_binary_mlp(), tmp_path / "m.npz")
