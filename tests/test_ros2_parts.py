"""The ROS 2 node's parts that need no DDS: settings, topic names against rclpy's own validators,
the topic-pairing source (fed real ``sensor_msgs/Image`` messages), confidence, the pipeline's bounded figures.

Nothing here creates a ROS node or context, so nothing here opens a socket.
"""

from __future__ import annotations

import numpy as np
import pytest
from support.runtime_models import frame, make_onnx

from acnet.errors import ConfigError
from acnet.runtime import Segmenter
from acnet.runtime.pipeline import Pipeline
from acnet.runtime.postprocess import top_probability
from acnet.runtime.ros2.settings import NodeSettings
from acnet.runtime.ros2.source import MAX_PENDING, TopicPairs
from acnet.runtime.rosnames import MAX_FULL_NAME_LENGTH, topic_name_problem
from acnet.runtime.sources.pairing import StampPairer

from test_rosnames import INVALID, VALID  # noqa: E402  (the same cases, checked against rcl here)


def _rclpy_or_skip():
    try:
        import rclpy  # noqa: F401
        from sensor_msgs.msg import Image  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"rclpy is not importable ({exc}); pip install 'acnet[ros2]'")


# --------------------------------------------------------------------------- topic names


MORE = ["/" + "a" * (MAX_FULL_NAME_LENGTH - 1), "/" + "a" * MAX_FULL_NAME_LENGTH, "/acnet//labels", "//a", "/a/b_/c",
        "~/a/{sub}", "/{node}", "a{b}c", "/a/~", "{}", "/_a/_1"]


@pytest.mark.parametrize("name", VALID + INVALID + MORE)
def test_topic_names_agree_with_rclpys_validators(name):
    """acnet's validator says yes exactly where rcl's rcl_validate_topic_name (relative) and
    rmw_validate_full_topic_name (absolute) say yes, through rclpy."""
    _rclpy_or_skip()
    from rclpy.exceptions import InvalidTopicNameException
    from rclpy.validate_full_topic_name import validate_full_topic_name
    from rclpy.validate_topic_name import validate_topic_name

    def accepted(check) -> bool:
        try:
            return check(name) is True
        except InvalidTopicNameException:
            return False

    assert (topic_name_problem(name) is None) == accepted(validate_topic_name), topic_name_problem(name)
    assert (topic_name_problem(name, absolute=True) is None) == accepted(validate_full_topic_name), \
        topic_name_problem(name, absolute=True)


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize("values, fragment", [
    ({"qos_reliability": "sometimes"}, "qos_reliability must be one of reliable, best_effort"),
    ({"qos_durability": "forever"}, "qos_durability must be one of volatile, transient_local"),
    ({"sync_tolerance": -0.1}, "sync_tolerance must be 0 or more"),
    ({"sync_tolerance": "0.1"}, "sync_tolerance must be a finite number"),
    ({"queue_size": 0}, "queue_size must be at least 1"),
    ({"qos_depth": 2.5}, "qos_depth must be an integer"),
    ({"publish_overlay": 1}, "publish_overlay must be true or false"),
    ({"overlay_alpha": 2.0}, "overlay_alpha must lie in [0, 1]"),
    ({"labels_topic": "/acnet/1labels"}, "parameter labels_topic '/acnet/1labels' is not a valid ROS 2 topic name"),
    ({"rgb_topic": "/x", "depth_topic": "/x"}, "name the same topic"),
    ({"publish_labels": False, "publish_confidence": False}, "nothing to publish"),
    ({"backend": "tensorflow"}, "backend must be one of auto, onnxruntime, tensorrt"),
    ({"model": ""}, "give the model file"),
    ({"qos_dept": 1}, "unknown parameter 'qos_dept'"),
])
def test_bad_settings_name_the_parameter(values, fragment):
    with pytest.raises(ConfigError) as info:
        NodeSettings.from_values({"model": "m.onnx", **values})
    assert fragment in str(info.value)


def test_settings_take_integers_for_doubles():
    s = NodeSettings.from_values({"model": "m.onnx", "sync_tolerance": 0, "overlay_alpha": 1})
    assert s.sync_tolerance == 0.0 and isinstance(s.sync_tolerance, float) and s.overlay_alpha == 1.0


# --------------------------------------------------------------------------- pairing live topics


def _image(array: np.ndarray, encoding: str, stamp: float, frame_id: str = "cam"):
    _rclpy_or_skip()
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import Image

    from acnet.runtime.sources.rosbag import image_fields

    fields = image_fields(array, encoding)
    fields["data"] = fields["data"].tobytes()
    sec = int(stamp)
    msg = Image(**fields)
    msg.header.stamp = Time(sec=sec, nanosec=int(round((stamp - sec) * 1e9)))
    msg.header.frame_id = frame_id
    return msg


def _serialized(msg) -> bytes:
    """The message as a raw subscription hands it over: rclpy's own CDR."""
    from rclpy.serialization import serialize_message

    return serialize_message(msg)


def _typestore():
    from acnet.runtime.sources.rosbag import image_typestore

    return image_typestore()


