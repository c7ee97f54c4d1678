"""Colourised class maps and overlays: fixed colours, void left alone, bad input refused."""

from __future__ import annotations

import numpy as np
import pytest

from acnet.errors import InputError
from acnet.runtime import PALETTE, colorize, legend, overlay
from acnet.runtime.colorize import boundaries, make_palette


def test_palette_is_fixed_distinct_and_void_is_black():
    assert PALETTE.shape == (256, 3) and PALETTE.dtype == np.uint8
    assert PALETTE[0].tolist() == [0, 0, 0]
    assert PALETTE[1].tolist() == [128, 0, 0] and PALETTE[2].tolist() == [0, 128, 0]  # PASCAL VOC colours
    assert len({tuple(c) for c in PALETTE}) == 256
    np.testing.assert_array_equal(make_palette(41), PALETTE[:41])
    with pytest.raises(ValueError):
        PALETTE[3] = 0  # shared palette is read-only


def test_colorize_maps_each_id_to_its_colour():
    labels = np.array([[0, 1, 2], [40, 40, 255]], np.uint8)
    colours = colorize(labels)
    assert colours.shape == (2, 3, 3) and colours.dtype == np.uint8
    for (y, x), k in np.ndenumerate(labels):
        assert colours[y, x].tolist() == PALETTE[k].tolist()
    np.testing.assert_array_equal(colorize(labels.astype(np.int64)), colours)


def test_overlay_blends_leaves_void_alone_and_outlines_borders():
    rgb = np.full((6, 8, 3), 200, np.uint8)
    labels = np.zeros((6, 8), np.uint8)
    labels[:, 4:] = 3
    labels[:3, 6:] = 5
    out = overlay(rgb, labels, alpha=0.5, outline=False)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    np.testing.assert_array_equal(out[:, :4], rgb[:, :4])  # void keeps the image
    expected = np.rint(200 * 0.5 + PALETTE[3].astype(np.float32) * 0.5)
    np.testing.assert_array_equal(out[5, 4], expected)
    np.testing.assert_array_equal(overlay(rgb, labels, alpha=0.0, outline=False), rgb)
    np.testing.assert_array_equal(overlay(rgb, labels, alpha=1.0, outline=False)[:, 4:], colorize(labels)[:, 4:])
    outlined = overlay(rgb, labels, alpha=0.5)
    edge = boundaries(labels) & (labels > 0)
    assert edge.any()
    np.testing.assert_array_equal(outlined[edge], PALETTE[labels[edge]])
    np.testing.assert_array_equal(outlined[~edge], out[~edge])


def test_boundaries_mark_class_changes():
    labels = np.array([[1, 1, 2], [1, 1, 2], [3, 3, 3]], np.uint8)
    assert boundaries(labels).tolist() == [[False, True, False], [True, True, True], [False, False, False]]


@pytest.mark.parametrize(
    ("rgb", "labels", "alpha", "message"),
    [
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8), 0.5, "4x4 but labels are 4x5"),
        (np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8), 0.5, "HxWx3 uint8"),
        (np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.uint8), 0.5, "HxWx3 uint8"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.float32), 0.5, "integer class ids"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 1), np.uint8), 0.5, "HxW"),
        (np.zeros((4, 4, 3), np.uint8), np.full((4, 4), 300, np.int32), 0.5, "0..255"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8), 1.5, "alpha"),
    ],
)
def test_overlay_rejects_bad_input(rgb, labels, alpha, message):
    with pytest.raises(InputError, match=message):
        overlay(rgb, labels, alpha)


def test_colorize_rejects_non_arrays():
    with pytest.raises(InputError, match="numpy array"):
        colorize([[1, 2]])


def test_legend_lists_every_class_with_its_colour():
    names = ("wall", "floor", "cabinet")
    image = legend(names)
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    assert image.shape[0] >= 3 * 18
    for k in (1, 2, 3):  # a swatch of each class colour is drawn
        assert (image == PALETTE[k]).all(axis=-1).sum() > 50
