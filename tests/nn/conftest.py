"""Shared settings of the nn tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    """One intra-op thread: on a shared 2-core machine, OpenMP threads that wait on each other
    make tiny models ~50x slower; the tests' tensors are too small to gain from more."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
