"""Training augmentation (the authors' recipe) and the eval path (the runtime's preprocessing)."""

from __future__ import annotations

import matplotlib.colors
import numpy as np
import pytest

from acnet.errors import ConfigError
from acnet.runtime.preprocess import (
    Normalization,
    PreprocessConfig,
    normalize_depth,
    normalize_rgb,
    preprocess,
    resize_nearest,
)
from acnet.training.data import Frame, SyntheticScenes
from acnet.training.transforms import (
    Augmentation,
    EvalTransform,
    TrainTransform,
    aux_labels,
    hsv_jitter,
    hsv_to_rgb,
    rgb_to_hsv,
)

NORM = Normalization()


@pytest.fixture(scope="module")
def frame() -> Frame:
    return SyntheticScenes(1, 72, 96, seed=3)[0]


def test_eval_transform_is_the_runtime_preprocessing(frame):
    cfg = PreprocessConfig(64, 64, NORM)
    rgb, depth = EvalTransform(cfg)(frame)
    ref_rgb, ref_depth = preprocess(frame.rgb, frame.depth, cfg)
    np.testing.assert_array_equal(rgb, ref_rgb)
    np.testing.assert_array_equal(depth, ref_depth)


def test_train_sample_shapes_dtypes_and_aux_labels(frame):
    sample = TrainTransform(64, 96, NORM)(frame, np.random.default_rng(0))
    assert sample["rgb"].shape == (3, 64, 96) and sample["rgb"].dtype == np.float32
    assert sample["depth"].shape == (1, 64, 96) and sample["depth"].dtype == np.float32
    assert sample["label"].shape == (64, 96) and sample["label"].dtype == np.uint8
    for s in (2, 4, 8, 16):
        assert sample[f"label{s}"].shape == (64 // s, 96 // s)
        np.testing.assert_array_equal(sample[f"label{s}"], resize_nearest(sample["label"], 64 // s, 96 // s))
    assert set(np.unique(sample["label"])) <= set(np.unique(frame.label))  # nearest: no invented classes


def test_train_transform_is_a_function_of_its_generator(frame):
    t = TrainTransform(64, 64, NORM)
    a = t(frame, np.random.default_rng(7))
    b = t(frame, np.random.default_rng(7))
    c = t(frame, np.random.default_rng(8))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["rgb"], c["rgb"])


def test_without_augmentation_training_input_equals_eval_input():
    f = SyntheticScenes(1, 64, 64)[0]
    sample = TrainTransform(64, 64, NORM, Augmentation.none())(f, np.random.default_rng(0))
    rgb, depth = preprocess(f.rgb, f.depth, PreprocessConfig(64, 64, NORM))
    np.testing.assert_allclose(sample["rgb"], rgb, atol=1e-6)
    np.testing.assert_array_equal(sample["depth"], depth)
    np.testing.assert_array_equal(sample["label"], f.label)


def test_flip_mirrors_rgb_depth_and_label_together():
    f = SyntheticScenes(1, 64, 64)[0]
    flip = Augmentation(scale=(1.0, 1.0), flip_p=1.0, hue=(1.0, 1.0), saturation=(1.0, 1.0), value=0.0)
    sample = TrainTransform(64, 64, NORM, flip)(f, np.random.default_rng(0))
    np.testing.assert_allclose(sample["rgb"], normalize_rgb(f.rgb[:, ::-1], NORM), atol=1e-6)
    np.testing.assert_array_equal(sample["label"], f.label[:, ::-1])
    np.testing.assert_array_equal(sample["depth"], normalize_depth(f.depth[:, ::-1], NORM))


def test_scale_then_crop_is_a_window_of_the_scaled_frame():
    f = SyntheticScenes(1, 64, 64)[0]
    zoom = Augmentation(scale=(1.4, 1.4), flip_p=0.0, hue=(1.0, 1.0), saturation=(1.0, 1.0), value=0.0)
    label = TrainTransform(64, 64, NORM, zoom)(f, np.random.default_rng(1))["label"]
    big = resize_nearest(f.label, 90, 90)  # round(1.4 * 64)
    windows = [(i, j) for i in range(27) for j in range(27) if np.array_equal(big[i:i + 64, j:j + 64], label)]
    assert windows, "the training label is not a crop of the label scaled by 1.4"


def test_scale_draws_stay_in_range_and_bad_ranges_are_refused(frame):
    t = TrainTransform(32, 32, NORM, Augmentation(hue=(1.0, 1.0), saturation=(1.0, 1.0), value=0.0, flip_p=0.0))
    depths = [t(frame, np.random.default_rng(s))["depth"] for s in range(6)]
    assert len({d.tobytes() for d in depths}) > 1  # crops differ
    with pytest.raises(ConfigError):
        Augmentation(scale=(0.8, 1.2))
    with pytest.raises(ConfigError):
        Augmentation(flip_p=1.5)


def test_hsv_conversion_matches_matplotlib():
    rng = np.random.default_rng(0)
    rgb = rng.uniform(0, 255, (16, 16, 3)).astype(np.float32)
    rgb[0, 0] = 0  # black and grey pixels have no hue
    rgb[0, 1] = 128
    hsv = rgb_to_hsv(rgb)
    ref = matplotlib.colors.rgb_to_hsv(rgb / 255.0)
    np.testing.assert_allclose(hsv[..., :2], ref[..., :2], atol=1e-5)
    np.testing.assert_allclose(hsv[..., 2] / 255.0, ref[..., 2], atol=1e-6)
    np.testing.assert_allclose(hsv_to_rgb(hsv), rgb, atol=1e-3)


def test_hsv_jitter_follows_the_recipe():
    rgb = np.array([[[200.0, 100.0, 50.0], [10.0, 10.0, 10.0]]], np.float32)
    np.testing.assert_allclose(hsv_jitter(rgb, 1.0, 1.0, 0.0), rgb, atol=1e-3)
    brighter = rgb_to_hsv(hsv_jitter(rgb, 1.0, 1.0, 25.0))
    np.testing.assert_allclose(brighter[..., 2], [[225.0, 35.0]], atol=1e-3)
    assert rgb_to_hsv(hsv_jitter(rgb, 1.0, 1.0, 100.0))[0, 0, 2] == pytest.approx(255.0)  # value clipped
    hsv = rgb_to_hsv(hsv_jitter(rgb, 1.1, 0.9, 0.0))
    base = rgb_to_hsv(rgb)
    assert hsv[0, 0, 0] == pytest.approx(base[0, 0, 0] * 1.1, abs=1e-5)
    assert hsv[0, 0, 1] == pytest.approx(base[0, 0, 1] * 0.9, abs=1e-5)


def test_aux_labels_are_nearest_without_antialiasing():
    label = np.arange(64, dtype=np.uint8).reshape(8, 8)
    half, quarter, eighth = aux_labels(label, (2, 4, 8))
    np.testing.assert_array_equal(half, label[1::2, 1::2])  # floor((i + 0.5) * 2) = 2i + 1
    np.testing.assert_array_equal(quarter, label[2::4, 2::4])
    np.testing.assert_array_equal(eighth, label[4:5, 4:5])
