"""Streaming: RealSense recordings and ROS bags made from real frames, played through `acnet stream`.

Every frame must come out, in order, with the labels ``Segmenter.segment``
gives on the same frame and the depth the recording holds.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from support.installed import assert_one_line_error, run_acnet
from support.runtime_models import frame, make_onnx
from support.stream_recordings import (
    image_msg,
    nyu_frames,
    record_realsense,
    require,
    ros2_typestore,
    synthetic_frames,
    to_units,
    write_ros2_bag,
)

from acnet.errors import ConfigError, InputError
from acnet.runtime import Segmenter
from acnet.runtime.images import read_depth, read_rgb, write_png
from acnet.runtime.pipeline import Pipeline
from acnet.runtime.sources import Frame, Source, SourceSpec, open_source
from acnet.runtime.sources.pairing import StampPairer


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_onnx(tmp_path_factory.mktemp("stream") / "tiny.onnx")


@pytest.fixture(scope="module")
def seg(model):
    with Segmenter(model) as s:
        yield s


def read_labels(folder):
    from PIL import Image

    return [(p.stem, np.asarray(Image.open(p))) for p in sorted((folder / "labels").glob("*.png"))]


def check_stream_output(out, seg, frames, depth_scale):
    """labels/NAME.png for every frame in order, equal to segment() on the source frame."""
    labels = read_labels(out)
    assert [name for name, _ in labels] == [f"{i:06d}" for i in range(len(frames))]
    for (name, got), (rgb, depth) in zip(labels, frames):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, seg.segment(rgb, depth, depth_scale), err_msg=name)


# --------------------------------------------------------------------------- RealSense recordings


def test_realsense_recording_of_real_nyuv2_frames_plays_every_frame(shared_data, model, seg, tmp_path):
    require("pyrealsense2")
    frames = [(rgb, depth) for _, rgb, depth in nyu_frames(shared_data)]  # uint16 millimetres, 480x640
    rec = record_realsense(tmp_path / "nyu.db3", frames, depth_scale=0.001)
    out = tmp_path / "out"
    proc = run_acnet("stream", model, "--source", f"realsense:{rec}", "-o", out, "--json", out / "stream.json")
    assert proc.returncode == 0, proc.stderr
    check_stream_output(out, seg, frames, 0.001)
    record = json.loads((out / "stream.json").read_text())
    assert record["frames"] == 6 and record["dropped"] == 0 and record["drop"] == "none"
    for stage in ("capture", "preprocess", "inference", "postprocess"):
        assert set(record["stages_ms"][stage]) >= {"median", "p90", "p99"}
    assert record["end_to_end_ms"]["median"] > 0
    assert "frames/s" in proc.stdout and "end to end" in proc.stdout
    import av

    with av.open(str(out / "overlay.mp4")) as video:
        decoded = [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
    assert len(decoded) == 6 and decoded[0].shape == (480, 640, 3)
    # The overlay shows the image under the colours: close to segment()'s overlay after H.264.
    expected = seg.overlay(frames[0][0], seg.segment(*frames[0], 0.001))
    assert np.abs(decoded[0].astype(int) - expected).mean() < 8

    # The source itself hands back the recorded depth in the device's units, exactly.
    with open_source(f"realsense:{rec}") as source:
        got = list(source)
    assert [f.seq for f in got] == list(range(6))
    for f, (rgb, depth) in zip(got, frames):
        assert f.depth_scale == pytest.approx(0.001)
        np.testing.assert_array_equal(f.rgb, rgb)
        np.testing.assert_array_equal(f.depth, depth)
    assert np.diff([f.stamp for f in got]) == pytest.approx(1 / 30, abs=1e-6)


def test_realsense_recording_of_synthetic_scenes_in_tenth_millimetres(model, seg, tmp_path):
    """A depth unit other than millimetres (as a D405 uses) comes from the device, not a guess."""
    require("pyrealsense2")
    scale = 0.0001
    frames = [(rgb, to_units(depth, scale)) for _, rgb, depth in synthetic_frames(5)]
    rec = record_realsense(tmp_path / "syn.db3", frames, depth_scale=scale, fps=15, compress=False)
    proc = run_acnet("stream", model, "--source", f"realsense:{rec}", "-o", tmp_path / "out", "--no-video")
    assert proc.returncode == 0, proc.stderr
    check_stream_output(tmp_path / "out", seg, frames, scale)
    with open_source(f"realsense:{rec}") as source:
        got = []
        for result in Pipeline(seg, source, queue_size=1):
            got.append(result)
            time.sleep(0.05)  # a slow reader: librealsense must wait, not drop, up to the last frame
    assert [r.frame.seq for r in got] == list(range(5))
    assert [r.frame.meta["depth_frame_number"] for r in got] == list(range(5))
    for r, (rgb, units), (_, _, metres) in zip(got, frames, synthetic_frames(5)):
        assert r.frame.depth_scale == pytest.approx(scale)
        # Depth in metres equals the scene's within half a unit.
        assert np.abs(r.frame.depth * r.frame.depth_scale - metres).max() <= scale / 2 + 1e-6
        np.testing.assert_array_equal(r.labels, seg.segment(rgb, units, scale))
        assert r.latency >= sum(r.times[s] for s in ("preprocess", "inference", "postprocess"))


def test_realsense_depth_is_aligned_to_colour_with_rs_align(tmp_path):
    """Colour at twice the depth resolution: depth comes out at the colour's size, values from the depth image."""
    require("pyrealsense2")
    frames = [(rgb, to_units(depth, 0.001)) for _, rgb, depth in synthetic_frames(3, 24, 32)]
    rec = record_realsense(tmp_path / "twice.db3", frames, depth_scale=0.001, color_scale=2)
    with open_source(f"realsense:{rec}") as source:
        assert not source.registered
        got = list(source)
    assert len(got) == 3
    for f, (_, depth) in zip(got, frames):
        assert f.rgb.shape == (48, 64, 3) and f.depth.shape == (48, 64)
        assert set(np.unique(f.depth)) <= set(np.unique(depth)) | {0}
        assert (f.depth > 0).mean() > 0.8


