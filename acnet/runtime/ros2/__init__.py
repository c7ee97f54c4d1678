"""acnet's ROS 2 node: synced RGB and depth images in, ``mono8`` labels and confidence out.

``acnet ros2 MODEL`` spins :class:`~acnet.runtime.ros2.node.SegmentationNode`;
an application can also add the node to its own executor (single- or
multi-threaded)::

    import rclpy
    from acnet.runtime.ros2 import NodeSettings
    from acnet.runtime.ros2.node import SegmentationNode

    rclpy.init()
    node = SegmentationNode(NodeSettings(model="acnet.onnx"))
    rclpy.spin(node)

The settings (:mod:`.settings`) and the topic-pairing source (:mod:`.source`)
need no ROS install; the node needs rclpy and the ``sensor_msgs``,
``std_msgs`` and ``diagnostic_msgs`` messages, from ``pip install
'acnet[ros2]'`` or from a ROS 2 installation (``source /opt/ros/<distro>/setup.bash``).
"""

from __future__ import annotations

from acnet.errors import BackendUnavailableError
from acnet.runtime.ros2.settings import NodeSettings

#: The two ways to get rclpy, for every message that says it is missing.
INSTALL_HINT = ("pip install 'acnet[ros2]' (x86-64 Linux, Python 3.10 to 3.13), or, with ROS 2 installed from apt, "
                "`source /opt/ros/<distro>/setup.bash` before running acnet")


def require_rclpy():
    """Import rclpy and the messages the node uses, or raise one BackendUnavailableError naming both ways."""
    try:
        import diagnostic_msgs.msg  # noqa: F401
        import rclpy
        import sensor_msgs.msg  # noqa: F401
        import std_msgs.msg  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError(f"the ROS 2 node needs rclpy and the sensor_msgs, std_msgs and diagnostic_msgs "
                                      f"messages, which cannot be imported here ({exc}); {INSTALL_HINT}") from None
    return rclpy


__all__ = ["INSTALL_HINT", "NodeSettings", "require_rclpy"]