def test_pairs_by_stamp_keep_the_newest_and_count_what_they_drop():
    rgb, depth = frame(6, 8)
    source = TopicPairs("/rgb", "/depth", tolerance=0.01, queue_size=2)
    for i in range(5):  # five pairs before anyone reads: the two newest wait, three are dropped
        source.push("rgb", _image(rgb, "rgb8", 10 + i * 0.1))
        source.push("depth", _image(depth, "16UC1", 10 + i * 0.1 + 0.004))
    source.push("rgb", _image(rgb, "rgb8", 11.0))  # no partner yet
    assert source.counts["pairs"] == 5 and source.counts["dropped"] == 3
    source.close()
    frames = list(source)
    assert frames == []  # closed: the iteration ends at once
    # as the node gets them: serialized by rclpy, read by the bag reader's type store
    source = TopicPairs("/rgb", "/depth", tolerance=0.01, queue_size=2, typestore=_typestore())
    for i in range(3):
        source.push("rgb", _serialized(_image(rgb[..., ::-1], "bgr8", 10 + i * 0.1, "color")))
        source.push("depth", _serialized(_image(depth, "16UC1", 10 + i * 0.1 + 0.004)))
    it = iter(source)
    got = [next(it), next(it)]
    assert [f.stamp for f in got] == pytest.approx([10.1, 10.2])
    assert got[0].meta["frame_id"] == "color" and got[0].meta["depth_stamp"] == pytest.approx(10.104)
    np.testing.assert_array_equal(got[0].rgb, rgb)  # bgr8 decoded to RGB by the bag reader's decoder
    np.testing.assert_array_equal(got[0].depth, depth)
    assert got[0].depth_scale == 0.001


def test_a_silent_topic_holds_a_bounded_number_of_messages():
    rgb, _ = frame(6, 8)
    source = TopicPairs("/rgb", "/depth", tolerance=0.01)
    for i in range(MAX_PENDING + 25):
        source.push("rgb", _image(rgb, "rgb8", 10 + i * 0.1))
    assert len(source._pairer.pending["rgb"]) == MAX_PENDING
    assert source.unpaired == {"rgb": 25, "depth": 0}


def test_stamps_going_back_start_pairing_afresh():
    rgb, depth = frame(6, 8)
    source = TopicPairs("/rgb", "/depth", tolerance=0.01, queue_size=8)
    for t in (20.0, 20.1, 5.0, 5.1):  # a bag played again from its start
        source.push("rgb", _image(rgb, "rgb8", t))
        source.push("depth", _image(depth, "16UC1", t))
    assert source.counts["pairs"] == 4 and source.counts["restarts"] == 1


BAD_MESSAGES = [
    ("encoding", "colour encoding 'yuv422' is not supported"),
    ("size", "register depth to colour first"),
    ("step", "too few"),
    ("truncated", "too few"),
    ("nan", "depth holds no valid reading"),
    ("far", "beyond any sensor's range"),
    ("empty", "dropped a frame"),
    ("garbled", "/depth: not a readable sensor_msgs/Image")]


@pytest.mark.parametrize("fault, reason, serialized", [
    (fault, reason, serialized) for fault, reason in BAD_MESSAGES for serialized in (True, False)
    if serialized or fault != "garbled"  # only bytes can be garbled
])
def test_a_bad_message_is_dropped_counted_and_reported(fault, reason, serialized):
    rgb, depth = frame(6, 8)
    warned = []
    source = TopicPairs("/rgb", "/depth", tolerance=0.01, queue_size=4, warn=warned.append,
                        typestore=_typestore() if serialized else None)
    rgb_msg, depth_msg = _image(rgb, "rgb8", 1.0), _image(depth, "16UC1", 1.0)
    if fault == "encoding":
        rgb_msg.encoding = "yuv422"
    elif fault == "size":
        depth_msg = _image(depth[:3], "16UC1", 1.0)
    elif fault == "step":
        rgb_msg.step = 8 * 3 + 5
    elif fault == "truncated":
        depth_msg.data = bytes(depth_msg.data)[:-1]
    elif fault == "nan":
        depth_msg = _image(np.full((6, 8), np.nan, np.float32), "32FC1", 1.0)
    elif fault == "far":
        depth_msg = _image(np.full((6, 8), 5000.0, np.float32), "32FC1", 1.0)
    elif fault == "empty":
        rgb_msg = _image(np.zeros((0, 8, 3), np.uint8), "rgb8", 1.0)
        depth_msg = _image(np.zeros((0, 8), np.uint16), "16UC1", 1.0)
    pack = _serialized if serialized else (lambda msg: msg)
    if fault == "garbled":  # a message cut short in its header, as a broken bridge might pass on
        depth_msg = _serialized(depth_msg)[:11]
    source.push("rgb", pack(rgb_msg))
    source.push("depth", depth_msg if isinstance(depth_msg, bytes) else pack(depth_msg))
    source.push("rgb", pack(_image(rgb, "rgb8", 2.0)))  # a good pair after it still comes out
    source.push("depth", pack(_image(depth, "16UC1", 2.0)))
    good = next(iter(source))
    assert good.stamp == 2.0
    assert source.counts["bad"] == 1 and len(warned) == 1 and reason in warned[0] and reason in source.last_bad