# --------------------------------------------------------------------------- ROS bags


#: Header stamps of today's epoch, to the nanosecond: as float seconds they would lose the last digits.
NYU_STAMPS = [(1_764_000_000 + i, 123_456_789 + 100_000_001 * i) for i in range(6)]


def nyu_bag(path, frames, rgb_encoding="rgb8", offset_ns=2_000_000):
    ts = ros2_typestore()
    messages = []
    for (sec, nanosec), (rgb, depth) in zip(NYU_STAMPS, frames):
        colour = {"rgb8": rgb, "bgr8": rgb[..., ::-1]}[rgb_encoding]
        messages.append(("/camera/color/image_raw", image_msg(ts, colour, rgb_encoding, (sec, nanosec), "camera_color_optical_frame")))
        messages.append(("/camera/depth/image_rect_raw",
                         image_msg(ts, depth, "16UC1", (sec, nanosec + offset_ns), "camera_color_optical_frame")))
    return write_ros2_bag(path, messages, ts)


def test_ros2_bag_of_real_nyuv2_frames_and_labels_written_back(shared_data, model, seg, tmp_path):
    require("rosbags")
    frames = [(rgb, depth) for _, rgb, depth in nyu_frames(shared_data)]
    bag = nyu_bag(tmp_path / "nyu_bag", frames, "bgr8")
    out, labels_bag = tmp_path / "out", tmp_path / "labels_bag"
    spec = f"rosbag:{bag}?rgb=/camera/color/image_raw&depth=/camera/depth/image_rect_raw"
    proc = run_acnet("stream", model, "--source", spec, "-o", out, "--no-video", "--labels-bag", labels_bag)
    assert proc.returncode == 0, proc.stderr
    check_stream_output(out, seg, frames, 0.001)
    assert not (out / "overlay.mp4").exists()

    from rosbags.highlevel import AnyReader

    with AnyReader([labels_bag]) as reader:
        msgs = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages()]
    assert len(msgs) == 6
    for i, (msg, (rgb, depth)) in enumerate(zip(msgs, frames)):
        assert msg.encoding == "mono8" and msg.header.frame_id == "camera_color_optical_frame"
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == NYU_STAMPS[i]  # the colour image's, exactly
        got = np.asarray(msg.data, np.uint8).reshape(msg.height, msg.width)
        np.testing.assert_array_equal(got, seg.segment(rgb, depth, 0.001))


