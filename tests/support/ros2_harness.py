"""Real ROS 2 traffic for the node's tests and benchmark, always inside a private network namespace.

:func:`run_in_netns` runs this file as a script under ``unshare -n`` with
only loopback up and ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``; there it
starts the installed ``acnet ros2`` in its own process (or, with
``in_process``, the node class on a multi-threaded executor; with ``echo``,
a do-nothing node, the benchmark's floor), publishes stamped Image pairs
from a real rclpy publisher (serialized, with acnet's Fast DDS profile
unless ``camera_profile`` is false, as a camera driver set up by the docs
sends them), subscribes to every output, and writes what came back to
``OUT/result.json`` and ``OUT/images.npz``. Nothing here imitates ROS: it
is rclpy and Fast DDS.

DDS binds every interface and multicasts discovery, so nothing that
creates a node may run outside such a namespace: :func:`main` refuses to
start unless it finds itself in one (only a loopback interface).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from acnet.runtime.ros2.fastdds import USER_SETTINGS as FASTDDS_SETTINGS  # no ROS needed to import
from acnet.runtime.sources.rosbag import IMAGE

NETNS_MARK = "ACNET_TEST_NETNS"


# --------------------------------------------------------------------------- outside the namespace


def netns_unavailable() -> str | None:
    """Why tests cannot make a private network namespace here, or None."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "`unshare` (util-linux) or `ip` (iproute2) is not installed"
    probe = subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"a private network namespace is not permitted here (unshare -n: {probe.stderr.strip() or probe.returncode})"
    return None


