"""Datasets: spec strings, synthetic scenes, prepared folders, SUN RGB-D depth, statistics."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from acnet.cli import main
from acnet.errors import ConfigError, DataError
from acnet.runtime.preprocess import Normalization
from acnet.training.data import DatasetSpec, Frame, SyntheticScenes, open_dataset, render_scene
from acnet.training.data.folder import FolderDataset, decode_sunrgbd_depth
from acnet.training.data.stats import compute_stats
from acnet.training.data.synthetic import BIN, PANEL, PICTURE, SYNTHETIC_CLASSES, SYNTHETIC_NORMALIZATION, WALL
from support.installed import assert_one_line_error, run_acnet


# ----------------------------------------------------------------------------- specs


@pytest.mark.parametrize(
    "text, kind, target, options",
    [
        ("synthetic", "synthetic", "", {}),
        ("synthetic:12?size=32x48&seed=3", "synthetic", "12", {"size": "32x48", "seed": "3"}),
        ("nyuv2-mat:/d/nyu.mat?split=train", "nyuv2-mat", "/d/nyu.mat", {"split": "train"}),
        ("folder:/d/sun?labels=semantic_37&depth_format=sunrgbd", "folder", "/d/sun",
         {"labels": "semantic_37", "depth_format": "sunrgbd"}),
        ("some/file.mat", "nyuv2-mat", "some/file.mat", {}),
    ],
)
def test_spec_parsing(text, kind, target, options):
    spec = DatasetSpec.parse(text)
    assert (spec.kind, spec.target, spec.options) == (kind, target, options)
    assert DatasetSpec.parse(str(spec)) == spec


def test_bare_directory_is_a_folder_spec(tmp_path):
    assert DatasetSpec.parse(str(tmp_path)).kind == "folder"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty dataset spec"),
        ("imagenet:foo", "unknown dataset spec"),
        ("synthetic?colour=red", "unknown option 'colour'"),
        ("folder:", "needs a path"),
        ("folder:x?split", "key=value"),
    ],
)
def test_bad_specs_are_config_errors(text, message):
    with pytest.raises(ConfigError, match=message):
        DatasetSpec.parse(text)


def test_spec_split_wins_over_the_callers():
    assert open_dataset("synthetic:3?split=train", split="test").split == "train"
    assert open_dataset("synthetic:3", split="train").split == "train"
    assert DatasetSpec.parse("synthetic:3?split=train").with_split("test").options["split"] == "test"


@pytest.mark.parametrize("text", ["synthetic:abc", "synthetic?size=12", "synthetic:0", "synthetic?seed=x"])
def test_bad_synthetic_values(text):
    with pytest.raises(ConfigError):
        open_dataset(text)


# ----------------------------------------------------------------------------- synthetic scenes


def test_synthetic_frames_are_deterministic_and_well_formed():
    a = SyntheticScenes(4, 48, 64, seed=5, split="train")
    b = open_dataset("synthetic:4?size=48x64&seed=5", split="train")
    for i in range(4):
        fa, fb = a[i], b[i]
        assert isinstance(fa, Frame) and fa.name == f"train_{i:05d}"
        assert fa.rgb.shape == (48, 64, 3) and fa.rgb.dtype == np.uint8
        assert fa.depth.shape == (48, 64) and fa.depth.dtype == np.float32
        assert fa.label.shape == (48, 64) and fa.label.dtype == np.uint8
        assert 1 <= fa.label.min() and fa.label.max() <= len(SYNTHETIC_CLASSES)
        for x, y in ((fa.rgb, fb.rgb), (fa.depth, fb.depth), (fa.label, fb.label)):
            np.testing.assert_array_equal(x, y)
    assert a.num_classes == 9 and a.class_names == SYNTHETIC_CLASSES
    assert a[-1].name == a[3].name
    with pytest.raises(IndexError):
        a[4]
    # Other seeds and the other split give other scenes.
    assert not np.array_equal(a[0].rgb, SyntheticScenes(4, 48, 64, seed=6, split="train")[0].rgb)
    assert not np.array_equal(a[0].rgb, SyntheticScenes(4, 48, 64, seed=5, split="test")[0].rgb)


def test_synthetic_depth_comes_from_geometry_with_holes():
    frames = [f for f in SyntheticScenes(8, 60, 80, split="train")]
    depth = np.stack([f.depth for f in frames])
    label = np.stack([f.label for f in frames])
    holes = depth == 0
    assert 0.002 < holes.mean() < 0.05  # sensor-like holes are part of the data
    assert 0.5 < depth[~holes].min() and depth.max() < 12.0
    # Furniture stands in front of the walls: on average nearer than the wall pixels.
    walls = depth[(label == WALL) & ~holes].mean()
    assert depth[(label == BIN) & ~holes].mean() < walls
    assert len(np.unique(label)) >= 7


def test_synthetic_normalization_matches_measured_statistics():
    measured = compute_stats(SyntheticScenes(48, split="train")).normalization
    n = SYNTHETIC_NORMALIZATION
    np.testing.assert_allclose(measured.rgb_mean, n.rgb_mean, atol=0.03)
    np.testing.assert_allclose(measured.rgb_std, n.rgb_std, atol=0.03)
    assert abs(measured.depth_mean - n.depth_mean) < 0.2
    assert abs(measured.depth_std - n.depth_std) < 0.2
    assert SyntheticScenes(1).normalization == n


def _plaque_pairs(count: int = 24, size=(60, 80)):
    for seed in range(count):
        pic = render_scene((7, 0, seed), *size, plaque_class=PICTURE)
        pan = render_scene((7, 0, seed), *size, plaque_class=PANEL)
        yield pic, pan


def test_rgb_alone_cannot_tell_pictures_from_panels():
    """Every plaque gives the *same* RGB image as a picture and as a panel.

    So any function of RGB alone labels both renderings alike and is wrong on
    one of them: on plaque pixels an RGB-only model is right at most half the
    time. The labels and the depth differ, so an RGB-D model can separate them.
    """
    plaque_pixels = 0
    for (rgb1, depth1, label1), (rgb2, depth2, label2) in _plaque_pairs():
        np.testing.assert_array_equal(rgb1, rgb2)
        region = label1 == PICTURE
        np.testing.assert_array_equal(region, label2 == PANEL)
        np.testing.assert_array_equal(label1[~region], label2[~region])
        np.testing.assert_array_equal(depth1[~region], depth2[~region])
        valid = region & (depth1 > 0)
        assert (depth2[valid] < depth1[valid] - 0.1).all()  # panels float in front of the wall
        plaque_pixels += int(region.sum())
    assert plaque_pixels > 1000


def _wall_gap(depth, label, cls):
    """Median over the plaque's row runs of (wall depth just left/right of the run - run depth)."""
    gaps = []
    for y in range(label.shape[0]):
        xs = np.flatnonzero(label[y] == cls)
        for run in np.split(xs, np.flatnonzero(np.diff(xs) > 1) + 1) if xs.size else []:
            sides = [x for x in (run[0] - 1, run[-1] + 1)
                     if 0 <= x < label.shape[1] and label[y, x] == WALL and depth[y, x] > 0]
            inside = depth[y, run][depth[y, run] > 0]
            if sides and inside.size:
                gaps.append(np.mean(depth[y, sides]) - np.median(inside))
    return float(np.median(gaps))


