"""The ROS 2 node against the stream pipeline, on the same six real NYUv2 frames (480x640), in one run.

    python benchmarks/ros2_node_bench.py MODEL.onnx [--out benchmarks/results/ros2-node-quickstart-480x640.json]
        [--rate 10] [--loops 10] [--rounds 2] [--overload-pairs 300] [--threads 1]

Latency, below capacity (``--rate`` pairs/s, the six frames ``--loops`` times
per round), rounds alternating:

- **node**: a real rclpy publisher sends stamped ``rgb8`` + ``16UC1`` pairs to
  the installed ``acnet ros2`` (its own process) and a subscriber in the
  publisher's process takes the labels back: publish to labels received,
  per frame (one clock). With the default outputs (labels and confidence)
  and with labels only. The publisher plays a camera driver given acnet's
  Fast DDS profile (``acnet ros2 --fastdds-profile``) and sends serialized
  images, as a C++ driver does.
- **stream**: the same frames, decoded, through the same
  :class:`~acnet.runtime.pipeline.Pipeline` ``acnet stream`` runs (queue
  size 1 as the node's), handed over at the same rate: hand-over to result.
  With and without confidence, to match the node's two runs.

The node's figure minus the stream's is what the node adds per frame (DDS
both ways, decoding, pairing, publishing; target <= 2 ms median).

- **echo**: a do-nothing node in the node's place (tests/support/ros2_harness.py
  ``echo``): it takes both images of each pair and answers at once with blank
  outputs of the same size, so its round trip is DDS and rclpy alone, the
  floor under the node.
- **Fast DDS's default transports**: the node and a do-nothing node once
  each with neither side given acnet's Fast DDS profile (a 512 KiB
  shared-memory segment, too small for a 640x480 image).

Throughput: the node fed 60 pairs/s for ``--overload-pairs`` pairs (labels
per second out), beside the installed ``acnet stream`` over a ROS 2 bag of
the same frames (its own --json figure, every frame processed).

Every node run is in a private network namespace with only loopback up
(tests/support/ros2_harness.py). Needs ../shared/data (the NYUv2 samples), rclpy
and rosbags. Prints a table and writes every figure and the load average as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.ros2_harness import netns_unavailable, rclpy_unavailable, run_in_netns  # noqa: E402
from support.stream_recordings import nyu_frames, ros2_typestore, write_ros2_bag  # noqa: E402

from acnet.runtime import Segmenter  # noqa: E402
from acnet.runtime.pipeline import Pipeline  # noqa: E402
from acnet.runtime.sources import Frame, Source  # noqa: E402
from acnet.runtime.sources.rosbag import image_message  # noqa: E402

RGB_TOPIC = "/camera/camera/color/image_raw"
DEPTH_TOPIC = "/camera/camera/aligned_depth_to_color/image_raw"


def summary(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"median": float(np.median(a)), "p90": float(np.percentile(a, 90)), "p99": float(np.percentile(a, 99)),
            "mean": float(a.mean()), "frames": int(a.size)}


class Paced(Source):
    """The frames at ``rate`` per second, like a camera; never dropped (the rate is below capacity)."""

    live = True

    def __init__(self, frames: list[tuple[np.ndarray, np.ndarray]], rate: float, loops: int) -> None:
        self.frames, self.period, self.loops = frames, 1.0 / rate, loops

    def __iter__(self):
        start = time.perf_counter()
        for n in range(self.loops * len(self.frames)):
            time.sleep(max(0.0, start + n * self.period - time.perf_counter()))
            rgb, depth = self.frames[n % len(self.frames)]
            yield Frame(rgb, depth, 0.001, n / 30, n, str(n))


def stream_round(model: Path, frames, rate: float, loops: int, confidence: bool, threads: int) -> dict:
    with Segmenter(model, threads=threads) as seg:
        pipeline = Pipeline(seg, Paced(frames, rate, loops), queue_size=1, drop="none", confidence=confidence,
                            history=None)
        latency = [1000 * r.latency for r in pipeline]
        stats = pipeline.stats().to_dict()
    return {"latency_ms": summary(latency), "stages_ms": stats["stages_ms"], "throughput_fps": stats["throughput_fps"]}


def node_round(model: Path, frames_npz: Path, rate: float, loops: int, confidence: bool, work: Path, threads: int,
               echo: bool = False, default_transport: bool = False) -> dict:
    """The node (or, with ``echo``, a do-nothing node answering each pair at once: DDS and rclpy alone).

    ``default_transport``: the publisher and the node both on Fast DDS's default transports, as before
    acnet gave them its profile (acnet.runtime.ros2.fastdds).
    """
    config = {"model": str(model), "frames": str(frames_npz), "rgb_topic": RGB_TOPIC, "depth_topic": DEPTH_TOPIC,
              "period": 1.0 / rate, "repeat": loops, "keep_images": False, "wait": 20.0, "linger": 1.2,
              "params": {"queue_size": 1, "publish_confidence": confidence, "threads": threads},
              "outputs": ["labels", "confidence"] if confidence else ["labels"],
              "echo": echo, "echo_size": [480, 640], "expect_all": not default_transport}
    if default_transport:
        config.update(camera_profile=False, node_env={"FASTDDS_BUILTIN_TRANSPORTS": "DEFAULT"})
    result = run_in_netns(config, work, timeout=300)
    got = result["got"]["labels"]
    latency = [1000 * (v["received"] - result["sent"][s]) for s, v in got.items()]
    record = {"latency_ms": summary(latency), "published": len(result["sent"]), "received": len(got),
              "match_s": result["match_s"]}
    if not echo:
        record["node_diagnostics"] = result["diagnostics"][-1]["values"]
    return record


def node_throughput(model: Path, frames_npz: Path, pairs: int, work: Path) -> dict:
    config = {"model": str(model), "frames": str(frames_npz), "rgb_topic": RGB_TOPIC, "depth_topic": DEPTH_TOPIC,
              "period": 1 / 60, "repeat": pairs // 6, "keep_images": False, "expect_all": False, "wait": 20.0,
              "linger": 1.2, "params": {"queue_size": 1}}
    result = run_in_netns(config, work, timeout=300)
    received = sorted(v["received"] for v in result["got"]["labels"].values())
    first_sent = min(result["sent"].values())
    seconds = received[-1] - first_sent if received else float("nan")  # from the first pair sent to the last labels
    values = result["diagnostics"][-1]["values"]
    return {"offered_fps": 60.0, "threads": "ONNX Runtime default", "published": len(result["sent"]), "labels_out": len(received), "seconds": seconds,
            "throughput_fps": len(received) / seconds if received else 0.0,
            "lost_before_the_node": {k: int(values[f"{k} lost before the node"]) for k in ("rgb", "depth")},
            "dropped_by_the_node": int(values["frames dropped"]), "node_diagnostics": values}


def stream_throughput(model: Path, frames, loops: int, work: Path) -> dict:
    typestore = ros2_typestore()
    bag = work / "nyu_bag"
    messages = []
    for n in range(loops * len(frames)):
        rgb, depth = frames[n % len(frames)]
        messages.append(("/rgb", image_message(typestore, rgb, "rgb8", 10 + n / 30, "camera")))
        messages.append(("/depth", image_message(typestore, depth, "16UC1", 10 + n / 30, "camera")))
    write_ros2_bag(bag, messages, typestore)
    out = work / "stream.json"
    acnet = str(Path(sys.executable).parent / "acnet")
    proc = subprocess.run([acnet, "stream", str(model), "--source", f"rosbag:{bag}?rgb=/rgb&depth=/depth",
                           "--queue-size", "1", "--json", str(out), "--no-progress"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"acnet stream failed: {proc.stderr}")
    record = json.loads(out.read_text())
    return {"frames": record["frames"], "throughput_fps": record["throughput_fps"], "end_to_end_ms": record["end_to_end_ms"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/ros2-node-quickstart-480x640.json")
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--loops", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--overload-pairs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1,
                        help="ONNX Runtime threads, node and stream alike (1: on 2 cores a 2-thread pool's wake-ups "
                             "moved a round's median inference time by up to 7 ms, more than the effect measured)")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    reason = rclpy_unavailable() or netns_unavailable()
    if reason:
        raise SystemExit(f"cannot run the node here: {reason}")
    load_start = os.getloadavg()
    frames = [(rgb, depth) for _, rgb, depth in nyu_frames(args.shared)]
    rounds: dict[str, list] = {"node": [], "node_labels_only": [], "stream": [], "stream_labels_only": [],
                               "echo": [], "echo_labels_only": []}
    with tempfile.TemporaryDirectory(prefix="ros2-bench-") as tmp:
        work = Path(tmp)
        npz = work / "nyu.npz"
        np.savez(npz, **{f"rgb_{i}": r for i, (r, _) in enumerate(frames)}, **{f"depth_{i}": d for i, (_, d) in enumerate(frames)})
        for r in range(args.rounds):  # alternating, so drift in the machine's load hits both sides alike
            print(f"round {r + 1}/{args.rounds}", flush=True)
            t = args.threads
            rounds["node"].append(node_round(args.model, npz, args.rate, args.loops, True, work / f"node{r}", t))
            rounds["stream"].append(stream_round(args.model, frames, args.rate, args.loops, True, t))
            rounds["echo"].append(node_round(args.model, npz, args.rate, args.loops, True, work / f"echo{r}", t, echo=True))
            rounds["node_labels_only"].append(node_round(args.model, npz, args.rate, args.loops, False, work / f"nodel{r}", t))
            rounds["stream_labels_only"].append(stream_round(args.model, frames, args.rate, args.loops, False, t))
            rounds["echo_labels_only"].append(node_round(args.model, npz, args.rate, args.loops, False,
                                                         work / f"echol{r}", t, echo=True))
        print("Fast DDS's default transports", flush=True)
        default_transport = {"node": node_round(args.model, npz, args.rate, args.loops, True, work / "node_default",
                                                args.threads, default_transport=True),
                             "echo": node_round(args.model, npz, args.rate, args.loops, True, work / "echo_default",
                                                args.threads, echo=True, default_transport=True)}
        print("throughput", flush=True)
        throughput = {"node": node_throughput(args.model, npz, args.overload_pairs, work / "overload"),
                      "stream": stream_throughput(args.model, frames, args.loops, work)}
    med = {k: statistics.median(x["latency_ms"]["median"] for x in v) for k, v in rounds.items()}
    p99 = {k: statistics.median(x["latency_ms"]["p99"] for x in v) for k, v in rounds.items()}
    added = {"labels_and_confidence": med["node"] - med["stream"], "labels_only": med["node_labels_only"] - med["stream_labels_only"]}
    # Inside the node: pair complete -> every output published (its diagnostics, the latest frames); the rest of
    # publish -> labels received is DDS both ways, the executors taking messages, and waiting for the partner.
    inside = {k: statistics.median(float(x["node_diagnostics"]["latency median ms"]) for x in rounds[k])
              for k in ("node", "node_labels_only")}
    outside = {k: med[k] - inside[k] for k in inside}
    # The floor: a do-nothing node's round trip with the same messages (DDS and rclpy in two processes). What the
    # node adds beyond it is its own work: taking and checking the pair, handing it over, building its outputs.
    floor = {"labels_and_confidence": med["echo"], "labels_only": med["echo_labels_only"]}
    own = {k: added[k] - floor[k] for k in added}
    default = {k: v["latency_ms"] | {"received": v["received"], "published": v["published"]}
               for k, v in default_transport.items()}
    record = {
        "model": str(args.model), "frames": "nyuv2-samples/test (6 real frames, 480x640, 16UC1 mm)",
        "rate_fps": args.rate, "frames_per_round": args.loops * 6, "threads": args.threads, "rounds": rounds,
        "latency_median_ms": med, "latency_p99_ms": p99, "node_adds_median_ms": added, "target_adds_ms": 2.0,
        "node_inside_median_ms": inside, "node_transport_and_executors_median_ms": outside,
        "dds_floor_median_ms": floor, "node_adds_beyond_the_floor_median_ms": own,
        "fastdds_default_transports": default,
        "throughput": throughput,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "environment": {"load_average_start": list(load_start), "load_average_end": list(os.getloadavg()),
                        "cpu_count": os.cpu_count(), "python": platform.python_version(), "cpu": _cpu(),
                        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"latency at {args.rate:g} pairs/s, median of {args.rounds} rounds' medians (p99) in ms:")
    for k in rounds:
        print(f"  {k:<20} {med[k]:8.2f} ({p99[k]:.2f})")
    print(f"node adds {added['labels_and_confidence']:+.2f} ms (labels and confidence), "
          f"{added['labels_only']:+.2f} ms (labels only); target <= 2 ms")
    print(f"of the node's latency, inside it (pair complete to published): {inside['node']:.2f} ms "
          f"({inside['node_labels_only']:.2f} labels only); DDS both ways and the executors: {outside['node']:.2f} ms "
          f"({outside['node_labels_only']:.2f})")
    print(f"a do-nothing node's round trip (the DDS and rclpy floor): {floor['labels_and_confidence']:.2f} ms "
          f"({floor['labels_only']:.2f} labels only); the node's own work beyond it: {own['labels_and_confidence']:+.2f} ms "
          f"({own['labels_only']:+.2f})")
    print(f"on Fast DDS's default transports (no acnet profile on either side): node {default['node']['median']:.2f} ms "
          f"median, p90 {default['node']['p90']:.2f}, {default['node']['received']}/{default['node']['published']} "
          f"received; do-nothing node {default['echo']['median']:.2f} ms, p90 {default['echo']['p90']:.2f}, "
          f"{default['echo']['received']}/{default['echo']['published']} received")
    t = throughput
    lost = t["node"]["lost_before_the_node"]
    print(f"throughput: node {t['node']['throughput_fps']:.1f} labels/s out of 60 pairs/s offered "
          f"({t['node']['dropped_by_the_node']} pairs dropped by the node, {lost['rgb']} rgb and {lost['depth']} depth "
          f"messages lost before it); acnet stream {t['stream']['throughput_fps']:.1f} frames/s over a bag")
    print(f"load average {load_start[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end; wrote {args.out}")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
