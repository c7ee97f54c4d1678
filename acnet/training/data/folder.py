"""Prepared folders: ``ROOT/SPLIT/{rgb,depth,<labels>}/*`` matched by file stem.

This is the layout ESANet's dataset preparation writes for NYUv2 and SUN
RGB-D, and a simple one to put one's own data in:

- ``rgb/``: 8-bit colour images (png, jpg, ...);
- ``depth/``: 16-bit PNGs in millimetres by default (``depth_scale`` converts
  to metres; 0 = no reading), SUN RGB-D's bit-rotated PNGs with
  ``depth_format=sunrgbd``, or ``.npy`` arrays (float = metres, integers
  scaled like PNGs);
- the label folder (``semantic_40``, else ``semantic_37``, or the one named):
  8-bit class-id images (0 = void, 1..C) or ``.npy`` arrays.

Class names come from ``ROOT/class_names.txt`` (one per line) or
``ROOT/class_names.json`` (a list) when present, else from the label folder:
``semantic_40`` is NYUv2's 40 classes, ``semantic_37`` SUN RGB-D's 37.
Normalisation comes from ``ROOT/normalization.json`` (as written by
``acnet data stats --write``) when present, else NYUv2's.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image

from acnet.errors import ConfigError, DataError, InputError
from acnet.runtime.images import read_depth, read_rgb
from acnet.runtime.preprocess import Normalization, check_depth_scale
from acnet.training.data import resources
from acnet.training.data.base import Frame, RGBDDataset, validate_frame
from acnet.training.data.stats import load_normalization

log = logging.getLogger(__name__)

LABEL_DIRS = ("semantic_40", "semantic_37")
BUILTIN_CLASSES = {"semantic_40": "nyuv2_40", "semantic_37": "sunrgbd_37"}
DEPTH_FORMATS = ("mm", "sunrgbd")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm"}
ARRAY_SUFFIXES = {".npy"}


def decode_sunrgbd_depth(raw: np.ndarray) -> np.ndarray:
    """SUN RGB-D depth PNG values -> millimetres: the 16 bits rotated right by three."""
    v = raw.astype(np.uint32)
    return (((v >> 3) | (v << 13)) & 0xFFFF).astype(np.uint16)


def _index(folder: Path, suffixes: set[str]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in suffixes or p.name.startswith("."):
            continue
        if p.stem in files:
            raise DataError(f"{folder} has two files for frame {p.stem!r}: {files[p.stem].name} and {p.name}")
        files[p.stem] = p
    return files


def _read(reader, path: Path) -> np.ndarray:
    """Read with the runtime's image readers, reporting problems as DataError (they name the file)."""
    try:
        return reader(path)
    except InputError as exc:
        raise DataError(str(exc)) from None


def _read_text(path: Path) -> str:
    """A UTF-8 text file; a Latin-1 or binary file is a DataError naming it, not a UnicodeDecodeError."""
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
                        "save it as UTF-8") from None
    except OSError as exc:
        raise DataError(f"{path} cannot be read: {exc.strerror or exc}") from None


def _read_label(path: Path) -> np.ndarray:
    """Class ids from a single-channel (or palette) image or a ``.npy`` array."""
    if not path.is_file():
        raise DataError(f"labels {path} is a folder, not a label file" if path.is_dir() else f"labels {path} not found")
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False)
        with Image.open(path) as img:
            img.load()
            return np.asarray(img)  # palette images give their indices, which are the ids
    except Exception as exc:  # PIL and numpy raise many types on damaged files
        raise DataError(f"labels {path} is not a readable image: {exc}") from None