def test_depth_separates_pictures_from_panels():
    """A depth rule (is the plaque nearer than the wall around it?) gets every plaque right."""
    checked = 0
    for (_, depth1, label1), (_, depth2, label2) in _plaque_pairs(12):
        if (label1 == PICTURE).sum() < 20:
            continue
        assert _wall_gap(depth1, label1, PICTURE) < 0.05
        assert _wall_gap(depth2, label2, PANEL) > 0.2
        checked += 1
    assert checked >= 6


def test_synthetic_scenes_mix_pictures_and_panels():
    labels = np.stack([f.label for f in SyntheticScenes(24, 48, 64, split="train")])
    assert (labels == PICTURE).sum() > 0 and (labels == PANEL).sum() > 0


# ----------------------------------------------------------------------------- prepared folders


def _write_folder(root, frames, split="train", labels="semantic_40", depth_ext=".png"):
    for sub in ("rgb", "depth", labels):
        (root / split / sub).mkdir(parents=True, exist_ok=True)
    for name, rgb, depth, label in frames:
        Image.fromarray(rgb).save(root / split / "rgb" / f"{name}.png")
        if depth_ext == ".npy":
            np.save(root / split / "depth" / f"{name}.npy", depth)
        else:
            Image.fromarray(depth).save(root / split / "depth" / f"{name}.png")
        Image.fromarray(label).save(root / split / labels / f"{name}.png")


def _frame(name, h=6, w=8, label_value=3, depth_mm=1500):
    rng = np.random.default_rng(len(name))
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth = np.full((h, w), depth_mm, np.uint16)
    depth[0, 0] = 0
    label = np.full((h, w), label_value, np.uint8)
    label[-1, -1] = 0
    return name, rgb, depth, label


