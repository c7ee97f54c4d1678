"""Parameter and compute counts per part of the network, with a real FLOP counter."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from acnet.training.config import ModelConfig, check_input_size
from acnet.training.model import build_model

#: Parts reported by ``acnet model summary``, as (label, module-name prefixes).
PARTS = (
    ("RGB encoder", ("rgb",)),
    ("depth encoder", ("depth",)),
    ("fusion encoder", ("fusion",)),
    ("ACMs", ("acm_rgb", "acm_depth")),
    ("decoder", ("decoder",)),
)


@dataclass(frozen=True)
class PartCount:
    name: str
    params: int
    macs: int


@dataclass(frozen=True)
class ModelSummary:
    config: ModelConfig
    height: int
    width: int
    parts: tuple[PartCount, ...]
    total_params: int
    total_macs: int

    def table(self) -> str:
        lines = [
            f"ACNet {self.config.backbone}, {self.config.num_classes} classes, fusion={self.config.fusion}, "
            f"input 1x3x{self.height}x{self.width} + 1x1x{self.height}x{self.width}",
            f"{'part':<16}{'parameters':>16}{'GMACs':>12}",
        ]
        for p in self.parts:
            lines.append(f"{p.name:<16}{p.params:>16,}{p.macs / 1e9:>12.3f}")
        lines.append(f"{'total':<16}{self.total_params:>16,}{self.total_macs / 1e9:>12.3f}")
        lines.append(f"(GFLOPs = 2 x GMACs = {2 * self.total_macs / 1e9:.1f}; counted with torch.utils.flop_counter)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "config": self.config.to_dict(),
            "input": [self.height, self.width],
            "parts": [{"name": p.name, "params": p.params, "macs": p.macs} for p in self.parts],
            "total_params": self.total_params,
            "total_macs": self.total_macs,
        }


def summarize(config: ModelConfig, height: int = 480, width: int = 640) -> ModelSummary:
    """Count parameters and multiply-accumulates of each part at batch 1.

    MACs come from ``FlopCounterMode`` (convolutions and matmuls, which is
    where the work is); FLOPs are twice that.
    """
    check_input_size(height, width)
    # On the meta device nothing is computed: shapes and counts only, instantly.
    with torch.device("meta"):
        model = build_model(config).eval()
        rgb, depth = torch.zeros(1, 3, height, width), torch.zeros(1, 1, height, width)
    counter = FlopCounterMode(display=False, depth=None)
    with torch.no_grad(), counter:
        model(rgb, depth)
    flops = {name: sum(v.values()) for name, v in counter.get_flop_counts().items()}
    parts = []
    for label, prefixes in PARTS:
        params = sum(
            p.numel() for n, p in model.named_parameters() if n.split(".")[0] in prefixes
        )
        # Branches are entered through their methods, not __call__, so sum
        # their direct children (e.g. ACNet.rgb.layer1) to avoid double counts.
        part_flops = sum(
            v for name, v in flops.items() if name.count(".") == 2 and name.split(".")[1] in prefixes
        )
        if params or part_flops:
            parts.append(PartCount(label, params, part_flops // 2))
    total_params = sum(p.numel() for p in model.parameters())
    total_macs = counter.get_total_flops() // 2
    return ModelSummary(config, height, width, tuple(parts), total_params, total_macs)
