"""Joint transforms of RGB, depth and labels: the authors' training recipe and the eval path.

Training (:class:`TrainTransform`), per frame, with one ``numpy`` Generator:

1. random scale ``s ~ U(1.0, 1.4)``: resize to ``round(s*H) x round(s*W)`` of
   the training size, bilinear for RGB, nearest for depth and labels (one
   resize from the original frame, which the authors do in two steps);
2. random crop back to ``H x W``;
3. horizontal flip with p = 0.5;
4. HSV jitter on RGB: hue x U(0.9, 1.1), saturation x U(0.9, 1.1) (both
   clipped to [0, 1]), value + U(-25, 25) on the 0-255 scale;
5. normalisation with the dataset's :class:`~acnet.runtime.preprocess.Normalization`;
6. auxiliary labels for deep supervision: the label at 1/2, 1/4, 1/8 and
   1/16 by nearest neighbour, without anti-aliasing.

Evaluation (:class:`EvalTransform`) is exactly
:func:`acnet.runtime.preprocess.preprocess`, the function every exported
runtime uses, so validation inputs equal deployment inputs bit for bit.

This module is numpy-only; samples are dicts of arrays that the default
``DataLoader`` collate turns into tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from acnet.errors import ConfigError
from acnet.runtime.preprocess import (
    Normalization,
    PreprocessConfig,
    normalize_depth,
    normalize_rgb,
    preprocess,
    resize_bilinear,
    resize_nearest,
)
from acnet.training.data.base import Frame

#: Strides of the auxiliary outputs of the decoder, after the full-size one.
AUX_STRIDES = (2, 4, 8, 16)


@dataclass(frozen=True)
class Augmentation:
    """Random training augmentation; the defaults are the ACNet authors'."""

    scale: tuple[float, float] = (1.0, 1.4)
    flip_p: float = 0.5
    hue: tuple[float, float] = (0.9, 1.1)
    saturation: tuple[float, float] = (0.9, 1.1)
    #: Value offset range, +-``value`` on the 0-255 scale.
    value: float = 25.0

    def __post_init__(self) -> None:
        lo, hi = self.scale
        if not 0 < lo <= hi:
            raise ConfigError(f"augmentation scale range must satisfy 0 < low <= high, got {self.scale}")
        if lo < 1.0:
            raise ConfigError(f"augmentation scale must be >= 1 so a crop of the training size fits, got {self.scale}")
        if not 0.0 <= self.flip_p <= 1.0:
            raise ConfigError(f"flip probability must be in [0, 1], got {self.flip_p}")

    @classmethod
    def none(cls) -> "Augmentation":
        """Identity augmentation (still resizes and normalises)."""
        return cls(scale=(1.0, 1.0), flip_p=0.0, hue=(1.0, 1.0), saturation=(1.0, 1.0), value=0.0)


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """H x W x 3 float RGB (any scale) -> HSV with hue and saturation in [0, 1], value in RGB's scale."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(-1)
    delta = v - rgb.min(-1)
    safe = np.where(delta > 0, delta, 1.0)
    s = np.where(v > 0, delta / np.where(v > 0, v, 1.0), 0.0)
    h = np.where(
        v == r, (g - b) / safe, np.where(v == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe)
    )
    h = np.where(delta > 0, (h / 6.0) % 1.0, 0.0)
    return np.stack([h, s, v], -1).astype(rgb.dtype, copy=False)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_hsv`."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    k = (np.array([5.0, 3.0, 1.0], dtype=hsv.dtype) + h[..., None] * 6.0) % 6.0
    return v[..., None] - (v * s)[..., None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def hsv_jitter(rgb: np.ndarray, hue: float, saturation: float, value: float) -> np.ndarray:
    """Scale hue and saturation (clipped to [0, 1]) and shift value (clipped to [0, 255])."""
    hsv = rgb_to_hsv(rgb)
    hsv[..., 0] = np.clip(hsv[..., 0] * hue, 0.0, 1.0)
    hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0.0, 1.0)
    hsv[..., 2] = np.clip(hsv[..., 2] + value, 0.0, 255.0)
    return hsv_to_rgb(hsv)


def aux_labels(label: np.ndarray, strides: tuple[int, ...] = AUX_STRIDES) -> list[np.ndarray]:
    """The label downsampled by nearest neighbour (no anti-aliasing) to 1/stride."""
    h, w = label.shape
    return [resize_nearest(label, h // s, w // s) for s in strides]


class TrainTransform:
    """Random joint augmentation to the training size; see the module docstring."""

    def __init__(
        self,
        height: int,
        width: int,
        normalization: Normalization,
        augmentation: Augmentation | None = None,
        aux_strides: tuple[int, ...] = AUX_STRIDES,
    ) -> None:
        self.height, self.width = height, width
        self.normalization = normalization
        self.augmentation = augmentation or Augmentation()
        self.aux_strides = aux_strides

    def __call__(self, frame: Frame, rng: np.random.Generator) -> dict[str, np.ndarray]:
        a = self.augmentation
        h, w = self.height, self.width
        s = rng.uniform(*a.scale)
        th, tw = max(h, int(round(s * h))), max(w, int(round(s * w)))
        top = int(rng.integers(0, th - h + 1))
        left = int(rng.integers(0, tw - w + 1))
        flip = rng.random() < a.flip_p
        hue, sat, val = rng.uniform(*a.hue), rng.uniform(*a.saturation), rng.uniform(-a.value, a.value)

        rows, cols = np.s_[top:top + h], np.s_[left:left + w]
        rgb = resize_bilinear(frame.rgb, th, tw)[rows, cols]
        depth = resize_nearest(frame.depth, th, tw)[rows, cols]
        label = resize_nearest(frame.label, th, tw)[rows, cols]
        if flip:
            rgb, depth, label = rgb[:, ::-1], depth[:, ::-1], label[:, ::-1]
        if (hue, sat, val) != (1.0, 1.0, 0.0):
            rgb = hsv_jitter(rgb, hue, sat, val)
        label = np.ascontiguousarray(label)
        sample = {
            "rgb": normalize_rgb(rgb, self.normalization),
            "depth": np.ascontiguousarray(normalize_depth(depth, self.normalization)),
            "label": label,
        }
        for stride, aux in zip(self.aux_strides, aux_labels(label, self.aux_strides)):
            sample[f"label{stride}"] = np.ascontiguousarray(aux)
        return sample


class EvalTransform:
    """The runtime's preprocessing (resize + normalise) of one frame; labels stay at full size."""

    def __init__(self, config: PreprocessConfig) -> None:
        self.config = config

    def __call__(self, frame: Frame) -> tuple[np.ndarray, np.ndarray]:
        """``(rgb 3xHxW, depth 1xHxW)`` float32 at the network's input size."""
        return preprocess(frame.rgb, frame.depth, self.config, depth_scale=1.0)
