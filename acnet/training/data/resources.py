"""Facts shipped as package data: NYUDv2/SUN RGB-D class names, split, class map, loss weights.

Provenance of each file is given in README.md beside them (acnet/training/resources/).
"""

from __future__ import annotations

import functools
import json
from importlib import resources

import numpy as np


@functools.lru_cache(maxsize=None)
def load(name: str) -> dict:
    """The parsed ``acnet/training/resources/<name>.json``."""
    text = resources.files("acnet.training").joinpath("resources", f"{name}.json").read_text("utf-8")
    return json.loads(text)


def class_names(key: str) -> tuple[str, ...]:
    """``"nyuv2_40"`` or ``"sunrgbd_37"``."""
    return tuple(load("class_names")[key])


def published_class_weights(key: str) -> list[float]:
    """Per-class loss weights published with the ACNet code, for labels 1..C.

    ``"nyuv2"`` (40 values; the file's leading weight for void is dropped) or
    ``"sunrgbd"`` (37 median-frequency weights).
    """
    data = load("class_weights")
    if key == "nyuv2":
        return [float(v) for v in data["nyuv2_40_with_void_first"][1:]]
    if key == "sunrgbd":
        return [float(v) for v in data["sunrgbd_37_median_frequency"]]
    raise KeyError(key)


def map894to40() -> np.ndarray:
    """Lookup table: index = NYUDv2 894-class id (0..894), value = 40-class id (0 = void)."""
    table = load("map894to40")["map894to40"]
    return np.asarray([0, *table], dtype=np.uint8)


def nyuv2_split(split: str) -> np.ndarray:
    """0-based frame indices of the official 795 train / 654 test split."""
    return np.asarray(load("splits")[split], dtype=np.int64) - 1
