"""Image modes users' files come in: grey, RGBA and palette RGB; PIL ``I``, ``I;16`` and ``F`` depth.

Through ``read_rgb``/``read_depth`` and through ``acnet infer``. Expected arrays
are written from the pixel values the test put in the files, not from PIL's
conversions, and the model (a 1x1 convolution over every input channel) is
sensitive to each pixel, so a wrong conversion changes the labels.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from support.runtime_models import frame, make_onnx

from acnet.cli import main
from acnet.errors import InputError
from acnet.runtime import Segmenter, read_depth, read_rgb, write_png

H, W = 40, 72


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_onnx(tmp_path_factory.mktemp("model") / "tiny.onnx", batch="N")


def _rgb_files(root: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """name -> (file, the HxWx3 uint8 a reader must return)."""
    root.mkdir(parents=True, exist_ok=True)
    rgb, _ = frame(H, W, seed=11)
    grey = rgb[..., 0]
    rgba = np.dstack([rgb, np.random.default_rng(1).integers(0, 256, (H, W), dtype=np.uint8)])  # alpha is dropped
    palette = np.random.default_rng(2).integers(0, 256, (256, 3), dtype=np.uint8)
    index = (rgb[..., 0] // 16 + 16 * (rgb[..., 1] // 64)).astype(np.uint8)
    files = {}
    for name, image, expected in (
        ("grey", Image.fromarray(grey), np.repeat(grey[..., None], 3, axis=2)),
        ("rgba", Image.fromarray(rgba), rgb),
        ("palette", _palette_image(index, palette), palette[index]),
    ):
        path = root / f"{name}.png"
        image.save(path)
        files[name] = (path, expected)
    return files


def _palette_image(index: np.ndarray, palette: np.ndarray) -> Image.Image:
    image = Image.fromarray(index).convert("P")
    image.putpalette(palette.ravel().tolist())
    return image


def _depth_files(root: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """name -> (file, the HxW array a reader must return)."""
    root.mkdir(parents=True, exist_ok=True)
    _, mm = frame(H, W, seed=12)  # uint16 millimetres
    metres = mm.astype(np.float32) / np.float32(1000) + np.float32(0.0004)
    files = {}
    for name, image, expected, suffix in (
        ("i16", Image.fromarray(mm), mm, ".png"),
        ("i32", Image.fromarray(mm.astype(np.int32)), mm, ".tif"),
        ("float", Image.fromarray(metres), metres, ".tif"),
    ):
        path = root / f"{name}{suffix}"
        image.save(path)
        files[name] = (path, expected)
    return files


def test_readers_expand_grey_palette_and_rgba_and_read_integer_and_float_depth(tmp_path):
    for name, (path, expected) in _rgb_files(tmp_path).items():
        with Image.open(path) as im:
            assert im.mode == {"grey": "L", "rgba": "RGBA", "palette": "P"}[name]
        got = read_rgb(path)
        assert got.dtype == np.uint8 and got.shape == (H, W, 3), name
        np.testing.assert_array_equal(got, expected, err_msg=name)
    modes = {}
    for name, (path, expected) in _depth_files(tmp_path).items():
        with Image.open(path) as im:
            modes[name] = im.mode
        got = read_depth(path)
        assert got.dtype == expected.dtype and got.shape == (H, W), name
        np.testing.assert_array_equal(got, expected, err_msg=name)
    assert modes["i32"] == "I" and modes["float"] == "F" and modes["i16"] in ("I;16", "I")


def test_infer_takes_every_mode_and_gives_the_labels_of_the_decoded_arrays(tmp_path, model):
    rgbs, depths = _rgb_files(tmp_path / "in"), _depth_files(tmp_path / "in")
    seg = Segmenter(model)
    seen = set()
    for (rgb_name, (rgb_path, rgb)), (depth_name, (depth_path, depth)) in zip(rgbs.items(), depths.items()):
        out = tmp_path / f"out_{rgb_name}"
        result = CliRunner().invoke(main, ["infer", str(model), "--rgb", str(rgb_path), "--depth", str(depth_path),
                                           "-o", str(out)])
        assert result.exit_code == 0, result.output
        with Image.open(out / f"{rgb_path.stem}_labels.png") as im:
            labels = np.asarray(im)
        expected = seg.segment(rgb, depth)  # uint16 is millimetres, float32 is metres
        np.testing.assert_array_equal(labels, expected, err_msg=f"{rgb_name} + {depth_name}")
        seen.add(tuple(np.unique(expected)))
        # The labels depend on the decoding: a grey image read as its first channel only, or depth
        # in the wrong unit, gives other labels, so the equality above can fail.
        wrong_depth = depth * 10 if depth.dtype == np.float32 else (depth // 10).astype(np.uint16)
        assert not np.array_equal(seg.segment(rgb, wrong_depth), expected)
    assert len(seen) > 1 or len(next(iter(seen))) > 1


@pytest.mark.parametrize("array", [np.zeros((2, 2, 2, 2), np.uint8), np.zeros((4, 4), np.float64), np.zeros((4, 4, 2), np.uint8),
                                   np.zeros((4, 4, 3), np.uint16), np.zeros((0, 4), np.uint8)],
                         ids=lambda a: f"{'x'.join(map(str, a.shape))}-{a.dtype}")
def test_write_png_refuses_arrays_no_png_holds_and_writes_nothing(tmp_path, array):
    path = tmp_path / "out" / "x.png"
    with pytest.raises(InputError, match=re.escape(f"cannot write {path} as PNG: expected an HxW uint8/uint16 or HxWx3 uint8 "
                                                  f"array, got shape {array.shape} {array.dtype}")):
        write_png(path, array)
    assert not path.parent.exists() or not list(path.parent.iterdir())
    with pytest.raises(InputError, match="expected a numpy array, got list"):
        write_png(path, [[0, 1]])


def test_write_png_round_trips_what_it_takes(tmp_path):
    rgb, depth = frame(6, 10)
    for name, array in (("labels", rgb[..., 0]), ("depth", depth), ("rgb", rgb), ("rgba", np.dstack([rgb, rgb[..., :1]]))):
        with Image.open(write_png(tmp_path / f"{name}.png", array)) as im:
            np.testing.assert_array_equal(np.asarray(im), array, err_msg=name)