def test_folder_reads_frames_in_metres(tmp_path):
    _write_folder(tmp_path, [_frame("b"), _frame("a", depth_mm=2500)])
    ds = open_dataset(f"folder:{tmp_path}", split="train")
    assert len(ds) == 2 and [ds.name_of(i) for i in range(2)] == ["a", "b"]
    assert ds.class_names[0] == "wall" and ds.num_classes == 40
    assert ds.normalization == Normalization()
    f = ds[0]
    assert f.name == "a" and f.rgb.dtype == np.uint8 and f.depth.dtype == np.float32
    assert f.depth[1, 1] == pytest.approx(2.5) and f.depth[0, 0] == 0.0
    assert f.label[0, 0] == 3 and f.label[-1, -1] == 0
    scaled = open_dataset(f"folder:{tmp_path}?split=train&depth_scale=0.0002")[0]
    assert scaled.depth[1, 1] == pytest.approx(0.5)
    assert pickle.loads(pickle.dumps(ds))[1].name == "b"


def test_folder_label_dir_fallback_names_and_stats(tmp_path):
    _write_folder(tmp_path, [_frame("x", label_value=37)], split="val", labels="semantic_37")
    ds = FolderDataset(tmp_path, split="val")
    assert ds.label_dir.name == "semantic_37" and ds.num_classes == 37

    custom = tmp_path / "custom"
    _write_folder(custom, [_frame("x", label_value=2)], split="test", labels="mine")
    with pytest.raises(DataError, match="class_names.txt"):
        FolderDataset(custom, labels="mine")
    (custom / "class_names.txt").write_text("floor\nthing\n")
    norm = Normalization(rgb_mean=(0.1, 0.2, 0.3), depth_mean=1.0, depth_std=0.5)
    (custom / "normalization.json").write_text(json.dumps({"normalization": norm.to_dict()}))
    ds = open_dataset(f"folder:{custom}?labels=mine")
    assert ds.class_names == ("floor", "thing") and ds.normalization == norm


def test_folder_accepts_npy_depth_in_metres(tmp_path):
    name, rgb, _, label = _frame("n")
    _write_folder(tmp_path, [(name, rgb, np.full((6, 8), 1.25, np.float32), label)], depth_ext=".npy")
    assert open_dataset(f"folder:{tmp_path}?split=train")[0].depth[2, 2] == pytest.approx(1.25)


@pytest.mark.parametrize("problem", ["missing_depth", "size", "label_range", "unreadable", "rgb_label", "nan"])
def test_bad_folder_data_names_the_file(tmp_path, problem):
    name, rgb, depth, label = _frame("0007")
    _write_folder(tmp_path, [(name, rgb, depth, label)])
    split = tmp_path / "train"
    culprit = {"missing_depth": split / "rgb" / "0007.png"}.get(problem, None)
    if problem == "missing_depth":
        (split / "depth" / "0007.png").unlink()
    elif problem == "size":
        Image.fromarray(np.zeros((5, 8), np.uint16)).save(split / "depth" / "0007.png")
        culprit = split / "rgb" / "0007.png"
    elif problem == "label_range":
        Image.fromarray(np.full((6, 8), 41, np.uint8)).save(split / "semantic_40" / "0007.png")
        culprit = split / "semantic_40" / "0007.png"
    elif problem == "unreadable":
        (split / "rgb" / "0007.png").write_bytes(b"not a png at all")
        culprit = split / "rgb" / "0007.png"
    elif problem == "rgb_label":
        Image.fromarray(rgb).save(split / "semantic_40" / "0007.png")
        culprit = split / "semantic_40" / "0007.png"
    elif problem == "nan":
        (split / "depth" / "0007.png").unlink()
        bad = np.ones((6, 8), np.float32)
        bad[2, 2] = np.nan
        np.save(split / "depth" / "0007.npy", bad)
        culprit = split / "rgb" / "0007.png"
    with pytest.raises(DataError) as err:
        open_dataset(f"folder:{tmp_path}", "train")[0]
    assert str(culprit) in str(err.value)


def test_missing_split_or_folder_lists_what_exists(tmp_path):
    _write_folder(tmp_path, [_frame("a")])
    with pytest.raises(DataError, match="splits found: train"):
        open_dataset(f"folder:{tmp_path}", "test")
    with pytest.raises(DataError, match="not found"):
        open_dataset(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "train" / "semantic_40" / "a.png").rename(tmp_path / "train" / "semantic_40" / "zz.png")
    with pytest.raises(DataError, match="no matching semantic_40"):
        open_dataset(f"folder:{tmp_path}", "train")