class FolderDataset(RGBDDataset):
    """A prepared RGB-D folder; see the module docstring for the layout."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "test",
        labels: str | None = None,
        depth_scale: float = 0.001,
        depth_format: str = "mm",
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            what = "is a file, not a folder" if self.root.exists() else "not found"
            raise DataError(f"dataset folder {self.root} {what}")
        if depth_format not in DEPTH_FORMATS:
            raise ConfigError(f"depth_format must be one of {', '.join(DEPTH_FORMATS)}, got {depth_format!r}")
        try:
            depth_scale = check_depth_scale(depth_scale)
        except InputError as exc:
            raise ConfigError(str(exc)) from None
        self.split_dir = self.root / split
        if not self.split_dir.is_dir():
            found = sorted(p.name for p in self.root.iterdir() if (p / "rgb").is_dir())
            raise DataError(
                f"{self.root} has no split {split!r} (expected {self.split_dir}/rgb); "
                f"splits found: {', '.join(found) or 'none'}"
            )
        self.depth_scale, self.depth_format = float(depth_scale), depth_format
        self.label_dir = self._find_label_dir(labels)
        self.class_names = self._class_names()
        self.normalization = self._normalization()
        self.source = f"folder:{self.root}?split={split}&labels={self.label_dir.name}"

        rgb = _index(self._need_dir("rgb"), IMAGE_SUFFIXES)
        depth = _index(self._need_dir("depth"), IMAGE_SUFFIXES | ARRAY_SUFFIXES)
        label = _index(self.label_dir, IMAGE_SUFFIXES | ARRAY_SUFFIXES)
        if not rgb:
            raise DataError(f"{self.split_dir / 'rgb'} contains no images")
        self.files: list[tuple[str, Path, Path, Path]] = []
        for stem, rgb_path in rgb.items():
            for kind, table in (("depth", depth), (self.label_dir.name, label)):
                if stem not in table:
                    raise DataError(f"{rgb_path} has no matching {kind} file in {self.split_dir / kind}")
            self.files.append((stem, rgb_path, depth[stem], label[stem]))
        orphans = (set(depth) | set(label)) - set(rgb)
        if orphans:
            log.warning("%s: %d depth/label files have no RGB image (e.g. %s); ignored",
                        self.split_dir, len(orphans), sorted(orphans)[0])

    def _need_dir(self, name: str) -> Path:
        path = self.split_dir / name
        if not path.is_dir():
            raise DataError(f"{path} not found (expected layout ROOT/SPLIT/rgb, ROOT/SPLIT/depth, ROOT/SPLIT/<labels>)")
        return path

    def _find_label_dir(self, labels: str | None) -> Path:
        if labels is not None:
            return self._need_dir(labels)
        for name in LABEL_DIRS:
            if (self.split_dir / name).is_dir():
                return self.split_dir / name
        raise DataError(
            f"{self.split_dir} has no label folder {' or '.join(LABEL_DIRS)}; name yours with labels=DIR"
        )

    def _class_names(self) -> tuple[str, ...]:
        txt, js = self.root / "class_names.txt", self.root / "class_names.json"
        if txt.is_file():
            names = [line.strip() for line in _read_text(txt).splitlines() if line.strip()]
        elif js.is_file():
            try:
                names = json.loads(_read_text(js))
            except json.JSONDecodeError as exc:
                raise DataError(f"{js} is not valid JSON: {exc}") from None
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise DataError(f"{js} must hold a JSON list of class names")
        elif self.label_dir.name in BUILTIN_CLASSES:
            return resources.class_names(BUILTIN_CLASSES[self.label_dir.name])
        else:
            raise DataError(
                f"labels in {self.label_dir.name!r} need class names: write {txt} with one name per line (class 1 first)"
            )
        if not 1 <= len(names) <= 255:
            raise DataError(f"{self.root}: expected 1..255 class names, got {len(names)}")
        return tuple(names)

    def _normalization(self) -> Normalization:
        path = self.root / "normalization.json"
        return load_normalization(path) if path.is_file() else Normalization()

    def __len__(self) -> int:
        return len(self.files)

    def name_of(self, index: int) -> str:
        return self.files[index][0]

    def _depth_metres(self, raw: np.ndarray, path: Path) -> np.ndarray:
        """uint16 (or integer .npy) raw units -> metres with the configured scale; float is metres."""
        if raw.dtype.kind == "f":
            return raw.astype(np.float32)
        if raw.dtype.kind not in "ui" or (raw.size and (raw.min() < 0 or raw.max() > 0xFFFF)):
            raise DataError(f"depth {path}: expected 16-bit values, got {raw.dtype} {raw.min()}..{raw.max()}")
        raw = raw.astype(np.uint16)
        if self.depth_format == "sunrgbd":
            raw = decode_sunrgbd_depth(raw)
        return raw.astype(np.float32) * np.float32(self.depth_scale)

    def _load(self, index: int) -> Frame:
        stem, rgb_path, depth_path, label_path = self.files[index]
        rgb = _read(read_rgb, rgb_path)
        depth = self._depth_metres(_read(read_depth, depth_path), depth_path)
        label = _read_label(label_path)
        if label.ndim != 2:
            raise DataError(f"{label_path}: labels must be a single-channel image of class ids, got shape {label.shape}")
        if label.dtype.kind not in "ui":
            raise DataError(f"{label_path}: labels must be integers, got {label.dtype}")
        if label.size and label.min() < 0:  # signed .npy labels
            raise DataError(f"{label_path}: label {int(label.min())} is negative (0 is void, 1..{self.num_classes} classes)")
        if label.size and label.max() > self.num_classes:
            raise DataError(
                f"{label_path}: label {int(label.max())} is above the class count {self.num_classes} "
                f"(0 is void, 1..{self.num_classes} classes)"
            )
        where = f"{rgb_path} (depth {depth_path.name}, labels {label_path.name})"
        return validate_frame(stem, rgb, depth, label, self.num_classes, where)
