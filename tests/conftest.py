"""Fixtures shared by the circuit and spice tests: small random binary MLPs and small crossbar configs."""

import numpy as np
import pytest

from imaclab.circuit import MLPModel, NetworkConfig


def _binary_model(sizes, seed=0) -> MLPModel:
    rng = np.random.default_rng(seed)
    ws = [np.where(rng.random((a, b)) < 0.5, -1.0, 1.0) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [np.where(rng.random(b) < 0.5, -1.0, 1.0) for b in sizes[1:]]
    return MLPModel(weights=tuple(ws), biases=tuple(bs), weight_kind="binary", source="test")


def _small_config(**overrides) -> NetworkConfig:
    base = {"neuron.kind": "behavioral", "circuit.crossbar.rows": 4, "circuit.crossbar.columns": 3}
    base.update(overrides)
    return NetworkConfig().with_overrides(base)


@pytest.fixture
def binary_model():
    """Factory: binary_model([6, 5, 3], seed) -> a random binary MLPModel."""
    return _binary_model


@pytest.fixture
def small_config():
    """Factory: small_config(**dotted_overrides) -> behavioral neurons on 4x3 crossbars."""
    return _small_config


@pytest.fixture
def model_6_5_3():
    return _binary_model([6, 5, 3])


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody can write into, root included: a read-only tmpfs where mounting is allowed,
    else a read-only system folder (/sys/kernel)."""
    import os
    import subprocess
    from pathlib import Path

    folder = tmp_path / "read-only"
    folder.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                                                   capture_output=True).returncode == 0
    if not mounted and os.geteuid() != 0:
        folder.chmod(0o500)
    yield folder if mounted or os.geteuid() != 0 else Path("/sys/kernel")
    if mounted:
        subprocess.run(["umount", str(folder)], capture_output=True)
    else:
        folder.chmod(0o700)
