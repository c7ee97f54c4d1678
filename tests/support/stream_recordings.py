"""Real recordings for stream tests: RealSense files through librealsense, ROS bags through rosbags.

Frames are the six real NYUv2 samples (when ../shared is present) or
synthetic scenes. Nothing here imitates the libraries: recordings are made
with librealsense's own software device and recorder, bags with rosbags'
writers, and both are read back by the code under test.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest


def require(module: str):
    """Import a streaming dependency, or skip saying why it cannot be loaded here."""
    try:
        return __import__(module)
    except ImportError as exc:  # pyrealsense2 also fails like this without libusb-1.0-0
        pytest.skip(f"{module} cannot be loaded here ({exc}); pip install 'acnet[stream]' (and apt-get install libusb-1.0-0)")


def nyu_frames(shared_data: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, rgb uint8, depth uint16 millimetres) of the six real NYUv2 test frames."""
    from acnet.runtime.images import read_depth, read_rgb

    root = shared_data / "nyuv2-samples" / "test"
    names = sorted(p.stem for p in (root / "rgb").glob("*.png"))
    return [(n, read_rgb(root / "rgb" / f"{n}.png"), read_depth(root / "depth" / f"{n}.png")) for n in names]


@functools.lru_cache(maxsize=16)
def synthetic_frames(count: int, height: int = 48, width: int = 64, seed: int = 3) -> tuple[tuple[str, np.ndarray, np.ndarray], ...]:
    """(name, rgb uint8, depth float32 metres, at most 6.5 m) of procedural rooms with sensor holes.

    6.5 m keeps depth within 16 bits at 0.1 mm units. Cached: do not modify the arrays.
    """
    from acnet.training.data.synthetic import render_scene

    frames = []
    for i in range(count):
        rgb, depth, _ = render_scene((seed, 1, i), height, width)
        frames.append((f"syn{i}", rgb, np.minimum(depth, np.float32(6.5))))
    return tuple(frames)


def _intrinsics(rs, width: int, height: int, focal: float):
    intr = rs.intrinsics()
    intr.width, intr.height = width, height
    intr.ppx, intr.ppy = (width - 1) / 2, (height - 1) / 2
    intr.fx = intr.fy = focal
    intr.model = rs.distortion.none
    intr.coeffs = [0.0] * 5
    return intr


def record_realsense(path: Path, frames: list[tuple[np.ndarray, np.ndarray]], depth_scale: float, fps: int = 30,
                     streams: tuple[str, ...] = ("depth", "color"), color_scale: int = 1, compress: bool = True) -> Path:
    """Record (rgb uint8, depth uint16 units) pairs as a librealsense recording of a D400-like device.

    Two sensors ("Stereo Module" with the depth scale, "RGB Camera"), frames
    stamped 1/fps apart. With ``color_scale`` k the colour stream has k times
    the depth resolution (and focal length), so ``rs.align`` has work to do.
    The frames are pushed as fast as possible, as the issue's first try did.
    """
    rs = require("pyrealsense2")
    h, w = frames[0][1].shape
    device = rs.software_device()
    device.register_info(rs.camera_info.name, "acnet test D400")
    device.register_info(rs.camera_info.serial_number, "0000")
    depth_sensor = device.add_sensor("Stereo Module")
    color_sensor = device.add_sensor("RGB Camera")
    profiles = {}
    if "depth" in streams:
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid, vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = rs.stream.depth, 0, 0, w, h, fps, 2, rs.format.z16
        vs.intrinsics = _intrinsics(rs, w, h, 0.9 * w)
        profiles["depth"] = depth_sensor.add_video_stream(vs)
        depth_sensor.add_read_only_option(rs.option.depth_units, depth_scale)
    if "color" in streams:
        vs = rs.video_stream()
        cw, ch = w * color_scale, h * color_scale
        vs.type, vs.index, vs.uid, vs.width, vs.height, vs.fps, vs.bpp, vs.fmt = rs.stream.color, 0, 1, cw, ch, fps, 3, rs.format.rgb8
        vs.intrinsics = _intrinsics(rs, cw, ch, 0.9 * cw)
        profiles["color"] = color_sensor.add_video_stream(vs)
    if len(profiles) == 2:
        identity = rs.extrinsics()
        identity.rotation = [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]
        identity.translation = [0.0, 0.0, 0.0]
        profiles["depth"].register_extrinsics_to(profiles["color"], identity)
    device.create_matcher(rs.matchers.default)
    recorder = rs.recorder(str(path), device, compress)
    sensors = {"depth": depth_sensor, "color": color_sensor}
    queues = {}
    for name, profile in profiles.items():
        queues[name] = rs.frame_queue(len(frames) + 1)
        sensors[name].open(profile)
        sensors[name].start(queues[name])
    for i, (rgb, depth) in enumerate(frames):
        if color_scale > 1:
            rgb = np.repeat(np.repeat(rgb, color_scale, axis=0), color_scale, axis=1)
        for name, array, bpp in (("depth", depth, 2), ("color", rgb, 3)):
            if name not in profiles:
                continue
            f = rs.software_video_frame()
            f.pixels = np.ascontiguousarray(array)
            f.stride, f.bpp = array.shape[1] * bpp, bpp
            f.timestamp = 1000.0 * (i + 1) / fps
            f.domain = rs.timestamp_domain.hardware_clock
            f.frame_number = i
            f.profile = profiles[name].as_video_stream_profile()
            if name == "depth":
                f.depth_units = depth_scale
            sensors[name].on_video_frame(f)
    for name in profiles:
        sensors[name].stop()
        sensors[name].close()
    del recorder  # the file is complete once the recorder is gone
    return path


