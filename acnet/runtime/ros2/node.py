"""``SegmentationNode``: a ROS 2 node around the pipelined runtime.

Subscriptions pair colour and depth images by header stamp
(:class:`~acnet.runtime.ros2.source.TopicPairs`); the runtime's
:class:`~acnet.runtime.pipeline.Pipeline` preprocesses, infers and
postprocesses in its own threads; one more thread publishes each result
with the colour image's header. So no callback waits for inference, and at
most ``queue_size`` pairs wait (then the oldest is dropped and counted).

Outputs, for Nav2's semantic segmentation layer and Isaac ROS-style consumers:
``labels`` (``mono8`` class ids, 0 void), ``confidence`` (``mono8``, top
class probability x 255), ``overlay`` (``rgb8``, off by default), the class
names as JSON on a latched ``std_msgs/String``, and a
``diagnostic_msgs/DiagnosticArray`` every ``diagnostics_period`` seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from acnet.errors import ConfigError, first_line
from acnet.runtime.pipeline import Pipeline
from acnet.runtime.ros2 import require_rclpy
from acnet.runtime.ros2.settings import NodeSettings
from acnet.runtime.ros2.source import TopicPairs
from acnet.runtime.segmenter import Segmenter
from acnet.runtime.sources.rosbag import IMAGE, header_stamp, image_message, image_typestore

require_rclpy()

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue  # noqa: E402
from rcl_interfaces.msg import ParameterDescriptor  # noqa: E402
from rclpy.exceptions import InvalidTopicNameException  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from rclpy.subscription import Subscription  # noqa: E402
from std_msgs.msg import String  # noqa: E402

#: Whether this rclpy calls a two-argument subscription callback with (message, MessageInfo) (Iron and newer).
_CALLBACKS_TAKE_INFO = hasattr(Subscription, "CallbackType")

#: Frames the latency figures in the diagnostics cover (the counts cover all).
HISTORY = 300
#: History depth of the image publishers.
OUTPUT_DEPTH = 10
#: Seconds between two warnings about bad messages (the ones between are counted, and said).
WARN_PERIOD_S = 5.0


def serialized_image(typestore, header, array: np.ndarray, encoding: str) -> bytes:
    """A serialized ``sensor_msgs/Image`` of ``array`` with ``header``'s stamp and frame id, for ``publish``.

    Written by rosbags' type store with one copy of the pixels: on the test
    machine that took under 0.1 ms for a 640x480 image, where building rclpy's
    message and its conversion to CDR took 1.4 ms.
    """
    msg = image_message(typestore, array, encoding, header_stamp(header), header.frame_id)
    return bytes(typestore.serialize_cdr(msg, IMAGE))


def label_info(class_names: tuple[str, ...], model: str) -> str:
    """The class names as JSON, shaped like ``vision_msgs/LabelInfo`` (class_map of class_id and class_name)."""
    class_map = [{"class_id": 0, "class_name": "void"}]
    class_map += [{"class_id": i, "class_name": name} for i, name in enumerate(class_names, start=1)]
    return json.dumps({"class_map": class_map, "threshold": 0.0, "model": model})


class SegmentationNode(Node):
    """Segment synced RGB-D image pairs; publish labels, confidence, overlay, class names and diagnostics.

    Args:
        settings: the parameters' defaults; ``--ros-args -p name:=value``,
            a params file or a launch file's ``parameters`` override them.
        node_name: the node's name (``-r __node:=name`` renames it too).
        segmenter: an open :class:`~acnet.runtime.Segmenter` to use instead
            of opening ``model`` (the node does not close it).
        **node_kwargs: passed to :class:`rclpy.node.Node` (``context``,
            ``namespace``, ``cli_args``, ``parameter_overrides``, ...).

    Settings are read once, at start (the parameters are read-only). Bad
    ones raise :class:`~acnet.errors.ConfigError` before a model loads.
    """

    def __init__(self, settings: NodeSettings | None = None, *, node_name: str = "acnet",
                 segmenter: Segmenter | None = None, **node_kwargs) -> None:
        super().__init__(node_name, **node_kwargs)
        self.segmenter = None
        self.source = self.pipeline = self._thread = None
        self._owns_segmenter = segmenter is None
        self._closed = False
        try:
            self._start(settings or NodeSettings(), segmenter)
        except BaseException:
            self.close()
            super().destroy_node()
            raise

    # ------------------------------------------------------------------ start

    def _read_settings(self, defaults: NodeSettings) -> NodeSettings:
        values = {}
        for name in NodeSettings.names():
            descriptor = ParameterDescriptor(description=NodeSettings.help(name), read_only=True, dynamic_typing=True)
            values[name] = self.declare_parameter(name, getattr(defaults, name), descriptor).value
        unknown = sorted(n for n in getattr(self, "_parameter_overrides", {}) if not self.has_parameter(n))
        if unknown:
            raise ConfigError(f"unknown parameter {unknown[0]!r} for node {self.get_name()}; "
                              f"parameters: {', '.join(NodeSettings.names())}")
        return NodeSettings.from_values(values)

    def _start(self, defaults: NodeSettings, segmenter: Segmenter | None) -> None:
        s = self.settings = self._read_settings(defaults)
        log = self.get_logger()
        self._typestore = image_typestore("the ROS 2 node's image topics", "ros2")
        self.segmenter = segmenter or Segmenter(s.model, backend=s.backend, device=s.device or None,
                                                threads=s.threads or None)
        confidence = s.publish_confidence
        if confidence and self.segmenter.outputs_labels and not self.segmenter.camera_native:  # camera-native: in its graph
            if not (s.publish_labels or s.publish_overlay):
                raise ConfigError(f"{s.model} outputs class ids only (exported with --argmax), so it has no "
                                  "confidence, the only output asked for")
            log.warning(f"{Path(s.model).name} outputs class ids only (exported with --argmax): no confidence image")
            confidence = False
        # Outputs keep 10 (ROS's default depth): a reliable writer drops what a slow reader has not yet acknowledged
        # once its history is full, and each result is published once.
        images = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=OUTPUT_DEPTH, reliability=ReliabilityPolicy.RELIABLE,
                            durability=DurabilityPolicy.VOLATILE)
        latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._labels_pub = self._publisher(Image, "labels_topic", images) if s.publish_labels else None
        self._confidence_pub = self._publisher(Image, "confidence_topic", images) if confidence else None
        self._overlay_pub = self._publisher(Image, "overlay_topic", images) if s.publish_overlay else None
        self._info_pub = self._publisher(String, "label_info_topic", latched)
        self._diag_pub = self._publisher(DiagnosticArray, "diagnostics_topic", 10)
        self._info_pub.publish(String(data=label_info(self.segmenter.class_names, Path(s.model).name)))

        self._warn_lock = threading.Lock()
        self._warn_next, self._warn_held = 0.0, 0
        self.source = TopicPairs(s.rgb_topic, s.depth_topic, s.sync_tolerance, s.queue_size, warn=self._warn,
                                 typestore=self._typestore)
        self.pipeline = Pipeline(self.segmenter, self.source, queue_size=s.queue_size, confidence=confidence,
                                 overlay=s.overlay_alpha if s.publish_overlay else None, history=HISTORY)
        inputs = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=s.qos_depth,
                            reliability=ReliabilityPolicy[s.qos_reliability.upper()],
                            durability=DurabilityPolicy[s.qos_durability.upper()])
        if _CALLBACKS_TAKE_INFO:  # rclpy passes the publisher's id and sequence number: losses are counted
            rgb, depth = (lambda m, i: self.source.push("rgb", m, i)), (lambda m, i: self.source.push("depth", m, i))
        else:  # an older rclpy (Humble) calls back with the message only
            rgb, depth = (lambda m: self.source.push("rgb", m)), (lambda m: self.source.push("depth", m))
        self._inputs = [self._subscription("rgb_topic", rgb, inputs), self._subscription("depth_topic", depth, inputs)]
        self.frames_out = 0
        self.failure: BaseException | None = None
        self._published: deque = deque(maxlen=HISTORY)  # (publish seconds, pair to published seconds)
        self._last_report = (time.perf_counter(), 0, 0, 0)  # time, frames out, dropped, bad
        self._thread = threading.Thread(target=self._publish_results, name="acnet-ros2-publish", daemon=True)
        self._thread.start()
        self._timer = self.create_timer(s.diagnostics_period, self._diagnose)
        log.info(f"{self.segmenter!r}: {s.rgb_topic} + {s.depth_topic} -> "
                 f"{', '.join(p.topic_name for p in (self._labels_pub, self._confidence_pub, self._overlay_pub) if p)}")

    def _publisher(self, kind, parameter: str, qos):
        try:
            return self.create_publisher(kind, getattr(self.settings, parameter), qos)
        except InvalidTopicNameException as exc:
            raise ConfigError(f"parameter {parameter}: {first_line(exc)}") from None

    def _subscription(self, parameter: str, callback, qos):
        try:
            # raw: the callbacks get the serialized message, read in place by the type store (TopicPairs)
            return self.create_subscription(Image, getattr(self.settings, parameter), callback, qos, raw=True)
        except InvalidTopicNameException as exc:
            raise ConfigError(f"parameter {parameter}: {first_line(exc)}") from None

    # ------------------------------------------------------------------ work

    def _publish_results(self) -> None:
        """The pipeline's reader: publish each result as it comes out, in order."""
        try:
            for result in self.pipeline:
                start = time.perf_counter()
                header, store = result.frame.meta["header"], self._typestore
                if self._labels_pub is not None:
                    self._labels_pub.publish(serialized_image(store, header, result.labels, "mono8"))
                if self._confidence_pub is not None:
                    self._confidence_pub.publish(serialized_image(store, header, result.confidence, "mono8"))
                if self._overlay_pub is not None:
                    self._overlay_pub.publish(serialized_image(store, header, result.overlay, "rgb8"))
                done = time.perf_counter()
                self._published.append((done - start, done - result.frame.received))
                self.frames_out += 1
        except BaseException as exc:  # the backend failed: the node cannot go on; its spinner sees `failure`
            if not self._closed:
                self.failure = exc
                self.get_logger().error(f"segmentation stopped: {type(exc).__name__}: {first_line(exc)}")

    def _warn(self, message: str) -> None:
        """One warning per WARN_PERIOD_S at most; the number held back is said with the next."""
        now = time.monotonic()
        with self._warn_lock:
            if now < self._warn_next:
                self._warn_held += 1
                return
            held, self._warn_held, self._warn_next = self._warn_held, 0, now + WARN_PERIOD_S
        more = f" ({held} more bad message(s) since the last warning; see {self.settings.diagnostics_topic})" if held else ""
        self.get_logger().warning(message + more)

    # ------------------------------------------------------------------ diagnostics

    def diagnostics(self) -> DiagnosticStatus:
        """The node's status now: counts since start, latency over the latest frames, throughput since the last call."""
        stats = self.pipeline.stats()
        counts, unpaired = dict(self.source.counts), self.source.unpaired
        published = list(self._published)
        now = time.perf_counter()
        then, out_then, dropped_then, bad_then = self._last_report
        self._last_report = (now, self.frames_out, counts["dropped"], counts["bad"])
        fps = (self.frames_out - out_then) / (now - then) if now > then else 0.0
        values = {
            "frames in": counts["pairs"], "frames out": self.frames_out, "frames dropped": counts["dropped"],
            "bad messages": counts["bad"], "rgb messages": counts["rgb"], "depth messages": counts["depth"],
            "unpaired rgb": unpaired["rgb"], "unpaired depth": unpaired["depth"], "stamp restarts": counts["restarts"],
            "rgb lost before the node": counts["rgb lost"], "depth lost before the node": counts["depth lost"],
            "throughput fps": round(fps, 2),
        }
        for stage in ("preprocess", "inference", "postprocess"):
            values[f"{stage} median ms"] = round(stats.stages[stage]["median"], 3)
            values[f"{stage} p99 ms"] = round(stats.stages[stage]["p99"], 3)
        for name, column in (("publish", 0), ("latency", 1)):  # latency: pair complete -> all outputs published
            ms = np.array([p[column] for p in published]) * 1000.0
            values[f"{name} median ms"] = round(float(np.median(ms)), 3) if ms.size else float("nan")
            values[f"{name} p99 ms"] = round(float(np.percentile(ms, 99)), 3) if ms.size else float("nan")
        values["last bad message"] = self.source.last_bad
        new_drops, new_bad = counts["dropped"] - dropped_then, counts["bad"] - bad_then
        status = DiagnosticStatus(name=f"{self.get_fully_qualified_name()}: segmentation",
                                  hardware_id=Path(self.settings.model).name)
        if self.failure is not None:
            status.level, status.message = DiagnosticStatus.ERROR, f"stopped: {first_line(self.failure)}"
        elif new_drops or new_bad:
            status.level = DiagnosticStatus.WARN
            status.message = f"{fps:.1f} frames/s; {new_drops} dropped (inference behind), {new_bad} bad message(s)"
        else:
            status.level, status.message = DiagnosticStatus.OK, f"{fps:.1f} frames/s"
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        return status

    def _diagnose(self) -> None:
        msg = DiagnosticArray(status=[self.diagnostics()])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(msg)

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Stop taking frames, let the pipeline end, and close the model if the node opened it."""
        if self._closed:
            return
        self._closed = True
        if self.source is not None:
            self.source.close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        elif self.pipeline is not None:
            self.pipeline.close()
        if self.segmenter is not None and self._owns_segmenter:
            self.segmenter.close()

    def destroy_node(self) -> None:
        self.close()
        super().destroy_node()

