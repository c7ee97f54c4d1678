"""The previous postprocessing, kept as the reference the block-wise one must equal to the bit.

Bilinear taps gathered with fancy indexing, ``top + (bottom - top) * wy`` then
``left + (right - left) * wx`` in float32, in bands of rows, then the argmax:
what ``acnet.runtime.postprocess`` computed before it read the taps through
strided views (and what the C ABI computes).

It imports nothing from acnet: the taps are computed here, one index at a
time, from the documented formula (half-pixel centres, as PyTorch's
``align_corners=False``), so a mistake in the runtime's vectorised taps
cannot hide in its own reference.
"""

from __future__ import annotations

import math

import numpy as np

#: Class id of logits channel 0: label files use 0 for void and 1..C for classes.
FIRST_CLASS_ID = 1


def linear_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of ``dst`` output positions: the two source indices and the weight of the second.

    Source position ``(d + 0.5) * (src / dst) - 0.5``, clamped at 0 (no
    extrapolation before the first pixel); the second index stops at the last
    pixel; the weight is the distance past the first index, in float32.
    """
    scale = src / dst
    first, second, weight = [], [], []
    for d in range(dst):
        pos = max((d + 0.5) * scale - 0.5, 0.0)
        i0 = min(math.floor(pos), src - 1)
        first.append(i0)
        second.append(min(i0 + 1, src - 1))
        weight.append(pos - i0)
    return np.array(first, np.int64), np.array(second, np.int64), np.array(weight, np.float64).astype(np.float32)


def gathered_resize(x: np.ndarray, height: int, width: int, rows: slice = slice(None)) -> np.ndarray:
    """C x h x w -> C x height x width (only ``rows`` of it), taps gathered."""
    h, w = x.shape[-2:]
    y0, y1, wy = (t[rows] for t in linear_taps(h, height))
    x0, x1, wx = linear_taps(w, width)
    x = x.astype(np.float32, copy=False)
    top, bottom = x[..., y0, :], x[..., y1, :]
    interp = top + (bottom - top) * wy[:, None]
    return interp[..., x0] + (interp[..., x1] - interp[..., x0]) * wx


def gathered_postprocess(logits: np.ndarray, height: int, width: int) -> np.ndarray:
    """The previous ``postprocess_logits``: bands of rows resized by gathers, then argmax + 1 (NaN -> 0)."""
    out = np.empty((height, width), np.uint8)
    band = max(1, (1 << 17) // max(1, logits.shape[0] * width))
    for r in range(0, height, band):
        values = gathered_resize(logits, height, width, slice(r, r + band))
        ids = (values.argmax(axis=0) + FIRST_CLASS_ID).astype(np.uint8)
        ids[np.isnan(values).any(axis=0)] = 0
        out[r : r + band] = ids
    return out
