"""Training recipes: the paper's and the authors' released code's, resolved per dataset and overridable."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from click.testing import CliRunner

from acnet.cli import main
from acnet.errors import ConfigError
from acnet.training.config import ModelConfig
from acnet.training.data import resources
from acnet.training.distributed import GlobalBatchSampler
from acnet.training.train import TrainConfig, Trainer, build_criterion, class_weight_tensor

TINY = ModelConfig("resnet18", 9, width=0.25)


def test_paper_recipe_resolves_to_the_paper_and_sunrgbd_decays_every_20_epochs():
    c = TrainConfig()
    assert c.recipe == "paper"
    nyu = c.resolve(40)
    assert (nyu.loss, nyu.focal_gamma, nyu.class_weights, nyu.deep_supervision_reduction) == ("focal", 2.0, "none", "mean")
    assert (nyu.weight_decay, nyu.lr, nyu.momentum, nyu.batch_size, nyu.drop_last, nyu.amp) == (
        0.004, 0.002, 0.9, 4, True, "auto")
    assert (nyu.lr_decay, nyu.lr_decay_epochs) == (0.8, 100)
    assert c.resolve(37).lr_decay_epochs == 20  # SUN RGB-D: lr x0.8 every 20 epochs (the paper)
    assert c.resolve(9).lr_decay_epochs == 100


def test_authors_code_recipe_resolves_to_their_training_script():
    c = TrainConfig(recipe="authors-code")
    nyu, sun, other = c.resolve(40), c.resolve(37), c.resolve(9)
    assert (nyu.loss, nyu.class_weights, nyu.deep_supervision_reduction) == ("ce", "nyuv2", "sum")
    assert (nyu.weight_decay, nyu.drop_last, nyu.amp, nyu.lr_decay_epochs) == (1e-4, False, "off", 100)
    assert (nyu.lr, nyu.momentum, nyu.batch_size, nyu.lr_decay, nyu.epochs) == (0.002, 0.9, 4, 0.8, 1500)
    assert (sun.class_weights, sun.lr_decay_epochs) == ("sunrgbd", 100)
    assert other.class_weights == "median-frequency"
    # The released weights file (data/nyuv2_40class_weight.txt) without its leading void weight.
    weights = resources.published_class_weights("nyuv2")
    assert len(weights) == 40 and weights[:2] == [0.272491, 0.568953] and weights[-1] == 1.228912


def test_explicit_values_override_the_recipe():
    c = TrainConfig(recipe="authors-code", weight_decay=0.004, loss="focal", drop_last=True, lr_decay_epochs=7)
    r = c.resolve(40)
    assert (r.weight_decay, r.loss, r.drop_last, r.lr_decay_epochs) == (0.004, "focal", True, 7)
    assert (r.class_weights, r.deep_supervision_reduction) == ("nyuv2", "sum")  # the rest still follows it
    assert TrainConfig(class_weights="none", recipe="authors-code").resolve(40).class_weights == "none"


def test_cli_recipe_and_explicit_flags_and_config_file(tmp_path):
    dump = tmp_path / "resolved.yaml"
    args = ["train", "--recipe", "authors-code", "--data", "synthetic:8?size=40x40", "--dump-config", str(dump)]
    result = CliRunner().invoke(main, args + ["--weight-decay", "0.01"])
    assert result.exit_code == 0, result.output
    d = yaml.safe_load(dump.read_text())
    assert (d["recipe"], d["loss"], d["deep_supervision_reduction"], d["drop_last"], d["weight_decay"]) == (
        "authors-code", "ce", "sum", False, 0.01)
    # From a config file; a flag still wins over the file, and the file over the recipe.
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"recipe": "authors-code", "weight_decay": "2e-4", "amp": "auto"}))
    result = CliRunner().invoke(main, ["train", "--config", str(cfg), "--loss", "focal", "--dump-config", str(dump)])
    assert result.exit_code == 0, result.output
    d = yaml.safe_load(dump.read_text())
    assert (d["recipe"], d["weight_decay"], d["amp"], d["loss"], d["class_weights"]) == (
        "authors-code", 2e-4, "auto", "focal", "median-frequency")
    with pytest.raises(ConfigError, match="recipe must be one of paper, authors-code"):
        TrainConfig(recipe="ours")


def _hand_written_authors_loss(outputs, labels, weight):
    """The authors' ``CrossEntropyLoss2d``, written out: per scale, summed weighted CE of the
    non-void pixels over their count; the five scales summed."""
    total = 0.0
    for out, lab in zip(outputs, labels):
        logp = F.log_softmax(out.double(), dim=1)
        n, _, h, w = out.shape
        s, count = 0.0, 0
        for b in range(n):
            for y in range(h):
                for x in range(w):
                    k = int(lab[b, y, x])
                    if k > 0:
                        s -= float(weight[k - 1]) * float(logp[b, k - 1, y, x])
                        count += 1
        total += s / count
    return total


def test_authors_code_loss_is_the_sum_of_weighted_ce_over_five_scales():
    config = TrainConfig(recipe="authors-code").resolve(40)
    weight = torch.tensor(resources.published_class_weights("nyuv2"))
    criterion = build_criterion(config, weight)
    g = torch.Generator().manual_seed(0)
    sizes = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    outputs = [torch.randn(2, 40, h, w, generator=g) * 3 for h, w in sizes]
    labels = [torch.randint(0, 41, (2, h, w), generator=g) for h, w in sizes]
    labels[-1][:, 0, 0] = torch.tensor([0, 5])  # one void pixel at the smallest scale
    expected = _hand_written_authors_loss(outputs, labels, weight)
    assert float(criterion(outputs, labels)) == pytest.approx(expected, rel=1e-5)
    # The paper's mean is a fifth of that sum for the same per-scale CE.
    mean = build_criterion(TrainConfig(recipe="authors-code", deep_supervision_reduction="mean").resolve(40), weight)
    assert float(mean(outputs, labels)) == pytest.approx(expected / 5, rel=1e-5)


def test_trainer_uses_the_recipe(tmp_path):
    config = TrainConfig(recipe="authors-code", data="synthetic:10?size=40x40", val_data="none", model=TINY,
                         input_height=32, input_width=32, batch_size=4, num_workers=0, out_dir=str(tmp_path),
                         progress=False, tensorboard=False)
    trainer = Trainer(config)
    trainer.setup()
    assert trainer.config.weight_decay == 1e-4 and trainer.optimizer.param_groups[0]["weight_decay"] == 1e-4
    assert trainer.criterion.reduction == "sum" and trainer.criterion.criterion.kind == "ce"
    expected = class_weight_tensor("median-frequency", trainer.train_set)
    torch.testing.assert_close(trainer.criterion.criterion.weight, expected)
    assert trainer.amp_dtype is None
    # No drop_last: 10 frames in batches of 4 are 3 steps, the last of 2 frames.
    assert trainer.sampler.steps_per_epoch == 3
    assert [len(b) for b in trainer.sampler] == [4, 4, 2]


@pytest.mark.parametrize("frames, batch, accumulation, replicas, drop_last", [
    (11, 4, 1, 1, False), (12, 4, 1, 1, False), (11, 4, 1, 1, True), (11, 2, 2, 2, False), (9, 2, 2, 2, False),
    (3, 2, 2, 2, False), (5, 2, 1, 1, False), (16, 4, 2, 1, False),
])
def test_smallest_batch_is_the_smallest_micro_batch_any_rank_sees(frames, batch, accumulation, replicas, drop_last):
    sizes = [len(b) for r in range(replicas)
             for b in GlobalBatchSampler(frames, batch, accumulation, replicas, r, seed=1, drop_last=drop_last)]
    assert GlobalBatchSampler(frames, batch, accumulation, replicas, 0, drop_last=drop_last).smallest_batch == min(sizes)


def test_sampler_without_drop_last_covers_every_frame_once():
    one = list(GlobalBatchSampler(11, batch_size=4, seed=3, drop_last=False))
    assert [len(b) for b in one] == [4, 4, 3]
    assert sorted(i for b in one for _, i in b) == list(range(11))
    # Two processes x two micro-batches: the last 3 frames are cut into parts, none empty.
    ranks = [list(GlobalBatchSampler(11, 2, accumulation=2, num_replicas=2, rank=r, seed=3, drop_last=False))
             for r in (0, 1)]
    assert all(len(b) >= 1 for r in ranks for b in r)
    seen = [i for r in ranks for b in r for _, i in b]
    assert sorted(set(seen)) == list(range(11)) and len(seen) == 12  # one frame recycled to fill 4 parts
    assert np.array_equal(sorted(i for b in GlobalBatchSampler(11, 4, seed=3) for _, i in b),
                          sorted(i for b in one[:2] for _, i in b))  # drop_last keeps the full batches only