def to_units(depth_m: np.ndarray, scale: float) -> np.ndarray:
    """Float metres -> uint16 sensor units (0 stays 0), rounded to the nearest unit."""
    return np.clip(np.rint(depth_m / scale), 0, 65535).astype(np.uint16)


def image_msg(typestore, array, encoding: str, stamp: float | tuple[int, int], frame_id: str = "camera"):
    from acnet.runtime.sources.rosbag import image_message

    return image_message(typestore, array, encoding, stamp, frame_id)


def write_ros2_bag(path: Path, messages: list[tuple[str, object]], typestore=None) -> Path:
    """A ROS 2 bag of (topic, sensor_msgs/msg/Image) pairs, logged at their header stamps."""
    require("rosbags")
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    typestore = typestore or get_typestore(Stores.ROS2_HUMBLE)
    with Writer(path, version=8) as writer:
        connections = {}
        for topic, msg in messages:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, "sensor_msgs/msg/Image", typestore=typestore)
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            writer.write(connections[topic], stamp, typestore.serialize_cdr(msg, "sensor_msgs/msg/Image"))
    return path


def ros2_typestore():
    require("rosbags")
    from acnet.runtime.sources.rosbag import image_typestore

    return image_typestore()


def garble_bag_message(bag: Path, topic: str, index: int) -> Path:
    """Garble, in place, the ``index``-th message of ``topic`` in a ROS 2 ``.db3`` bag as a bad disk sector would.

    The message's data must span two or more sqlite overflow pages: the link from
    its first overflow page to the next is overwritten, so sqlite's own check
    ("database disk image is malformed") fails when that message is read, while
    the bag still opens (its index pages are whole) and the messages before it read.
    """
    import sqlite3

    db3 = next(Path(bag).glob("*.db3"))
    with sqlite3.connect(f"file:{db3}?mode=ro", uri=True) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        rows = [row for (row,) in db.execute(
            "SELECT m.id FROM messages m JOIN topics t ON t.id = m.topic_id WHERE t.name = ? ORDER BY m.id", (topic,))]
        try:  # the first overflow page of each message, in rowid order (cells are stored in rowid order)
            firsts = [page for _, page in sorted(db.execute(
                "SELECT path, pageno FROM dbstat WHERE name = 'messages' AND pagetype = 'overflow' "
                "AND path LIKE '%+000000'"))]
            overflowing = [row for (row,) in db.execute(
                "SELECT id FROM messages WHERE length(data) > ? ORDER BY id", (page_size // 2,))]
        except sqlite3.OperationalError as exc:  # this sqlite was built without the dbstat table
            pytest.skip(f"sqlite's dbstat table is not available here ({exc})")
    assert len(firsts) == len(overflowing), "every large message needs its own overflow chain"
    page = firsts[overflowing.index(rows[index])]
    with open(db3, "r+b") as fh:
        fh.seek((page - 1) * page_size)
        fh.write(b"\x7f\xff\xff\xff")  # the next overflow page: far past the end of the file
    return bag
