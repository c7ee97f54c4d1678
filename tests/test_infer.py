"""`acnet infer`: pairs, folders and globs in; label, colour and overlay PNGs out; bad input as one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image
from support.runtime_models import frame, make_onnx

from acnet.cli import main
from acnet.errors import InputError
from acnet.runtime import Segmenter, colorize, overlay, read_depth, read_rgb, write_png
from acnet.runtime.images import pair_inputs
from support.installed import assert_one_line_error, run_acnet


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_onnx(tmp_path_factory.mktemp("model") / "tiny.onnx", batch="N")


@pytest.fixture(scope="module")
def seg(model) -> Segmenter:
    return Segmenter(model)


def _write_pair(root: Path, name: str, seed: int, size=(40, 72)) -> tuple[Path, Path]:
    rgb, depth = frame(*size, seed=seed)
    return write_png(root / "rgb" / f"{name}.png", rgb), write_png(root / "depth" / f"{name}.png", depth)


def _infer(*args) -> Result:
    return CliRunner().invoke(main, ["infer", *map(str, args)])


def _error_line(*args) -> str:
    """``acnet infer ARGS`` as a user runs it: the whole of stderr is one error line, exit 2 (no torch: fast)."""
    return assert_one_line_error(run_acnet("infer", *args))


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def test_one_pair_writes_labels_colour_and_overlay(tmp_path, model, seg):
    rgb_path, depth_path = _write_pair(tmp_path, "scene", seed=1)
    out = tmp_path / "out"
    result = _infer(model, "--rgb", rgb_path, "--depth", depth_path, "-o", out)
    assert result.exit_code == 0, result.output
    assert "wrote 3 images for 1 frame(s)" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["legend.png", "scene_color.png", "scene_labels.png", "scene_overlay.png"]
    rgb, depth = read_rgb(rgb_path), read_depth(depth_path)
    expected = seg.segment(rgb, depth)
    labels = _png(out / "scene_labels.png")
    assert labels.dtype == np.uint8 and labels.shape == (40, 72)
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(_png(out / "scene_color.png"), colorize(expected))
    np.testing.assert_array_equal(_png(out / "scene_overlay.png"), overlay(rgb, expected))


def test_folders_are_matched_by_stem_and_batched(tmp_path, model, seg):
    names = ["a", "b", "c", "d", "e"]
    for i, name in enumerate(names):
        _write_pair(tmp_path, name, seed=i, size=(32 + 8 * i, 64))
    (tmp_path / "rgb" / "notes.txt").write_text("ignored: not an image")
    out = tmp_path / "out"
    result = _infer(model, "--rgb", tmp_path / "rgb", "--depth", tmp_path / "depth", "-o", out, "--batch-size", "2", "--alpha", "0.3")
    assert result.exit_code == 0, result.output
    for i, name in enumerate(names):
        rgb, depth = read_rgb(tmp_path / "rgb" / f"{name}.png"), read_depth(tmp_path / "depth" / f"{name}.png")
        expected = seg.segment(rgb, depth)
        np.testing.assert_array_equal(_png(out / f"{name}_labels.png"), expected)
        np.testing.assert_array_equal(_png(out / f"{name}_overlay.png"), overlay(rgb, expected, 0.3))
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_globs_and_float_depth_with_scale(tmp_path, model):
    rgb, depth_mm = frame(32, 64, seed=4)
    write_png(tmp_path / "x_1.png", rgb)
    write_png(tmp_path / "d" / "x_1.png", depth_mm)
    np.save(tmp_path / "d" / "x_2.npy", depth_mm.astype(np.float32) * np.float32(0.001))  # metres
    write_png(tmp_path / "x_2.png", rgb)
    result = _infer(model, "--rgb", tmp_path / "x_*.png", "--depth", tmp_path / "d" / "x_*", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(_png(tmp_path / "out" / "x_1_labels.png"), _png(tmp_path / "out" / "x_2_labels.png"))
    # depth in tenths of a millimetre, told so
    write_png(tmp_path / "tenth.png", (depth_mm // 2 * 2))
    write_png(tmp_path / "tenth_d.png", (depth_mm // 2 * 20).astype(np.uint16))
    ok = _infer(model, "--rgb", tmp_path / "x_1.png", "--depth", tmp_path / "tenth_d.png", "--depth-scale", "0.0001", "-o", tmp_path / "o2")
    ref = _infer(model, "--rgb", tmp_path / "x_1.png", "--depth", tmp_path / "tenth.png", "-o", tmp_path / "o3")
    assert ok.exit_code == 0 and ref.exit_code == 0
    np.testing.assert_array_equal(_png(tmp_path / "o2" / "x_1_labels.png"), _png(tmp_path / "o3" / "x_1_labels.png"))


def test_unmatched_stems_are_listed(tmp_path, model):
    for i, name in enumerate(["0001", "0002", "0003"]):
        _write_pair(tmp_path, name, seed=i)
    (tmp_path / "depth" / "0002.png").unlink()
    write_png(tmp_path / "depth" / "0009.png", frame(40, 72)[1])
    line = _error_line(model, "--rgb", tmp_path / "rgb", "--depth", tmp_path / "depth", "-o", tmp_path / "out")
    assert "1 RGB file(s) without a depth of the same name: 0002" in line
    assert "1 depth file(s) without an RGB of the same name: 0009" in line
    assert not (tmp_path / "out").exists()


def test_bad_inputs_are_one_line_exit_2(tmp_path, model):
    rgb_path, depth_path = _write_pair(tmp_path, "f", seed=0)
    out = tmp_path / "out"
    eight_bit = write_png(tmp_path / "d8.png", np.zeros((40, 72), np.uint8))
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((40, 72), np.nan, np.float32))
    small = write_png(tmp_path / "small.png", frame(20, 30)[1])
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(model.read_bytes()[:100])
    cases = [
        ((model, "--rgb", rgb_path, "--depth", eight_bit), "8-bit"),
        ((model, "--rgb", rgb_path, "--depth", nan), "frame f (nan.npy): depth contains NaN"),
        ((model, "--rgb", rgb_path, "--depth", small), "frame f (small.png): rgb is 40x72 but depth is 20x30"),
        ((model, "--rgb", depth_path, "--depth", depth_path), "single-channel"),
        ((model, "--rgb", tmp_path / "missing.png", "--depth", depth_path), f"acnet: error: RGB {tmp_path / 'missing.png'} not found"),
        ((model, "--rgb", rgb_path, "--depth", tmp_path / "x.png"), f"acnet: error: depth {tmp_path / 'x.png'} not found"),
        ((model, "--rgb", rgb_path, "--depth", tmp_path / "depth"), "two files, or as two folders"),
        ((model, "--rgb", tmp_path / "none_*.png", "--depth", tmp_path / "depth"), "matches no files"),
        ((tmp_path / "nope.onnx", "--rgb", rgb_path, "--depth", depth_path), "nope.onnx not found"),
        ((corrupt, "--rgb", rgb_path, "--depth", depth_path), "not a usable ONNX model"),
        ((model, "--rgb", rgb_path, "--depth", depth_path, "--device", "tpu"), "unknown device"),
        ((model, "--rgb", rgb_path, "--depth", depth_path, "--depth-scale", "-1"), "Invalid value for '--depth-scale': '-1' is not in (0, inf)"),
        ((model, "--rgb", rgb_path, "--depth", depth_path, "--alpha", "2"), "Invalid value for '--alpha': '2' is not in [0, 1]"),
        ((model, "--rgb", rgb_path, "--depth", depth_path, "--batch-size", "0"), "Invalid value for '--batch-size': 0 is not in the range x>=1"),
        ((model, "--rgb", rgb_path, "--depth", depth_path, "--backend", "tensorrt"), "is an ONNX model"),
    ]
    for args, message in cases:
        line = _error_line(*args, "-o", out)
        assert message in line, (args, line)
    output_is_a_file = tmp_path / "taken"
    output_is_a_file.write_text("")
    assert "cannot create output directory" in _error_line(model, "--rgb", rgb_path, "--depth", depth_path, "-o", output_is_a_file)
    assert not out.exists() or {p.name for p in out.iterdir()} <= {"legend.png"}  # no image of a refused frame


def test_duplicate_stems_are_refused(tmp_path):
    _write_pair(tmp_path, "a", seed=0)
    write_png(tmp_path / "rgb" / "a.jpg", frame(40, 72)[0])
    with pytest.raises(InputError, match="share the name 'a'"):
        pair_inputs(tmp_path / "rgb", tmp_path / "depth")


def test_real_frame_with_depth_holes(shared_data, tmp_path, seg, model):
    root = shared_data / "nyuv2-samples" / "test"
    result = _infer(model, "--rgb", root / "rgb" / "0433.png", "--depth", root / "depth" / "0433.png", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    depth = read_depth(root / "depth" / "0433.png")
    assert depth.dtype == np.uint16 and (depth == 0).mean() > 0.2  # raw Kinect depth: holes
    expected = seg.segment(read_rgb(root / "rgb" / "0433.png"), depth)
    np.testing.assert_array_equal(_png(tmp_path / "0433_labels.png"), expected)
    assert _png(tmp_path / "0433_overlay.png").shape == (480, 640, 3)
