"""The ROS 2 node's settings: one typed dataclass, its ROS parameters, checked where they enter.

Each field is a ROS parameter of the same name (``--ros-args -p
qos_depth:=1``, a launch file's ``parameters``, a params YAML). Everything
is checked before a model loads or a topic opens, so a bad value is one
error naming the parameter. No rclpy needed here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from acnet._typed import is_finite_number, is_integer
from acnet.errors import ConfigError
from acnet.runtime.rosnames import check_topic_name

RELIABILITY = ("reliable", "best_effort")
DURABILITY = ("volatile", "transient_local")
BACKENDS = ("auto", "onnxruntime", "tensorrt")

#: realsense-ros 4.x's topics with ``align_depth.enable:=true`` (camera namespace and name both "camera").
REALSENSE_COLOR = "/camera/camera/color/image_raw"
REALSENSE_ALIGNED_DEPTH = "/camera/camera/aligned_depth_to_color/image_raw"


def _param(default, text: str):
    return field(default=default, metadata={"help": text})


@dataclass
class NodeSettings:
    """What ``acnet ros2`` runs; every field is a read-only ROS parameter of the node."""

    model: str = _param("", "exported model: .onnx (ONNX Runtime) or .engine/.plan (TensorRT)")
    backend: str = _param("auto", "auto (by suffix), onnxruntime or tensorrt")
    device: str = _param("", "cpu, cuda or cuda:N ('' = cpu for .onnx, cuda:0 for engines)")
    threads: int = _param(0, "ONNX Runtime intra-op threads (0 = its own choice)")
    rgb_topic: str = _param(REALSENSE_COLOR, "colour input: rgb8, bgr8, rgba8 or bgra8 (mono8 too)")
    depth_topic: str = _param(REALSENSE_ALIGNED_DEPTH, "depth input registered to colour: 16UC1 mm or 32FC1 m")
    labels_topic: str = _param("/acnet/labels", "mono8 class ids (0 void), the RGB image's header")
    confidence_topic: str = _param("/acnet/confidence", "mono8 top class probability x 255")
    overlay_topic: str = _param("/acnet/overlay", "rgb8 class colours over the image")
    label_info_topic: str = _param("/acnet/label_info", "class names as JSON (std_msgs/String, transient local)")
    diagnostics_topic: str = _param("/diagnostics", "diagnostic_msgs/DiagnosticArray")
    sync_tolerance: float = _param(0.02, "seconds: RGB and depth header stamps closer than this pair")
    queue_size: int = _param(1, "synced pairs that may wait for inference; beyond it the oldest is dropped")
    qos_reliability: str = _param("reliable", "input subscriptions: reliable or best_effort")
    qos_durability: str = _param("volatile", "input subscriptions: volatile or transient_local")
    qos_depth: int = _param(2, "history depth of the input subscriptions")
    publish_labels: bool = _param(True, "publish labels_topic")
    publish_confidence: bool = _param(True, "publish confidence_topic (models with logits)")
    publish_overlay: bool = _param(False, "publish overlay_topic")
    overlay_alpha: float = _param(0.5, "colour weight in the overlay, 0..1")
    diagnostics_period: float = _param(1.0, "seconds between DiagnosticArray messages")

    TOPICS = ("rgb_topic", "depth_topic", "labels_topic", "confidence_topic", "overlay_topic", "label_info_topic",
              "diagnostics_topic")

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def help(cls, name: str) -> str:
        return next(f.metadata["help"] for f in dataclasses.fields(cls) if f.name == name)

    @classmethod
    def from_values(cls, values: dict) -> "NodeSettings":
        """Settings from parameter values (name -> value), each checked; unknown names are refused."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for name, value in values.items():
            if name not in known:
                raise ConfigError(f"unknown parameter {name!r}; parameters: {', '.join(known)}")
            kwargs[name] = _typed(name, value, type(known[name].default))
        settings = cls(**kwargs)
        settings.check()
        return settings

    def check(self) -> "NodeSettings":
        """Refuse values no node can run with, naming the parameter."""
        for name in self.names():
            setattr(self, name, _typed(name, getattr(self, name), type(_default(name))))
        if not self.model:
            raise ConfigError("parameter model: give the model file (acnet ros2 MODEL, or -p model:=PATH)")
        _choice("backend", self.backend, BACKENDS)
        _choice("qos_reliability", self.qos_reliability, RELIABILITY)
        _choice("qos_durability", self.qos_durability, DURABILITY)
        if self.threads < 0:
            raise ConfigError(f"parameter threads must be 0 (ONNX Runtime's choice) or more, got {self.threads}")
        for name in ("queue_size", "qos_depth"):
            if getattr(self, name) < 1:
                raise ConfigError(f"parameter {name} must be at least 1, got {getattr(self, name)}")
        if not self.sync_tolerance >= 0:
            raise ConfigError(f"parameter sync_tolerance must be 0 or more seconds, got {self.sync_tolerance}")
        if not 0.0 <= self.overlay_alpha <= 1.0:
            raise ConfigError(f"parameter overlay_alpha must lie in [0, 1], got {self.overlay_alpha}")
        if not self.diagnostics_period > 0:
            raise ConfigError(f"parameter diagnostics_period must be positive seconds, got {self.diagnostics_period}")
        for name in self.TOPICS:
            check_topic_name(getattr(self, name), f"parameter {name}")
        if self.rgb_topic == self.depth_topic:
            raise ConfigError(f"parameters rgb_topic and depth_topic name the same topic {self.rgb_topic}")
        if not (self.publish_labels or self.publish_confidence or self.publish_overlay):
            raise ConfigError("publish_labels, publish_confidence and publish_overlay are all false: nothing to publish")
        return self


def _default(name: str):
    return next(f.default for f in dataclasses.fields(NodeSettings) if f.name == name)


def _typed(name: str, value, kind: type):
    """``value`` as the parameter's type (an integer is a fine double), or a ConfigError naming it."""
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = is_integer(value)
    elif kind is float:
        ok = is_finite_number(value)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        expected = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}[kind]
        raise ConfigError(f"parameter {name} must be {expected}, got {value!r}")
    return value


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"parameter {name} must be one of {', '.join(choices)}, got {value!r}")
