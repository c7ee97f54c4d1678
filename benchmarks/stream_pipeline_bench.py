"""Pipelined runner against a plain loop, over one RealSense recording of 480x640 frames.

    python benchmarks/stream_pipeline_bench.py MODEL.onnx OUT.json [--frames 60] [--markdown OUT.md]

Makes a RealSense recording (librealsense's software device and recorder)
of the six real NYUv2 frames repeated to ``--frames`` (480x640, depth in
millimetres), then, in one run:

1. plain loop: ``for frame in source: segmenter.segment(...)``;
2. ``Pipeline(segmenter, source)`` over the same recording (labels only, the same work);
3. each stage alone, with the threads it has in the pipeline (reading the
   recording; preprocessing and postprocessing on one Python thread;
   inference with the Segmenter's ONNX Runtime threads), giving the ceiling
   ``1 / slowest stage``, and the CPU time of each, giving a second bound,
   ``cores / CPU time of all stages`` (two cores cannot overlap more);
4. the pipeline fed below its throughput (a paced, camera-like replay of the
   same frames, ``drop="none"``), where no frame waits for another, so
   end-to-end latency minus the stages' own times is what the runner adds
   per frame (hand-offs between threads, bookkeeping).

Prints a table and writes every figure (and the load average) as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.stream_recordings import nyu_frames, record_realsense  # noqa: E402

from acnet.runtime import Segmenter  # noqa: E402
from acnet.runtime.pipeline import Pipeline  # noqa: E402
from acnet.runtime.sources import Frame, Source, open_source  # noqa: E402


class Paced(Source):
    """Frames held in memory, handed out at ``fps`` like a camera (but never dropped: drop="none")."""

    live = True

    def __init__(self, frames: list[Frame], fps: float) -> None:
        self.frames, self.period = frames, 1.0 / fps

    def __iter__(self):
        start = time.perf_counter()
        for i, f in enumerate(self.frames):
            time.sleep(max(0.0, start + i * self.period - time.perf_counter()))
            yield Frame(f.rgb, f.depth, f.depth_scale, f.stamp, i, f.name)


def ms(values):
    return {"median": 1000 * statistics.median(values), "mean": 1000 * statistics.fmean(values)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads in the pipeline (default: its own)")
    ap.add_argument("--plain-threads", type=int, default=None, help="ONNX Runtime intra-op threads in the plain loop (default: its own)")
    ap.add_argument("--markdown", default=None)
    args = ap.parse_args()
    load_start = os.getloadavg()
    shared = ROOT.parent / "shared" / "data"
    real = [(rgb, depth) for _, rgb, depth in nyu_frames(shared)]
    frames = [real[i % len(real)] for i in range(args.frames)]
    tmp = Path(tempfile.mkdtemp(prefix="acnet-stream-bench-"))
    rec = record_realsense(tmp / "nyu480x640.db3", frames, depth_scale=0.001)
    spec = f"realsense:{rec}"
    h, w = frames[0][0].shape[:2]

    # 1. plain loop, at its own best settings
    with Segmenter(args.model, threads=args.plain_threads) as plain:
        plain.segment(*frames[0], 0.001)  # warm-up: session and arena
        start = time.perf_counter()
        with open_source(spec) as source:
            n_plain = sum(1 for f in source if plain.segment(f.rgb, f.depth, f.depth_scale) is not None)
        plain_s = time.perf_counter() - start

    seg = Segmenter(args.model, threads=args.threads)
    seg.segment(*frames[0], 0.001)

    # 2. pipeline, same recording, same work
    with open_source(spec) as source:
        pipeline = Pipeline(seg, source)
        cpu0 = time.process_time()
        arrivals = [time.perf_counter() for _ in pipeline]
        pipeline_cpu_s = time.process_time() - cpu0
    n_pipe = len(arrivals)
    stats = pipeline.stats()
    steady_fps = (n_pipe - 1) / (arrivals[-1] - arrivals[0])  # first to last result: without filling the pipeline

    # 3. stages alone (and the CPU time each takes, in every thread of the process)
    read = []
    cpu = {}
    cpu0 = time.process_time()
    with open_source(spec) as source:
        it = iter(source)
        held = []
        while True:
            t = time.perf_counter()
            try:
                f = next(it)
            except StopIteration:
                break
            read.append(time.perf_counter() - t)
            held.append(f)
    cpu["capture"] = time.process_time() - cpu0
    pre, inf, post = [], [], []
    inputs = []
    cpu0 = time.process_time()
    for f in held:
        t = time.perf_counter()
        inputs.append(seg.preprocess(f.rgb, f.depth, f.depth_scale))
        pre.append(time.perf_counter() - t)
    cpu["preprocess"] = time.process_time() - cpu0
    outputs = []
    cpu0 = time.process_time()
    for x in inputs:
        t = time.perf_counter()
        outputs.append(seg.infer([x])[0])
        inf.append(time.perf_counter() - t)
    cpu["inference"] = time.process_time() - cpu0
    cpu0 = time.process_time()
    for o in outputs:
        t = time.perf_counter()
        seg.postprocess(o, h, w)
        post.append(time.perf_counter() - t)
    cpu["postprocess"] = time.process_time() - cpu0
    alone = {"capture": ms(read), "preprocess": ms(pre), "inference": ms(inf), "postprocess": ms(post)}
    cpu_ms = {k: 1000 * v / len(held) for k, v in cpu.items()}
    slowest = max(alone, key=lambda k: alone[k]["mean"])
    ceiling_fps = 1000.0 / alone[slowest]["mean"]
    # Overlap cannot beat the cores either: all stages' CPU time per frame, spread over the cores at best.
    cores = min(len(os.sched_getaffinity(0)), len(alone))
    cpu_bound_fps = 1000.0 * cores / sum(cpu_ms.values())

    # 4. below capacity: what the runner adds to latency
    paced_fps = 0.6 * stats.fps
    paced = Pipeline(seg, Paced(held, paced_fps), drop="none")
    overhead = []
    for r in paced:
        overhead.append(r.latency - sum(r.times[s] for s in ("preprocess", "inference", "postprocess")))
    paced_stats = paced.stats()
    seg.close()

    record = {
        "command": " ".join(["python", "benchmarks/stream_pipeline_bench.py", *sys.argv[1:]]),
        "model": args.model,
        "model_input": list(seg.input_size),
        "frames": args.frames,
        "frame_size": [h, w],
        "source": "RealSense recording (.db3, librealsense software device) of the six NYUv2 samples repeated",
        "plain_loop": {"frames": n_plain, "seconds": plain_s, "fps": n_plain / plain_s},
        "pipeline": {**stats.to_dict(), "frames": n_pipe, "steady_fps": steady_fps,
                     "cpu_ms_per_frame": 1000 * pipeline_cpu_s / n_pipe, "cores_used": pipeline_cpu_s / stats.seconds},
        "stages_alone_ms": alone,
        "stages_alone_cpu_ms_per_frame": cpu_ms,
        "cpu_bound_fps": cpu_bound_fps,
        "cores": cores,
        "slowest_stage": slowest,
        "ceiling_fps": ceiling_fps,
        "speedup_vs_plain": stats.fps / (n_plain / plain_s),
        "fraction_of_ceiling": stats.fps / ceiling_fps,
        "steady_fraction_of_ceiling": steady_fps / ceiling_fps,
        "paced": {"fps_offered": paced_fps, **paced_stats.to_dict(),
                  "runner_added_ms": {"median": 1000 * float(np.median(overhead)), "p90": 1000 * float(np.percentile(overhead, 90)),
                                      "p99": 1000 * float(np.percentile(overhead, 99)),
                                      "samples": [1000 * v for v in overhead]}},
        "environment": {"load_average_start": list(load_start), "load_average_end": list(os.getloadavg()),
                        "cpu_count": os.cpu_count(), "python": platform.python_version(),
                        "onnxruntime_threads": {"pipeline": args.threads, "plain_loop": args.plain_threads}, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    }
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        f"plain loop: {record['plain_loop']['fps']:.2f} frames/s; pipeline: {stats.fps:.2f} frames/s "
        f"({record['speedup_vs_plain']:.2f}x the plain loop; {steady_fps:.2f} frames/s from the first result to the last)",
        f"ceiling: 1 / slowest stage alone ({slowest}, mean {alone[slowest]['mean']:.2f} ms) = {ceiling_fps:.2f} frames/s; "
        f"pipeline at {100 * record['fraction_of_ceiling']:.0f} % of it ({100 * record['steady_fraction_of_ceiling']:.0f} % steady; target >= 90 %)",
        f"bound by the CPU: {cores} cores / {sum(cpu_ms.values()):.1f} ms of CPU per frame in all stages = {cpu_bound_fps:.2f} frames/s "
        f"(pipeline at {100 * stats.fps / cpu_bound_fps:.0f} % of it; it used {record['pipeline']['cores_used']:.2f} cores, "
        f"{record['pipeline']['cpu_ms_per_frame']:.1f} ms of CPU per frame)",
        "",
        "| stage | alone, median ms | alone, mean ms | alone, CPU ms | in the pipeline, median ms | p90 | p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in alone:
        p = stats.stages[s]
        lines.append(f"| {s} | {alone[s]['median']:.2f} | {alone[s]['mean']:.2f} | {cpu_ms[s]:.2f} | {p['median']:.2f} | {p['p90']:.2f} | {p['p99']:.2f} |")
    e, a = paced_stats.end_to_end, record["paced"]["runner_added_ms"]
    lines += [
        "",
        f"end to end at full speed: median {stats.end_to_end['median']:.1f} ms, p90 {stats.end_to_end['p90']:.1f}, p99 {stats.end_to_end['p99']:.1f} (frames wait behind the slowest stage)",
        f"end to end below capacity ({paced_fps:.1f} frames/s offered): median {e['median']:.1f} ms, p90 {e['p90']:.1f}, p99 {e['p99']:.1f}; "
        f"added by the runner per frame (end to end minus preprocess + inference + postprocess): median {a['median']:.2f} ms, "
        f"p90 {a['p90']:.2f}, p99 {a['p99']:.2f} (target <= 2 ms); of it waiting between steps and for the reader's "
        f"thread to wake: median {paced_stats.queue_wait['median']:.2f} ms",
        f"load average {load_start[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end",
    ]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")


if __name__ == "__main__":
    main()
