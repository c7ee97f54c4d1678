"""Streaming's error promise: damaged recordings, full disks and bad topic names, as users meet them.

A recording damaged part-way is one ``acnet: error:`` line naming the file and
the frame where reading failed (exit 2), and the outputs hold exactly the
frames before it, each whole: the label PNGs, a finished overlay video and a
finished label bag. A write that fails leaves nothing behind. Recordings are
real (rosbags' writer, librealsense's recorder), damaged as a disk or a cut
copy would damage them.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from support.installed import assert_one_line_error, run_acnet
from support.runtime_models import make_onnx
from support.stream_recordings import (
    garble_bag_message,
    image_msg,
    record_realsense,
    require,
    ros2_typestore,
    synthetic_frames,
    to_units,
    write_ros2_bag,
)
from test_error_promise import full_disk  # noqa: F401 - fixture: a real 1 MiB tmpfs, full

from acnet.errors import ConfigError, InputError
from acnet.runtime import Segmenter
from acnet.runtime.pipeline import Pipeline
from acnet.runtime.sources import Frame, Source, open_source


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_onnx(tmp_path_factory.mktemp("stream-errors") / "tiny.onnx")


@pytest.fixture(scope="module")
def seg(model):
    with Segmenter(model) as s:
        yield s


def bag_of(path: Path, frames) -> Path:
    """A ROS 2 bag of (rgb, depth metres) frames on /rgb and /depth (16UC1 millimetres), 0.1 s apart."""
    ts = ros2_typestore()
    messages = []
    for i, (rgb, metres) in enumerate(frames):
        messages += [("/rgb", image_msg(ts, rgb, "rgb8", 1.0 + i / 10)),
                     ("/depth", image_msg(ts, to_units(metres, 0.001), "16UC1", 1.0 + i / 10))]
    return write_ros2_bag(path, messages, ts)


def cut_message(db3: Path, topic: str, index: int, keep: int = 40) -> None:
    """Cut the ``index``-th message on ``topic`` (a suffix match) to its first ``keep`` bytes, as a copy cut short."""
    with contextlib.closing(sqlite3.connect(db3)) as db, db:
        ids = [row for (row,) in db.execute("SELECT m.id FROM messages m JOIN topics t ON t.id = m.topic_id "
                                            "WHERE t.name LIKE ? ORDER BY m.id", (f"%{topic}",))]
        db.execute("UPDATE messages SET data = substr(data, 1, ?) WHERE id = ?", (keep, ids[index]))


def labels_of(folder: Path) -> list[tuple[str, np.ndarray]]:
    from PIL import Image

    return [(p.stem, np.asarray(Image.open(p))) for p in sorted((folder / "labels").glob("*.png"))]


def hidden(folder: Path) -> list[str]:
    """Temporary files or folders a writer left (they start with a dot)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.is_dir() else []


@pytest.mark.parametrize("damage, broken", [("cut", 2), ("garbled", 4)])
def test_a_damaged_bag_is_one_line_and_the_frames_before_it_are_whole(model, seg, tmp_path, damage, broken):
    """A message cut short (rosbags' AnyReaderError) or a garbled sqlite page (apsw's CorruptError) at frame
    ``broken``: the labels, the overlay video and the label bag hold frames 0..broken-1, each complete."""
    require("rosbags")
    av = require("av")
    frames = [(rgb, metres) for _, rgb, metres in synthetic_frames(6, 48, 64)]  # 9 KB colour: two overflow pages
    bag = bag_of(tmp_path / "bag", frames)
    if damage == "cut":
        cut_message(next(bag.glob("*.db3")), "/rgb", broken)
    else:
        garble_bag_message(bag, "/rgb", broken)
    out, labels_bag = tmp_path / "out", tmp_path / "labels_bag"
    proc = run_acnet("stream", model, "--source", f"rosbag:{bag}?rgb=/rgb&depth=/depth", "-o", out,
                     "--labels-bag", labels_bag, "--no-progress")
    line = assert_one_line_error(proc, f"ROS bag {bag} is damaged", f"frame {broken} cannot be read",
                                 f"the {broken} frame(s) before it are in {out / 'labels'}")
    assert str(labels_bag) in line and str(out / "overlay.mp4") in line

    written = labels_of(out)
    assert [name for name, _ in written] == [f"{i:06d}" for i in range(broken)]
    for (name, got), (rgb, metres) in zip(written, frames):
        np.testing.assert_array_equal(got, seg.segment(rgb, to_units(metres, 0.001), 0.001), err_msg=name)
    with av.open(str(out / "overlay.mp4")) as video:  # finished: it decodes, to the frames before the damage
        assert sum(1 for _ in video.decode(video=0)) == broken
    from rosbags.highlevel import AnyReader

    with AnyReader([labels_bag]) as reader:
        msgs = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages()]
    assert [np.asarray(m.data, np.uint8).reshape(m.height, m.width).tolist() for m in msgs] == \
        [got.tolist() for _, got in written]
    assert hidden(out) == [] and hidden(tmp_path) == []

    # The same bag through the Python API: the library's own error, after the frames before it.
    seqs = []
    with pytest.raises(InputError, match=f"frame {broken} cannot be read"):
        with open_source(f"rosbag:{bag}?rgb=/rgb&depth=/depth") as source:
            for frame in source:
                seqs.append(frame.seq)
    assert seqs == list(range(broken))


