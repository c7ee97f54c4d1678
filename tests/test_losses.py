"""Focal and weighted cross-entropy losses with void ignored; deep supervision."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from acnet.errors import ConfigError
from acnet.training.losses import DeepSupervisionLoss, SegmentationLoss


@pytest.fixture()
def batch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 5, 6, generator=g)
    label = torch.randint(0, 5, (2, 5, 6), generator=g)  # 0 = void, 1..4
    return logits, label


def test_gamma_zero_is_cross_entropy_over_labelled_pixels(batch):
    logits, label = batch
    ref = F.cross_entropy(logits, label - 1, ignore_index=-1)
    assert SegmentationLoss("focal", gamma=0.0)(logits, label).item() == pytest.approx(ref.item(), rel=1e-6)
    assert SegmentationLoss("ce")(logits, label).item() == pytest.approx(ref.item(), rel=1e-6)


def test_focal_loss_by_hand(batch):
    logits, label = batch
    p = logits.softmax(1)
    valid = label > 0
    t = (label - 1).clamp_min(0)
    pt = p.gather(1, t[:, None])[:, 0]
    by_hand = (-(1 - pt) ** 2 * pt.log())[valid].mean()
    assert SegmentationLoss("focal", gamma=2.0)(logits, label).item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_class_weights_scale_pixels_and_divide_by_count(batch):
    logits, label = batch
    w = torch.tensor([0.5, 1.0, 2.0, 3.0])
    valid = label > 0
    t = (label - 1).clamp_min(0)
    per_pixel = F.cross_entropy(logits, t, reduction="none") * w[t]
    expected = per_pixel[valid].sum() / valid.sum()  # the authors' code: divide by pixels, not weights
    assert SegmentationLoss("ce", weight=w)(logits, label).item() == pytest.approx(expected.item(), rel=1e-6)


def test_void_pixels_do_not_matter(batch):
    logits, label = batch
    loss = SegmentationLoss()
    changed = logits.clone()
    changed[:, :, label[0] == 0] += 100.0 * torch.randn_like(changed[:, :, label[0] == 0])
    other = logits.clone()
    other[0][:, label[0] == 0] = changed[0][:, label[0] == 0]
    assert loss(other, label).item() == pytest.approx(loss(logits, label).item(), rel=1e-6)
    all_void = torch.zeros_like(label)
    assert loss(logits, all_void).item() == 0.0


def test_deep_supervision_averages_the_outputs(batch):
    logits, label = batch
    small = F.avg_pool2d(logits, 1)[..., :2, :3]
    small_label = label[:, :2, :3]
    criterion = SegmentationLoss()
    ds = DeepSupervisionLoss(criterion)
    expected = (criterion(logits, label) + criterion(small, small_label)) / 2
    assert ds((logits, small), (label, small_label)).item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ConfigError):
        ds((logits,), (small_label,))


def test_gradients_flow_and_bad_options_are_refused(batch):
    logits, label = batch
    logits.requires_grad_(True)
    SegmentationLoss()(logits, label).backward()
    assert logits.grad.abs().sum() > 0
    with pytest.raises(ConfigError):
        SegmentationLoss("dice")
    with pytest.raises(ConfigError):
        SegmentationLoss(gamma=-1)