def test_stamp_pairer_bounds_what_waits():
    pairer = StampPairer(0.01, max_pending=2)
    for t in (1.0, 2.0, 3.0):
        assert pairer.push("rgb", t, t) == []
    assert [t for t, _ in pairer.pending["rgb"]] == [2.0, 3.0] and pairer.unpaired["rgb"] == 1
    assert pairer.push("depth", 3.0, "d") == [(3.0, "d")]


# --------------------------------------------------------------------------- confidence and the pipeline's window


@pytest.fixture(scope="module")
def seg(tmp_path_factory):
    with Segmenter(make_onnx(tmp_path_factory.mktemp("ros2parts") / "tiny.onnx")) as s:
        yield s


def test_confidence_is_the_top_softmax_probability(seg):
    rgb, depth = frame(32, 64, seed=3)  # the model's own size: no resize, so softmax can be checked directly
    logits = seg.logits(rgb, depth).astype(np.float64)
    probability = np.exp(logits - logits.max(0)) / np.exp(logits - logits.max(0)).sum(0)
    conf = seg.confidence(seg.infer([seg.preprocess(rgb, depth)])[0], 32, 64)
    assert conf.dtype == np.uint8 and conf.shape == (32, 64)
    assert np.abs(conf.astype(int) - np.rint(probability.max(0) * 255)).max() <= 1
    big = top_probability(logits.astype(np.float32), 96, 192)
    assert big.shape == (96, 192) and big.min() >= np.rint(255 / logits.shape[0]) - 1


class _Frames:
    live = False

    def __init__(self, count: int) -> None:
        from acnet.runtime.sources import Frame

        self.frames = [Frame(*frame(40, 56, seed=i), 0.001, i, i, str(i)) for i in range(count)]

    def __iter__(self):
        return iter(self.frames)


def test_pipeline_figures_cover_a_bounded_window_and_confidence_comes_out(seg):
    source = _Frames(12)
    pipeline = Pipeline(seg, source, confidence=True, history=5)
    results = list(pipeline)
    assert len(results) == 12
    for r in results:
        np.testing.assert_array_equal(r.labels, seg.segment(r.frame.rgb, r.frame.depth))
        out = seg.infer([seg.preprocess(r.frame.rgb, r.frame.depth)])[0]
        np.testing.assert_array_equal(r.confidence, seg.confidence(out, 40, 56))
    assert len(pipeline._latency) == 5 and all(len(v) == 5 for v in pipeline._times.values())
    assert pipeline.stats().frames == 12
    with pytest.raises(ConfigError, match="history must be at least 1"):
        Pipeline(seg, source, history=0)


# --------------------------------------------------------------------------- Fast DDS's transports


@pytest.mark.parametrize("setting", ["FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE",
                                     "FASTDDS_BUILTIN_TRANSPORTS"])
def test_a_users_fast_dds_settings_win_over_acnets_profile(setting, tmp_path):
    from acnet.runtime.ros2.fastdds import use_large_image_profile

    env = {setting: "theirs"}
    said = use_large_image_profile(env, cwd=tmp_path)
    assert env == {setting: "theirs"} and f"{setting}=theirs" in said


def test_acnets_profile_applies_only_to_fast_dds_without_a_users_profile(tmp_path):
    from acnet.runtime.ros2.fastdds import PROFILE, use_large_image_profile

    env = {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}
    assert "rmw_cyclonedds_cpp" in use_large_image_profile(env, cwd=tmp_path) and "FASTDDS_DEFAULT_PROFILES_FILE" not in env
    (tmp_path / "DEFAULT_FASTDDS_PROFILES.xml").write_text("<dds/>")  # Fast DDS reads it from the working directory
    env = {}
    assert "DEFAULT_FASTDDS_PROFILES.xml" in use_large_image_profile(env, cwd=tmp_path) and env == {}
    for rmw in ({}, {"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"}):
        env = dict(rmw)
        said = use_large_image_profile(env, cwd=tmp_path / "elsewhere")
        assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == str(PROFILE) and "16 MiB" in said


def test_acnets_fast_dds_profile_is_well_formed_and_sizes_the_segment():
    import xml.etree.ElementTree as ET

    from acnet.runtime.ros2.fastdds import PROFILE

    root = ET.parse(PROFILE).getroot()
    ns = {"f": "http://www.eprosima.com"}
    (participant,) = root.findall("f:profiles/f:participant", ns)
    assert participant.get("is_default_profile") == "true"
    used = [t.text for t in participant.findall("f:rtps/f:userTransports/f:transport_id", ns)]
    kinds = {d.find("f:transport_id", ns).text: d for d in root.findall("f:profiles/f:transport_descriptors/f:transport_descriptor", ns)}
    assert sorted(kinds[t].find("f:type", ns).text for t in used) == ["SHM", "UDPv4"]  # Fast DDS's default pair
    shm = next(kinds[t] for t in used if kinds[t].find("f:type", ns).text == "SHM")
    assert int(shm.find("f:segment_size", ns).text) == 16 * 2**20
