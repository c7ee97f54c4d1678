"""CPU seconds per ONNX Runtime run of two models, one thread, and each one's operator shares.

    python benchmarks/ort_cpu_time_profile.py A.onnx B.onnx OUT.json [--iters 4]

On a machine shared with other work, wall-clock times swing with the load;
the CPU time a single-threaded run consumes barely does (the scheduler's
pauses do not count), so the ratio of two models' CPU times is a load-robust
comparison of the work they do. The two models are run alternately on the
same 480x640-style frame; then each is profiled by ONNX Runtime's own
profiler (3 runs) for the share of kernel time per operator type.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
import time

import numpy as np
import onnxruntime as ort

from acnet.benchmarks.environment import load_average
from acnet.export.verify import check_inputs
from acnet.runtime.backends.ort import OnnxRuntimeBackend


def op_shares(path: str, feeds: dict, runs: int = 3) -> dict:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        options.profile_file_prefix = os.path.join(tmp, "profile")
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        for _ in range(runs):
            session.run(None, feeds)
        with open(session.end_profiling()) as f:
            events = json.load(f)
    us, nodes = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            us[e["args"]["op_name"]] += e["dur"]
            nodes[e["args"]["op_name"]] += 1
    total = sum(us.values())
    return {op: {"share": v / total, "ms_per_run": v / 1000 / runs, "nodes": nodes[op] // runs}
            for op, v in us.most_common()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("out")
    parser.add_argument("--iters", type=int, default=4)
    args = parser.parse_args()
    load_start = load_average()
    backends = {p: OnnxRuntimeBackend(p, "cpu", threads=1) for p in (args.a, args.b)}
    info = backends[args.a].info
    rgb, depth = check_inputs(info, info.input_height, info.input_width, 1)
    for b in backends.values():
        b.run(rgb, depth)  # warm-up
    cpu = {p: [] for p in backends}
    for _ in range(args.iters):
        for p, b in backends.items():
            c0 = time.process_time()
            b.run(rgb, depth)
            cpu[p].append(time.process_time() - c0)
    feeds = {"rgb": rgb, "depth": depth}
    result = {
        "command": "benchmarks/ort_cpu_time_profile.py",
        "load_average": {"start": load_start, "end": load_average()},
        "cpu_s": cpu,
        "median_cpu_s": {p: float(np.median(v)) for p, v in cpu.items()},
        "ratio_b_over_a": float(np.median(cpu[args.b]) / np.median(cpu[args.a])),
        "op_shares": {p: op_shares(p, feeds) for p in backends},
        "load_average_end": load_average(),
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    for p in backends:
        print(f"{p}: median {result['median_cpu_s'][p]:.3f} CPU s per run (1 thread)")
        for op, s in list(result["op_shares"][p].items())[:6]:
            print(f"   {op:<16} {100 * s['share']:5.1f}%  {s['nodes']} nodes")
    print(f"B / A CPU time: {result['ratio_b_over_a']:.3f}")


if __name__ == "__main__":
    main()
