"""Side-by-side images of predictions for a person to look at.

Colours come from :mod:`acnet.runtime.colorize` (the one palette of the
project), so evaluation images match what ``acnet infer`` draws.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from acnet._io import atomic_path
from acnet.runtime.colorize import colorize


def depth_image(depth_m: np.ndarray) -> np.ndarray:
    """HxW metres -> HxWx3 uint8 grey, near = bright, holes black (scaled to the frame's range)."""
    valid = depth_m > 0
    out = np.zeros(depth_m.shape, np.uint8)
    if valid.any():
        lo, hi = float(depth_m[valid].min()), float(depth_m[valid].max())
        scaled = 1.0 - (depth_m - lo) / max(hi - lo, 1e-6)
        out[valid] = np.rint(40 + 215 * scaled[valid]).astype(np.uint8)
    return np.repeat(out[..., None], 3, axis=2)


def comparison(rgb: np.ndarray, depth_m: np.ndarray, label: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """One row: RGB | depth | ground truth | prediction (void in the truth stays black in both)."""
    shown = np.where(label > 0, pred, 0).astype(np.uint8)
    gap = np.full((rgb.shape[0], 4, 3), 255, np.uint8)
    parts = [rgb, depth_image(depth_m), colorize(label.astype(np.uint8)), colorize(shown)]
    return np.concatenate([p for part in parts for p in (part, gap)][:-1], axis=1)


def save_comparison(
    path: str | os.PathLike, rgb: np.ndarray, depth_m: np.ndarray, label: np.ndarray, pred: np.ndarray
) -> None:
    """Write :func:`comparison` as a PNG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(comparison(rgb, depth_m, label, pred)).save(tmp, format="PNG")
