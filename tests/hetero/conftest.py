"""Shared models and settings of the hetero tests: tiny hand-built networks."""

from __future__ import annotations

import pytest
import torch
from torch import nn
import torch.nn.functional as F


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    """One intra-op thread: tiny tensors gain nothing from more on a shared 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class SmallCNN(nn.Module):
    """conv3x3(1->4, s2, p1) - ReLU - maxpool2 - depthwise3x3(4) - pointwise(4->8) - GAP - FC(8->6) - FC(6->3).

    On a 1x9x9 input: conv out 4x5x5 (100 px), pool 4x2x2, dw 4x2x2, pw 8x2x2, GAP 8.
    """

    input_shape = (1, 9, 9)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
        self.pw = nn.Conv2d(4, 8, 1, bias=False)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(8, 6)
        self.fc2 = nn.Linear(6, 3)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv(x)))
        x = self.pw(self.dw(x))
        x = torch.flatten(self.gap(x), 1)
        return self.fc2(torch.relu(self.fc1(x)))


class ResidualNet(nn.Module):
    """Functional ops: a residual add, F.max_pool2d, and global average pooling as x.mean((2, 3))."""

    input_shape = (2, 8, 8)

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(2, 4, 3, padding=1)
        self.body = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Linear(4, 5)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.body(x)
        x = F.max_pool2d(x, 2)
        return self.head(x.mean((2, 3)))


@pytest.fixture
def small_cnn():
    torch.manual_seed(0)
    return SmallCNN()


@pytest.fixture
def residual_net():
    torch.manual_seed(0)
    return ResidualNet()
