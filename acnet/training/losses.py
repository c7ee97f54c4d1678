"""Segmentation losses: focal loss (the paper) and weighted cross-entropy (the authors' code).

Labels are class ids as in the label files (0 = void, ignored; class k is
logits channel k - 1). Each per-pixel loss is multiplied by its class's
weight and summed over the non-void pixels, then divided by their *count*
(not by the sum of weights), as the authors' released code does. Deep
supervision combines this loss over the five decoder outputs, each against
the label downsampled to its size: their mean (the paper) or their sum (the
released code).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from acnet._typed import is_finite_number
from acnet.errors import ConfigError

LOSSES = ("focal", "ce")
#: How :class:`DeepSupervisionLoss` combines the per-output losses.
REDUCTIONS = ("mean", "sum")


class SegmentationLoss(nn.Module):
    """Focal loss ``-w_y (1 - p_y)^gamma log p_y`` (``kind="focal"``) or weighted CE (``"ce"``)."""

    def __init__(self, kind: str = "focal", gamma: float = 2.0, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        if kind not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {kind!r}")
        if not is_finite_number(gamma) or gamma < 0:
            raise ConfigError(f"focal gamma must be a finite number >= 0, got {gamma!r}")  # NaN passes `< 0`
        self.kind, self.gamma = kind, float(gamma)
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))

    def forward(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """``logits`` N x C x H x W, ``label`` N x H x W class ids (0 = void); returns a scalar."""
        logits = logits.float()
        valid = label > 0
        target = (label.long() - 1).clamp_min(0)
        logp = F.log_softmax(logits, dim=1).gather(1, target.unsqueeze(1)).squeeze(1)
        loss = -logp
        if self.kind == "focal" and self.gamma:
            loss = loss * (1.0 - logp.exp()).pow(self.gamma)
        if self.weight is not None:
            loss = loss * self.weight[target]
        count = valid.sum().clamp_min(1)
        return (loss * valid).sum() / count


class DeepSupervisionLoss(nn.Module):
    """Mean (or sum) of ``criterion`` over the decoder's outputs and matching labels."""

    def __init__(self, criterion: nn.Module, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ConfigError(f"deep-supervision reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
        self.criterion, self.reduction = criterion, reduction

    def forward(self, outputs: Sequence[torch.Tensor] | torch.Tensor, labels: Sequence[torch.Tensor]) -> torch.Tensor:
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        if len(outputs) > len(labels):
            raise ConfigError(f"{len(outputs)} outputs but only {len(labels)} label maps")
        losses = []
        for out, lab in zip(outputs, labels):
            if out.shape[-2:] != lab.shape[-2:]:
                raise ConfigError(f"output {tuple(out.shape)} does not match label {tuple(lab.shape)}")
            losses.append(self.criterion(out, lab))
        stacked = torch.stack(losses)
        return stacked.sum() if self.reduction == "sum" else stacked.mean()
