"""Intel RealSense cameras and their recordings, through librealsense (pyrealsense2).

Depth is aligned to colour with librealsense's own ``rs.align`` (skipped
when the recorded streams are already registered: equal intrinsics and an
identity transform, where it would only resample). Depth stays in the
device's units: ``Frame.depth_scale`` is the depth sensor's depth scale.

Recordings are played back *not* in real time. Through ``rs.pipeline``,
playback starts in real time before ``set_real_time(False)`` can be called,
and a real-time player delivers frames by their recorded arrival times into
per-stream queues of one frame that drop the rest; the pipeline's syncer
also hands out framesets missing a stream. That is why a recording pushed
faster than its frame rate (a software device, a busy recorder) comes back
short. Here the device is loaded from the file with real time off before any
sensor starts, and paused while the sensors start (a frame read for a sensor
not yet started is discarded), so librealsense blocks on our queue instead of
dropping; colour and depth are paired by timestamp here. Every recorded
frameset comes out once, in order (all frames are in the file: the recorder
writes each one as it arrives).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from acnet.errors import BackendUnavailableError, InputError
from acnet.runtime.sources.base import Frame, Source
from acnet.runtime.sources.pairing import StampPairer

log = logging.getLogger(__name__)

RECORDING_SUFFIXES = (".db3", ".bag")
#: Colour formats we can turn into RGB, and how.
COLOR_FORMATS = ("rgb8", "bgr8", "rgba8", "bgra8")


def _rs():
    try:
        import pyrealsense2 as rs  # optional (acnet[stream]): only RealSense sources load it
    except ImportError as exc:  # the wheel exists for x86_64 and aarch64 Linux, Windows, macOS
        raise BackendUnavailableError(
            f"RealSense sources need pyrealsense2 (pip install 'acnet[stream]'; on Linux also Debian's libusb-1.0-0): {exc}"
        ) from None
    return rs


def _to_rgb(frame, fmt: str) -> np.ndarray:
    data = np.asanyarray(frame.get_data())
    if fmt == "rgb8":
        return data.copy()
    if fmt == "bgr8":
        return np.ascontiguousarray(data[..., ::-1])
    if fmt == "rgba8":
        return np.ascontiguousarray(data[..., :3])
    return np.ascontiguousarray(data[..., 2::-1])  # bgra8


def _registered(depth_profile, color_profile) -> bool:
    """True when depth pixels already are colour pixels: same intrinsics, identity extrinsics."""
    a = depth_profile.as_video_stream_profile().get_intrinsics()
    b = color_profile.as_video_stream_profile().get_intrinsics()
    same = (a.width, a.height, a.fx, a.fy, a.ppx, a.ppy, a.model, list(a.coeffs)) == (
        b.width, b.height, b.fx, b.fy, b.ppx, b.ppy, b.model, list(b.coeffs))
    if not same:
        return False
    ext = depth_profile.get_extrinsics_to(color_profile)
    return np.allclose(ext.rotation, np.eye(3).ravel(), atol=1e-7) and np.allclose(ext.translation, 0, atol=1e-7)


class _Aligner:
    """Depth-to-colour alignment of one (depth, colour) pair with ``rs.align``."""

    def __init__(self, rs) -> None:
        self.rs = rs
        self.align = rs.align(rs.stream.color)
        self.frames = rs.frame_queue(2, keep_frames=True)
        self.held: list = []
        self.join = rs.processing_block(self._join)
        self.join.start(self.frames)

    def _join(self, frame, source) -> None:
        self.held.append(frame)
        if len(self.held) == 2:
            source.frame_ready(source.allocate_composite_frame(self.held))
            self.held = []

    def __call__(self, depth, color):
        self.join.invoke(depth)
        self.join.invoke(color)
        frameset = self.frames.wait_for_frame(5000).as_frameset()
        return self.align.process(frameset)


def _frame_from(rs, depth, color, color_fmt: str, seq: int, aligner, received: float) -> Frame:
    if aligner is not None:
        aligned = aligner(depth, color)
        depth, color = aligned.get_depth_frame(), aligned.get_color_frame()
    depth_raw = np.asanyarray(depth.get_data()).copy()
    rgb = _to_rgb(color, color_fmt)
    if depth_raw.shape != rgb.shape[:2]:
        raise InputError(f"RealSense depth is {depth_raw.shape[0]}x{depth_raw.shape[1]} but colour is {rgb.shape[0]}x{rgb.shape[1]} after alignment")
    meta = {
        "color_frame_number": int(color.get_frame_number()),
        "depth_frame_number": int(depth.get_frame_number()),
        "timestamp_domain": str(color.get_frame_timestamp_domain()),
    }
    return Frame(rgb, depth_raw, float(depth.as_depth_frame().get_units()), color.get_timestamp() / 1000.0, seq,
                 f"{seq:06d}", received, meta)


class RealSenseRecording(Source):
    """Every frameset of a ``.db3`` (librealsense >= 2.55) or ``.bag`` recording, in order."""

    live = False
    #: Frames librealsense may hand us before we take them (it blocks beyond).
    QUEUE = 4

    def __init__(self, path: str) -> None:
        rs = _rs()
        self.rs = rs
        self.path = Path(path)
        self.spec = f"realsense:{path}"
        if not self.path.exists():
            raise InputError(f"RealSense recording {self.path} not found")
        if self.path.suffix.lower() not in RECORDING_SUFFIXES:
            raise InputError(f"{self.path} is not a RealSense recording (expected a .db3 or .bag file)")
        self.context = rs.context()
        try:
            self.device = self.context.load_device(str(self.path))
        except RuntimeError as exc:
            raise InputError(f"{self.path} is not a readable RealSense recording ({str(exc).strip() or 'librealsense refused it'})") from None
        self.playback = self.device.as_playback()
        self.playback.set_real_time(False)
        self.depth_profile = self.color_profile = None
        self.depth_scale = None
        self.sensors = []
        topics = {}  # where the recording keeps each chosen stream's images
        for number, sensor in enumerate(self.device.query_sensors()):
            chosen = []
            for p in sensor.get_stream_profiles():
                if p.stream_type() == rs.stream.depth and p.format() == rs.format.z16 and self.depth_profile is None:
                    self.depth_profile = p
                    chosen.append(p)
                    topics["depth"] = f"sensor_{number}/{p.stream_name()}_{p.stream_index()}/image/data"
                    if sensor.is_depth_sensor():
                        self.depth_scale = sensor.as_depth_sensor().get_depth_scale()
                elif p.stream_type() == rs.stream.color and self.color_profile is None:
                    self.color_profile = p
                    chosen.append(p)
                    topics["rgb"] = f"sensor_{number}/{p.stream_name()}_{p.stream_index()}/image/data"
            if chosen:
                self.sensors.append((sensor, chosen))
        for what, profile in (("depth", self.depth_profile), ("colour", self.color_profile)):
            if profile is None:
                raise InputError(f"RealSense recording {self.path} has no {what} stream")
        self.color_format = str(self.color_profile.format()).rsplit(".", 1)[-1]
        if self.color_format not in COLOR_FORMATS:
            raise InputError(f"RealSense recording {self.path}: colour format {self.color_format} is not supported (use {', '.join(COLOR_FORMATS)})")
        self.registered = _registered(self.depth_profile, self.color_profile)
        fps = max(1, min(self.depth_profile.fps(), self.color_profile.fps()))
        self.tolerance_ms = 500.0 / fps  # half a frame interval
        #: Frames the file holds per stream ("rgb", "depth"), to tell a recording cut short; None when unknown.
        self.recorded = recorded_frames(self.path, topics)
        self._frames: queue.Queue = queue.Queue(self.QUEUE)
        self._closing = threading.Event()
        self._started = False

    def _on_frame(self, frame) -> None:
        frame.keep()
        while not self._closing.is_set():
            try:
                self._frames.put(frame, timeout=0.1)  # blocking: the player waits for us
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[Frame]:
        rs = self.rs
        if self._started:
            raise InputError(f"{self.path}: a recording source plays once; open it again to replay")
        self._started = True
        # Paused while the sensors start: a frame for a sensor not yet started would be discarded.
        self.playback.pause()
        for sensor, profiles in self.sensors:
            sensor.open(profiles)
            sensor.start(self._on_frame)
        self.playback.resume()
        pairer = StampPairer(self.tolerance_ms)
        aligner = None if self.registered else _Aligner(rs)
        seq = 0
        idle_since = None
        while True:
            try:
                frame = self._frames.get(timeout=0.05)
            except queue.Empty:
                if self.playback.current_status() == rs.playback_status.stopped:
                    # The player stops after dispatching; give its threads a moment to hand over the last frames.
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > 0.5:
                        break
                continue
            idle_since = None
            stream = "depth" if frame.profile.stream_type() == rs.stream.depth else "rgb"
            for color, depth in pairer.push(stream, frame.get_timestamp(), frame):
                yield _frame_from(rs, depth, color, self.color_format, seq, aligner, time.perf_counter())
                seq += 1
        pairer.finish()
        self.unpaired = dict(pairer.unpaired)
        read = {stream: seq + self.unpaired[stream] for stream in ("rgb", "depth")}
        if self.recorded is not None and any(read[s] < self.recorded.get(s, 0) for s in read):
            # librealsense logs a read error and ends the playback early, as if the file ended there
            raise InputError(
                f"RealSense recording {self.path} is damaged: frame {seq} cannot be read ({read['rgb']} of "
                f"{self.recorded['rgb']} colour and {read['depth']} of {self.recorded['depth']} depth frames read)")
        if seq == 0:
            raise InputError(f"RealSense recording {self.path} holds no colour/depth frame pairs")
        if any(self.unpaired.values()):
            log.warning("%s: %d colour and %d depth frame(s) without a partner within %.1f ms were skipped",
                        self.path, self.unpaired["rgb"], self.unpaired["depth"], self.tolerance_ms)

    def close(self) -> None:
        self._closing.set()
        for sensor, _ in getattr(self, "sensors", []):
            try:
                sensor.stop()
                sensor.close()
            except RuntimeError:
                pass  # never started
        self.sensors = []


def recorded_frames(path: Path, topics: dict[str, str]) -> dict[str, int] | None:
    """How many images a recording holds for each of ``topics`` (stream -> "sensor_N/Name_I/image/data"),
    counted from the file itself; None where it cannot tell (a ``.bag`` without rosbags, an unreadable index)."""
    counts: dict[str, int] = {}
    try:
        if path.suffix.lower() == ".db3":  # librealsense >= 2.55: a ROS 2 sqlite bag without metadata.yaml
            import sqlite3

            with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)) as db:
                rows = db.execute("SELECT t.name, count(*) FROM messages m JOIN topics t ON t.id = m.topic_id "
                                  "GROUP BY t.name").fetchall()
        else:  # ROS 1 bag
            from rosbags.rosbag1 import Reader

            with Reader(path) as reader:
                rows = [(c.topic, c.msgcount) for c in reader.connections]
    except Exception:  # noqa: BLE001 - librealsense opened it; without a count it plays as before
        return None
    for stream, topic in topics.items():
        counts[stream] = sum(n for name, n in rows if _is_image_topic(name, topic))
    return counts


def _is_image_topic(name: str, topic: str) -> bool:
    """``/device_0/sensor_1/Color_0/image/data`` (or its ``/compressed`` form) is ``sensor_1/Color_0/image/data``."""
    head, _, rest = name.partition(f"/{topic}")
    return head.startswith("/device_") and "/" not in head[1:] and rest in ("", "/compressed", "/compressedDepth")


class RealSenseCamera(Source):
    """A live camera through ``rs.pipeline``: colour RGB8 and Z16 depth aligned to colour."""

    live = True

    def __init__(self, serial: str | None = None, width: int = 640, height: int = 480, fps: int = 30) -> None:
        rs = _rs()
        self.rs = rs
        self.spec = "realsense" + (f"?serial={serial}" if serial else "")
        devices = list(rs.context().query_devices())
        if not devices:
            raise InputError("no RealSense camera is connected (for a recording use realsense:FILE.db3)")
        serials = [d.get_info(rs.camera_info.serial_number) for d in devices]
        if serial is not None and serial not in serials:
            raise InputError(f"no RealSense camera with serial {serial} is connected (connected: {', '.join(serials)})")
        self.pipeline = rs.pipeline()
        config = rs.config()
        if serial:
            config.enable_device(serial)
        config.enable_stream(rs.stream.depth, width, height, rs.format.z16, fps)
        config.enable_stream(rs.stream.color, width, height, rs.format.rgb8, fps)
        try:
            profile = self.pipeline.start(config)
        except RuntimeError as exc:
            raise InputError(f"RealSense camera {serial or serials[0]} cannot stream {width}x{height} at {fps} fps ({exc})") from None
        self.depth_scale = profile.get_device().first_depth_sensor().get_depth_scale()
        self.align = rs.align(rs.stream.color)

    def __iter__(self) -> Iterator[Frame]:
        seq = 0
        while True:
            try:
                frameset = self.pipeline.wait_for_frames(5000)
            except RuntimeError as exc:
                raise InputError(f"RealSense camera stopped delivering frames ({exc})") from None
            received = time.perf_counter()
            aligned = self.align.process(frameset)
            depth, color = aligned.get_depth_frame(), aligned.get_color_frame()
            if not depth or not color:
                continue
            yield _frame_from(self.rs, depth, color, "rgb8", seq, None, received)
            seq += 1

    def close(self) -> None:
        try:
            self.pipeline.stop()
        except RuntimeError:
            pass
