"""The official NYUDv2 .mat reader, on small HDF5 files written with the official layout."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest

from acnet.errors import DataError
from acnet.training.data import open_dataset
from acnet.training.data.resources import map894to40, nyuv2_split

H, W = 6, 8  # frame height and width; the file stores them reversed (MATLAB order)


def _write_mat(path, frames=1449):
    """A file shaped like nyu_depth_v2_labeled.mat: images (N,3,W,H), depths/labels (N,W,H)."""
    n = np.arange(frames)[:, None, None]
    x = np.arange(W)[None, :, None]
    y = np.arange(H)[None, None, :]
    with h5py.File(path, "w") as f:
        images = np.stack([(n + 7 * c + 3 * x + 11 * y) % 256 for c in range(3)], axis=1).astype(np.uint8)
        f["images"] = images
        f["depths"] = (1.0 + 0.01 * n + 0.1 * x + 0.2 * y).astype(np.float32)
        raw = (1.0 + 0.01 * n + 0.1 * x).astype(np.float32) * (y > 0)
        f["rawDepths"] = raw
        f["labels"] = ((n * 13 + 5 * x + 17 * y) % 895).astype(np.uint16)
    return path


@pytest.fixture(scope="module")
def mat_file(tmp_path_factory):
    return _write_mat(tmp_path_factory.mktemp("nyu") / "nyu_depth_v2_labeled.mat")


def test_official_split_sizes_and_names(mat_file):
    train = open_dataset(f"nyuv2-mat:{mat_file}", split="train")
    test = open_dataset(f"nyuv2-mat:{mat_file}")
    assert len(train) == 795 and len(test) == 654
    assert test.name_of(0) == "0001" and test.name_of(2) == "0009"  # 1-based frame numbers
    assert train.name_of(0) == "0003"
    assert set(nyuv2_split("train")).isdisjoint(nyuv2_split("test"))
    assert train.num_classes == 40 and train.class_names[0] == "wall"


def test_frames_are_transposed_and_mapped_to_40_classes(mat_file):
    ds = open_dataset(f"nyuv2-mat:{mat_file}?split=test")
    f = ds[2]  # frame 0009, index 8 in the file
    i = 8
    assert f.rgb.shape == (H, W, 3) and f.rgb.dtype == np.uint8
    assert f.depth.shape == (H, W) and f.depth.dtype == np.float32
    yy, xx = np.mgrid[0:H, 0:W]
    for c in range(3):
        np.testing.assert_array_equal(f.rgb[..., c], (i + 7 * c + 3 * xx + 11 * yy) % 256)
    np.testing.assert_allclose(f.depth, 1.0 + 0.01 * i + 0.1 * xx + 0.2 * yy, rtol=1e-6)
    raw = (i * 13 + 5 * xx + 17 * yy) % 895
    np.testing.assert_array_equal(f.label, map894to40()[raw])
    assert f.label.max() <= 40
    # 0 stays void; the official table sends e.g. class 21 to 1 (wall), 11 to 2 (floor)
    lut = map894to40()
    assert lut[0] == 0 and lut[21] == 1 and lut[11] == 2


def test_raw_depth_keeps_holes(mat_file):
    f = open_dataset(f"nyuv2-mat:{mat_file}?split=test&depth=raw")[0]
    assert (f.depth[0] == 0).all() and (f.depth[1:] > 0).all()


def test_partial_file_needs_split_all(tmp_path):
    path = _write_mat(tmp_path / "small.mat", frames=3)
    with pytest.raises(DataError, match="split=all"):
        open_dataset(f"nyuv2-mat:{path}")
    ds = open_dataset(f"nyuv2-mat:{path}?split=all")
    assert len(ds) == 3 and ds.name_of(2) == "0003"
    # Picklable for DataLoader workers: the HDF5 handle is reopened lazily.
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone[1].rgb, ds[1].rgb)


def test_bad_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        open_dataset(f"nyuv2-mat:{tmp_path / 'missing.mat'}")
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"MATLAB 5.0 MAT-file, not HDF5")
    with pytest.raises(DataError, match="not a readable HDF5 file"):
        open_dataset(f"nyuv2-mat:{junk}")
    arrays = {"images": np.zeros((2, 3, W, H), np.uint8), "depths": np.zeros((2, W, H), np.float32)}
    for name, changes, message in (
        ("nolabels.mat", {}, "no 'labels' dataset"),
        ("mismatch.mat", {"depths": np.zeros((2, H, W), np.float32), "labels": np.zeros((2, W, H), np.uint16)},
         "'depths' has shape"),
    ):
        with h5py.File(tmp_path / name, "w") as f:
            for key, value in {**arrays, **changes}.items():
                f[key] = value
        with pytest.raises(DataError, match=message):
            open_dataset(f"nyuv2-mat:{tmp_path / name}?split=all")


def test_label_outside_894_classes_names_the_frame(tmp_path):
    path = _write_mat(tmp_path / "bad.mat", frames=2)
    with h5py.File(path, "r+") as f:
        f["labels"][1, 2, 3] = 900
    ds = open_dataset(f"nyuv2-mat:{path}?split=all")
    with pytest.raises(DataError, match=r"bad.mat frame 0002.*above the 894"):
        ds[1]