def test_ros2_bag_of_synthetic_scenes_in_float_metres_through_stream(model, seg, tmp_path):
    require("rosbags")
    ts = ros2_typestore()
    scenes = synthetic_frames(5)
    messages = []
    for i, (_, rgb, metres) in enumerate(scenes):
        holes = metres.copy()
        holes[metres == 0] = np.nan  # 32FC1 marks no reading with NaN
        messages += [("/rgb", image_msg(ts, rgb, "rgb8", 3.0 + i / 15)), ("/depth", image_msg(ts, holes, "32FC1", 3.0 + i / 15))]
    bag = write_ros2_bag(tmp_path / "syn_bag", messages, ts)
    proc = run_acnet("stream", model, "--source", f"rosbag:{bag}?rgb=/rgb&depth=/depth", "-o", tmp_path / "out", "--no-video")
    assert proc.returncode == 0, proc.stderr
    check_stream_output(tmp_path / "out", seg, [(rgb, metres) for _, rgb, metres in scenes], None)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
def test_bag_colour_encodings(encoding, tmp_path):
    require("rosbags")
    ts = ros2_typestore()
    (_, rgb, depth), = synthetic_frames(1, 6, 8)
    alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
    grey = rgb[..., 1]
    stored = {"rgb8": rgb, "bgr8": rgb[..., ::-1], "rgba8": np.concatenate([rgb, alpha], 2),
              "bgra8": np.concatenate([rgb[..., ::-1], alpha], 2), "mono8": grey}[encoding]
    bag = write_ros2_bag(tmp_path / "b", [("/rgb", image_msg(ts, stored, encoding, 1.0)),
                                          ("/depth", image_msg(ts, to_units(depth, 0.001), "16UC1", 1.0))], ts)
    with open_source(f"rosbag:{bag}?rgb=/rgb&depth=/depth") as source:
        (frame,) = list(source)
    want = np.repeat(grey[..., None], 3, 2) if encoding == "mono8" else rgb
    np.testing.assert_array_equal(frame.rgb, want)


def test_bag_float_metres_nan_becomes_no_reading_and_ros1_bags_read(seg, tmp_path):
    require("rosbags")
    from rosbags.rosbag1 import Writer as Ros1Writer
    from rosbags.typesys import Stores, get_typestore

    ts = ros2_typestore()
    (_, rgb, metres), = synthetic_frames(1)
    metres = metres.copy()
    metres[:4, :4] = np.nan
    bag = write_ros2_bag(tmp_path / "float", [("/rgb", image_msg(ts, rgb, "rgb8", 5.0)),
                                              ("/depth", image_msg(ts, metres, "32FC1", 5.0))], ts)
    with open_source(f"rosbag:{bag}?rgb=/rgb&depth=/depth") as source:
        (result,) = list(Pipeline(seg, source))
    depth = result.frame.depth
    assert depth.dtype == np.float32 and result.frame.depth_scale == 1.0
    assert not np.isnan(depth).any() and (depth[:4, :4] == 0).all()
    np.testing.assert_array_equal(depth[4:], metres[4:])
    np.testing.assert_array_equal(result.labels, seg.segment(rgb, np.nan_to_num(metres, nan=0.0)))

    # The same frame in a ROS 1 bag, depth as 16UC1 millimetres.
    ts1 = get_typestore(Stores.ROS1_NOETIC)
    Image, Header, Time = (ts1.types[k] for k in ("sensor_msgs/msg/Image", "std_msgs/msg/Header", "builtin_interfaces/msg/Time"))
    mm = to_units(np.nan_to_num(metres, nan=0.0), 0.001)
    with Ros1Writer(tmp_path / "old.bag") as writer:
        for topic, array, enc, step in (("/rgb", rgb, "rgb8", rgb.shape[1] * 3), ("/depth", mm, "16UC1", mm.shape[1] * 2)):
            conn = writer.add_connection(topic, "sensor_msgs/msg/Image", typestore=ts1)
            msg = Image(header=Header(seq=0, stamp=Time(sec=5, nanosec=0), frame_id="cam"), height=array.shape[0],
                        width=array.shape[1], encoding=enc, is_bigendian=0, step=step, data=array.reshape(-1).view(np.uint8))
            writer.write(conn, 5_000_000_000, ts1.serialize_ros1(msg, "sensor_msgs/msg/Image"))
    with open_source(f"rosbag:{tmp_path / 'old.bag'}?rgb=/rgb&depth=/depth") as source:
        (frame,) = list(source)
    np.testing.assert_array_equal(frame.depth, mm)
    assert frame.depth_scale == 0.001 and frame.meta["frame_id"] == "cam"


