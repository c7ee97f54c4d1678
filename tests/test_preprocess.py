"""The one preprocessing implementation, checked against torch's reference ops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from acnet.errors import ConfigError, InputError
from acnet.runtime.preprocess import (
    Normalization,
    PreprocessConfig,
    check_depth,
    check_rgb,
    preprocess,
    resize_bilinear,
    resize_bilinear_chw,
    resize_nearest,
)
from acnet.runtime.postprocess import postprocess_logits

rng = np.random.default_rng(0)


@pytest.mark.parametrize(("src", "dst"), [((37, 53), (64, 96)), ((480, 640), (224, 320)), ((427, 561), (480, 640))])
def test_bilinear_matches_torch_interpolate(src, dst):
    img = rng.integers(0, 256, size=(*src, 3), dtype=np.uint8)
    ours = resize_bilinear(img, *dst)
    ref = F.interpolate(torch.from_numpy(img).permute(2, 0, 1)[None].float(), size=dst, mode="bilinear",
                        align_corners=False, antialias=False)[0].permute(1, 2, 0).numpy()
    # torch computes source positions in float32; ours in float64: < 0.05 on the 0-255 scale.
    np.testing.assert_allclose(ours, ref, atol=0.05)
    chw = rng.standard_normal((5, *src)).astype(np.float32)
    ref_chw = F.interpolate(torch.from_numpy(chw)[None], size=dst, mode="bilinear", align_corners=False)[0].numpy()
    np.testing.assert_allclose(resize_bilinear_chw(chw, *dst), ref_chw, atol=1e-3)


@pytest.mark.parametrize(("src", "dst"), [((37, 53), (64, 96)), ((480, 640), (240, 320)), ((427, 561), (480, 640))])
def test_nearest_matches_torch_nearest_exact(src, dst):
    depth = rng.integers(0, 10000, size=src, dtype=np.uint16)
    ours = resize_nearest(depth, *dst)
    ref = F.interpolate(torch.from_numpy(depth.astype(np.float32))[None, None], size=dst, mode="nearest-exact")[0, 0]
    np.testing.assert_array_equal(ours, ref.numpy().astype(np.uint16))
    assert ours.dtype == np.uint16


def test_normalisation_values():
    norm = Normalization()
    rgb = np.full((64, 64, 3), 255, np.uint8)
    depth = np.full((64, 64), 2842, np.uint16)  # 2.842 m
    depth[0, 0] = 0  # a hole stays valid data
    r, d = preprocess(rgb, depth, PreprocessConfig(64, 64, norm))
    assert r.shape == (3, 64, 64) and d.shape == (1, 64, 64)
    assert r.dtype == np.float32 and d.dtype == np.float32
    np.testing.assert_allclose(r[:, 5, 5], [(1 - m) / s for m, s in zip(norm.rgb_mean, norm.rgb_std)], rtol=1e-5)
    np.testing.assert_allclose(d[0, 5, 5], (2.842 - norm.depth_mean) / norm.depth_std, atol=1e-5)
    np.testing.assert_allclose(d[0, 0, 0], -norm.depth_mean / norm.depth_std, rtol=1e-5)


def test_float_depth_is_metres_and_scale_is_honoured():
    rgb = np.zeros((32, 32, 3), np.uint8)
    cfg = PreprocessConfig(32, 32)
    _, d_m = preprocess(rgb, np.full((32, 32), 1.5, np.float32), cfg)
    _, d_mm = preprocess(rgb, np.full((32, 32), 1500, np.uint16), cfg)
    _, d_scaled = preprocess(rgb, np.full((32, 32), 15000, np.uint16), cfg, depth_scale=1e-4)
    np.testing.assert_allclose(d_m, d_mm, atol=1e-6)
    np.testing.assert_allclose(d_m, d_scaled, atol=1e-6)


def test_resizes_to_model_size_and_back():
    cfg = PreprocessConfig(64, 96)
    r, d = preprocess(np.zeros((50, 70, 3), np.uint8), np.zeros((50, 70), np.uint16), cfg)
    assert r.shape == (3, 64, 96) and d.shape == (1, 64, 96)
    logits = np.zeros((4, 64, 96), np.float32)
    logits[2, :, :48] = 1.0
    logits[3, :, 48:] = 1.0
    labels = postprocess_logits(logits, 50, 70)
    assert labels.shape == (50, 70) and labels.dtype == np.uint8
    assert set(np.unique(labels)) == {3, 4}  # class id = channel + 1
    assert labels[10, 5] == 3 and labels[10, 65] == 4


@pytest.mark.parametrize(
    ("rgb", "depth", "message"),
    [
        (np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint16), "rgb must be uint8"),
        (np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8), np.uint16), "HxWx3"),
        (np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint16), "HxWx3"),
        (np.zeros((0, 8, 3), np.uint8), np.zeros((0, 8), np.uint16), "rgb is empty"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9), np.uint16), "rgb is 8x8 but depth is 8x9"),
        (np.zeros((8, 8, 3), np.uint8), np.full((8, 8), np.nan, np.float32), "NaN"),
        (np.zeros((8, 8, 3), np.uint8), np.full((8, 8), -1.0, np.float32), "negative"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.int32), "depth must be uint16"),
        (np.zeros((8, 8, 3), np.uint8), [[0]], "numpy array"),
    ],
)
def test_bad_inputs_raise_typed_errors(rgb, depth, message):
    with pytest.raises(InputError, match=message):
        preprocess(rgb, depth, PreprocessConfig(32, 32))


def test_checks_accept_valid_input_without_copying():
    rgb = np.zeros((4, 4, 3), np.uint8)
    assert check_rgb(rgb) is rgb
    for dtype in (np.uint16, np.float32):
        flat = np.zeros((4, 4), dtype)
        assert check_depth(flat) is flat
        depth = np.zeros((4, 4, 1), dtype)
        view = check_depth(depth)
        assert view.shape == (4, 4) and np.shares_memory(view, depth)
        depth[2, 3, 0] = 7  # a view: the caller's writes show through
        assert view[2, 3] == 7


@pytest.mark.parametrize(("height", "width", "shown"), [(33, 0, "33x0"), (-32, 32, "-32x32"), (32.5, 32, "32.5x32"),
                                                         (True, 32, "Truex32"), ("32", 32, "'32'x32")])
def test_input_sizes_must_be_positive_integers(height, width, shown):
    with pytest.raises(ConfigError, match=f"input height and width must be positive integers, got {shown}"):
        PreprocessConfig(height, width)


def test_numpy_integer_sizes_are_kept_as_ints():
    config = PreprocessConfig(np.int64(32), np.int32(16))
    assert (config.height, config.width) == (32, 16) and type(config.height) is int
    rgb, depth = preprocess(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint16), config)
    assert rgb.shape == (3, 32, 16) and depth.shape == (1, 32, 16)