def test_a_realsense_recording_that_ends_early_is_an_error_not_a_short_success(model, seg, tmp_path):
    """librealsense stops a playback it cannot read on as if the file ended: the frames the file holds say otherwise."""
    require("pyrealsense2")
    frames = [(rgb, to_units(metres, 0.001)) for _, rgb, metres in synthetic_frames(3, 32, 64)]
    rec = record_realsense(tmp_path / "walk.db3", frames, depth_scale=0.001)
    cut_message(rec, "/Color_0/image/data/compressed", 1)
    out = tmp_path / "out"
    proc = run_acnet("stream", model, "--source", f"realsense:{rec}", "-o", out, "--no-video", "--no-progress")
    assert_one_line_error(proc, f"RealSense recording {rec} is damaged: frame 1 cannot be read",
                          "1 of 3 colour and 2 of 3 depth frames read", f"the 1 frame(s) before it are in {out / 'labels'}")
    (name, got), = labels_of(out)
    np.testing.assert_array_equal(got, seg.segment(*frames[0], 0.001))

    whole = record_realsense(tmp_path / "whole.db3", frames, depth_scale=0.001)
    with open_source(f"realsense:{whole}") as source:
        assert source.recorded == {"rgb": 3, "depth": 3} and len(list(source)) == 3


def test_recorded_frames_are_counted_in_a_ros1_realsense_bag(tmp_path):
    """Older RealSense recordings are ROS 1 bags (librealsense < 2.55 wrote them; 2.59 only reads them)."""
    require("rosbags")
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    from acnet.runtime.sources.realsense import recorded_frames

    ts = get_typestore(Stores.ROS1_NOETIC)
    Image, Header, Time = (ts.types[k] for k in ("sensor_msgs/msg/Image", "std_msgs/msg/Header", "builtin_interfaces/msg/Time"))
    topics = {"depth": "sensor_0/Depth_0/image/data", "rgb": "sensor_1/Color_0/image/data"}
    with Writer(tmp_path / "old.bag") as writer:
        for topic, count in (("/device_0/sensor_0/Depth_0/image/data", 3), ("/device_0/sensor_1/Color_0/image/data", 2),
                             ("/device_0/sensor_1/Color_0/image/metadata", 5)):
            conn = writer.add_connection(topic, "sensor_msgs/msg/Image", typestore=ts)
            for i in range(count):
                msg = Image(header=Header(seq=i, stamp=Time(sec=i, nanosec=0), frame_id=""), height=1, width=1,
                            encoding="mono8", is_bigendian=0, step=1, data=np.zeros(1, np.uint8))
                writer.write(conn, i + 1, ts.serialize_ros1(msg, "sensor_msgs/msg/Image"))
    assert recorded_frames(tmp_path / "old.bag", topics) == {"depth": 3, "rgb": 2}
    (tmp_path / "text.bag").write_text("not a bag")
    assert recorded_frames(tmp_path / "text.bag", topics) is None  # cannot tell: plays as before