def test_rgb_and_depth_are_paired_by_header_stamp(tmp_path):
    require("rosbags")
    ts = ros2_typestore()
    scenes = synthetic_frames(4, 6, 8)
    # depth 5 ms late; rgb 2 has no depth; an extra depth far from any rgb; depth logged before rgb at 3.
    msgs = []
    for i, (_, rgb, metres) in enumerate(scenes):
        t = 10.0 + i / 30
        if i == 3:
            msgs.append(("/depth", image_msg(ts, to_units(metres, 0.001), "16UC1", t + 0.005)))
        msgs.append(("/rgb", image_msg(ts, rgb, "rgb8", t)))
        if i not in (2, 3):
            msgs.append(("/depth", image_msg(ts, to_units(metres, 0.001), "16UC1", t + 0.005)))
    msgs.append(("/depth", image_msg(ts, to_units(scenes[0][2], 0.001), "16UC1", 20.0)))
    bag = write_ros2_bag(tmp_path / "pairs", msgs, ts)
    with open_source(f"rosbag:{bag}?rgb=/rgb&depth=/depth&tolerance=0.01") as source:
        frames = list(source)
        assert source.unpaired == {"rgb": 1, "depth": 1}
    assert [f.stamp for f in frames] == pytest.approx([10.0, 10.0 + 1 / 30, 10.1])
    for f, i in zip(frames, (0, 1, 3)):
        np.testing.assert_array_equal(f.rgb, scenes[i][1])
        np.testing.assert_array_equal(f.depth, to_units(scenes[i][2], 0.001))
        assert f.meta["depth_stamp"] == pytest.approx(f.stamp + 0.005)
    with pytest.raises(InputError, match="tolerance"):
        with open_source(f"rosbag:{bag}?rgb=/rgb&depth=/depth&tolerance=0.001") as source:
            list(source)


def test_stamp_pairer_takes_the_nearest_partner():
    pairer = StampPairer(0.02)
    assert pairer.push("rgb", 1.000, "r1") == []
    assert pairer.push("rgb", 1.010, "r2") == []
    assert pairer.push("depth", 1.009, "d1") == [("r2", "d1")]  # r1 is further from d1 than r2
    assert pairer.unpaired == {"rgb": 1, "depth": 0}


# --------------------------------------------------------------------------- stills, live sources, dropping


def test_folder_and_glob_sources_replay_stills_in_order(shared_data, seg):
    root = shared_data / "nyuv2-samples"
    with open_source(f"glob:{root}/test/rgb/*.png?depth={root}/test/depth/*.png") as source:
        assert [name for name, _, _ in source.pairs] == ["0001", "0002", "0009", "0014", "0015", "0433"]
    with open_source(f"folder:{root}?split=test") as source:
        results = list(Pipeline(seg, source, overlay=0.5))
    assert [r.frame.name for r in results] == ["0001", "0002", "0009", "0014", "0015", "0433"]
    for r in results:
        rgb, depth = read_rgb(root / "test/rgb" / f"{r.frame.name}.png"), read_depth(root / "test/depth" / f"{r.frame.name}.png")
        np.testing.assert_array_equal(r.labels, seg.segment(rgb, depth))
        np.testing.assert_array_equal(r.overlay, seg.overlay(rgb, r.labels, 0.5))


class Camera(Source):
    """A live-like source: frames on its own clock at ``fps``, whether or not anyone keeps up."""

    live = True

    def __init__(self, count: int, fps: float) -> None:
        (_, self.rgb, self.depth), = synthetic_frames(1)
        self.count, self.period = count, 1.0 / fps

    def __iter__(self):
        start = time.perf_counter()
        for i in range(self.count):
            time.sleep(max(0.0, start + i * self.period - time.perf_counter()))
            yield Frame(self.rgb, self.depth, 1.0, i * self.period, i, f"{i:06d}")


