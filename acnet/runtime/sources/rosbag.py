"""ROS bags of ``sensor_msgs/Image`` topics, read and written with rosbags (no ROS install).

Reading: RGB and depth messages are paired by header stamp within a
tolerance. Encodings follow REP 118 and ``sensor_msgs/image_encodings``:
colour ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8`` or ``mono8``; depth
``16UC1``/``mono16`` (millimetres, 0 = no reading) or ``32FC1`` (metres,
NaN = no reading, which becomes 0 here so the network never sees a NaN).

Writing: :class:`LabelBagWriter` stores each frame's class ids as a
``mono8`` image carrying the input's header (stamp and frame id), so the
labels replay beside the data they came from.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from acnet._io import AtomicOutput
from acnet.errors import BackendUnavailableError, ConfigError, InputError
from acnet.runtime.rosnames import check_topic_name
from acnet.runtime.sources.base import Frame, Source
from acnet.runtime.sources.pairing import StampPairer

log = logging.getLogger(__name__)

IMAGE = "sensor_msgs/msg/Image"
IMAGE_TYPES = (IMAGE, "sensor_msgs/Image")
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")


def _rosbags(needs: str = "ROS bag sources", extra: str = "stream"):
    try:
        import rosbags.highlevel  # noqa: F401
        import rosbags.rosbag2  # noqa: F401
        import rosbags.typesys  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError(f"{needs} need rosbags (pip install 'acnet[{extra}]'): {exc}") from None
    import rosbags  # optional (acnet[stream]): only bag sources and writers load it

    return rosbags


def _stamp(header) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def header_stamp(header) -> tuple[int, int]:
    """A header's stamp exactly, as (sec, nanosec): seconds as a float lose nanoseconds at today's epoch."""
    return int(header.stamp.sec), int(header.stamp.nanosec)


def image_typestore(needs: str = "ROS bag sources", extra: str = "stream"):
    """rosbags' ROS 2 message definitions, which read and write CDR (sensor_msgs/Image and std_msgs/Header
    are the same in every ROS 2 release)."""
    _rosbags(needs, extra)
    from rosbags.typesys import Stores, get_typestore  # optional: only bags and the ROS 2 node load it

    return get_typestore(Stores.ROS2_HUMBLE)


def _pixels(msg, channels: int, dtype: np.dtype, topic: str) -> np.ndarray:
    """The message's pixel rows as an HxW(xC) array, honouring ``step`` and ``is_bigendian``."""
    dtype = np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<")
    row = msg.width * channels * dtype.itemsize
    data = np.asarray(msg.data, np.uint8)
    if msg.step < row or data.size < msg.step * msg.height:
        raise InputError(f"topic {topic}: image of {msg.width}x{msg.height} {msg.encoding} holds {data.size} bytes (step {msg.step}), too few")
    rows = data[: msg.step * msg.height].reshape(msg.height, msg.step)[:, :row]
    shape = (msg.height, msg.width, channels) if channels > 1 else (msg.height, msg.width)
    return np.ascontiguousarray(rows).view(dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def decode_color(msg, topic: str) -> np.ndarray:
    """HxWx3 uint8 RGB from an ``rgb8``/``bgr8``/``rgba8``/``bgra8``/``mono8`` image."""
    enc = msg.encoding
    if enc not in COLOR_ENCODINGS:
        raise InputError(f"topic {topic}: colour encoding {enc!r} is not supported (use {', '.join(COLOR_ENCODINGS)})")
    if enc == "mono8":
        return np.repeat(_pixels(msg, 1, np.uint8, topic)[..., None], 3, axis=2)
    pixels = _pixels(msg, 4 if enc.endswith("a8") else 3, np.uint8, topic)
    return np.ascontiguousarray(pixels[..., :3] if enc.startswith("rgb") else pixels[..., 2::-1])


def decode_depth(msg, topic: str) -> tuple[np.ndarray, float]:
    """(depth, metres per unit): uint16 millimetres, or float32 metres with NaN (no reading) as 0."""
    enc = msg.encoding
    if enc in ("16UC1", "mono16"):
        return _pixels(msg, 1, np.uint16, topic), 0.001
    if enc == "32FC1":
        depth = _pixels(msg, 1, np.float32, topic)
        bad = ~np.isfinite(depth) | (depth < 0)
        if bad.any():
            depth = np.where(bad, np.float32(0), depth)
        return depth, 1.0
    raise InputError(f"topic {topic}: depth encoding {enc!r} is not supported (use {', '.join(DEPTH_ENCODINGS)})")


class RosbagSource(Source):
    """(rgb, depth) frames from two ``sensor_msgs/Image`` topics, paired by header stamp."""

    live = False

    def __init__(self, path: str, rgb_topic: str, depth_topic: str, tolerance: float = 0.02) -> None:
        _rosbags()
        from rosbags.highlevel import AnyReader  # optional (acnet[stream])

        self.path = Path(path)
        self.rgb_topic, self.depth_topic, self.tolerance = rgb_topic, depth_topic, float(tolerance)
        self.spec = f"rosbag:{path}?rgb={rgb_topic}&depth={depth_topic}"
        if not self.path.exists():
            raise InputError(f"ROS bag {self.path} not found")
        try:
            self.reader = AnyReader([self.path])
            self.reader.open()
        except Exception as exc:  # rosbags raises its own error classes per format
            raise InputError(f"{self.path} is not a readable ROS bag ({str(exc).strip() or type(exc).__name__})") from None
        topics = {c.topic: c for c in self.reader.connections}
        images = sorted(t for t, c in topics.items() if c.msgtype in IMAGE_TYPES)
        self.connections = []
        for what, topic in (("rgb", rgb_topic), ("depth", depth_topic)):
            if topic not in topics:
                self.reader.close()
                raise InputError(f"ROS bag {self.path} has no topic {topic} (image topics: {', '.join(images) or 'none'})")
            if topics[topic].msgtype not in IMAGE_TYPES:
                self.reader.close()
                raise InputError(f"ROS bag {self.path}: topic {topic} carries {topics[topic].msgtype}, not {IMAGE}")
            self.connections.append(topics[topic])
        if rgb_topic == depth_topic:
            self.reader.close()
            raise InputError(f"ROS bag {self.path}: rgb and depth name the same topic {rgb_topic}")
        try:
            self._check_first_messages()
        except InputError:
            self.reader.close()
            raise

    def _check_first_messages(self) -> None:
        """Decode each topic's first image now, so a wrong encoding or size is reported before any work."""
        first = {}
        for connection in self.connections:
            for conn, _, raw in self._read(self.reader.messages(connections=[connection]), 0):
                first[conn.topic] = self._deserialize(raw, conn, 0)
                break
            else:
                raise InputError(f"ROS bag {self.path}: topic {connection.topic} holds no messages")
        rgb = decode_color(first[self.rgb_topic], self.rgb_topic)
        depth, _ = decode_depth(first[self.depth_topic], self.depth_topic)
        _check_sizes(rgb, depth, self.rgb_topic, self.depth_topic, "first messages")

    def __iter__(self) -> Iterator[Frame]:
        pairer = StampPairer(self.tolerance)
        seq = 0
        messages = self.reader.messages(connections=self.connections)
        for connection, log_time, raw in self._read(messages, lambda: seq):
            msg = self._deserialize(raw, connection, seq)
            stream = "rgb" if connection.topic == self.rgb_topic else "depth"
            for rgb_msg, depth_msg in pairer.push(stream, _stamp(msg.header), (msg, log_time)):
                yield self._frame(rgb_msg, depth_msg, seq)
                seq += 1
        pairer.finish()
        self.unpaired = dict(pairer.unpaired)
        if seq == 0:
            raise InputError(f"ROS bag {self.path}: no {self.rgb_topic} and {self.depth_topic} messages within "
                             f"{self.tolerance} s of each other (try a larger ?tolerance=)")
        if any(self.unpaired.values()):
            log.warning("%s: %d rgb and %d depth message(s) had no partner within %g s and were skipped",
                        self.path, self.unpaired["rgb"], self.unpaired["depth"], self.tolerance)

    def _read(self, messages: Iterator, seq) -> Iterator:
        """``messages``, with a failure to read on (a cut or garbled file: sqlite, mcap or rosbag1 errors)
        as an InputError naming the bag and the frame being read; ``seq`` is that frame's number or a callable."""
        while True:
            try:
                item = next(messages)
            except StopIteration:
                return
            except Exception as exc:  # rosbags' and its storages' own error classes (apsw, zstd, struct, ...)
                raise self._damaged(seq() if callable(seq) else seq, exc) from None
            yield item

    def _deserialize(self, raw: bytes, connection, seq: int):
        try:
            msg = self.reader.deserialize(raw, connection.msgtype)
            _stamp(msg.header)
        except Exception as exc:  # a message cut short or garbled: rosbags' AnyReaderError, struct or Unicode errors
            raise self._damaged(seq, exc, connection.topic) from None
        return msg

    def _damaged(self, seq: int, exc: BaseException, topic: str | None = None) -> InputError:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        where = f"a {topic} message of frame {seq}" if topic else f"frame {seq}"
        return InputError(f"ROS bag {self.path} is damaged: {where} cannot be read ({reason})")

    def _frame(self, rgb_item, depth_item, seq: int) -> Frame:
        (rgb_msg, log_time), (depth_msg, _) = rgb_item, depth_item
        rgb = decode_color(rgb_msg, self.rgb_topic)
        depth, scale = decode_depth(depth_msg, self.depth_topic)
        _check_sizes(rgb, depth, self.rgb_topic, self.depth_topic, f"frame {seq}")
        header = rgb_msg.header
        meta = {"header": header, "frame_id": header.frame_id, "log_time": log_time, "depth_stamp": _stamp(depth_msg.header)}
        return Frame(rgb, depth, scale, _stamp(header), seq, f"{seq:06d}", time.perf_counter(), meta)

    def close(self) -> None:
        reader = getattr(self, "reader", None)
        if reader is not None:
            reader.close()
            self.reader = None


def _check_sizes(rgb: np.ndarray, depth: np.ndarray, rgb_topic: str, depth_topic: str, where: str) -> None:
    if depth.shape != rgb.shape[:2]:
        raise InputError(
            f"{where}: {rgb_topic} is {rgb.shape[1]}x{rgb.shape[0]} but {depth_topic} is "
            f"{depth.shape[1]}x{depth.shape[0]} (register depth to colour first)"
        )


def image_fields(array: np.ndarray, encoding: str) -> dict:
    """The ``sensor_msgs/Image`` fields but the header for ``array`` (HxW or HxWxC, in this machine's byte order).

    ``data`` is a flat uint8 view of the array (made C-contiguous first).
    """
    array = np.ascontiguousarray(array)
    height, width = array.shape[:2]
    big = array.dtype.byteorder == ">" or (array.dtype.byteorder == "=" and np.little_endian is False)
    return {"height": height, "width": width, "encoding": encoding, "is_bigendian": int(big), "step": array.strides[0],
            "data": array.reshape(-1).view(np.uint8)}


def image_message(typestore, array: np.ndarray, encoding: str, stamp: float | tuple[int, int], frame_id: str):
    """A ``sensor_msgs/msg/Image`` of ``array`` (HxW or HxWxC, little-endian).

    ``stamp``: seconds, or (sec, nanosec) as :func:`header_stamp` gives them, kept exactly.
    """
    Image = typestore.types[IMAGE]
    Header = typestore.types["std_msgs/msg/Header"]
    Time = typestore.types["builtin_interfaces/msg/Time"]
    if isinstance(stamp, tuple):
        sec, nanosec = stamp
    else:
        sec = int(np.floor(stamp))
        nanosec = min(int(round((stamp - sec) * 1e9)), 999_999_999)
    return Image(header=Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id), **image_fields(array, encoding))


