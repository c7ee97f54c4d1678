"""Training: exact resume (also after a kill), checkpoints, logs, NaN handling, config files, CLI."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from acnet.cli import main
from acnet.errors import ConfigError, TrainingError
from acnet.training import train as train_module
from acnet.training.checkpoint import checkpoint_info, load_checkpoint, load_model
from acnet.training.config import ModelConfig
from acnet.training.train import TrainConfig, Trainer, list_checkpoints, load_config_file, train
from acnet.training.transforms import Augmentation
from support.installed import assert_one_line_error, run_acnet

TINY = ModelConfig("resnet18", 9, width=0.25)


def tiny(out_dir, **changes) -> TrainConfig:
    """8 synthetic 64x64 frames, batch 2: 4 steps per epoch, no validation unless asked.

    64x64, not 32x32: at 32x32 the last stage's BatchNorms see 2 values per channel, the
    gradients reach 1e5-1e9 and the weights' last digits depend on the thread count.
    """
    base = dict(data="synthetic:8?size=80x80", val_data="none", model=TINY, input_height=64, input_width=64,
                epochs=2, batch_size=2, lr=0.01, num_workers=0, out_dir=str(out_dir), progress=False,
                tensorboard=False, keep_last=2)
    base.update(changes)
    return TrainConfig(**base)


def _params(path):
    return load_checkpoint(path)["model_state"]


def _assert_same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """Two epochs in one go: the reference for the resume tests."""
    out = tmp_path_factory.mktemp("straight")
    return train(tiny(out))


def test_resume_after_one_epoch_equals_two_epochs_straight(straight, tmp_path):
    first = train(tiny(tmp_path, epochs=1))
    assert first.epochs_completed == 1 and first.global_step == 4
    resumed = train(tiny(tmp_path, epochs=2, resume=True))
    assert resumed.epochs_completed == 2 and resumed.global_step == 8
    losses = [h["train_loss"] for h in resumed.history]
    np.testing.assert_allclose(losses, [h["train_loss"] for h in straight.history], rtol=1e-5)
    _assert_same_state(_params(resumed.last_checkpoint), _params(straight.last_checkpoint))
    a, b = load_checkpoint(resumed.last_checkpoint), load_checkpoint(straight.last_checkpoint)
    for k, v in a["optimizer"]["state"].items():  # momentum buffers too
        torch.testing.assert_close(v["momentum_buffer"], b["optimizer"]["state"][k]["momentum_buffer"],
                                   rtol=1e-5, atol=1e-6)
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 2


def test_a_kill_mid_epoch_resumes_from_the_last_checkpoint(straight, tmp_path, monkeypatch):
    real_step = Trainer._train_step
    calls = {"n": 0}

    def dying_step(self, batches):
        calls["n"] += 1
        if calls["n"] == 7:  # second step of the second epoch
            raise KeyboardInterrupt("killed")
        return real_step(self, batches)

    monkeypatch.setattr(Trainer, "_train_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(tmp_path, save_every_steps=1))
    saved = list_checkpoints(tmp_path)
    assert saved and saved[-1].name == "epoch0001_step00000006.pt"  # mid-epoch: epoch 1 done + 2 steps
    assert len(saved) == 2  # keep_last
    record = load_checkpoint(saved[-1])
    assert (record["epoch"], record["step_in_epoch"], record["global_step"]) == (1, 2, 6)
    monkeypatch.setattr(Trainer, "_train_step", real_step)
    resumed = train(tiny(tmp_path, save_every_steps=1, resume=True))
    assert resumed.global_step == 8
    _assert_same_state(_params(resumed.last_checkpoint), _params(straight.last_checkpoint))


def test_checkpoints_logs_and_validation(tmp_path):
    old_mask = os.umask(0o027)
    try:
        result = train(tiny(tmp_path, val_data="synthetic:3?size=80x80", epochs=3, keep_last=1, log_every=2))
    finally:
        os.umask(old_mask)
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["best.pt", "checkpoints/epoch0003_step00000012.pt", "config.json", "log.jsonl"]
    for name in written:  # what open() gives under that umask, not mkstemp's 0600: a service account reads them
        assert oct((tmp_path / name).stat().st_mode & 0o777) == "0o640", name
    assert [p.name for p in list_checkpoints(tmp_path)] == ["epoch0003_step00000012.pt"]
    assert result.best_checkpoint == tmp_path / "best.pt"
    assert result.best_miou == max(h["val"]["miou"] for h in result.history)
    assert result.final_metrics == result.history[-1]["val"]
    assert result.final_metrics["labelled_pixels"] == 3 * 80 * 80  # validation at the frames' own size

    record = load_checkpoint(result.last_checkpoint)  # weights_only=True
    info = checkpoint_info(record, result.last_checkpoint)
    assert info.model_config == TINY and info.class_names[-1] == "panel"
    assert (info.input_height, info.input_width) == (64, 64)
    assert record["normalization"]["depth_mean"] == pytest.approx(3.532)  # the data set's statistics
    for key in ("optimizer", "scheduler", "epoch", "global_step", "best_miou", "rng", "train_config", "acnet_version"):
        assert key in record
    assert set(record["rng"]) == {"torch", "cuda", "numpy", "python"}
    assert TrainConfig.from_dict(record["train_config"]).model == TINY

    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    events = [line["event"] for line in lines]
    assert events[0] == "start" and events.count("epoch") == 3 and events.count("step") == 6
    step = next(line for line in lines if line["event"] == "step")
    assert {"loss", "lr", "images_per_s", "epoch"} <= set(step)
    again = TrainConfig.from_dict(json.loads((tmp_path / "config.json").read_text()))  # `acnet train --config`
    # The resolved config: the recipe's values written out, so the file reproduces the run as it was.
    assert again == tiny(tmp_path, val_data="synthetic:3?size=80x80", epochs=3, keep_last=1, log_every=2).resolve(9)
    assert (again.loss, again.weight_decay, again.drop_last) == ("focal", 0.004, True)


def test_validation_during_training_equals_acnet_eval(tmp_path):
    result = train(tiny(tmp_path, val_data="synthetic:3?size=80x80", epochs=1))
    out = CliRunner().invoke(main, ["eval", str(result.best_checkpoint), "--data", "synthetic:3?size=80x80",
                                    "--json", "-", "--device", "cpu"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["miou"] == pytest.approx(result.best_miou, abs=1e-12)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real = train_module.build_criterion

    class Poisoned(torch.nn.Module):
        """The real loss, but NaN on its sixth call (epoch 2, step 2)."""

        def __init__(self, criterion):
            super().__init__()
            self.criterion, self.calls = criterion, 0

        def forward(self, outputs, labels):
            self.calls += 1
            loss = self.criterion(outputs, labels)
            return loss * float("nan") if self.calls == 6 else loss

    def poisoned(config, weights):
        return Poisoned(real(config, weights))

    monkeypatch.setattr(train_module, "build_criterion", poisoned)
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 2, step 6.*epoch0001_step00000004.pt"):
        train(tiny(tmp_path))
    assert [p.name for p in list_checkpoints(tmp_path)] == ["epoch0001_step00000004.pt"]
    model, _ = load_model(list_checkpoints(tmp_path)[0])
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert '"event": "nan"' in (tmp_path / "log.jsonl").read_text()


def test_nan_loss_in_a_step_outside_run_is_a_training_error(tmp_path):
    """benchmarks/throughput.py drives _train_step without run(): a NaN loss must still be TrainingError."""
    trainer = Trainer(tiny(tmp_path, data="synthetic:2?size=80x80"))
    trainer.setup()
    batch = next(iter(trainer.loader))
    batch["rgb"] = torch.full_like(batch["rgb"], float("nan"))
    with pytest.raises(TrainingError, match="loss became nan at epoch 1, step 1.*no checkpoint was written yet"):
        trainer._train_step([batch])


def test_bf16_autocast_runs_on_cpu(tmp_path):
    result = train(tiny(tmp_path, epochs=1, amp="bf16", data="synthetic:4?size=80x80"))
    assert np.isfinite(result.history[0]["train_loss"])


def test_a_global_batch_is_the_same_frames_for_any_split():
    """Accumulating 2 micro-batches in one process sees what 2 processes see, block for block."""
    from acnet.training.distributed import GlobalBatchSampler

    one = GlobalBatchSampler(8, batch_size=2, accumulation=2, seed=1)
    two = [GlobalBatchSampler(8, batch_size=2, accumulation=1, num_replicas=2, rank=r, seed=1) for r in (0, 1)]
    for s in (one, *two):
        s.set_epoch(3)
    single = list(one)
    ranks = [list(s) for s in two]
    assert len(single) == 4 and all(len(r) == 2 for r in ranks)
    for step in range(2):
        assert single[2 * step] == ranks[0][step] and single[2 * step + 1] == ranks[1][step]
    flat = [i for batch in single for _, i in batch]
    assert sorted(flat) == list(range(8)) and all(e == 3 for batch in single for e, _ in batch)
    one.set_epoch(3, start_step=1)
    assert list(one) == single[2:]


# ---------------------------------------------------------------------------- configuration


def test_config_round_trip_and_file_loading(tmp_path):
    config = tiny(tmp_path, augmentation=Augmentation(scale=(1.0, 1.2)), class_weights="median-frequency")
    assert TrainConfig.from_dict(config.to_dict()) == config
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"epochs": 3, "lr": "1e-3", "model": {"backbone": "resnet18", "num_classes": 9}}))
    loaded = TrainConfig.from_dict(load_config_file(path))
    assert loaded.epochs == 3 and loaded.lr == 0.001 and loaded.model.backbone == "resnet18"
    (tmp_path / "run.json").write_text(json.dumps({"batch_size": 2}))
    assert TrainConfig.from_dict(load_config_file(tmp_path / "run.json")).batch_size == 2


def test_paper_defaults():
    c = TrainConfig().resolve(40)  # NYUDv2 under the default (paper) recipe
    assert (c.lr, c.momentum, c.weight_decay, c.batch_size) == (0.002, 0.9, 0.004, 4)
    assert (c.lr_decay, c.lr_decay_epochs, c.loss, c.focal_gamma) == (0.8, 100, "focal", 2.0)
    assert (c.input_height, c.input_width, c.deep_supervision) == (480, 640, True)
    assert c.augmentation == Augmentation()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"input_height": 100}, "multiple of 32"),
        ({"loss": "dice"}, "loss must be one of"),
        ({"amp": "fp8"}, "amp must be one of"),
        ({"data": "imagenet:x"}, "unknown dataset spec"),
        ({"lr": -1.0}, "lr must be positive"),
    ],
)
def test_bad_config_values(tmp_path, changes, message):
    with pytest.raises(ConfigError, match=message):
        tiny(tmp_path, **changes)


def test_bad_config_files_and_mismatches(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'epoch' \\(did you mean 'epochs'\\?\\)"):
        TrainConfig.from_dict({"epoch": 3})
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_file(bad)
    with pytest.raises(ConfigError, match="the model has 40 classes but .* has 9"):
        train(tiny(tmp_path, model=ModelConfig("resnet18", 40, width=0.25)))
    with pytest.raises(ConfigError, match="have 40 values but the data has 9 classes"):
        train(tiny(tmp_path, class_weights="nyuv2"))


# ---------------------------------------------------------------------------- CLI


def test_train_cli_with_config_file_and_overrides(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"data": "synthetic:4?size=80x80", "val_data": "synthetic:2?size=80x80",
                                   "epochs": 5, "batch_size": 2, "num_workers": 0, "tensorboard": False}))
    out = tmp_path / "run"
    args = ["train", "--config", str(cfg), "--epochs", "1", "--backbone", "resnet18", "--width-mult", "0.25",
            "--height", "64", "--width", "64", "--out", str(out), "--no-progress"]
    dumped = tmp_path / "resolved.yaml"
    result = CliRunner().invoke(main, args + ["--dump-config", str(dumped)])
    assert result.exit_code == 0, result.output
    resolved = TrainConfig.from_dict(yaml.safe_load(dumped.read_text()))
    assert resolved.epochs == 1 and resolved.batch_size == 2 and resolved.model == TINY  # classes from the data
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "last checkpoint:" in result.output and "final val mIoU" in result.output
    assert len(list_checkpoints(out)) == 1


def test_train_cli_errors_are_one_line(tmp_path):
    proc = run_acnet("train", "--data", f"folder:{tmp_path / 'none'}", "--classes", "40")
    assert_one_line_error(proc, f"dataset folder {tmp_path / 'none'} not found")
    proc = run_acnet("train", "--config", tmp_path / "missing.yaml")
    assert_one_line_error(proc, f"config file {tmp_path / 'missing.yaml'} not found")


def test_batches_too_small_for_batchnorm_are_refused_or_warned(tmp_path, caplog):
    # The last stage runs at 1/32 of the input: at 32x32, batch x 1 x 1 values per channel.
    with pytest.raises(ConfigError, match="batch size 1 at 32x32 gives the deepest BatchNorms 1 value per channel"):
        Trainer(tiny(tmp_path, input_height=32, input_width=32, batch_size=1)).setup()
    with caplog.at_level(logging.WARNING, logger="acnet.training.train"):
        Trainer(tiny(tmp_path, input_height=32, input_width=32, batch_size=2)).setup()
    assert "2 values per channel: training will be unstable below 8" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="acnet.training.train"):
        Trainer(tiny(tmp_path)).setup()  # 64x64 in batches of 2: 8 values
    assert "BatchNorm" not in caplog.text
    proc = run_acnet("train", "--data", "synthetic:4?size=40x40", "--val-data", "none", "--backbone", "resnet18",
                     "--width-mult", "0.25", "--height", "32", "--width", "32", "--batch-size", "1", "--out",
                     tmp_path / "one")
    assert_one_line_error(proc, "batch size 1 at 32x32 gives the deepest BatchNorms 1 value per channel; "
                                "BatchNorm needs at least 2 to train")
    # Without drop_last the last batch of 5 frames in batches of 2 holds 1 frame: refused before it crashes
    # BatchNorm mid-epoch (torch's "Expected more than 1 value per channel when training").
    with pytest.raises(ConfigError, match="the last batch of each epoch holds 1 frame \\(drop_last is off: 5 frames "
                                          "in batches of 2\\).* use --drop-last"):
        Trainer(tiny(tmp_path, data="synthetic:5?size=40x40", input_height=32, input_width=32, drop_last=False)).setup()
    proc = run_acnet("train", "--recipe", "authors-code", "--data", "synthetic:5?size=40x40", "--val-data", "none",
                     "--backbone", "resnet18", "--width-mult", "0.25", "--height", "32", "--width", "32",
                     "--batch-size", "2", "--epochs", "1", "--out", tmp_path / "five")
    assert_one_line_error(proc, "the last batch of each epoch holds 1 frame", "use --drop-last")


def test_train_help_explains_the_recipes_weight_decay():
    result = CliRunner().invoke(main, ["train", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "--recipe [paper|authors-code]" in text
    assert "[recipe: 0.004 paper, 1e-4 authors-code]" in text


def test_max_steps_stops_mid_epoch_with_a_checkpoint_and_metrics(tmp_path):
    result = train(tiny(tmp_path, val_data="synthetic:2?size=80x80", epochs=5, max_steps=3))
    assert result.global_step == 3 and result.epochs_completed == 0
    assert result.last_checkpoint.name == "epoch0000_step00000003.pt"
    assert result.best_miou == result.final_metrics["miou"] and result.best_checkpoint is not None
    record = load_checkpoint(result.last_checkpoint)
    assert (record["epoch"], record["step_in_epoch"]) == (0, 3)
    resumed = train(tiny(tmp_path, val_data="none", epochs=1, resume=True))
    assert resumed.global_step == 4 and resumed.epochs_completed == 1