def test_labels_bag_on_a_full_disk_is_one_line_and_leaves_nothing(model, tmp_path, full_disk):  # noqa: F811
    """sqlite commits the bag when it closes: there the disk fills. Nothing is left: no bag, no temporary folder."""
    require("rosbags")
    bag = bag_of(tmp_path / "bag", [(rgb, metres) for _, rgb, metres in synthetic_frames(24, 96, 128)])
    (full_disk / "filler").unlink()
    with open(full_disk / "filler", "wb") as fh, contextlib.suppress(OSError):
        fh.write(b"\0" * ((1 << 20) - 150_000))  # room to open the bag, not for 24 label images of 12 KB
    labels_bag = full_disk / "labels"
    proc = run_acnet("stream", model, "--source", f"rosbag:{bag}?rgb=/rgb&depth=/depth", "--labels-bag", labels_bag,
                     "--no-progress")
    assert_one_line_error(proc, f"cannot write {labels_bag}: no space left on device")
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_overlay_video_on_a_full_disk_names_the_video_not_its_temporary_file(model, tmp_path, full_disk):  # noqa: F811
    require("rosbags")
    require("av")
    bag = bag_of(tmp_path / "bag", [(rgb, metres) for _, rgb, metres in synthetic_frames(2, 48, 64)])
    out = full_disk / "out"
    proc = run_acnet("stream", model, "--source", f"rosbag:{bag}?rgb=/rgb&depth=/depth", "-o", out, "--no-labels",
                     "--no-progress")
    assert_one_line_error(proc, f"cannot write {out / 'overlay.mp4'}: no space left on device")
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("topic, problem", [("", "it must not be empty"), ("acnet/labels", "it must be absolute"),
                                            ("/acnet//labels", "'//'"), ("/1labels", "must not start with a number")])
def test_labels_topic_is_checked_by_ros_2_rules_before_anything_is_written(model, tmp_path, topic, problem):
    source = tmp_path / "src"
    for sub in ("rgb", "depth"):
        (source / sub).mkdir(parents=True)
    proc = run_acnet("stream", model, "--source", f"folder:{source}", "--labels-bag", tmp_path / "lb",
                     "--labels-topic", topic, "--no-progress")
    assert_one_line_error(proc, f"--labels-topic {topic!r} is not a valid ROS 2 topic name", problem)
    assert not (tmp_path / "lb").exists()


def test_label_bag_writer_refuses_a_bad_topic_and_leaves_nothing(tmp_path):
    require("rosbags")
    from acnet.runtime.sources.rosbag import LabelBagWriter

    for topic in ("", "labels", None):
        with pytest.raises(ConfigError, match="labels bag topic .* is not a valid ROS 2 topic name"):
            LabelBagWriter(tmp_path / "lb", topic)
    assert list(tmp_path.iterdir()) == []
    writer = LabelBagWriter(tmp_path / "lb", "/camera/labels")
    writer.close()
    from rosbags.highlevel import AnyReader

    with AnyReader([tmp_path / "lb"]) as reader:
        assert [c.topic for c in reader.connections] == ["/camera/labels"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lb"]


class _LiveCamera(Source):
    """Frames on their own clock, faster than anyone reads them."""

    live = True
    spec = "camera-for-test"

    def __iter__(self):
        (_, rgb, metres), = synthetic_frames(1)
        for i in range(40):
            time.sleep(0.001)
            yield Frame(rgb, metres, 1.0, i / 1000, i, f"{i:06d}")


def test_a_live_pipeline_says_how_many_frames_it_dropped(seg, caplog):
    pipeline = Pipeline(seg, _LiveCamera(), queue_size=1)
    with caplog.at_level(logging.WARNING, logger="acnet.runtime.pipeline"):
        for _ in pipeline:
            time.sleep(0.02)
    dropped = pipeline.stats().dropped
    assert dropped > 0
    assert [r.getMessage() for r in caplog.records] == [
        f"{dropped} frame(s) were dropped (drop='oldest'): the pipeline fell behind camera-for-test; "
        f"{pipeline.stats().frames} were processed"]
