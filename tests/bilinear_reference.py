"""The previous postprocessing, kept as the reference the block-wise one must equal to the bit.

Bilinear taps gathered with fancy indexing, ``top + (bottom - top) * wy`` then
``left + (right - left) * wx`` in float32, in bands of rows, then the argmax:
what ``acnet.runtime.preprocess`` computed before it read the taps through
strided views (and what the C ABI computes).
"""

from __future__ import annotations

import numpy as np

from acnet.runtime.preprocess import _linear_taps, channel_to_class_id


def gathered_resize(x: np.ndarray, height: int, width: int, rows: slice = slice(None)) -> np.ndarray:
    """C x h x w -> C x height x width (only ``rows`` of it), taps gathered."""
    h, w = x.shape[-2:]
    y0, y1, wy = (t[rows] for t in _linear_taps(h, height))
    x0, x1, wx = _linear_taps(w, width)
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
        ids = channel_to_class_id(values.argmax(axis=0))
        ids[np.isnan(values).any(axis=0)] = 0
        out[r : r + band] = ids
    return out