def rclpy_unavailable() -> str | None:
    """Why rclpy and the node's messages cannot be imported by this interpreter, or None."""
    probe = subprocess.run([sys.executable, "-c", "import rclpy, sensor_msgs.msg, std_msgs.msg, diagnostic_msgs.msg"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return f"rclpy is not importable ({last}); pip install 'acnet[ros2]'"
    return None


def run_in_netns(config: dict, out: Path, timeout: float = 120) -> dict:
    """Run one scenario (see :func:`main`) in a fresh private network namespace; its result.json as a dict."""
    out.mkdir(parents=True, exist_ok=True)
    result = out / "result.json"
    if result.exists():
        result.unlink()
    (out / "config.json").write_text(json.dumps(config))
    script = f"ip link set lo up && exec {sys.executable} {Path(__file__).resolve()} {out}"
    env = {**os.environ, NETNS_MARK: "1", "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_DOMAIN_ID": "0"}
    for name in ("ROS_STATIC_PEERS", "RMW_IMPLEMENTATION", *FASTDDS_SETTINGS):  # this machine's own DDS settings
        env.pop(name, None)
    proc = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, env=env,
                          timeout=timeout)
    if proc.returncode != 0 or not result.exists():
        raise AssertionError(f"harness exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return json.loads(result.read_text())


# --------------------------------------------------------------------------- inside the namespace


def _only_loopback() -> bool:
    """This process's network namespace has no interface but lo (/proc/net/dev is per namespace; /sys is not)."""
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return [line.split(":")[0].strip() for line in lines] == ["lo"]


def _shm_segments(pid: int) -> dict[str, int]:
    """Fast DDS's shared-memory segments the process has mapped (/dev/shm/fastdds_<id>), and their sizes in bytes:
    its own and those of the participants it reads from."""
    names = {line.split()[-1] for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
             if "/dev/shm/fastdds_" in line and "port" not in line}
    return {Path(n).name: os.path.getsize(n) for n in names if os.path.exists(n)}


def _refuse_outside_a_private_namespace() -> None:
    if os.environ.get(NETNS_MARK) != "1" or not _only_loopback():
        sys.exit("ros2_harness: refusing to start DDS outside a private network namespace with only loopback")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Harness:
    """A publisher of image pairs and a subscriber to the node's outputs, in one rclpy node."""

    def __init__(self, config: dict) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        from rclpy.executors import SingleThreadedExecutor

        from acnet.runtime.sources.rosbag import image_typestore

        self.rclpy, self.config = rclpy, config
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("acnet_test_harness", context=self.context)
        reliability = ReliabilityPolicy[config.get("publisher_reliability", "reliable").upper()]
        pub_qos = QoSProfile(depth=config.get("publisher_depth", 10), reliability=reliability,
                             durability=DurabilityPolicy.VOLATILE)
        self.rgb_pub = self.node.create_publisher(Image, config["rgb_topic"], pub_qos)
        self.depth_pub = self.node.create_publisher(Image, config["depth_topic"], pub_qos)
        self.lock = threading.Lock()
        self.sent: dict[int, float] = {}  # stamp (ns) -> publish time
        self.got: dict[str, dict[int, dict]] = {"labels": {}, "confidence": {}, "overlay": {}}
        self.arrays: dict[str, np.ndarray] = {}
        self.diagnostics: list[dict] = []
        sub_qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        # raw, read by rosbags as the node reads its inputs: the arrival time is taken before any conversion
        self.typestore = image_typestore()
        self.outputs = {kind: self.node.create_subscription(Image, f"/acnet/{kind}", lambda m, k=kind: self._on_image(k, m),
                                                            sub_qos, raw=True) for kind in self.got}
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.spinning = True
        self.spinner = threading.Thread(target=self._spin, daemon=True)
        self.spinner.start()

    def _spin(self) -> None:
        while self.spinning and self.context.ok():  # spin_once lets other threads run while it waits
            self.executor.spin_once(timeout_sec=0.05)

    def _on_image(self, kind: str, raw: bytes) -> None:
        now = time.perf_counter()
        msg = self.typestore.deserialize_cdr(raw, IMAGE)
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        record = {"encoding": msg.encoding, "height": msg.height, "width": msg.width, "step": msg.step,
                  "frame_id": msg.header.frame_id, "received": now, "bytes": len(msg.data)}
        with self.lock:
            self.got[kind][stamp] = record
            if self.config.get("keep_images", True):
                channels = 3 if msg.encoding == "rgb8" else 1
                shape = (msg.height, msg.width, channels) if channels > 1 else (msg.height, msg.width)
                self.arrays[f"{kind}_{stamp}"] = np.asarray(msg.data, np.uint8).reshape(shape).copy()

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            with self.lock:
                self.diagnostics.append({"level": int.from_bytes(status.level, "little") if isinstance(status.level, bytes)
                                         else int(status.level), "name": status.name, "message": status.message,
                                         "values": {kv.key: kv.value for kv in status.values}})

    def wait_matched(self, outputs: list[str], timeout: float = 20.0) -> float:
        """Seconds until the node's subscriptions and its ``outputs`` publishers are matched with ours."""
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            if (self.rgb_pub.get_subscription_count() and self.depth_pub.get_subscription_count()
                    and all(self.outputs[kind].get_publisher_count() for kind in outputs)):
                return time.perf_counter() - start
            time.sleep(0.05)
        raise TimeoutError("the node's subscriptions never matched the test publisher")

    def subscription_qos(self, topic: str) -> list[dict]:
        """The QoS the graph reports for every subscription to ``topic`` but ours."""
        infos = self.node.get_subscriptions_info_by_topic(topic)
        return [{"node": i.node_name, "reliability": i.qos_profile.reliability.name.lower(),
                 "durability": i.qos_profile.durability.name.lower(), "depth": i.qos_profile.depth}
                for i in infos if i.node_name != "acnet_test_harness"]

    def image(self, array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str):
        """A ``sensor_msgs/msg/Image`` (rosbags' type, sent serialized as a C++ camera driver sends it)."""
        from acnet.runtime.sources.rosbag import image_message

        return image_message(self.typestore, array, encoding, divmod(stamp_ns, 10**9), frame_id)

    def stamp(self, msg, stamp_ns: int) -> None:
        sec, nanosec = divmod(stamp_ns, 10**9)
        msg.header.stamp = self.typestore.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)

    def publish_pair(self, rgb_msg, depth_msg, stamp_ns: int) -> None:
        with self.lock:
            self.sent[stamp_ns] = time.perf_counter()
        # serialized here in 0.1 ms; rclpy's own message conversion took about 1 ms of the latency measured
        self.rgb_pub.publish(bytes(self.typestore.serialize_cdr(rgb_msg, IMAGE)))
        self.depth_pub.publish(bytes(self.typestore.serialize_cdr(depth_msg, IMAGE)))

    def wait_for(self, kind: str, stamps, timeout: float) -> bool:
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            with self.lock:
                if all(s in self.got[kind] for s in stamps):
                    return True
            time.sleep(0.02)
        return False

    def late_label_info(self, topic: str = "/acnet/label_info", timeout: float = 10.0) -> str | None:
        """Subscribe now (after the node published the class names) with transient local; what arrives."""
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import String

        got: list[str] = []
        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        sub = self.node.create_subscription(String, topic, lambda m: got.append(m.data), qos)
        end = time.perf_counter() + timeout
        while not got and time.perf_counter() < end:
            time.sleep(0.05)
        self.node.destroy_subscription(sub)
        return got[0] if got else None

    def close(self) -> None:
        self.spinning = False
        self.spinner.join(timeout=5)  # destroying the node under a spinning executor aborts in C++
        self.executor.shutdown(timeout_sec=5)  # destroying the node under a spinning executor aborts in C++
        self.node.destroy_node()
        self.context.try_shutdown()


def _bad_pair(h: Harness, kind: str, rgb: np.ndarray, depth: np.ndarray, depth_encoding: str, stamp: int):
    """A pair whose one fault is ``kind`` (each is dropped and counted by the node, which goes on)."""
    rgb_msg = h.image(rgb, "rgb8", stamp, "camera_color_optical_frame")
    depth_msg = h.image(depth, depth_encoding, stamp, "camera_color_optical_frame")
    if kind == "encoding":
        rgb_msg.encoding = "yuv422_yuy2"
    elif kind == "size":
        small = depth[: depth.shape[0] // 2, : depth.shape[1] // 2]
        depth_msg = h.image(small, depth_encoding, stamp, "camera_color_optical_frame")
    elif kind == "step":
        rgb_msg.step = rgb.shape[1] * 3 - 1
    elif kind == "truncated":
        depth_msg.data = depth_msg.data[: len(depth_msg.data) // 2]
    elif kind == "nan":
        depth_msg = h.image(np.full(depth.shape, np.nan, np.float32), "32FC1", stamp, "camera_color_optical_frame")
    else:
        raise ValueError(kind)
    return rgb_msg, depth_msg


def _to_encoding(rgb: np.ndarray, encoding: str) -> np.ndarray:
    return {"rgb8": rgb, "bgr8": rgb[..., ::-1],
            "rgba8": np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2),
            "bgra8": np.concatenate([rgb[..., ::-1], np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)}[encoding]


def _die_with_parent() -> None:
    """In the node's process before exec: the kernel kills it when the harness dies (a test's timeout)."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _start_node(config: dict, out: Path):
    params = [f"{k}:={json.dumps(v) if isinstance(v, bool) else v}" for k, v in config.get("params", {}).items()]
    ros_args = ["--ros-args", *sum((["-p", p] for p in params), [])]
    ros_args += sum((["-r", r] for r in config.get("remaps", [])), [])
    if config.get("in_process"):  # the node class on a multi-threaded executor in this process
        import rclpy
        from rclpy.executors import MultiThreadedExecutor

        from acnet.runtime.ros2 import NodeSettings
        from acnet.runtime.ros2.node import SegmentationNode

        context = rclpy.Context()
        rclpy.init(args=["node", *ros_args], context=context)
        node = SegmentationNode(NodeSettings(model=config["model"]), context=context)
        executor = MultiThreadedExecutor(num_threads=3, context=context)
        executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        return ("in_process", node, executor, spinner, context)
    stderr = open(out / "node.stderr", "w")
    env = {k: v for k, v in os.environ.items() if k not in FASTDDS_SETTINGS}  # the node chooses its own transports
    env.update(config.get("node_env", {}))
    if config.get("echo"):  # the floor: a node that only answers, in its own process, with acnet's transport
        from acnet.runtime.ros2.fastdds import use_large_image_profile

        use_large_image_profile(env)
        command = [sys.executable, str(Path(__file__).resolve()), "--echo", str(out)]
    else:
        command = [str(Path(sys.executable).parent / "acnet"), "ros2", config["model"], *ros_args]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=_die_with_parent, env=env)
    return ("process", proc, stderr)


def _stop_node(handle, result: dict, out: Path) -> None:
    if handle[0] == "in_process":
        _, node, executor, spinner, context = handle
        result["node_failure"] = repr(node.failure) if node.failure else None
        executor.shutdown(timeout_sec=5)
        spinner.join(timeout=5)
        node.destroy_node()
        context.try_shutdown()
        return
    _, proc, stderr = handle
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    stderr.close()
    result["node_rc"] = proc.returncode
    result["node_stderr"] = (out / "node.stderr").read_text()


def main(out: Path) -> None:
    """Run the scenario in ``OUT/config.json``; write ``OUT/result.json`` and ``OUT/images.npz``."""
    _refuse_outside_a_private_namespace()
    config = json.loads((out / "config.json").read_text())
    frames = np.load(config["frames"])
    count = len([k for k in frames.files if k.startswith("rgb_")])
    pairs = [(frames[f"rgb_{i}"], frames[f"depth_{i}"]) for i in range(count)]
    depth_encoding = config.get("depth_encoding", "16UC1")
    if config.get("camera_profile", True):  # the publisher plays a camera driver given acnet's Fast DDS profile
        from acnet.runtime.ros2.fastdds import PROFILE

        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(PROFILE)
    h = Harness(config)
    result: dict = {"config": config}
    ours = _shm_segments(os.getpid())  # made before the node starts: the node maps them too, to read our images
    node = _start_node(config, out)
    try:
        if node[0] == "process" and node[1].poll() is not None:
            raise RuntimeError("node exited at start")
        result["match_s"] = h.wait_matched(config.get("outputs", ["labels", "confidence"]), config.get("match_timeout", 30.0))
        time.sleep(config.get("settle", 0.5))  # the node's readers match our writers a moment after ours match theirs
        result["node_subscription_qos"] = h.subscription_qos(config["rgb_topic"])
        if node[0] == "process":
            result["rss_kib"] = [_rss_kib(node[1].pid)]
            result["node_shm_segments"] = {k: v for k, v in _shm_segments(node[1].pid).items() if k not in ours}
        stamps = []
        base = 1_700_000_000 * 10**9
        period = config.get("period", 0.3)
        rounds = config.get("repeat", 1)
        encoding = config.get("rgb_encoding", "rgb8")
        built = [(h.image(_to_encoding(rgb, encoding), encoding, 0, "camera_color_optical_frame"),
                  h.image(depth, depth_encoding, 0, "camera_color_optical_frame")) for rgb, depth in pairs]
        total = rounds * count
        start = time.perf_counter()
        for n in range(total):  # the same few messages, stamped anew: rclpy serializes each at publish
            stamp = base + n * 33_333_333
            rgb_msg, depth_msg = built[n % count]
            h.stamp(rgb_msg, stamp)
            h.stamp(depth_msg, stamp + config.get("depth_offset_ns", 0))
            time.sleep(max(0.0, start + n * period - time.perf_counter()))
            h.publish_pair(rgb_msg, depth_msg, stamp)
            stamps.append(stamp)
            if node[0] == "process" and n % max(1, total // 10) == 0:
                result["rss_kib"].append(_rss_kib(node[1].pid))
        result["publish_s"] = time.perf_counter() - start
        first = "labels" if config.get("labels", True) else "confidence"
        result["all_arrived"] = h.wait_for(first, stamps, config.get("wait", 15.0)) if config.get("expect_all", True) \
            else h.wait_for(first, stamps[-1:], config.get("wait", 15.0))
        for kind in config.get("bad", []):  # after the good frames; then one more good frame must still come out
            stamp = stamps[-1] + 10**9 * (1 + len(result.setdefault("bad_stamps", [])))
            rgb_msg, depth_msg = _bad_pair(h, kind, pairs[0][0], pairs[0][1], depth_encoding, stamp)
            h.publish_pair(rgb_msg, depth_msg, stamp)
            result["bad_stamps"].append(stamp)
            time.sleep(config.get("bad_period", 0.1))
        if config.get("bad"):
            stamp = result["bad_stamps"][-1] + 10**9
            rgb_msg = h.image(pairs[0][0], "rgb8", stamp, "camera_color_optical_frame")
            depth_msg = h.image(pairs[0][1], depth_encoding, stamp, "camera_color_optical_frame")
            h.publish_pair(rgb_msg, depth_msg, stamp)
            result["after_bad_stamp"] = stamp
            result["after_bad_arrived"] = h.wait_for(first, [stamp], 10.0)
        if node[0] == "process":
            result["rss_kib"].append(_rss_kib(node[1].pid))
        time.sleep(config.get("linger", 1.2))  # one more diagnostics message after the last frame
        if config.get("late_subscriber"):
            result["late_label_info"] = h.late_label_info()
        result["node_alive"] = node[1].poll() is None if node[0] == "process" else node[1].failure is None
    finally:
        _stop_node(node, result, out)
        with h.lock:
            result["sent"] = {str(k): v for k, v in h.sent.items()}
            result["got"] = {kind: {str(k): v for k, v in got.items()} for kind, got in h.got.items()}
            result["diagnostics"] = h.diagnostics
            arrays = dict(h.arrays)
        h.close()
        np.savez_compressed(out / "images.npz", **arrays)
        (out / "result.json").write_text(json.dumps(result))


def echo(out: Path) -> None:
    """A do-nothing node in the node's place: it takes both images of a pair, then answers at once with blank
    mono8 outputs of the pair's stamp, taken and sent serialized as the node does. Its round trip is what DDS
    and rclpy cost, the floor under the node's."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from acnet.runtime.ros2.node import OUTPUT_DEPTH, serialized_image
    from acnet.runtime.sources.rosbag import image_typestore

    _refuse_outside_a_private_namespace()
    config = json.loads((out / "config.json").read_text())
    store = image_typestore()
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("acnet_echo", context=context)
    qos = QoSProfile(depth=OUTPUT_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
    outputs = [node.create_publisher(Image, f"/acnet/{kind}", qos) for kind in config.get("outputs", ["labels"])]
    blank = np.zeros(tuple(config["echo_size"]), np.uint8)
    waiting: dict[str, set] = {"rgb": set(), "depth": set()}

    def take(stream: str, raw: bytes) -> None:
        header = store.deserialize_cdr(raw, IMAGE).header
        stamp = (header.stamp.sec, header.stamp.nanosec)
        other = waiting["depth" if stream == "rgb" else "rgb"]
        if stamp not in other:  # the first of its pair
            waiting[stream].add(stamp)
            return
        other.discard(stamp)
        for publisher in outputs:  # each output serialized on its own, as the node does
            publisher.publish(serialized_image(store, header, blank, "mono8"))

    inputs = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)  # the node's subscriptions, in its order
    node.create_subscription(Image, config["rgb_topic"], lambda raw: take("rgb", raw), inputs, raw=True)
    node.create_subscription(Image, config["depth_topic"], lambda raw: take("depth", raw), inputs, raw=True)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        while context.ok():
            executor.spin_once(timeout_sec=0.2)
    except (KeyboardInterrupt, ExternalShutdownException):  # the harness's SIGINT
        pass


if __name__ == "__main__":
    echo(Path(sys.argv[2])) if sys.argv[1] == "--echo" else main(Path(sys.argv[1]))


def make_slow_onnx(path: Path, height: int = 240, width: int = 320, channels: int = 32, layers: int = 6) -> Path:
    """A model of the tiny model's classes whose inference takes tens of ms on one core (3x3 convolutions)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from support.runtime_models import tiny_info

    info = tiny_info(input_height=height, input_width=width)
    rng = np.random.default_rng(11)
    inits, nodes = [], [helper.make_node("Concat", ["rgb", "depth"], ["x0"], axis=1)]
    shapes = [(channels, 4, 1, 1)] + [(channels, channels, 3, 3)] * layers + [(info.num_classes, channels, 1, 1)]
    for k, shape in enumerate(shapes):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), f"W{k}"))
        out = "logits" if k == len(shapes) - 1 else f"x{k + 1}"
        pads = [1, 1, 1, 1] if shape[-1] == 3 else [0, 0, 0, 0]
        nodes.append(helper.make_node("Conv", [f"x{k}", f"W{k}"], [out], pads=pads))
    graph = helper.make_graph(nodes, "slow", [
        helper.make_tensor_value_info("rgb", TensorProto.FLOAT, [1, 3, height, width]),
        helper.make_tensor_value_info("depth", TensorProto.FLOAT, [1, 1, height, width]),
    ], [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, info.num_classes, height, width])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    for key, value in info.to_props().items():
        model.metadata_props.add(key=key, value=value)
    path.write_bytes(model.SerializeToString())
    return path
