"""Dataset statistics: normalisation constants, class frequencies, median-frequency weights.

``acnet data stats SPEC`` prints these and can write them as JSON; a prepared
folder picks up ``ROOT/normalization.json`` written this way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from acnet.errors import AcnetError, DataError
from acnet.runtime.preprocess import Normalization
from acnet.training.data.base import RGBDDataset


@dataclass(frozen=True)
class DatasetStats:
    """What :func:`compute_stats` measures over a dataset."""

    source: str
    frames: int
    pixels: int
    class_names: tuple[str, ...]
    normalization: Normalization
    #: Labelled pixels per class (index k-1 is class k).
    class_pixels: tuple[int, ...]
    void_pixels: int
    #: Fraction of pixels with a depth reading (non-zero).
    depth_valid_fraction: float
    depth_min: float
    depth_max: float
    #: SegNet's median-frequency balancing: median(freq) / freq(c), where
    #: freq(c) is class c's pixels over the labelled pixels of the frames
    #: containing c; 0 for classes that never occur.
    median_frequency_weights: tuple[float, ...]

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "frames": self.frames,
            "pixels": self.pixels,
            "normalization": self.normalization.to_dict(),
            "depth_valid_fraction": self.depth_valid_fraction,
            "depth_min": self.depth_min,
            "depth_max": self.depth_max,
            "void_pixels": self.void_pixels,
            "classes": [
                {"id": k + 1, "name": n, "pixels": p, "median_frequency_weight": w}
                for k, (n, p, w) in enumerate(zip(self.class_names, self.class_pixels, self.median_frequency_weights))
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        n = self.normalization
        lines = [
            f"{self.source}: {self.frames} frames, {self.pixels} pixels",
            f"rgb mean   {' '.join(f'{v:.5f}' for v in n.rgb_mean)}  (RGB/255)",
            f"rgb std    {' '.join(f'{v:.5f}' for v in n.rgb_std)}",
            f"depth mean {n.depth_mean:.5f} m  std {n.depth_std:.5f} m  "
            f"(over the {self.depth_valid_fraction:.1%} of pixels with a reading; range {self.depth_min:.3f}-{self.depth_max:.3f} m)",
            "",
            f"{'id':>3}  {'class':<24} {'pixels %':>9} {'MF weight':>10}",
        ]
        labelled = max(sum(self.class_pixels), 1)
        for k, (name, p, w) in enumerate(zip(self.class_names, self.class_pixels, self.median_frequency_weights)):
            lines.append(f"{k + 1:>3}  {name:<24} {100 * p / labelled:>9.3f} {w:>10.4f}")
        lines.append(f"void pixels: {self.void_pixels} ({100 * self.void_pixels / max(self.pixels, 1):.2f}%)")
        return "\n".join(lines)


def compute_stats(dataset: RGBDDataset, max_frames: int | None = None, progress: bool = False) -> DatasetStats:
    """Stream over the frames (float64 sums) and measure the dataset.

    RGB statistics are of RGB/255 over all pixels; depth statistics in metres
    over the pixels with a reading (holes are not data).
    """
    n = len(dataset) if max_frames is None else min(max_frames, len(dataset))
    c = dataset.num_classes
    rgb_sum, rgb_sq = np.zeros(3), np.zeros(3)
    d_sum = d_sq = 0.0
    d_count = pixels = 0
    d_min, d_max = np.inf, 0.0
    class_pixels = np.zeros(c + 1, np.int64)
    present_pixels = np.zeros(c + 1, np.int64)
    for i in tqdm(range(n), desc="stats", unit="frame", disable=None if progress else True):
        f = dataset[i]
        rgb = f.rgb.reshape(-1, 3).astype(np.float64) / 255.0
        rgb_sum += rgb.sum(0)
        rgb_sq += (rgb * rgb).sum(0)
        valid = f.depth[f.depth > 0].astype(np.float64)
        d_sum += valid.sum()
        d_sq += (valid * valid).sum()
        d_count += valid.size
        if valid.size:
            d_min, d_max = min(d_min, valid.min()), max(d_max, valid.max())
        pixels += f.label.size
        counts = np.bincount(f.label.ravel(), minlength=c + 1)
        class_pixels += counts
        present_pixels[counts > 0] += counts[1:].sum()
    if n == 0 or pixels == 0:
        raise DataError(f"{dataset.source}: no frames to measure")
    mean = rgb_sum / pixels
    std = np.sqrt(np.maximum(rgb_sq / pixels - mean**2, 1e-12))
    d_mean = d_sum / d_count if d_count else 0.0
    d_std = float(np.sqrt(max(d_sq / d_count - d_mean**2, 1e-12))) if d_count else 1.0
    freq = np.where(present_pixels[1:] > 0, class_pixels[1:] / np.maximum(present_pixels[1:], 1), 0.0)
    occurring = freq[freq > 0]
    median = float(np.median(occurring)) if occurring.size else 0.0
    weights = np.where(freq > 0, median / np.where(freq > 0, freq, 1.0), 0.0)
    return DatasetStats(
        source=dataset.source,
        frames=n,
        pixels=int(pixels),
        class_names=tuple(dataset.class_names),
        normalization=Normalization(tuple(mean), tuple(std), d_mean, d_std if d_std > 1e-6 else 1.0),
        class_pixels=tuple(int(v) for v in class_pixels[1:]),
        void_pixels=int(class_pixels[0]),
        depth_valid_fraction=d_count / pixels,
        depth_min=float(d_min) if d_count else 0.0,
        depth_max=float(d_max),
        median_frequency_weights=tuple(float(w) for w in weights),
    )


def load_normalization(path) -> Normalization:
    """Read normalisation from JSON: a :class:`DatasetStats` record or a bare normalisation dict."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"normalisation file {path} not found")
    try:
        data = json.loads(path.read_text("utf-8"))
        if not isinstance(data, dict):
            raise DataError(f"{path} must hold a JSON object")
        return Normalization.from_dict(data.get("normalization", data))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from None
    except AcnetError as exc:
        raise DataError(f"{path}: {exc}") from None