@pytest.mark.parametrize("policy", ["oldest", "newest", "none"])
def test_live_source_drops_stale_frames(policy, seg):
    camera = Camera(60, fps=400)
    pipeline = Pipeline(seg, camera, queue_size=1, drop=None if policy == "oldest" else policy)
    assert pipeline.drop == policy
    seqs = []
    for result in pipeline:
        seqs.append(result.frame.seq)
        time.sleep(0.02)  # a reader slower than the camera
    stats = pipeline.stats()
    assert seqs == sorted(set(seqs))  # in order, never twice
    assert stats.frames == len(seqs)
    if policy == "none":
        assert seqs == list(range(60)) and stats.dropped == 0
    else:
        assert stats.dropped > 20 and stats.dropped + len(seqs) == 60
        if policy == "oldest":  # the newest frame always waits, so the last frame is processed
            assert seqs[-1] == 59
        else:  # "newest" turns arrivals away while the queue is full: the first frame is always kept
            assert seqs[0] == 0


def test_recording_is_never_dropped_even_when_the_reader_is_slow(seg):
    camera = Camera(12, fps=1000)
    camera.live = False
    pipeline = Pipeline(seg, camera, queue_size=1)
    seqs = []
    for r in pipeline:
        seqs.append(r.frame.seq)
        time.sleep(0.01)
    assert seqs == list(range(12)) and pipeline.stats().dropped == 0


def test_errors_in_a_stage_reach_the_reader_and_threads_stop(seg):
    class Broken(Source):
        def __iter__(self):
            (_, rgb, depth), = synthetic_frames(1)
            yield Frame(rgb, depth, 1.0, 0.0, 0, "ok")
            yield Frame(rgb, depth[:10], 1.0, 1.0, 1, "bad")

    pipeline = Pipeline(seg, Broken())
    with pytest.raises(InputError, match="depth"):
        list(pipeline)
    assert not any(t.is_alive() for t in pipeline._threads)
    # A reader that stops early stops the threads too.
    pipeline = Pipeline(seg, Camera(1000, fps=2000))
    for _ in pipeline:
        break
    assert not any(t.is_alive() for t in pipeline._threads)
    assert threading.active_count() < 20


class Recording(Source):
    """Frames held in memory, handed over as fast as asked: a recording."""

    def __init__(self, count: int, bad: int | None = None) -> None:
        (_, self.rgb, self.depth), = synthetic_frames(1)
        self.count, self.bad = count, bad

    def __iter__(self):
        for i in range(self.count):
            depth = self.depth[:10] if i == self.bad else self.depth
            yield Frame(self.rgb, depth, 1.0, float(i), i, f"{i:06d}")


class Jittery:
    """The real Segmenter's steps, each slowed by a random few ms, noting which thread ran it."""

    def __init__(self, seg) -> None:
        self.seg, self.rng, self.threads = seg, np.random.default_rng(0), {}

    def _step(self, name, key, fn, *args):
        time.sleep(float(self.rng.uniform(0, 0.004)))
        self.threads.setdefault(key, {})[name] = threading.get_ident()
        return fn(*args)

    def preprocess(self, rgb, depth, scale):
        return self._step("preprocess", id(rgb), self.seg.preprocess, rgb, depth, scale) + (id(rgb),)

    def infer(self, inputs):
        (rgb, depth, key), = inputs
        return [(self._step("inference", key, self.seg.infer, [(rgb, depth)])[0], key)]

    def postprocess(self, out, h, w):
        logits, key = out
        return self._step("postprocess", key, self.seg.postprocess, logits, h, w)


def test_frames_keep_their_order_and_each_runs_its_steps_in_one_thread(seg):
    """Steps overlap, frames never overtake each other, and no frame is handed between threads inside the pipeline."""
    frames = [(f"{i}", rgb, depth) for i, (_, rgb, depth) in enumerate(synthetic_frames(4))] * 3
    jitter = Jittery(seg)

    class Many(Source):
        def __iter__(self):
            for i, (_, rgb, depth) in enumerate(frames):
                yield Frame(rgb.copy(), depth, 1.0, float(i), i, f"{i:06d}")  # a copy: its own id()

    results = list(Pipeline(jitter, Many()))
    assert [r.frame.seq for r in results] == list(range(len(frames)))
    for r, (_, rgb, depth) in zip(results, frames):
        np.testing.assert_array_equal(r.labels, seg.segment(rgb, depth, 1.0))
    steps = list(jitter.threads.values())
    assert len(steps) == len(frames) and all(len(set(s.values())) == 1 and len(s) == 3 for s in steps)
    assert len({next(iter(s.values())) for s in steps}) > 1  # several workers took turns


