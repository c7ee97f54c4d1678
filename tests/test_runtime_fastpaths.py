"""The runtime's fast paths in acnet.runtime.preprocess and postprocess give exactly the reference values."""

from __future__ import annotations

import numpy as np
import pytest
from support.bilinear_reference import gathered_postprocess, gathered_resize

from acnet.runtime.preprocess import (
    Normalization,
    _bilinear_blocks,
    _block_index,
    linear_taps,
    _scale_rgb,
    _tap_runs,
    normalize_rgb,
    resize_bilinear_chw,
)
from acnet.runtime.postprocess import channel_to_class_id, logits_to_class_ids, postprocess_logits

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


#: (source, destination) sizes: camera-size upsampling by 4, 5 and 20, sizes with no short period,
#: downsampling, single rows and columns.
SIZES = [((96, 128), (480, 640)), ((120, 160), (480, 640)), ((24, 32), (480, 640)), ((60, 80), (61, 79)),
         ((33, 47), (64, 96)), ((96, 128), (17, 23)), ((8, 8), (1, 300)), ((1, 5), (7, 9)), ((8, 8), (8, 9))]


def bits(x):
    return np.ascontiguousarray(x, np.float32).view(np.uint32)


@pytest.mark.parametrize(("src", "dst"), SIZES)
def test_tap_runs_give_every_position_its_own_index_and_weight(src, dst):
    for s, d in zip(src, dst):
        i0, _, w1 = linear_taps(s, d)
        got_i, got_w, seen = np.full(d, -1), np.full(d, np.nan, np.float32), np.zeros(d, int)
        taps = _tap_runs(s, d)
        for dst_i, src_i, w in taps.groups(chunk=3):  # small chunks: their edges must line up too
            dst_i, src_i = np.arange(d)[dst_i], np.arange(s)[src_i]
            assert len(dst_i) == len(src_i) <= 3
            got_i[dst_i], got_w[dst_i] = src_i, w
            seen[dst_i] += 1
        assert (seen == 1).all()
        np.testing.assert_array_equal(got_i, i0)
        np.testing.assert_array_equal(bits(got_w), bits(w1))
    assert len(_tap_runs(128, 640).runs) == 5  # camera sizes are read through strided views, not gathered


@pytest.mark.parametrize(("src", "dst"), SIZES)
def test_blockwise_resize_is_bit_identical_to_gathered_taps(src, dst):
    x = rng.standard_normal((6, *src)).astype(np.float32) * 4
    x[1, 0, 0], x[2, -1, -1], x[3, src[0] // 2, src[1] // 2] = np.nan, np.inf, -np.inf
    with np.errstate(invalid="ignore"):
        want = gathered_resize(x, *dst)
        np.testing.assert_array_equal(bits(resize_bilinear_chw(x, *dst)), bits(want))  # NaN, inf included
        np.testing.assert_array_equal(bits(resize_bilinear_chw(x[None].repeat(2, 0), *dst)), bits(want[None].repeat(2, 0)))
        for block in (1, 37, 1 << 12):  # blocks of any size tile the map exactly once
            out = np.full((6, *dst), np.nan, np.float32)
            hits = np.zeros(dst, int)
            for rows, cols, values, keep in _bilinear_blocks(x, *dst, max_values=block):
                out[(slice(None), *_block_index(rows, cols))] = values[..., keep]
                hits[_block_index(rows, cols)] += 1
            assert (hits == 1).all()
            np.testing.assert_array_equal(bits(out), bits(want))


def trained_looking_logits(classes, h, w, seed=0):
    """Smooth class regions with confident interiors and borders between them, like a trained network's."""
    import torch
    import torch.nn.functional as F

    g = np.random.default_rng(seed)
    coarse = torch.from_numpy(g.standard_normal((1, classes, max(2, h // 8), max(2, w // 8))).astype(np.float32) * 6)
    smooth = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)[0].numpy()
    return (smooth + 0.2 * g.standard_normal((classes, h, w))).astype(np.float32)


@pytest.mark.parametrize(("src", "dst"), SIZES)
@pytest.mark.parametrize(("kind", "classes"), [("normal", 9), ("integers", 9), ("trained", 9), ("normal", 40)])
def test_postprocess_labels_equal_the_gathered_reference(src, dst, kind, classes):
    if kind == "normal":
        logits = rng.standard_normal((classes, *src)).astype(np.float32)
    elif kind == "integers":  # exact ties everywhere, before and after the resize: the lowest channel wins
        logits = rng.integers(-2, 2, size=(classes, *src)).astype(np.float32)
    else:
        logits = trained_looking_logits(classes, *src)
    got = postprocess_logits(logits, *dst)
    assert got.dtype == np.uint8 and got.shape == dst
    np.testing.assert_array_equal(got, gathered_postprocess(logits, *dst))
    np.testing.assert_array_equal(got, channel_to_class_id(resize_bilinear_chw(logits, *dst).argmax(axis=0)))
    if kind == "integers":
        highest = classes - 1 - resize_bilinear_chw(logits, *dst)[::-1].argmax(axis=0)
        assert (got != channel_to_class_id(highest)).any()  # ties were met, and went to the lowest channel


def test_nan_logits_make_void_exactly_where_the_resized_map_is_nan():
    logits = trained_looking_logits(9, 96, 128, seed=1)
    logits[3, 40, 50] = np.nan
    logits[:, 0, 0] = np.nan
    with np.errstate(invalid="ignore"):
        labels = postprocess_logits(logits, 480, 640)
        nan = np.isnan(resize_bilinear_chw(logits, 480, 640)).any(axis=0)
    assert nan.sum() > 25  # every pixel whose taps read a NaN
    np.testing.assert_array_equal(labels == 0, nan)
    np.testing.assert_array_equal(labels, gathered_postprocess(logits, 480, 640))


@pytest.mark.parametrize(("src", "dst", "classes"), [((96, 128), (480, 640), 9), ((120, 160), (480, 640), 40), ((60, 80), (61, 79), 13)])
def test_postprocess_agrees_with_torch_interpolate_except_genuine_near_ties(src, dst, classes):
    import torch
    import torch.nn.functional as F

    logits = trained_looking_logits(classes, *src, seed=classes)
    ref = F.interpolate(torch.from_numpy(logits)[None], size=dst, mode="bilinear", align_corners=False)[0].numpy()
    ours = resize_bilinear_chw(logits, *dst)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=4e-6 * np.abs(logits).max())  # float rounding, not more
    labels = postprocess_logits(logits, *dst)
    torch_labels = channel_to_class_id(ref.argmax(axis=0))
    top2 = np.sort(ref, axis=0)[-2:]
    near_tie = top2[1] - top2[0] <= 1e-5 * np.abs(logits).max()
    assert (labels != torch_labels).sum() <= near_tie.sum()
    np.testing.assert_array_equal(labels[~near_tie], torch_labels[~near_tie])
    assert len(np.unique(labels)) >= min(classes, 5)