class LabelBagWriter:
    """Class ids per frame as ``mono8`` images in a new ROS 2 bag, written beside and renamed when closed.

    The bag goes through acnet's one atomic-write path (:class:`acnet._io.AtomicOutput`):
    until :meth:`close` it is a hidden folder beside ``path``; a failure (a
    full disk, say) removes it and is an :class:`~acnet.errors.OutputError`
    naming ``path``. ``topic`` must be a valid absolute ROS 2 topic name.
    """

    def __init__(self, path: str | os.PathLike, topic: str = "/acnet/labels") -> None:
        _rosbags()
        from rosbags.rosbag2 import Writer  # optional (acnet[stream])

        self.topic = check_topic_name(topic, "labels bag topic", absolute=True)
        self.path = Path(path)
        self.writer = None
        if self.path.exists():
            raise ConfigError(f"labels bag {self.path} already exists (rosbags writes a new bag folder)")
        self.output = AtomicOutput(self.path, folder=True)
        self.typestore = image_typestore()
        with self.output.guard():
            self.writer = Writer(self.output.tmp, version=8)
            self.writer.open()
            self.connection = self.writer.add_connection(self.topic, IMAGE, typestore=self.typestore)
        self.count = 0

    def write(self, frame: Frame, labels: np.ndarray) -> None:
        header = frame.meta.get("header")
        if header is not None:
            stamp = header_stamp(header)
            stamp_ns = stamp[0] * 10**9 + stamp[1]
        else:
            stamp = frame.stamp
            stamp_ns = int(round(stamp * 1e9))
        frame_id = frame.meta.get("frame_id", "")
        msg = image_message(self.typestore, labels.astype(np.uint8, copy=False), "mono8", stamp, frame_id)
        log_time = frame.meta.get("log_time", stamp_ns)
        with self.output.guard(drop=self._drop):
            self.writer.write(self.connection, log_time, self.typestore.serialize_cdr(msg, IMAGE))
        self.count += 1

    def _drop(self) -> None:
        writer, self.writer = self.writer, None
        writer.close()

    def close(self, keep: bool = True) -> None:
        """Finish the bag (sqlite commits here: where a full disk shows) and move it to ``path`` (``keep``), or drop it."""
        if self.writer is None:
            return
        writer, self.writer = self.writer, None
        self.output.finish(writer.close, keep=keep)
