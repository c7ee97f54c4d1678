"""The official labelled NYUDv2 file, ``nyu_depth_v2_labeled.mat``, read lazily with h5py.

The file is MATLAB v7.3, i.e. HDF5, and h5py sees MATLAB's axes reversed:
``images`` is (1449, 3, 640, 480) uint8, ``depths``/``rawDepths`` (1449, 640,
480) float32 metres and ``labels`` (1449, 640, 480) uint16 with the 894 raw
classes. Frames are read one at a time (the file is 2.8 GB), transposed to
H x W, and labels mapped to the 40 classes with the official table. The
standard split is 795 train / 654 test frames.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from acnet.errors import ConfigError, DataError
from acnet.runtime.preprocess import Normalization
from acnet.training.data import resources
from acnet.training.data.base import Frame, RGBDDataset, validate_frame

NUM_FRAMES = 1449
SPLITS = ("train", "test", "all")
DEPTHS = {"filled": "depths", "raw": "rawDepths"}


class NYUv2Mat(RGBDDataset):
    """Frames of the official labelled NYUDv2 ``.mat`` file with 40-class labels.

    ``split`` is ``train`` (795 frames), ``test`` (654) or ``all`` (every
    frame in the file, in order). ``depth`` picks the inpainted ``filled``
    depth the paper uses or the ``raw`` Kinect depth with holes (0).
    Frame names are the 1-based frame numbers, ``0001`` .. ``1449``.
    """

    def __init__(self, path: str | os.PathLike, split: str = "test", depth: str = "filled") -> None:
        if split not in SPLITS:
            raise ConfigError(f"NYUDv2 split must be one of {', '.join(SPLITS)}, got {split!r}")
        if depth not in DEPTHS:
            raise ConfigError(f"NYUDv2 depth must be one of {', '.join(DEPTHS)}, got {depth!r}")
        self.path = Path(path)
        self.split, self.depth_key = split, DEPTHS[depth]
        self.class_names = resources.class_names("nyuv2_40")
        self.normalization = Normalization()
        self.source = f"nyuv2-mat:{self.path}?split={split}"
        self._lut = resources.map894to40()
        self._file = None
        self._pid = None
        n = self._check_layout()
        if split == "all":
            self.indices = np.arange(n)
        else:
            if n != NUM_FRAMES:
                raise DataError(
                    f"{self.path} holds {n} frames, but the official {split} split indexes {NUM_FRAMES}; "
                    "use split=all for a partial file"
                )
            self.indices = resources.nyuv2_split(split)

    def _h5(self):
        """The open HDF5 file, reopened in each process (h5py handles do not survive fork)."""
        if self._file is None or self._pid != os.getpid():
            import h5py  # optional (acnet[train]): only .mat datasets need it

            if not self.path.is_file():
                raise DataError(f"NYUDv2 file {self.path} not found")
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as exc:
                raise DataError(
                    f"{self.path} is not a readable HDF5 file ({exc}); expected the MATLAB v7.3 "
                    "nyu_depth_v2_labeled.mat"
                ) from None
            self._pid = os.getpid()
        return self._file

    def _check_layout(self) -> int:
        f = self._h5()
        for key in ("images", "labels", self.depth_key):
            if key not in f:
                raise DataError(f"{self.path} has no '{key}' dataset; is it nyu_depth_v2_labeled.mat?")
        images, labels, depths = f["images"], f["labels"], f[self.depth_key]
        if images.ndim != 4 or images.shape[1] != 3:
            raise DataError(f"{self.path}: 'images' has shape {images.shape}, expected (N, 3, W, H)")
        n, _, w, h = images.shape
        for name, ds in (("labels", labels), (self.depth_key, depths)):
            if ds.shape != (n, w, h):
                raise DataError(f"{self.path}: '{name}' has shape {ds.shape}, expected {(n, w, h)} to match 'images'")
        return n

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_file"] = None  # reopened lazily in the worker
        return state

    def __len__(self) -> int:
        return len(self.indices)

    def name_of(self, index: int) -> str:
        return f"{int(self.indices[index]) + 1:04d}"

    def _load(self, index: int) -> Frame:
        i = int(self.indices[index])
        name = self.name_of(index)
        where = f"{self.path} frame {name}"
        f = self._h5()
        try:
            rgb = np.ascontiguousarray(f["images"][i].transpose(2, 1, 0))
            depth = np.ascontiguousarray(f[self.depth_key][i].T, dtype=np.float32)
            raw = f["labels"][i].T
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"{where} cannot be read: {exc}") from None
        if raw.size and int(raw.max()) >= len(self._lut):
            raise DataError(f"{where}: raw label {int(raw.max())} is above the 894 NYUDv2 classes")
        label = self._lut[raw]
        return validate_frame(name, rgb, depth, label, self.num_classes, where)
