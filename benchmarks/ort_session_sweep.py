"""Profile ONNX Runtime CPU session options on an acnet ONNX model (same input throughout).

    python benchmarks/ort_session_sweep.py MODEL.onnx OUT.json [--iters 5]

Times ``session.run`` (median of ``--iters`` after 2 warm-up runs) for the
options that matter on CPU, then profiles the best setting with ONNX
Runtime's own profiler and prints the share of time per operator type. Used
to decide whether the runtime's session options need tuning (they did not:
see README.md here).
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

from acnet.export.verify import check_inputs
from acnet.runtime.backends.ort import OnnxRuntimeBackend

G = ort.GraphOptimizationLevel
VARIANTS = {
    "runtime default (ALL, threads=default)": {},
    "ALL, 2 threads": dict(threads=2),
    "ALL, 1 thread": dict(threads=1),
    "EXTENDED (no NCHWc layout)": dict(level=G.ORT_ENABLE_EXTENDED),
    "BASIC (constant folding, no fusions)": dict(level=G.ORT_ENABLE_BASIC),
    "DISABLE_ALL": dict(level=G.ORT_DISABLE_ALL),
    "ALL, no spinning": dict(spin="0"),
    "ALL, no mem pattern": dict(mempat=False),
    "ALL, no arena": dict(arena=False),
    "ALL, parallel execution": dict(parallel=True),
}


def session(path, level=G.ORT_ENABLE_ALL, threads=0, spin=None, mempat=True, arena=True, parallel=False, profile=None):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = level
    so.intra_op_num_threads = threads
    so.enable_mem_pattern = mempat
    so.enable_cpu_mem_arena = arena
    so.execution_mode = ort.ExecutionMode.ORT_PARALLEL if parallel else ort.ExecutionMode.ORT_SEQUENTIAL
    if spin is not None:
        so.add_session_config_entry("session.intra_op.allow_spinning", spin)
    if profile:
        so.enable_profiling = True
        so.profile_file_prefix = profile
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def timed(sess, feeds, iters):
    for _ in range(2):
        sess.run(None, feeds)
    samples = []
    for _ in range(iters):
        t = time.perf_counter()
        sess.run(None, feeds)
        samples.append(1000 * (time.perf_counter() - t))
    return float(np.median(samples)), samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("--iters", type=int, default=5)
    args = parser.parse_args()

    backend = OnnxRuntimeBackend(args.model, "cpu")
    info = backend.info
    backend.close()
    rgb, depth = check_inputs(info, info.input_height, info.input_width, 1)
    feeds = {"rgb": rgb, "depth": depth}
    out: dict = {"model": args.model, "input": [1, info.input_height, info.input_width], "iters": args.iters,
                 "load_average_start": list(os.getloadavg()), "variants": {}}
    for name, kwargs in VARIANTS.items():
        median, samples = timed(session(args.model, **kwargs), feeds, args.iters)
        out["variants"][name] = {"median_ms": median, "samples_ms": samples}
        print(f"{name:42s} {median:8.1f} ms", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        sess = session(args.model, profile=os.path.join(tmp, "ort"))
        timed(sess, feeds, 3)
        events = json.load(open(sess.end_profiling()))
    per_op, nodes = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_op[e["args"].get("op_name")] += e["dur"]
            nodes[(e["args"].get("op_name"), e["name"])] = 1
    total = sum(per_op.values())
    node_count = collections.Counter(op for op, _ in nodes)
    print("time per operator type (ORT_ENABLE_ALL):")
    for op, dur in per_op.most_common(10):
        print(f"  {op:28s} {100 * dur / total:5.1f}%  ({node_count[op]} nodes)")
    out["operator_share_pct"] = {op: 100 * dur / total for op, dur in per_op.most_common()}
    out["operator_nodes"] = dict(node_count)
    out["load_average_end"] = list(os.getloadavg())
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