def test_real_nyuv2_frames_load(shared_data):
    ds = open_dataset(f"folder:{shared_data / 'nyuv2-samples'}")
    assert [ds.name_of(i) for i in range(len(ds))] == ["0001", "0002", "0009", "0014", "0015", "0433"]
    for f in ds:
        assert f.rgb.shape == (480, 640, 3) and f.depth.shape == (480, 640)
        valid = f.depth[f.depth > 0]
        assert 0.3 < np.median(valid) < 10.0  # millimetres became metres
    raw = ds[5]
    assert 0.25 < (raw.depth == 0).mean() < 0.45  # raw Kinect depth: holes are data, not errors


# ----------------------------------------------------------------------------- SUN RGB-D depth


def test_sunrgbd_depth_is_bit_rotated():
    mm = np.array([0, 1, 1500, 8191, 65535], np.uint16)
    stored = (((mm.astype(np.uint32) << 3) | (mm.astype(np.uint32) >> 13)) & 0xFFFF).astype(np.uint16)
    np.testing.assert_array_equal(decode_sunrgbd_depth(stored), mm)


def test_real_sunrgbd_depth_decodes_to_plausible_metres(shared_data, tmp_path):
    sample = shared_data / "sunrgbd-samples" / "img_0063"
    rgb = np.asarray(Image.open(sample / "image" / "img_0063.jpg").convert("RGB"))
    depth = np.asarray(Image.open(sample / "depth" / "img_0063_abs.png"))
    label = np.zeros(rgb.shape[:2], np.uint8)
    _write_folder(tmp_path, [("img_0063", rgb, depth, label)], split="test", labels="semantic_37")
    decoded = open_dataset(f"folder:{tmp_path}?depth_format=sunrgbd")[0].depth
    as_mm = open_dataset(f"folder:{tmp_path}")[0].depth
    assert 1.5 < np.median(decoded[decoded > 0]) < 2.5  # an indoor scene a couple of metres away
    assert np.median(as_mm[as_mm > 0]) > 10.0  # read as plain millimetres it would be absurd
    assert 0.2 < (decoded == 0).mean() < 0.45  # raw depth keeps its holes


# ----------------------------------------------------------------------------- statistics


def test_stats_are_exact_on_known_data(tmp_path):
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0] = 255
    depth = np.array([[1000, 3000], [0, 2000]], np.uint16)
    label = np.array([[1, 1], [2, 0]], np.uint8)
    rgb2 = np.full((2, 2, 3), 255, np.uint8)
    label2 = np.array([[2, 2], [2, 2]], np.uint8)
    _write_folder(tmp_path, [("a", rgb, depth, label), ("b", rgb2, depth, label2)])
    (tmp_path / "class_names.txt").write_text("one\ntwo\nthree\n")
    s = compute_stats(open_dataset(f"folder:{tmp_path}", "train"))
    assert s.frames == 2 and s.pixels == 8 and s.void_pixels == 1
    np.testing.assert_allclose(s.normalization.rgb_mean, [0.75] * 3)
    np.testing.assert_allclose(s.normalization.rgb_std, [np.sqrt(0.75 - 0.5625)] * 3)
    assert s.normalization.depth_mean == pytest.approx(2.0)
    assert s.normalization.depth_std == pytest.approx(np.sqrt(2 / 3))
    assert s.class_pixels == (2, 5, 0)
    # freq(1) = 2/3 (present in frame a only: 3 labelled px); freq(2) = 5/7; median = (2/3 + 5/7) / 2
    median = (2 / 3 + 5 / 7) / 2
    np.testing.assert_allclose(s.median_frequency_weights, [median / (2 / 3), median / (5 / 7), 0.0])
    assert json.loads(s.to_json())["classes"][1]["pixels"] == 5


def test_data_stats_cli_writes_json(tmp_path):
    out = tmp_path / "stats.json"
    result = CliRunner().invoke(main, ["data", "stats", "synthetic:6?size=32x32", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "rgb mean" in result.output and "panel" in result.output
    record = json.loads(out.read_text())
    assert record["frames"] == 6
    Normalization.from_dict(record["normalization"])


def test_data_stats_cli_bad_spec_is_one_line(tmp_path):
    proc = run_acnet("data", "stats", f"folder:{tmp_path / 'missing'}")
    assert_one_line_error(proc, f"dataset folder {tmp_path / 'missing'} not found")
