"""Still RGB-D pairs replayed as a stream (``folder:`` and ``glob:`` sources)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from acnet.errors import InputError
from acnet.runtime.images import pair_inputs, read_depth, read_rgb
from acnet.runtime.preprocess import check_depth, check_rgb, default_depth_scale
from acnet.runtime.sources.base import Frame, Source


class StillsSource(Source):
    """(name, rgb file, depth file) pairs, read one at a time in name order.

    16-bit depth is millimetres unless ``depth_scale`` (metres per unit)
    says otherwise; float depth is metres. ``stamp`` is the frame's index.
    """

    live = False

    def __init__(self, pairs: list[tuple[str, Path, Path]], depth_scale: float | None = None, spec: str = "") -> None:
        self.pairs = pairs
        self.depth_scale = depth_scale
        self.spec = spec

    @classmethod
    def from_folder(cls, root: str, split: str | None = None, depth_scale: float | None = None) -> "StillsSource":
        base = Path(root)
        if not base.is_dir():
            raise InputError(f"folder {base} not found" if not base.exists() else f"{base} is not a folder")
        if split:
            base = base / split
        elif not (base / "rgb").is_dir() and len([p for p in base.iterdir() if (p / "rgb").is_dir()]) == 1:
            base = next(p for p in base.iterdir() if (p / "rgb").is_dir())  # the one split there is
        for sub in ("rgb", "depth"):
            if not (base / sub).is_dir():
                raise InputError(f"folder {base} has no {sub}/ folder (expected ROOT/rgb and ROOT/depth, or ROOT/SPLIT/...)")
        return cls(pair_inputs(base / "rgb", base / "depth"), depth_scale, f"folder:{root}")

    @classmethod
    def from_globs(cls, rgb: str, depth: str, depth_scale: float | None = None) -> "StillsSource":
        return cls(pair_inputs(rgb, depth), depth_scale, f"glob:{rgb}?depth={depth}")

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[Frame]:
        for seq, (name, rgb_path, depth_path) in enumerate(self.pairs):
            rgb, depth = read_rgb(rgb_path), read_depth(depth_path)
            try:
                depth = check_depth(depth, check_rgb(rgb).shape)
            except InputError as exc:
                raise InputError(f"{name}: {exc}") from None
            scale = default_depth_scale(depth) if self.depth_scale is None or depth.dtype != "uint16" else self.depth_scale
            yield Frame(rgb, depth, scale, float(seq), seq, name)
