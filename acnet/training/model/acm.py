"""Attention Complementary Module (ACM)."""

from __future__ import annotations

import torch
from torch import nn


class ACM(nn.Module):
    """Channel attention: ``x * sigmoid(conv1x1(global_avg_pool(x)))``.

    The pool is written as a mean over H and W (ONNX ``ReduceMean``) rather
    than ``AdaptiveAvgPool2d(1)``: the two are equal, and ReduceMean avoids
    TensorRT's pooling-window limit that breaks global pooling at 240x320.
    The weight stays N x C x 1 x 1 and is broadcast by the multiply, so the
    exported graph is one pointwise chain that runtimes fuse.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = torch.sigmoid(self.conv(x.mean(dim=(2, 3), keepdim=True)))
        return x * weight
