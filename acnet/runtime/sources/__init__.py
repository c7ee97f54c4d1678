"""RGB-D sources for streaming: cameras, recordings, bags and stills, one interface.

A source is an iterable of :class:`Frame` named by a spec string, like the
training datasets' (``KIND[:TARGET][?KEY=VALUE&...]``):

``realsense[?serial=S&width=W&height=H&fps=F]``
    A live Intel RealSense camera (pyrealsense2). Depth is aligned to colour
    with librealsense's ``rs.align``; its unit is the device's depth scale.
``realsense:REC.db3`` or ``realsense:REC.bag``
    A RealSense recording, played back not in real time so every frameset
    comes out once, in order.
``rosbag:BAG?rgb=/topic&depth=/topic[&tolerance=0.02]``
    ``sensor_msgs/Image`` topics of a ROS 2 bag (or a ROS 1 ``.bag``, via
    rosbags), RGB and depth paired by header stamp within ``tolerance``
    seconds; encodings per REP 118.
``folder:ROOT[?split=NAME&depth_scale=0.001]``
    Stills in ``ROOT/{rgb,depth}`` or ``ROOT/SPLIT/{rgb,depth}`` matched by
    file name (the datasets' folder layout).
``glob:RGB_PATTERN?depth=DEPTH_PATTERN[&depth_scale=0.001]``
    Stills matched by file name from two globs (quote them in a shell;
    ``?`` starts the options, so patterns use ``*`` and ``[...]`` only).

Live sources (a camera) produce frames whether or not anyone reads them;
the others wait for the reader, so a pipeline can process every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from acnet._spec import Spec, parse_options
from acnet.errors import ConfigError
from acnet.runtime.sources.base import Frame, Source
from acnet.runtime.sources.realsense import RealSenseCamera, RealSenseRecording
from acnet.runtime.sources.rosbag import RosbagSource
from acnet.runtime.sources.stills import StillsSource

KINDS = {
    "realsense": ("serial", "width", "height", "fps"),
    "rosbag": ("rgb", "depth", "tolerance"),
    "folder": ("split", "depth_scale"),
    "glob": ("depth", "depth_scale"),
}
EXAMPLES = "realsense, realsense:REC.db3, rosbag:BAG?rgb=/topic&depth=/topic, folder:DIR or glob:'rgb/*.png'?depth='depth/*.png'"


@dataclass(frozen=True)
class SourceSpec(Spec):
    """A parsed source spec: ``kind``, ``target`` (may be empty) and options."""

    @classmethod
    def parse(cls, text: str) -> "SourceSpec":
        text = str(text).strip()
        if not text:
            raise ConfigError(f"empty source spec; use {EXAMPLES}")
        head, _, query = text.partition("?")
        kind, _, target = head.partition(":")
        if kind not in KINDS:
            raise ConfigError(f"unknown source spec {text!r}; use {EXAMPLES}")
        options = parse_options(text, query, kind, KINDS[kind], "source")
        if kind != "realsense" and not target:
            raise ConfigError(f"source spec {text!r} needs a path: {kind}:PATH")
        if kind == "realsense" and target and options:
            raise ConfigError(f"source spec {text!r}: options apply to a live camera, not to a recording")
        return cls(kind, target, options)

    def number(self, key: str, default: float | None, kind: type = float) -> float | None:
        if key not in self.options:
            return default
        try:
            value = kind(self.options[key])
        except ValueError:
            raise ConfigError(f"source spec {self}: {key} must be a{'n integer' if kind is int else ' number'}, got {self.options[key]!r}") from None
        if not value > 0:
            raise ConfigError(f"source spec {self}: {key} must be positive, got {self.options[key]!r}")
        return value



def open_source(spec: "str | SourceSpec") -> Source:
    """Open the source a spec names; see the module docstring for the syntax."""
    if not isinstance(spec, SourceSpec):
        spec = SourceSpec.parse(spec)
    if spec.kind == "realsense":
        if spec.target:
            return RealSenseRecording(spec.target)
        return RealSenseCamera(
            serial=spec.options.get("serial") or None,
            width=spec.number("width", 640, int),
            height=spec.number("height", 480, int),
            fps=spec.number("fps", 30, int),
        )
    if spec.kind == "rosbag":
        for key in ("rgb", "depth"):
            if not spec.options.get(key):
                raise ConfigError(f"source spec {spec}: name the {key} topic, e.g. rosbag:BAG?rgb=/camera/color/image_raw&depth=/camera/depth/image_rect_raw")
        return RosbagSource(spec.target, spec.options["rgb"], spec.options["depth"], tolerance=spec.number("tolerance", 0.02))
    scale = spec.number("depth_scale", None)
    if spec.kind == "folder":
        return StillsSource.from_folder(spec.target, split=spec.options.get("split"), depth_scale=scale)
    if not spec.options.get("depth"):
        raise ConfigError(f"source spec {spec}: give the depth pattern, glob:RGB_PATTERN?depth=DEPTH_PATTERN")
    return StillsSource.from_globs(spec.target, spec.options["depth"], depth_scale=scale)


__all__ = ["Frame", "KINDS", "Source", "SourceSpec", "open_source"]
