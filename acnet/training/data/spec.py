"""Dataset spec strings: one text names a data source and its options.

Syntax: ``KIND[:TARGET][?KEY=VALUE&KEY=VALUE...]``

``synthetic[:N][?size=HxW&seed=S&split=train|test]``
    Procedural scenes (the default); N frames (256 train / 64 test if not given).
``nyuv2-mat:PATH[?split=train|test|all&depth=filled|raw]``
    The official ``nyu_depth_v2_labeled.mat``.
``folder:ROOT[?split=NAME&labels=DIR&depth_scale=0.001&depth_format=mm|sunrgbd]``
    A prepared folder ``ROOT/SPLIT/{rgb,depth,DIR}``.

A bare path is accepted too: a directory means ``folder:``, a ``.mat`` file
``nyuv2-mat:``. A ``split`` in the spec wins over the one the caller asks for
(e.g. training opens ``split=train``, evaluation ``split=test``). Paths may
not contain ``?``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from acnet._spec import Spec, parse_options
from acnet.errors import ConfigError
from acnet.training.data.base import RGBDDataset
from acnet.training.data.folder import FolderDataset
from acnet.training.data.nyuv2_mat import NYUv2Mat
from acnet.training.data.synthetic import DEFAULT_SIZE, SyntheticScenes

KINDS = {
    "synthetic": ("size", "seed", "split"),
    "nyuv2-mat": ("split", "depth"),
    "folder": ("split", "labels", "depth_scale", "depth_format"),
}


@dataclass(frozen=True)
class DatasetSpec(Spec):
    """A parsed spec: ``kind``, ``target`` (path or frame count, may be empty) and options."""

    @classmethod
    def parse(cls, text: str) -> "DatasetSpec":
        if not isinstance(text, str):  # open_dataset(5) from the API, not a bare AttributeError
            raise ConfigError(f"dataset spec must be a string such as 'synthetic' or 'folder:DIR', got {text!r}")
        text = text.strip()
        if not text:
            raise ConfigError("empty dataset spec; try 'synthetic', 'folder:DIR' or 'nyuv2-mat:FILE'")
        head, _, query = text.partition("?")
        kind, sep, target = head.partition(":")
        if kind not in KINDS:
            path = Path(head)
            if path.is_dir():
                kind, target = "folder", head
            elif path.suffix.lower() == ".mat":
                kind, target = "nyuv2-mat", head
            else:
                hint = f"no such file or folder {head!r}; " if sep == "" else ""
                raise ConfigError(
                    f"unknown dataset spec {text!r}: {hint}use synthetic[:N], folder:ROOT or nyuv2-mat:FILE "
                    "(options after '?', e.g. folder:data/nyuv2?split=test)"
                )
        options = parse_options(text, query, kind, KINDS[kind], "dataset")
        if kind != "synthetic" and not target:
            raise ConfigError(f"dataset spec {text!r} needs a path: {kind}:PATH")
        return cls(kind, target, options)

    def with_split(self, split: str) -> "DatasetSpec":
        return DatasetSpec(self.kind, self.target, {**self.options, "split": split})

    def open(self, split: str = "test") -> RGBDDataset:
        """Build the dataset; a ``split`` option in the spec overrides ``split``."""
        split = self.options.get("split", split)
        opts = self.options
        if self.kind == "synthetic":
            count = _int(self.target, "frame count", self) if self.target else None
            height, width = _size(opts["size"], self) if "size" in opts else DEFAULT_SIZE
            seed = _int(opts.get("seed", "0"), "seed", self)
            return SyntheticScenes(count, height, width, seed, split)
        if self.kind == "nyuv2-mat":
            return NYUv2Mat(self.target, split=split, depth=opts.get("depth", "filled"))
        return FolderDataset(
            self.target,
            split=split,
            labels=opts.get("labels"),
            depth_scale=_float(opts.get("depth_scale", "0.001"), "depth_scale", self),
            depth_format=opts.get("depth_format", "mm"),
        )


def _int(value: str, what: str, spec: DatasetSpec) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"dataset spec {spec}: {what} must be an integer, got {value!r}") from None


def _float(value: str, what: str, spec: DatasetSpec) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"dataset spec {spec}: {what} must be a number, got {value!r}") from None


def _size(value: str, spec: DatasetSpec) -> tuple[int, int]:
    h, sep, w = value.lower().partition("x")
    if not sep:
        raise ConfigError(f"dataset spec {spec}: size must be HxW, e.g. 120x160, got {value!r}")
    return _int(h, "height", spec), _int(w, "width", spec)


def open_dataset(spec: str | DatasetSpec, split: str = "test") -> RGBDDataset:
    """Open the dataset a spec string names; see the module docstring for the syntax."""
    if not isinstance(spec, DatasetSpec):
        spec = DatasetSpec.parse(spec)
    return spec.open(split)
