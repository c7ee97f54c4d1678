"""Colour class-id maps and lay them over the image, for people to look at.

Class id 0 (void, never predicted) is black in :func:`colorize` and left
uncoloured by :func:`overlay`. The palette is the PASCAL VOC bit-interleaved
one: fixed, distinct for neighbouring ids and the same in every run.
"""

from __future__ import annotations

import numpy as np

from acnet._typed import is_finite_number
from acnet.errors import InputError


def make_palette(n: int = 256) -> np.ndarray:
    """(n, 3) uint8 colours; id k gets the VOC colour of k (0 is black)."""
    ids = np.arange(n)
    palette = np.zeros((n, 3), np.int64)
    for bit in range(8):
        for channel in range(3):
            palette[:, channel] |= ((ids >> (3 * bit + channel)) & 1) << (7 - bit)
    return palette.astype(np.uint8)


PALETTE = make_palette()
PALETTE.flags.writeable = False


def _check_labels(labels: object, palette: np.ndarray) -> np.ndarray:
    if not isinstance(labels, np.ndarray):
        raise InputError(f"labels must be a numpy array, got {type(labels).__name__}")
    if labels.ndim != 2 or labels.size == 0:
        raise InputError(f"labels must have shape HxW, got {labels.shape}")
    if labels.dtype.kind not in "ui":
        raise InputError(f"labels must be integer class ids, got {labels.dtype}")
    if labels.dtype != np.uint8 and (labels.min() < 0 or labels.max() >= len(palette)):
        raise InputError(f"class ids must lie in 0..{len(palette) - 1}, got {labels.min()}..{labels.max()}")
    return labels


def colorize(labels: np.ndarray, palette: np.ndarray = PALETTE) -> np.ndarray:
    """HxW class ids -> HxWx3 uint8 colours."""
    return palette[_check_labels(labels, palette)]


def boundaries(labels: np.ndarray) -> np.ndarray:
    """HxW bool: pixels whose right or lower neighbour has another class."""
    edge = np.zeros(labels.shape, bool)
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edge


def overlay(
    rgb: np.ndarray,
    labels: np.ndarray,
    alpha: float = 0.5,
    palette: np.ndarray = PALETTE,
    outline: bool = True,
) -> np.ndarray:
    """Blend class colours over an HxWx3 uint8 image; void pixels keep the image.

    ``alpha`` is the weight of the colours (0: image only, 1: colours only).
    With ``outline`` the borders between classes are drawn in their full
    class colour, so neighbouring regions stay apart where the image is busy.
    """
    labels = _check_labels(labels, palette)
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(f"overlay needs an HxWx3 uint8 image, got {getattr(rgb, 'shape', type(rgb).__name__)}")
    if rgb.shape[:2] != labels.shape:
        raise InputError(f"image is {rgb.shape[0]}x{rgb.shape[1]} but labels are {labels.shape[0]}x{labels.shape[1]}")
    if not is_finite_number(alpha) or not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must be a number in [0, 1], got {alpha!r}")
    blend = rgb.astype(np.float32) * (1.0 - alpha) + palette[labels].astype(np.float32) * alpha
    out = np.where((labels > 0)[..., None], np.rint(blend).astype(np.uint8), rgb)
    if outline:
        edge = boundaries(labels) & (labels > 0)
        out[edge] = palette[labels[edge]]
    return out


def legend(class_names: list[str] | tuple[str, ...], palette: np.ndarray = PALETTE, offset: int = 1) -> np.ndarray:
    """An image listing each class id, colour swatch and name (HxWx3 uint8)."""
    from PIL import Image, ImageDraw  # only the legend draws text

    row, swatch = 18, 14
    width = 40 + swatch + 8 * max((len(n) for n in class_names), default=4)
    image = Image.new("RGB", (width, row * max(1, len(class_names)) + 4), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for i, name in enumerate(class_names):
        class_id = i + offset
        y = 2 + i * row
        draw.rectangle([2, y, 2 + swatch, y + swatch], fill=tuple(int(v) for v in palette[class_id % len(palette)]), outline=(0, 0, 0))
        draw.text((8 + swatch, y + 1), f"{class_id:>3} {name}", fill=(0, 0, 0))
    return np.asarray(image)
