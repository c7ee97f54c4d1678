"""The ACNet decoder: skip ("agant") layers and transposed residual blocks (as RedNet)."""

from __future__ import annotations

import torch
from torch import nn

def _conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1, bias=False)


class TransBasicBlock(nn.Module):
    """conv3x3-BN-ReLU, then conv3x3 (or 3x3 stride-2 transposed conv)-BN, residual, ReLU."""

    def __init__(self, inplanes: int, planes: int, upsample: bool = False) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, inplanes)
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.relu = nn.ReLU(inplace=True)
        if upsample:
            self.conv2 = nn.ConvTranspose2d(
                inplanes, planes, kernel_size=3, stride=2, padding=1, output_padding=1, bias=False
            )
            self.upsample = nn.Sequential(
                nn.ConvTranspose2d(inplanes, planes, kernel_size=2, stride=2, bias=False),
                nn.BatchNorm2d(planes),
            )
        else:
            self.conv2 = _conv3x3(inplanes, planes)
            self.upsample = None
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.upsample is None else self.upsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


def _transpose_stage(inplanes: int, planes: int, blocks: int, upsample: bool) -> nn.Sequential:
    """(blocks - 1) same-width blocks, then one block that may upsample."""
    layers = [TransBasicBlock(inplanes, inplanes) for _ in range(blocks - 1)]
    layers.append(TransBasicBlock(inplanes, planes, upsample=upsample))
    return nn.Sequential(*layers)


def _agant(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class Decoder(nn.Module):
    """Upsamples the fused features back to input size, adding skips at each stage.

    In training mode it also returns four auxiliary logit maps (1/2 .. 1/16)
    for the paper's deep supervision.
    """

    def __init__(
        self,
        stage_channels: tuple[int, ...],
        num_classes: int,
        channels: tuple[int, int, int, int, int] = (64, 64, 128, 256, 512),
    ) -> None:
        """``stage_channels`` are the encoder's widths and ``channels`` the
        decoder's, both at 1/2 .. 1/32 of the input."""
        super().__init__()
        for i, (cin, cout) in enumerate(zip(stage_channels, channels)):
            self.add_module(f"agant{i}", _agant(cin, cout))
        c1, c2, c3, c4, c5 = channels
        self.deconv1 = _transpose_stage(c5, c4, 6, upsample=True)
        self.deconv2 = _transpose_stage(c4, c3, 4, upsample=True)
        self.deconv3 = _transpose_stage(c3, c2, 3, upsample=True)
        self.deconv4 = _transpose_stage(c2, c1, 3, upsample=True)
        self.final_conv = _transpose_stage(c1, c1, 3, upsample=False)
        self.final_deconv = nn.ConvTranspose2d(c1, num_classes, kernel_size=2, stride=2, bias=True)
        self.out5_conv = nn.Conv2d(c4, num_classes, kernel_size=1, bias=True)
        self.out4_conv = nn.Conv2d(c3, num_classes, kernel_size=1, bias=True)
        self.out3_conv = nn.Conv2d(c2, num_classes, kernel_size=1, bias=True)
        self.out2_conv = nn.Conv2d(c1, num_classes, kernel_size=1, bias=True)

    def forward(self, m: list[torch.Tensor]) -> torch.Tensor | tuple[torch.Tensor, ...]:
        x = self.deconv1(self.agant4(m[4]))
        aux = [self.out5_conv(x)] if self.training else []
        x = self.deconv2(x + self.agant3(m[3]))
        if self.training:
            aux.append(self.out4_conv(x))
        x = self.deconv3(x + self.agant2(m[2]))
        if self.training:
            aux.append(self.out3_conv(x))
        x = self.deconv4(x + self.agant1(m[1]))
        if self.training:
            aux.append(self.out2_conv(x))
        x = self.final_conv(x + self.agant0(m[0]))
        out = self.final_deconv(x)
        if self.training:
            # full size, then 1/2, 1/4, 1/8, 1/16
            return (out, *reversed(aux))
        return out
