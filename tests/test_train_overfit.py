"""Overfitting: a tiny ACNet memorises a few synthetic scenes within a bounded number of steps.

Weighted cross-entropy (median-frequency weights) so the small classes (a few hundred pixels)
are learnt too; the focal loss gets there more slowly on them.
"""

from __future__ import annotations

import pytest

from acnet.training.config import ModelConfig
from acnet.training.train import TrainConfig, train
from acnet.training.transforms import Augmentation

STEPS = 300


@pytest.mark.slow
def test_tiny_model_overfits_four_scenes(tmp_path):
    scenes = "synthetic:4?size=64x64&split=train"
    result = train(TrainConfig(
        data=scenes, val_data=scenes, model=ModelConfig("resnet18", 9, width=0.25),
        input_height=64, input_width=64, epochs=STEPS, batch_size=4, lr=0.1, weight_decay=0.0, loss="ce", class_weights="median-frequency",
        augmentation=Augmentation.none(), val_every=STEPS, save_every=STEPS, keep_last=1,
        num_workers=0, progress=False, tensorboard=False, out_dir=str(tmp_path),
    ))
    assert result.global_step == STEPS
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.1 * losses[0]
    # Evaluated like any validation: eval-mode network, runtime preprocessing, full-size labels.
    assert result.final_metrics["miou"] > 0.75, result.final_metrics
    assert result.final_metrics["pixel_accuracy"] > 0.9