def test_an_error_comes_after_every_frame_before_it(seg):
    seqs = []
    with pytest.raises(InputError, match="depth"):
        for result in Pipeline(seg, Recording(8, bad=5)):
            seqs.append(result.frame.seq)
    assert seqs == [0, 1, 2, 3, 4]


def test_source_specs_are_validated():
    assert SourceSpec.parse("realsense?serial=123&fps=15").options == {"serial": "123", "fps": "15"}
    for bad, fragment in (("webcam:0", "unknown source spec"), ("rosbag:x?rgb=/a&foo=1", "unknown option 'foo'"),
                          ("realsense:a.db3?fps=30", "live camera"), ("folder:", "needs a path")):
        with pytest.raises(ConfigError, match=fragment):
            SourceSpec.parse(bad)
    with pytest.raises(ConfigError, match="fps must be positive"):
        open_source("realsense?fps=0")
    with pytest.raises(ConfigError, match="drop"):
        Pipeline(None, Camera(1, 1), drop="sometimes")


# --------------------------------------------------------------------------- bad input, as users meet it


@pytest.mark.slow
def test_bad_inputs_are_one_line_errors(model, tmp_path):
    require("pyrealsense2")
    require("rosbags")
    ts = ros2_typestore()
    (_, rgb, metres), = synthetic_frames(1, 6, 8)
    colour_only = record_realsense(tmp_path / "colour_only.db3", [(rgb, to_units(metres, 0.001))], 0.001, streams=("color",))
    depth_only = record_realsense(tmp_path / "depth_only.db3", [(rgb, to_units(metres, 0.001))], 0.001, streams=("depth",))
    garbage = tmp_path / "garbage.db3"
    garbage.write_bytes(b"SQLite format 3\x00 but not really")
    good = write_ros2_bag(tmp_path / "good", [("/rgb", image_msg(ts, rgb, "rgb8", 1.0)),
                                             ("/depth", image_msg(ts, to_units(metres, 0.001), "16UC1", 1.0))], ts)
    yuv = write_ros2_bag(tmp_path / "yuv", [("/rgb", image_msg(ts, rgb[..., :2], "yuv422", 1.0)),
                                            ("/depth", image_msg(ts, to_units(metres, 0.001), "16UC1", 1.0))], ts)
    depth8 = write_ros2_bag(tmp_path / "depth8", [("/rgb", image_msg(ts, rgb, "rgb8", 1.0)),
                                                  ("/depth", image_msg(ts, rgb[..., 0], "mono8", 1.0))], ts)
    sizes = write_ros2_bag(tmp_path / "sizes", [("/rgb", image_msg(ts, rgb, "rgb8", 1.0)),
                                                ("/depth", image_msg(ts, to_units(metres, 0.001)[:4], "16UC1", 1.0))], ts)
    cases = [
        ("realsense", "no RealSense camera is connected"),
        ("realsense?serial=123", "no RealSense camera"),
        (f"realsense:{colour_only}", "has no depth stream"),
        (f"realsense:{depth_only}", "has no colour stream"),
        (f"realsense:{tmp_path / 'missing.db3'}", "not found"),
        (f"realsense:{garbage}", "not a readable RealSense recording"),
        (f"rosbag:{good}?rgb=/rgb&depth=/camera/depth", "has no topic /camera/depth (image topics: /depth, /rgb)"),
        (f"rosbag:{good}?rgb=/rgb", "name the depth topic"),
        (f"rosbag:{yuv}?rgb=/rgb&depth=/depth", "colour encoding 'yuv422' is not supported"),
        (f"rosbag:{depth8}?rgb=/rgb&depth=/depth", "depth encoding 'mono8' is not supported"),
        (f"rosbag:{sizes}?rgb=/rgb&depth=/depth", "/rgb is 8x6 but /depth is 8x4"),
        (f"rosbag:{tmp_path / 'nothing'}?rgb=/rgb&depth=/depth", "not found"),
        ("webcam", "unknown source spec"),
    ]
    for spec, fragment in cases:
        assert_one_line_error(run_acnet("stream", model, "--source", spec, "--no-progress"), fragment)
    assert_one_line_error(run_acnet("stream", model, "--source", f"rosbag:{good}?rgb=/rgb&depth=/depth", "--show"),
                          "--show needs a display")
    existing = tmp_path / "exists"
    existing.mkdir()
    assert_one_line_error(run_acnet("stream", model, "--source", f"rosbag:{good}?rgb=/rgb&depth=/depth", "--labels-bag", existing),
                          "already exists")


