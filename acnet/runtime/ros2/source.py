"""Live ``sensor_msgs/Image`` pairs as a pipeline source: subscription callbacks in, frames out.

Callbacks only pair messages by header stamp (the one
:class:`~acnet.runtime.sources.pairing.StampPairer` the bag source uses) and
append the pair to a bounded buffer, dropping and counting the oldest pair
when it is full: they never wait for inference. The pipeline's worker that
takes the next frame decodes it (the bag reader's decoders, REP 118
encodings) and checks it; a bad message is dropped, counted by reason and
reported through ``warn``, never raised into the pipeline.

Messages come as serialized CDR (the node's raw subscriptions: rosbags'
type store, the one the bag reader uses, reads them with the pixels left in
place, which is faster than rclpy's message conversion) or as message
objects read duck-typed (``header``, ``height``, ``width``, ``encoding``,
``is_bigendian``, ``step``, ``data``). This module needs no ROS install.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Callable, Iterator

import numpy as np

from acnet.errors import InputError
from acnet.runtime.preprocess import check_depth_range
from acnet.runtime.sources import Frame, Source
from acnet.runtime.sources.pairing import StampPairer
from acnet.runtime.sources.rosbag import IMAGE, _check_sizes, decode_color, decode_depth

#: Messages one stream may hold while the other is silent, before the oldest is dropped.
MAX_PENDING = 10


def stamp_seconds(header) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


class TopicPairs(Source):
    """(rgb, depth) frames from two image topics, fed by :meth:`push` from subscription callbacks.

    Iterating blocks until the next pair is complete and ends after
    :meth:`close`. At most ``queue_size`` pairs wait; a newer pair pushes
    out the oldest (counted in ``counts["dropped"]``). The frame's
    ``received`` time is when its pair completed, so a pipeline's end-to-end
    latency includes the time it waited here.
    """

    live = False  # the pipeline takes pairs when it is free; dropping happens here, in the callbacks

    def __init__(self, rgb_topic: str, depth_topic: str, tolerance: float, queue_size: int = 1,
                 warn: Callable[[str], None] | None = None, typestore=None) -> None:
        self.rgb_topic, self.depth_topic = rgb_topic, depth_topic
        self.typestore = typestore  # reads serialized messages (bytes); see image_typestore()
        self.spec = f"ros2:rgb={rgb_topic}&depth={depth_topic}"
        self.warn = warn or (lambda message: None)
        self._cond = threading.Condition()
        self._pairer = StampPairer(tolerance, max_pending=MAX_PENDING)
        self._pairs: deque = deque(maxlen=int(queue_size))
        self._last = {"rgb": None, "depth": None}
        self._closed = False
        self._seq = 0
        #: rgb and depth messages in, pairs made, pairs dropped unprocessed, bad frames, time jumps back, and
        #: messages lost before the node (gaps in a publisher's sequence numbers: a full subscription queue, the network).
        self.counts = Counter({"rgb": 0, "depth": 0, "pairs": 0, "dropped": 0, "bad": 0, "restarts": 0,
                               "rgb lost": 0, "depth lost": 0})
        self._sequence: dict = {}  # (stream, publisher) -> its last sequence number
        #: Why the last bad frame was dropped.
        self.last_bad = ""
        self._unpaired_before = Counter()

    @property
    def unpaired(self) -> dict[str, int]:
        """Messages that found no partner within the tolerance (the pipeline's stats report them)."""
        with self._cond:
            return {k: self._pairer.unpaired[k] + self._unpaired_before[k] for k in ("rgb", "depth")}

    def push(self, stream: str, msg, info: dict | None = None) -> None:
        """Hand over one message of ``stream`` ("rgb" or "depth"); returns at once.

        ``msg`` is a message object, or a serialized one (bytes) when the
        source has a ``typestore``. ``info`` is rclpy's MessageInfo, when the
        subscription passes it: its publisher id and sequence number count the
        messages that never arrived.
        """
        received = time.perf_counter()
        if isinstance(msg, (bytes, bytearray, memoryview)):
            try:
                msg = self.typestore.deserialize_cdr(msg, IMAGE)
            except Exception as exc:  # noqa: BLE001 - a garbled or foreign message: that message only
                self._bad(f"{self._topic(stream)}: not a readable sensor_msgs/Image ({type(exc).__name__}: {exc})")
                return
        try:
            stamp = stamp_seconds(msg.header)
        except AttributeError:
            self._bad(f"{self._topic(stream)}: a message without a header stamp")
            return
        with self._cond:
            if self._closed:
                return
            self.counts[stream] += 1
            self._count_lost(stream, info)
            last = self._last[stream]
            if last is not None and stamp < last:  # a bag played again, a clock reset: pair afresh
                self._pairer.finish()
                self._unpaired_before.update(self._pairer.unpaired)
                self._pairer = StampPairer(self._pairer.tolerance, max_pending=MAX_PENDING)
                self._last = {"rgb": None, "depth": None}
                self.counts["restarts"] += 1
            self._last[stream] = stamp
            for pair in self._pairer.push(stream, stamp, msg):
                if len(self._pairs) == self._pairs.maxlen:
                    self.counts["dropped"] += 1  # the deque pushes out the oldest pair
                self._pairs.append((pair, received))
                self.counts["pairs"] += 1
                self._cond.notify()

    def _count_lost(self, stream: str, info: dict | None) -> None:
        number = (info or {}).get("publication_sequence_number")
        gid = (info or {}).get("publisher_gid")
        if not number or gid is None:  # not given, or the middleware does not know it
            return
        key = (stream, repr(gid))
        last = self._sequence.get(key)
        if last is not None and number > last + 1:
            self.counts[f"{stream} lost"] += number - last - 1
        self._sequence[key] = number
        if len(self._sequence) > 64:  # publishers come and go: keep the latest few
            self._sequence.pop(next(iter(self._sequence)))

    def _topic(self, stream: str) -> str:
        return self.rgb_topic if stream == "rgb" else self.depth_topic

    def _bad(self, reason: str) -> None:
        with self._cond:
            self.counts["bad"] += 1
            self.last_bad = reason
        self.warn(reason)

    def __iter__(self) -> Iterator[Frame]:
        while True:
            with self._cond:
                while not self._pairs and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                (rgb_msg, depth_msg), received = self._pairs.popleft()
            try:
                frame = self.frame(rgb_msg, depth_msg, received)
            except InputError as exc:
                self._bad(f"dropped a frame: {exc}")
                continue
            except Exception as exc:  # a message no decoder foresaw (height 0, odd fields): still only that frame
                self._bad(f"dropped a frame: {type(exc).__name__}: {exc}")
                continue
            yield frame

    def frame(self, rgb_msg, depth_msg, received: float) -> Frame:
        """Decode and check one pair (an InputError names what is wrong)."""
        rgb = decode_color(rgb_msg, self.rgb_topic)
        depth, scale = decode_depth(depth_msg, self.depth_topic)
        _check_sizes(rgb, depth, self.rgb_topic, self.depth_topic, f"stamp {stamp_seconds(rgb_msg.header):.9f}")
        top = depth.max()
        if not top > 0:
            raise InputError(f"topic {self.depth_topic}: depth holds no valid reading (all NaN, infinite, negative or 0)")
        check_depth_range(np.array([top], np.float32) * np.float32(scale), scale)
        seq, self._seq = self._seq, self._seq + 1
        header = rgb_msg.header
        meta = {"header": header, "frame_id": header.frame_id, "depth_stamp": stamp_seconds(depth_msg.header)}
        return Frame(rgb, depth, scale, stamp_seconds(header), seq, f"{seq:06d}", received, meta)

    def close(self) -> None:
        """End the iteration (the pipeline then ends); later messages are ignored."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
