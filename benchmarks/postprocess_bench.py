"""Postprocessing (bilinear logits to the frame's size, then argmax), before and after, at camera size.

    python benchmarks/postprocess_bench.py OUT.json [--before 9db02ff] [--repeats 15]

Times ``acnet.runtime.postprocess.postprocess_logits`` of this checkout
against the same function at git revision ``--before`` (loaded from that
commit's source), round-robin in one process and one thread, as the
pipeline's postprocessing thread runs it, on:

- 9 x 96 x 128 -> 480 x 640 (the quickstart model on camera frames),
- 40 x 120 x 160 -> 480 x 640 (an NYUv2-40 model at a quarter of the frame).

Both get random normal logits (the work does not depend on the values);
the labels of the two are checked equal. Prints medians of wall and thread
CPU time and writes every sample (ms) with the load average as JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
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
CASES = [((9, 96, 128), (480, 640)), ((40, 120, 160), (480, 640))]


def load_revision(rev: str):
    """acnet/runtime/preprocess.py as it was at ``rev``, as a module of its own."""
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:acnet/runtime/preprocess.py"], check=True,
                          capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="acnet-pp-")) / "preprocess_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("preprocess_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--before", default="9db02ff", help="git revision of the old implementation")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    from acnet.runtime import postprocess as after

    before = load_revision(args.before)
    load_start = os.getloadavg()
    rng = np.random.default_rng(0)
    record = {"command": " ".join(["python", "benchmarks/postprocess_bench.py", *sys.argv[1:]]),
              "before": args.before, "after": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                                             capture_output=True, text=True).stdout.strip(),
              "cases": []}
    lines = ["| logits -> labels | before, median ms (CPU ms) | after, median ms (CPU ms) | speed-up (CPU) |", "|---|---|---|---|"]
    for shape, dst in CASES:
        logits = rng.standard_normal(shape).astype(np.float32)
        want = before.postprocess_logits(logits, *dst)
        got = after.postprocess_logits(logits, *dst)
        assert np.array_equal(want, got), "labels differ"
        samples = {"before": [], "after": []}
        cpu = {"before": [], "after": []}  # this thread's CPU time: what the load changes least
        for _ in range(args.repeats):
            for name, module in (("before", before), ("after", after)):
                c, t = time.thread_time(), time.perf_counter()
                module.postprocess_logits(logits, *dst)
                samples[name].append(1000 * (time.perf_counter() - t))
                cpu[name].append(1000 * (time.thread_time() - c))
        med = {k: statistics.median(v) for k, v in samples.items()}
        med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
        record["cases"].append({"logits": list(shape), "labels": list(dst), "median_ms": med, "median_cpu_ms": med_cpu,
                                "speedup": med["before"] / med["after"], "cpu_speedup": med_cpu["before"] / med_cpu["after"],
                                "samples_ms": samples, "cpu_samples_ms": cpu, "labels_equal": True})
        label = f"{'x'.join(map(str, shape))} -> {dst[0]}x{dst[1]}"
        lines.append(f"| {label} | {med['before']:.2f} ({med_cpu['before']:.2f}) | {med['after']:.2f} ({med_cpu['after']:.2f}) "
                     f"| {med['before'] / med['after']:.1f}x ({med_cpu['before'] / med_cpu['after']:.1f}x) |")
    load_end = os.getloadavg()
    record["environment"] = {"load_average_start": list(load_start), "load_average_end": list(load_end),
                             "cpu_count": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
                             "threads": 1, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    lines.append(f"load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end; "
                 f"{args.repeats} calls each, round-robin, one thread (numpy elementwise, no BLAS)")
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
