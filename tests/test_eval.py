"""Evaluation: full-resolution protocol, hand-checked confusion, real NYUv2 frames, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from acnet.cli import main
from acnet.errors import ConfigError
from acnet.runtime.preprocess import Normalization, PreprocessConfig, preprocess, resize_bilinear_chw
from acnet.training.checkpoint import make_record, save_checkpoint
from acnet.training.config import ModelConfig
from acnet.training.data import SYNTHETIC_CLASSES, SyntheticScenes, open_dataset
from acnet.training.data.base import RGBDDataset, validate_frame
from acnet.training.evaluate import evaluate, predict_logits
from acnet.training.model import build_model
from support.installed import assert_one_line_error, run_acnet

SYN = ModelConfig("resnet18", 9, width=0.25)


def test_predict_logits_is_preprocess_model_then_bilinear_resize(tiny_config):
    torch.manual_seed(0)
    model = build_model(tiny_config).train()
    frame = SyntheticScenes(1, 48, 72)[0]
    cfg = PreprocessConfig(32, 64, Normalization())
    logits = predict_logits(model, frame.rgb, frame.depth, cfg)
    assert logits.shape == (13, 48, 72) and logits.dtype == np.float32
    assert model.training  # the caller's mode is restored
    rgb, depth = preprocess(frame.rgb, frame.depth, cfg)
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(rgb)[None], torch.from_numpy(depth)[None])[0].numpy()
    np.testing.assert_allclose(logits, resize_bilinear_chw(ref, 48, 72), rtol=1e-5, atol=1e-5)


class HalfAndHalf(torch.nn.Module):
    """Predicts class 1 on the left half of the input and class 2 on the right half."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.config = ModelConfig("resnet18", num_classes)
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, rgb, depth):
        n, _, h, w = rgb.shape
        logits = torch.zeros(n, self.config.num_classes, h, w)
        logits[:, 0, :, : w // 2] = 1.0
        logits[:, 1, :, w // 2:] = 1.0
        return logits


class Frames(RGBDDataset):
    """Hand-made 6x8 frames."""

    def __init__(self, labels):
        self.labels = labels
        self.class_names = ("a", "b", "c")
        self.normalization = Normalization()
        self.source = "hand-made"

    def __len__(self):
        return len(self.labels)

    def _load(self, i):
        label = self.labels[i]
        rgb = np.zeros(label.shape + (3,), np.uint8)
        return validate_frame(f"f{i}", rgb, np.ones(label.shape, np.float32), label, 3, "hand-made")


def test_confusion_over_a_dataset_by_hand():
    left = np.zeros((6, 8), np.uint8)
    left[:, :4] = 1  # truth: class 1 on the left, void on the right
    mixed = np.full((6, 8), 3, np.uint8)
    mixed[:2] = 2  # rows 0-1 class 2, rows 2-5 class 3
    mixed[5, :] = 0  # void row
    result = evaluate(HalfAndHalf(), Frames([left, mixed]), PreprocessConfig(32, 32), batch_size=2)
    # predictions at the label's size: columns 0-3 -> 1, columns 4-7 -> 2
    expected = np.zeros((3, 3), np.int64)
    expected[0, 0] = 24  # frame 1: 24 class-1 pixels, all predicted 1; the void half is ignored
    expected[1, 0], expected[1, 1] = 8, 8  # frame 2 rows 0-1: class 2, 8 px left (->1), 8 right (->2)
    expected[2, 0], expected[2, 1] = 12, 12  # rows 2-4: class 3, never predicted
    np.testing.assert_array_equal(result.confusion.matrix, expected)
    assert result.frames == 2
    # IoU: class 1 = 24 / (24 + 20) ; class 2 = 8 / (16 + 20 - 8) ; class 3 = 0 / 24
    np.testing.assert_allclose(result.confusion.per_class_iou(), [24 / 44, 8 / 28, 0.0])
    assert result.miou == pytest.approx((24 / 44 + 8 / 28) / 3)
    assert result.pixel_accuracy == pytest.approx(32 / 64)
    assert result.mean_class_accuracy == pytest.approx((1 + 0.5 + 0) / 3)
    d = json.loads(result.to_json())
    assert d["per_class"][0]["name"] == "a" and d["confusion_matrix"] == expected.tolist()
    assert "mIoU" in result.table()


def test_class_count_mismatch_is_refused():
    with pytest.raises(ConfigError, match="predicts 4 classes but hand-made has 3"):
        evaluate(HalfAndHalf(4), Frames([np.ones((6, 8), np.uint8)]), PreprocessConfig(32, 32))


def test_evaluation_on_real_nyuv2_frames(shared_data, tmp_path):
    root = shared_data / "nyuv2-samples"
    torch.manual_seed(0)
    model = build_model(ModelConfig("resnet18", 40, width=0.25))
    ds = open_dataset(f"folder:{root}")
    vis = tmp_path / "vis"
    result = evaluate(model, ds, PreprocessConfig(64, 96), batch_size=3, save_vis=vis)
    labelled = sum(int((np.asarray(Image.open(p)) > 0).sum()) for p in sorted((root / "test" / "semantic_40").iterdir()))
    assert result.frames == 6 and result.confusion.total == labelled  # every labelled pixel, at 480x640
    assert 0.0 <= result.miou <= 1.0 and 0.0 <= result.pixel_accuracy <= 1.0
    images = sorted(vis.iterdir())
    assert [p.stem for p in images] == ["0001", "0002", "0009", "0014", "0015", "0433"]
    assert np.asarray(Image.open(images[0])).shape == (480, 4 * 640 + 3 * 4, 3)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model(SYN)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    return save_checkpoint(path, make_record(model, SYN, SYNTHETIC_CLASSES, Normalization(), (32, 32)))


def test_eval_cli_table_json_and_images(checkpoint, tmp_path):
    out = tmp_path / "m.json"
    vis = tmp_path / "vis"
    result = CliRunner().invoke(main, ["eval", str(checkpoint), "--data", "synthetic:3?size=40x48", "--device", "cpu",
                                       "--json", str(out), "--save-vis", str(vis)])
    assert result.exit_code == 0, result.output
    assert "panel" in result.output and "mIoU" in result.output
    record = json.loads(out.read_text())
    assert record["frames"] == 3 and record["labelled_pixels"] == 3 * 40 * 48
    assert len(record["per_class"]) == 9
    assert len(list(vis.glob("*.png"))) == 3
    only_json = CliRunner().invoke(main, ["eval", str(checkpoint), "--data", "synthetic:2?size=40x48", "--json", "-"])
    assert json.loads(only_json.stdout)["frames"] == 2


def test_eval_missing_checkpoint_is_one_line(tmp_path):
    proc = run_acnet("eval", tmp_path / "nope.pt", "--data", "synthetic:2")
    assert_one_line_error(proc, f"checkpoint {tmp_path / 'nope.pt'} not found")


def test_eval_class_count_mismatch_is_one_line(checkpoint, shared_data):
    proc = run_acnet("eval", checkpoint, "--data", f"folder:{shared_data / 'nyuv2-samples'}")
    assert_one_line_error(proc, "predicts 9 classes")


def test_a_diverged_model_is_one_line_naming_the_frame(tmp_path):
    # Finite weights so large that the activations overflow (as after a step with a 1e9 gradient): the
    # logits are NaN, and the user hears that, not "predicted ids must be in 1..9, got 0..0".
    torch.manual_seed(0)
    model = build_model(SYN)
    with torch.no_grad():
        model.rgb.bn1.weight.fill_(3e38)
        model.depth.bn1.weight.fill_(3e38)
    path = save_checkpoint(tmp_path / "diverged.pt", make_record(model, SYN, SYNTHETIC_CLASSES, Normalization(), (32, 32)))
    proc = run_acnet("eval", path, "--data", "synthetic:2?size=40x40")
    assert_one_line_error(proc, "the model's logits are not finite (NaN or inf) on frame")
    assert "have diverged" in proc.stderr


def test_nan_weights_are_refused_when_the_checkpoint_loads(tmp_path):
    # A BatchNorm statistic gone NaN: every command that loads the checkpoint says so, naming the tensor.
    torch.manual_seed(0)
    model = build_model(SYN)
    model.rgb.bn1.running_mean[3] = float("nan")
    model.decoder.final_deconv.weight.data[0, 0, 0, 0] = float("inf")
    path = save_checkpoint(tmp_path / "nan.pt", make_record(model, SYN, SYNTHETIC_CLASSES, Normalization(), (32, 32)))
    for args in (["eval", path, "--data", "synthetic:2?size=40x40"], ["export", "onnx", path, "-o", tmp_path / "m.onnx"]):
        proc = run_acnet(*args)
        assert_one_line_error(proc, f"{path} holds NaN or infinite values in ", "and 1 more", "diverged")
    assert not (tmp_path / "m.onnx").exists()
