"""The runtime's fast paths in acnet.runtime.preprocess give exactly the reference values."""

from __future__ import annotations

import numpy as np
import pytest

from acnet.runtime.preprocess import (
    Normalization,
    _scale_rgb,
    channel_to_class_id,
    logits_to_class_ids,
    normalize_rgb,
    postprocess_logits,
    resize_bilinear_chw,
)

rng = np.random.default_rng(1)
ODD_NORM = Normalization(rgb_mean=(0.1, 0.5, 0.9), rgb_std=(0.3, 0.07, 0.61), depth_mean=1.0, depth_std=2.0)


@pytest.mark.parametrize("norm", [Normalization(), ODD_NORM])
def test_uint8_lookup_table_is_bit_identical_to_the_formula(norm):
    every_level = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    image = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    for rgb in (every_level, image, image[:, ::-1]):  # also a non-contiguous view
        fast = normalize_rgb(rgb, norm)
        reference = np.ascontiguousarray(_scale_rgb(rgb.astype(np.float32), norm).transpose(2, 0, 1))
        assert fast.dtype == np.float32 and fast.shape == (3, *rgb.shape[:2]) and fast.flags.c_contiguous
        np.testing.assert_array_equal(fast, reference)
    # float input (after a resize) still takes the formula
    np.testing.assert_array_equal(normalize_rgb(image.astype(np.float32), norm), normalize_rgb(image, norm))


def test_class_ids_equal_argmax_plus_one_including_ties_and_nan():
    logits = rng.integers(-3, 3, size=(13, 40, 50)).astype(np.float32)  # many exact ties
    np.testing.assert_array_equal(logits_to_class_ids(logits), channel_to_class_id(logits.argmax(axis=0)))
    logits[4, 7, 9] = np.nan
    assert logits_to_class_ids(logits)[7, 9] == 0
    wide = rng.standard_normal((300, 4, 5)).astype(np.float32)  # more channels than uint8 ids: argmax path
    np.testing.assert_array_equal(logits_to_class_ids(wide), channel_to_class_id(wide.argmax(axis=0)))


@pytest.mark.parametrize(("src", "dst"), [((24, 32), (480, 640)), ((60, 80), (61, 79)), ((96, 128), (17, 23)), ((8, 8), (8, 8))])
def test_banded_postprocess_equals_resize_then_argmax(src, dst):
    logits = rng.standard_normal((40, *src)).astype(np.float32)
    expected = channel_to_class_id(resize_bilinear_chw(logits, *dst).argmax(axis=0))
    got = postprocess_logits(logits, *dst)
    assert got.dtype == np.uint8 and got.shape == dst
    np.testing.assert_array_equal(got, expected)
