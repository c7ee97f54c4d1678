"""Logits to class ids: the one postprocessing implementation, beside :mod:`acnet.runtime.preprocess`.

The runtime's :class:`~acnet.runtime.Segmenter`, training's evaluation and
the parity harness all call these functions, and the C ABI re-implements
them (tested against this module):

- Logits are resized bilinearly to the frame's size (the resize of
  :mod:`acnet.runtime.preprocess`) before the argmax, as evaluation does.
- Class ids: logits channel ``k`` is class id ``k + 1``
  (:data:`CLASS_ID_OFFSET`); 0 is void, which the network never predicts.
- Ties go to the lowest channel; a pixel whose logits contain NaN is void.
- The "confidence" image (:func:`top_probability`): the top class's softmax
  probability x 255, computed at the network's resolution, resized bilinearly.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from acnet.runtime.preprocess import _bilinear_blocks, _block_index, resize_bilinear_chw

#: Class id of logits channel 0. Label files use 0 for void and 1..C for classes.
CLASS_ID_OFFSET = 1


def postprocess_logits(logits: np.ndarray, height: int, width: int) -> np.ndarray:
    """CxHxW logits at model size -> HxW uint8 class ids at the caller's size.

    Logits are bilinearly resized before the argmax, as evaluation does.
    Class ids follow the datasets' label files: channel ``k`` is class id
    ``k + 1`` and 0 is void, which the network never predicts.
    """
    h, w = logits.shape[-2:]
    if (h, w) == (height, width):
        return logits_to_class_ids(logits)
    logits = logits.astype(np.float32, copy=False)
    if logits.shape[0] > 255 - CLASS_ID_OFFSET:
        return logits_to_class_ids(resize_bilinear_chw(logits, height, width))
    # Resize and argmax one cache-sized block at a time: the same values as
    # resizing the whole map first, without a C x height x width temporary.
    out = np.empty((height, width), np.uint8)
    ids = best = scores = None
    for rows, cols, values, keep in _bilinear_blocks(logits, height, width):
        n = values[0].size
        if ids is None or ids.size < n:
            ids, best, scores = np.empty(n, np.uint8), np.empty(n, np.float32), np.empty(values.shape[0] * n, np.uint8)
        shape = values.shape[1:]
        block = _class_ids_into(values, ids[:n].reshape(shape), best[:n].reshape(shape), scores[: values.size].reshape(values.shape))
        out[_block_index(rows, cols)] = block[:, keep]
    return out


def top_probability(logits: np.ndarray, height: int, width: int) -> np.ndarray:
    """CxHxW logits at model size -> HxW uint8: the top class's softmax probability x 255, rounded.

    The probability is computed at the network's resolution (one exp per
    logit there, not at camera resolution) and resized bilinearly to
    ``height`` x ``width``. NaN logits give 0. This is the "confidence"
    image ROS consumers read (0-255), beside :func:`postprocess_logits`'s labels.
    """
    x = logits.astype(np.float32, copy=False)
    best = np.max(x, axis=0)
    shifted = np.subtract(x, best, out=np.empty_like(x))
    np.exp(shifted, out=shifted)
    prob = np.reciprocal(np.sum(shifted, axis=0, dtype=np.float32))
    if prob.shape != (height, width):
        prob = resize_bilinear_chw(prob[None], height, width)[0]
    prob = np.nan_to_num(prob * np.float32(255.0), nan=0.0)
    return np.rint(np.clip(prob, 0.0, 255.0, out=prob), out=prob).astype(np.uint8)


def logits_to_class_ids(logits: np.ndarray) -> np.ndarray:
    """C x H x W logits -> H x W uint8 class ids, as ``argmax(axis=0) + 1``.

    Ties go to the lowest channel, as with ``argmax``. A pixel whose logits
    contain NaN gets 0 (void). Comparing each channel with the channel-wise
    maximum (see :func:`_class_ids_into`) is several times faster than
    numpy's argmax over the outer axis, which matters at camera resolution.
    """
    if logits.shape[0] > 255 - CLASS_ID_OFFSET:
        return channel_to_class_id(logits.argmax(axis=0))
    shape = logits.shape[1:]
    return _class_ids_into(logits, np.empty(shape, np.uint8), np.empty(shape, logits.dtype), np.empty(logits.shape, np.uint8))


def _class_ids_into(logits: np.ndarray, out: np.ndarray, best: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """:func:`logits_to_class_ids` into ``out``; ``best`` (logits' dtype, out's shape) and ``scores``
    (uint8, logits' shape) are scratch.

    Channel c scores ``256 - (c + 1)`` where it equals the maximum and 0
    elsewhere, so the highest score is the lowest such channel, and ``256 -
    score`` (uint8 negation) is its class id, or 0 (void) where no channel
    equals the maximum: where it is NaN. Five whole-array operations, in
    uint8 where they can be: no per-channel masked copies, and few returns
    to the interpreter (each of which may have to wait for the GIL).
    """
    n = logits.shape[0]
    np.max(logits, axis=0, out=best)  # NaN wherever a channel is NaN
    hit = scores.view(bool)
    np.equal(logits, best, out=hit)
    np.multiply(hit, _channel_scores(n).reshape((n,) + (1,) * (logits.ndim - 1)), out=scores)
    np.max(scores, axis=0, out=out)
    return np.negative(out, out=out)


@lru_cache(maxsize=16)
def _channel_scores(channels: int) -> np.ndarray:
    """256 - class id of each channel: 1..255 for up to 255 - CLASS_ID_OFFSET channels."""
    return (256 - (np.arange(channels) + CLASS_ID_OFFSET)).astype(np.uint8)


def channel_to_class_id(argmax: np.ndarray) -> np.ndarray:
    """Argmax channel indices -> uint8 class ids (channel + 1)."""
    return (argmax + CLASS_ID_OFFSET).astype(np.uint8)
