"""ResNet branches of the ACNet encoder, in torchvision's key layout."""

from __future__ import annotations

import torch
from torch import nn

from acnet.training.config import scaled
from acnet.training.model.blocks import BasicBlock, Bottleneck

#: backbone -> (block type, blocks per stage), as torchvision builds them.
RESNETS: dict[str, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
}


class ResNetBranch(nn.Module):
    """Parts of a torchvision ResNet, without its classifier.

    ``stem`` keeps ``conv1/bn1/relu`` (with ``in_channels`` inputs) and
    ``stages`` keeps ``layer1..layer4``; the maxpool is always kept. Module
    names match torchvision's, so ImageNet weights load by key. ``width``
    scales every channel count; 1.0 is the standard ResNet.
    """

    def __init__(
        self,
        backbone: str,
        in_channels: int = 3,
        stem: bool = True,
        stages: bool = True,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        block, layers = RESNETS[backbone]
        self.inplanes = scaled(64, width)
        if stem:
            self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(self.inplanes)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        if stages:
            for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
                stride = 1 if i == 0 else 2
                self.add_module(f"layer{i + 1}", self._make_layer(block, scaled(planes, width), blocks, stride))
        del self.inplanes

    def _make_layer(self, block: type[nn.Module], planes: int, blocks: int, stride: int) -> nn.Sequential:
        # Same structure and names as torchvision.models.resnet.ResNet._make_layer.
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        """Stage 0: conv1/bn1/relu at 1/2 resolution (before the maxpool)."""
        return self.relu(self.bn1(self.conv1(x)))

    def forward_stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Stage ``index`` (1..4); stage 1 starts with this branch's maxpool."""
        if index == 1:
            x = self.maxpool(x)
        return getattr(self, f"layer{index}")(x)