def stills_folder(root, count=2):
    """folder:ROOT with ``count`` frames at the tiny model's size."""
    for i in range(count):
        rgb, depth = frame(32, 64, seed=i)
        write_png(root / "rgb" / f"{i:04d}.png", rgb)
        write_png(root / "depth" / f"{i:04d}.png", depth)
    return f"folder:{root}"


def test_bad_fps_is_a_one_line_error_before_anything_is_written(model, tmp_path):
    source = stills_folder(tmp_path / "src")
    for fps, fragment in (("0", "'0' is not in (0, inf)"), ("-5", "'-5' is not in (0, inf)"), ("nan", "'nan' is not a finite number"),
                          ("1e12", "--fps must be a finite frame rate in [0.001, 2147483647] frames per second, got 1e+12")):
        out = tmp_path / f"out{fps}"
        proc = run_acnet("stream", model, "--source", source, "-o", out, "--fps", fps, "--no-progress")
        assert_one_line_error(proc, "--fps", fragment)
        assert not out.exists(), fps


def test_fps_sets_the_rate_of_the_video(model, tmp_path):
    av = require("av")
    out = tmp_path / "out"
    proc = run_acnet("stream", model, "--source", stills_folder(tmp_path / "src"), "-o", out, "--fps", "12.5", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    with av.open(str(out / "overlay.mp4")) as video:
        assert video.streams.video[0].average_rate == 12.5 and video.streams.video[0].frames == 2


@pytest.mark.parametrize("fps", [0, -5.0, float("nan"), float("inf"), 1e-4, 1e12, "x", None, True])
def test_video_writer_refuses_rates_no_video_plays_at(tmp_path, fps):
    from acnet.runtime.video import VideoWriter

    with pytest.raises(ConfigError, match="fps must be a"):
        VideoWriter(tmp_path / "v" / "overlay.mp4", fps=fps)
    assert not (tmp_path / "v").exists()


def test_model_that_is_a_symlink_loop_is_named(tmp_path):
    loop = tmp_path / "loop.onnx"
    loop.symlink_to(loop)
    proc = run_acnet("stream", loop, "--source", stills_folder(tmp_path / "src", 1), "--no-progress")
    assert_one_line_error(proc, f"model {loop} cannot be resolved: a symlink loop")


def test_labels_bag_under_a_file_names_the_file(model, tmp_path):
    require("rosbags")
    afile = tmp_path / "afile"
    afile.write_text("not a folder\n")
    proc = run_acnet("stream", model, "--source", stills_folder(tmp_path / "src", 1), "--labels-bag", afile / "labels",
                     "--no-progress")
    assert_one_line_error(proc, f"cannot create output directory {afile}: a file of that name exists")
    assert afile.read_text() == "not a folder\n"


def test_streaming_never_imports_torch(model, tmp_path):
    """Sources, pipeline and the stream command stay torch-free, as the runtime promises."""
    require("rosbags")
    import subprocess
    import sys

    ts = ros2_typestore()
    (_, rgb, metres), = synthetic_frames(1, 6, 8)
    bag = write_ros2_bag(tmp_path / "b", [("/rgb", image_msg(ts, rgb, "rgb8", 1.0)),
                                          ("/depth", image_msg(ts, to_units(metres, 0.001), "16UC1", 1.0))], ts)
    code = f"""
import sys
import acnet.runtime.sources.realsense, acnet.runtime.sources.rosbag, acnet.runtime.stream_cli, acnet.runtime.video
from acnet.runtime import Pipeline, Segmenter, open_source
with Segmenter({str(model)!r}) as seg, open_source({f"rosbag:{bag}?rgb=/rgb&depth=/depth"!r}) as source:
    assert len(list(Pipeline(seg, source))) == 1
assert "torch" not in sys.modules, "torch was imported"
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
