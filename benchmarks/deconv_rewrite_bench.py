"""Eager PyTorch FP32 against ONNX Runtime with and without the ConvTranspose rewrite, in one run.

    python benchmarks/deconv_rewrite_bench.py CKPT REWRITTEN.onnx KEPT.onnx OUT.json \
        [--markdown OUT.md] [--iters 5] [--warmup 2] [--threads 2]

``REWRITTEN.onnx`` is ``acnet export onnx CKPT -o REWRITTEN.onnx`` (the default,
Conv + DepthToSpace), ``KEPT.onnx`` the same with ``--keep-deconv``. The three
are timed round-robin by ``acnet bench``'s own timers and loop (same frames,
same settle between backends, per-call overhead), and written as an
``acnet bench`` report: the ONNX Runtime row with ConvTranspose kept is named
``onnxruntime-convtranspose``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from acnet.benchmarks.artefacts import Artefacts, default_cache_dir, load_torch_model, utc_now
from acnet.benchmarks.backends import Opening, open_timer
from acnet.benchmarks.bench import BenchReport, _frames, cpu_clock, result_from_samples
from acnet.benchmarks.environment import collect_environment, cpu_info, load_average
from acnet.benchmarks.report import bench_markdown
from acnet.benchmarks.timing import measure_all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("rewritten", type=Path)
    parser.add_argument("kept", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    load_at_start = load_average()
    loaded = load_torch_model(Artefacts(checkpoint=args.checkpoint), None, None)
    info, gflops = loaded.info, loaded.gflops
    h, w = info.input_height, info.input_width
    on_cpu = Opening("cpu", args.threads)
    timers = [open_timer("torch", loaded, on_cpu), open_timer("onnxruntime", args.rewritten, on_cpu),
              open_timer("onnxruntime", args.kept, on_cpu)]
    timers[2].name = "onnxruntime-convtranspose"  # the CPU provider under another row name
    frames = _frames(info, h, w, 1, 0)
    details = {}
    for t in timers:
        t.prepare(frames)
        details[t.name] = t.details()
    measured = measure_all(timers, frames, args.warmup, args.iters)
    results = tuple(result_from_samples(t.name, 1, measured[t.name], details[t.name]) for t in timers)
    for t in timers:
        t.close()
    clock = cpu_clock(_Config(), default_cache_dir())
    peaks = cpu_info().peaks(clock["ghz"], 2)
    report = BenchReport(
        config={"device": "cpu", "iters": args.iters, "warmup": args.warmup, "threads": args.threads,
                "command": "benchmarks/deconv_rewrite_bench.py"},
        model={"checkpoint": str(args.checkpoint), "onnx": str(args.rewritten), "onnx_convtranspose": str(args.kept),
               "height": h, "width": w, "description": f"ACNet {info.backbone}, {info.num_classes} classes, {h}x{w}"},
        environment=collect_environment(load_at_start),
        results=results,
        created=utc_now(),
        gflops_per_frame=gflops,
        cpu_peak=peaks["fp32"].to_dict() if peaks["fp32"] else None,
        cpu_peaks={k: v.to_dict() if v else None for k, v in peaks.items()},
        cpu_clock=clock,
    )
    args.out.write_text(report.to_json())
    if args.markdown:
        args.markdown.write_text(bench_markdown(report))
    print(report.table())
    rewritten, kept = report.result("onnxruntime", 1), report.result("onnxruntime-convtranspose", 1)
    print(f"rewrite: {kept.compute_ms.median / rewritten.compute_ms.median:.3f}x ConvTranspose kept (medians, same run)")


class _Config:
    """What cpu_clock reads from a BenchConfig: nothing given, so the clock is measured."""

    cpu_clock_ghz = None


if __name__ == "__main__":
    main()
