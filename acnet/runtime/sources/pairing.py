"""Pairing two image streams (colour and depth) by capture stamp."""

from __future__ import annotations

from collections import deque
from typing import Any


class StampPairer:
    """Pair items of two streams whose stamps differ by at most ``tolerance``.

    Each stream must arrive in stamp order (as a camera, a recording or a
    bag topic does); the streams may interleave in any way. An item whose
    partner can no longer arrive (the other stream has moved past it) is
    dropped and counted in :attr:`unpaired`.

    ``max_pending`` bounds the items either stream may hold while the other
    is silent (a live topic that stopped): beyond it the oldest is dropped
    and counted, so memory stays bounded. None keeps every item.
    """

    def __init__(self, tolerance: float, max_pending: int | None = None) -> None:
        self.tolerance = float(tolerance)
        self.max_pending = max_pending
        self.pending: dict[str, deque] = {"rgb": deque(), "depth": deque()}
        self.unpaired = {"rgb": 0, "depth": 0}

    def push(self, stream: str, stamp: float, item: Any) -> list[tuple[Any, Any]]:
        """Add one item; return the (rgb, depth) pairs that are now complete, oldest first."""
        waiting = self.pending[stream]
        waiting.append((stamp, item))
        if self.max_pending is not None and len(waiting) > self.max_pending:
            waiting.popleft()
            self.unpaired[stream] += 1
        pairs = []
        rgb, depth = self.pending["rgb"], self.pending["depth"]
        while rgb and depth:
            (t_rgb, a), (t_depth, b) = rgb[0], depth[0]
            if abs(t_rgb - t_depth) <= self.tolerance:
                # The next item of either stream may be closer still to the other's head.
                if len(rgb) > 1 and abs(rgb[1][0] - t_depth) < abs(t_rgb - t_depth):
                    rgb.popleft()
                    self.unpaired["rgb"] += 1
                    continue
                if len(depth) > 1 and abs(depth[1][0] - t_rgb) < abs(t_rgb - t_depth):
                    depth.popleft()
                    self.unpaired["depth"] += 1
                    continue
                rgb.popleft()
                depth.popleft()
                pairs.append((a, b))
            elif t_rgb < t_depth:
                rgb.popleft()
                self.unpaired["rgb"] += 1
            else:
                depth.popleft()
                self.unpaired["depth"] += 1
        return pairs

    def finish(self) -> None:
        """Count what is left without a partner at the end of the streams."""
        for stream, items in self.pending.items():
            self.unpaired[stream] += len(items)
            items.clear()
