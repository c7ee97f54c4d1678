"""``acnet ros2``: spin the segmentation node (settings as ROS parameters, ``--ros-args`` as in ``ros2 run``)."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import tempfile

import click

from acnet.runtime.ros2.settings import NodeSettings
from acnet.errors import AcnetError, ConfigError
from acnet.runtime.ros2 import require_rclpy
from acnet.runtime.ros2.fastdds import use_large_image_profile


def _parameter_help() -> str:
    rows = []
    for f in dataclasses.fields(NodeSettings):
        default = str(f.default).lower() if isinstance(f.default, bool) else repr(f.default)
        rows.append(f"  {f.name} ({default}): {f.metadata['help']}" if f.name != "model" else
                    f"  model: {f.metadata['help']} (MODEL sets it)")
    return "\n".join(rows)


HELP = f"""Segment live RGB-D images from ROS 2 topics with MODEL (.onnx or a TensorRT engine).

\b
Subscribes to synced colour and depth images (realsense-ros 4.x's topics by
default) and publishes mono8 labels and confidence (and an rgb8 overlay)
with each colour image's header, the class names (latched) and diagnostics.
Settings are ROS parameters; everything after --ros-args goes to ROS as in
`ros2 run`:

\b
    acnet ros2 acnet.onnx --ros-args -p qos_reliability:=best_effort \\
        -r /acnet/labels:=/segmentation/mask -r __node:=segmenter

\b
Parameters (default):
{_parameter_help()}

\b
Fast DDS: unless you configured it (FASTDDS_DEFAULT_PROFILES_FILE, ...), the
node gives itself a 16 MiB shared-memory segment, as camera-size images need;
--fastdds-profile prints that profile's path, for the camera driver's side.

Ctrl-C stops it (exit 130).
"""


@click.command("ros2", help=HELP, context_settings={"ignore_unknown_options": True, "help_option_names": ["-h", "--help"]})
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[MODEL] [--ros-args ...]")
def ros2(args):
    args = list(args)
    if args == ["--fastdds-profile"]:
        from acnet.runtime.ros2.fastdds import PROFILE

        click.echo(str(PROFILE))
        return
    ros_args = args[args.index("--ros-args"):] if "--ros-args" in args else []
    mine = args[: len(args) - len(ros_args)]
    if len(mine) > 1 or any(a.startswith("-") for a in mine):
        raise ConfigError(f"usage: acnet ros2 [MODEL] [--ros-args ...]; unexpected {' '.join(mine[1:] or mine)!r} "
                          "(settings are ROS parameters: --ros-args -p name:=value)")
    settings = NodeSettings(model=mine[0] if mine else "")
    run_node(settings, ros_args)


def run_node(settings: NodeSettings, ros_args: list[str]) -> None:
    """Start rclpy with ``ros_args``, spin the node until Ctrl-C or a failure, then shut down cleanly."""
    rclpy = require_rclpy()  # after it, rclpy imports: `acnet ros2 --help` and its errors work without ROS 2
    from rclpy.context import Context
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from acnet.runtime.ros2.node import SegmentationNode  # imports rclpy, as above

    transport = use_large_image_profile()  # before rclpy starts Fast DDS
    context = Context()
    with _StderrHeld() as held:  # rcl logs its own line about bad arguments before raising: ours says it all
        try:  # acnet's own Ctrl-C handling stays in place (exit 130 with one line)
            rclpy.init(args=["acnet", *ros_args], context=context, signal_handler_options=SignalHandlerOptions.NO)
        except Exception as exc:  # rcl's argument parser: an unknown --ros-args flag, a bad remap or parameter
            held.drop()
            unknown = "UnknownROSArgs" in type(exc).__name__  # its text is only the list of them
            reason = f"unknown ROS arguments {exc}" if unknown else _rcl_message(exc)
            raise ConfigError(f"--ros-args {' '.join(ros_args[1:])!r}: {reason}") from None
    node = None
    try:
        try:
            node = SegmentationNode(settings, context=context)
        except Exception as exc:
            raise _as_config_error(exc) from None
        node.get_logger().info(transport)
        # Not rclpy's EventsExecutor: in rclpy 9.1.2 it fails on callbacks that take the MessageInfo (the
        # counts of messages lost), and it gained only 0.2-0.4 ms over this one in a 640x480 round trip here.
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        while context.ok() and node.failure is None:
            try:
                executor.spin_once(timeout_sec=0.2)
            except ExternalShutdownException:
                break
        if node.failure is not None:
            raise node.failure
    finally:
        if node is not None:
            node.destroy_node()
        if context.ok():
            context.try_shutdown()


def _rcl_message(exc: BaseException) -> str:
    """rcl's error text on one line, without its ' at /src/rcl/arguments.c:NNN' source locations."""
    text = re.sub(r",? at \S+\.(?:c|cpp):\d+", "", " ".join(str(exc).split()))
    return text.strip() or type(exc).__name__


class _StderrHeld:
    """Hold what C libraries write to file descriptor 2 in this block; print it after, unless dropped."""

    def __enter__(self) -> "_StderrHeld":
        sys.stderr.flush()
        self.file = tempfile.TemporaryFile()
        self.saved = os.dup(2)
        os.dup2(self.file.fileno(), 2)
        self.keep = True
        return self

    def drop(self) -> None:
        self.keep = False

    def __exit__(self, *exc) -> None:
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.file.seek(0)
        text = self.file.read()
        self.file.close()
        if text and self.keep:
            sys.stderr.buffer.write(text)
            sys.stderr.flush()


def _as_config_error(exc: Exception) -> Exception:
    """rclpy's own refusals at start (a parameter's type, a name) as one ConfigError; acnet's errors as they are."""
    if isinstance(exc, AcnetError):
        return exc
    module = type(exc).__module__ or ""
    if module.startswith("rclpy") or "RCL" in type(exc).__name__:
        return ConfigError(_rcl_message(exc))
    return exc
