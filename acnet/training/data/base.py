"""The dataset interface every data source implements.

A dataset is a random-access sequence of :class:`Frame` objects at their
original size, with the class names and input statistics that belong to it.
Sources (synthetic scenes, the official NYUDv2 ``.mat``, prepared folders)
differ only in how they read a frame; validation is shared here so every
source fails the same way on bad data: a :class:`~acnet.errors.DataError`
naming the file.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from acnet.errors import DataError
from acnet.runtime.preprocess import Normalization


@dataclass(frozen=True, eq=False)
class Frame:
    """One labelled RGB-D frame at its original size.

    ``rgb`` is H x W x 3 uint8, ``depth`` H x W float32 metres (0 = no
    reading), ``label`` H x W uint8 class ids (0 = void, 1..C = classes).
    """

    name: str
    rgb: np.ndarray
    depth: np.ndarray
    label: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.rgb.shape[0], self.rgb.shape[1]


def validate_frame(
    name: str, rgb: np.ndarray, depth: np.ndarray, label: np.ndarray, num_classes: int, where: str
) -> Frame:
    """Check shapes, dtypes and value ranges; return the frame or raise DataError naming ``where``."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise DataError(f"{where}: RGB must be H x W x 3 uint8, got {rgb.shape} {rgb.dtype}")
    if depth.ndim != 2:
        raise DataError(f"{where}: depth must be H x W, got {depth.shape}")
    if label.ndim != 2:
        raise DataError(f"{where}: label must be a single-channel H x W image of class ids, got {label.shape}")
    hw = rgb.shape[:2]
    if depth.shape != hw or label.shape != hw:
        raise DataError(
            f"{where}: sizes differ: rgb {hw[0]}x{hw[1]}, depth {depth.shape[0]}x{depth.shape[1]}, "
            f"label {label.shape[0]}x{label.shape[1]}"
        )
    depth = depth.astype(np.float32, copy=False)
    if not np.isfinite(depth).all():
        raise DataError(f"{where}: depth contains NaN or infinite values (use 0 for missing readings)")
    if depth.size and depth.min() < 0:
        raise DataError(f"{where}: depth contains negative values")
    top = int(label.max()) if label.size else 0
    if top > num_classes:
        raise DataError(f"{where}: label {top} is above the class count {num_classes} (0 is void, 1..{num_classes} classes)")
    return Frame(name, np.ascontiguousarray(rgb), np.ascontiguousarray(depth), label.astype(np.uint8, copy=False))


class RGBDDataset(abc.ABC):
    """Random-access RGB-D frames with class names and normalisation.

    Subclasses implement ``__len__`` and ``_load(index)``; indexing checks
    bounds and supports negative indices. Datasets are picklable so a
    ``torch.utils.data.DataLoader`` can use them in worker processes.
    """

    #: Class k (1..C) is ``class_names[k - 1]``.
    class_names: tuple[str, ...]
    #: Input statistics the model should be trained with on this data.
    normalization: Normalization
    #: The spec string or path this dataset was opened from, for messages.
    source: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def _load(self, index: int) -> Frame: ...

    def name_of(self, index: int) -> str:
        """The frame's name without loading it (default: its index)."""
        return f"{index:05d}"

    def __getitem__(self, index: int) -> Frame:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"frame {index} out of range for {n} frames")
        return self._load(index % n)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r}, {len(self)} frames, {self.num_classes} classes)"
