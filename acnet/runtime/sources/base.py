"""What every source is: an iterable of :class:`Frame`, closed when done.

The source kinds (``realsense``, ``rosbag``, stills) each live in their own
module and derive from :class:`Source`; :func:`acnet.runtime.sources.open_source`
picks one from a spec.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np


@dataclass
class Frame:
    """One RGB-D frame from a source.

    ``depth`` is HxW in the source's own unit: ``depth * depth_scale`` is
    metres (uint16 sensor units, or float32 metres with ``depth_scale`` 1);
    0 means no reading. ``stamp`` is the capture time in seconds on the
    source's clock (header stamp, device timestamp, file order);
    ``received`` is ``time.perf_counter()`` when the source handed it over,
    the start of the end-to-end latency a pipeline reports.
    """

    rgb: np.ndarray
    depth: np.ndarray
    depth_scale: float
    stamp: float
    seq: int
    name: str
    received: float = field(default_factory=time.perf_counter)
    #: Source-specific facts a writer may echo (a ROS header's frame id, ...).
    meta: dict[str, Any] = field(default_factory=dict)


class Source:
    """Base class: iterate for frames; ``close`` (or ``with``) frees the device or file."""

    #: True when frames arrive on their own clock and may be dropped when late.
    live: bool = False
    spec: str = ""

    def __iter__(self) -> Iterator[Frame]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"
