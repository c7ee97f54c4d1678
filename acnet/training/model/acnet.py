"""ACNet (Hu et al., ICIP 2019), as implemented by its authors."""

from __future__ import annotations

import math

import torch
from torch import nn

from acnet.errors import InputError
from acnet.training.config import STRIDE, ModelConfig
from acnet.training.model.acm import ACM
from acnet.training.model.decoder import Decoder
from acnet.training.model.encoder import ResNetBranch


class ACNet(nn.Module):
    """RGB-D segmentation network with three encoder branches and ACM fusion.

    The RGB and depth ResNets run on their own; at every stage ``k`` their
    outputs, each reweighted by its own ACM, are added to the fusion branch:
    ``m_k = fusion.layer_k(m_{k-1}) + rgb_k * A(rgb_k) + depth_k * A(depth_k)``
    (``m_0`` has no fusion term). The decoder upsamples ``m_4`` with skips
    from ``m_3..m_0``.

    Inputs are normalised ``rgb`` (N,3,H,W) and ``depth`` (N,1,H,W) with H and
    W multiples of 32. In training mode the forward returns five logit maps
    (full, 1/2, 1/4, 1/8, 1/16); in eval mode only the full-size logits.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        stages = config.fusion != "early"
        self.rgb = ResNetBranch(config.backbone, in_channels=3, stages=stages, width=config.width)
        self.depth = ResNetBranch(config.backbone, in_channels=1, stages=stages, width=config.width)
        self.fusion = ResNetBranch(config.backbone, stem=False, width=config.width)
        if config.fusion == "acm":
            channels = config.stage_channels
            self.acm_rgb = nn.ModuleList(ACM(c) for c in channels)
            self.acm_depth = nn.ModuleList(ACM(c) for c in channels)
        self.decoder = Decoder(config.stage_channels, config.num_classes, config.decoder_channels)
        self._init_weights()

    def _init_weights(self) -> None:
        # The authors' scheme: He-normal over fan-out for Conv2d, unit BN.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _fuse(self, k: int, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        if self.config.fusion == "acm":
            return self.acm_rgb[k](rgb) + self.acm_depth[k](depth)
        return rgb + depth

    def encode(self, rgb: torch.Tensor, depth: torch.Tensor) -> list[torch.Tensor]:
        """The fused features m0..m4 at 1/2 .. 1/32 of the input."""
        rgb = self.rgb.forward_stem(rgb)
        depth = self.depth.forward_stem(depth)
        m = self._fuse(0, rgb, depth)
        fused = [m]
        for k in range(1, 5):
            m = self.fusion.forward_stage(k, m)
            if self.config.fusion != "early":
                rgb = self.rgb.forward_stage(k, rgb)
                depth = self.depth.forward_stage(k, depth)
                m = m + self._fuse(k, rgb, depth)
            fused.append(m)
        return fused

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if not (torch.compiler.is_compiling() or torch.jit.is_tracing()):
            check_inputs(rgb, depth)
        return self.decoder(self.encode(rgb, depth))


def check_inputs(rgb: torch.Tensor, depth: torch.Tensor) -> None:
    """Refuse inputs the network cannot take, instead of cropping silently."""
    if rgb.ndim != 4 or rgb.shape[1] != 3:
        raise InputError(f"rgb must be N x 3 x H x W, got {tuple(rgb.shape)}")
    if depth.ndim != 4 or depth.shape[1] != 1:
        raise InputError(f"depth must be N x 1 x H x W, got {tuple(depth.shape)}")
    if rgb.shape[0] != depth.shape[0] or rgb.shape[2:] != depth.shape[2:]:
        raise InputError(f"rgb {tuple(rgb.shape)} and depth {tuple(depth.shape)} differ in batch or size")
    h, w = rgb.shape[2:]
    if h % STRIDE or w % STRIDE:
        raise InputError(f"input height and width must be multiples of {STRIDE}, got {h}x{w}")
    if not rgb.is_floating_point() or not depth.is_floating_point():
        raise InputError(f"inputs must be floating point, got {rgb.dtype} and {depth.dtype}")


def build_model(config: ModelConfig | None = None, **kwargs) -> ACNet:
    """Build an ACNet from a config or from ``ModelConfig`` keyword arguments."""
    if config is None:
        config = ModelConfig(**kwargs)
    elif kwargs:
        raise TypeError("pass either a ModelConfig or keyword arguments, not both")
    return ACNet(config)
