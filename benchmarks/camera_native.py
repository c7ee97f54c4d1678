"""Camera-native models against float models: host work per frame, bytes to a GPU and back, frames per second.

    python benchmarks/camera_native.py CHECKPOINT [--out benchmarks/results/camera-native-quickstart.json]
        [--frames 60] [--rounds 3] [--threads 2] [--repeat 30] [--work DIR] [--no-c] [--device cuda]
        [--nyu DIR] [--size 480x640] [--large 720x1280]

One run, on this machine, for the network of CHECKPOINT exported at 480x640
(``--size``; the GPU run's CPU dry run uses a smaller one):

- **float**: ``acnet export onnx --height 480 --width 640`` (normalised float32 in, logits out);
- **camera**: ``--io camera``, camera 480x640 (no resize in the graph);
- **camera_large**: ``--io camera --camera-size 720x1280`` (the graph resizes to 480x640 and back).

Two cases, the six real NYUv2 frames (``../shared/data/nyuv2-samples``) looped
to ``--frames``: at 480x640 (float vs camera) and upscaled to 720x1280
(float, whose numpy runtime resizes, vs camera 720p; ``--large ''`` leaves
this case out). Each model runs through
:class:`~acnet.runtime.pipeline.Pipeline`, the runner ``acnet stream`` is, over
the frames held in memory (a recording that never waits for its reader);
rounds alternate the models. Per frame:

- **outside the network**: the wall time of the pipeline's preprocessing
  and postprocessing steps plus its inference step's time outside the
  backend's run (checks, batching, copies), and the CPU time (``thread_time``)
  of the preprocessing and postprocessing steps; the target is 0.3 ms.
- **end-to-end frames per second** of the pipeline.

The C example (``segment --repeat``, ``--no-c`` to skip) runs AOTInductor
packages of the float and camera models on one frame of each case and prints
the library's time outside the model (``acnet_last_timing``). Bytes crossing
between host and device per frame come from each model's I/O shapes
(``ModelInfo.io_bytes``), also for ACNet-ResNet50's 40 classes. Writes
every figure, the commands and the load average as JSON (and a markdown table
beside it).

``--device cuda`` (the GPU run, benchmarks/gpu) runs the models with ONNX
Runtime's CUDA provider (IO binding; page-locked buffers for the camera
models) and the packages on the GPU; without onnxruntime-gpu the stream part
is recorded as skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NYU = ROOT.parent / "shared" / "data" / "nyuv2-samples" / "test"
MODEL_SIZE = (480, 640)
CAMERA_720P = (720, 1280)


def size(text: str) -> tuple[int, int] | None:
    """"480x640" -> (480, 640); "" -> None."""
    if not text:
        return None
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def nyu_frames(root: Path = NYU) -> list[tuple[np.ndarray, np.ndarray]]:
    """The six real NYUv2 test frames: uint8 RGB and uint16 millimetres, 480x640."""
    from acnet.runtime.images import read_depth, read_rgb

    names = sorted(p.name for p in (root / "rgb").glob("*.png"))
    if not names:
        sys.exit(f"the NYUv2 samples are not at {root}")
    return [(read_rgb(root / "rgb" / n), read_depth(root / "depth" / n)) for n in names]


def upscaled(frames, size):
    """The frames as a camera of ``size`` would give them (bilinear RGB rounded, nearest depth: the runtime's resizing)."""
    from acnet.runtime.preprocess import resize_bilinear, resize_nearest

    return [(np.ascontiguousarray(np.clip(np.rint(resize_bilinear(rgb, *size)), 0, 255).astype(np.uint8)),
             np.ascontiguousarray(resize_nearest(depth, *size))) for rgb, depth in frames]  # as a camera's buffers: contiguous


def export(checkpoint: Path, work: Path, name: str, model_size: tuple[int, int], **options) -> Path:
    """An ONNX export of ``checkpoint`` at ``model_size``, made once in ``work``."""
    from acnet.export.onnx import OnnxExportOptions, export_onnx

    path = work / f"{name}-{model_size[0]}x{model_size[1]}.onnx"
    if not path.is_file():
        export_onnx(checkpoint, path, OnnxExportOptions(height=model_size[0], width=model_size[1], **options))
    return path


def package(checkpoint: Path, work: Path, name: str, model_size: tuple[int, int], device: str = "cpu", **options) -> Path:
    """An AOTInductor package of ``checkpoint`` at ``model_size`` for ``device``, compiled once in ``work``."""
    from acnet.export.aoti import AotiExportOptions, compile_package

    path = work / f"{name}-{model_size[0]}x{model_size[1]}-{device.replace(':', '')}.pt2"
    if not path.is_file():
        compile_package(checkpoint, path, AotiExportOptions(device=device, height=model_size[0], width=model_size[1], **options))
    return path


class Looped:
    """The frames held in memory, handed out ``count`` times in turn, like a recording that never waits."""

    live = False

    def __init__(self, frames, count: int, depth_scale: float = 0.001) -> None:
        self.frames, self.count, self.depth_scale = frames, count, depth_scale

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        from acnet.runtime.sources import Frame

        for i in range(self.count):
            rgb, depth = self.frames[i % len(self.frames)]
            yield Frame(rgb, depth, self.depth_scale, float(i), i, f"f{i:04d}")


class Stopwatch:
    """The Segmenter's three pipeline steps and its backend's run, timed per call (wall and thread CPU)."""

    def __init__(self, seg) -> None:
        self.times: dict[str, list[float]] = {k: [] for k in ("preprocess", "infer", "postprocess", "network",
                                                               "preprocess_cpu", "postprocess_cpu")}
        for step in ("preprocess", "infer", "postprocess"):
            setattr(seg, step, self._timed(step, getattr(seg, step)))
        run = seg.backend.run

        def network(*args):
            t0 = time.perf_counter()
            try:
                return run(*args)
            finally:
                self.times["network"].append(time.perf_counter() - t0)

        seg.backend.run = network

    def _timed(self, name, fn):
        def call(*args, **kwargs):
            w0, c0 = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.times[name].append(time.perf_counter() - w0)
                if name != "infer":
                    self.times[f"{name}_cpu"].append(time.thread_time() - c0)

        return call

    def outside_ms(self, skip: int) -> dict:
        """Per frame (after ``skip`` warm-up frames), in ms: wall time outside the network and host CPU of pre/post."""
        t = {k: np.asarray(v[skip:]) for k, v in self.times.items()}
        wall = t["preprocess"] + t["postprocess"] + (t["infer"] - t["network"])
        cpu = t["preprocess_cpu"] + t["postprocess_cpu"]
        return {"outside_wall_ms": 1000 * float(np.median(wall)), "outside_wall_p90_ms": 1000 * float(np.percentile(wall, 90)),
                "pre_post_cpu_ms": 1000 * float(np.median(cpu)), "network_ms": 1000 * float(np.median(t["network"])),
                "preprocess_ms": 1000 * float(np.median(t["preprocess"])), "postprocess_ms": 1000 * float(np.median(t["postprocess"])),
                "infer_outside_network_ms": 1000 * float(np.median(t["infer"] - t["network"]))}


def stream_round(model: Path, frames, count: int, threads: int | None, device: str) -> dict:
    """One pipeline run of ``model`` over the frames looped ``count`` times."""
    from acnet.runtime import Segmenter
    from acnet.runtime.pipeline import Pipeline

    with Segmenter(model, device=device, threads=threads) as seg:
        seg.segment(*frames[0])  # warm-up: session, arena, caches
        watch = Stopwatch(seg)
        load = os.getloadavg()[0]
        pipeline = Pipeline(seg, Looped(frames, count))
        labels = [r.labels for r in pipeline]
        stats = pipeline.stats()
    assert len(labels) == count and labels[0].shape == frames[0][0].shape[:2]
    return {"fps": stats.fps, "load_1min": load, **watch.outside_ms(skip=min(5, count // 4)),
            "stages_ms": stats.stages, "end_to_end_ms": stats.end_to_end, "runtime": seg.backend.describe()}


def c_example(segment: Path, pt2: Path, rgb, depth, work: Path, repeat: int, threads: int | None, device: str) -> dict:
    """``segment --repeat`` on one frame: median total, model and outside-the-model milliseconds."""
    h, w = depth.shape
    ppm, pgm = work / f"frame{h}x{w}.ppm", work / f"frame{h}x{w}.pgm"
    ppm.write_bytes(b"P6\n%d %d\n255\n" % (w, h) + rgb.tobytes())
    pgm.write_bytes(b"P5\n%d %d\n65535\n" % (w, h) + depth.astype(">u2").tobytes())
    env = {**os.environ, "OMP_WAIT_POLICY": "passive", **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    command = [str(segment), "--device", device, "--repeat", str(repeat), str(pt2), str(ppm), str(pgm), str(work / "labels.pgm")]
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr}")
    total = float(re.search(r"median ([\d.]+) ms over", proc.stdout).group(1))
    model, outside = (float(v) for v in re.search(r"median model ([\d.]+) ms, outside the model ([\d.]+) ms", proc.stdout).groups())
    return {"command": " ".join(command), "total_ms": total, "model_ms": model, "outside_ms": outside,
            "load_1min": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "camera-native-quickstart.json")
    ap.add_argument("--frames", type=int, default=60, help="frames per pipeline run (the six looped)")
    ap.add_argument("--rounds", type=int, default=3, help="pipeline runs per model, alternating")
    ap.add_argument("--threads", type=int, default=None, help="ONNX Runtime and OpenMP threads (default: theirs)")
    ap.add_argument("--repeat", type=int, default=30, help="runs of the C example per frame")
    ap.add_argument("--work", type=Path, default=Path("camera-native-bench"), help="where exports and packages are kept")
    ap.add_argument("--no-c", action="store_true", help="skip the AOTInductor packages and the C example")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda[:N]: ONNX Runtime's CUDA provider and CUDA packages")
    ap.add_argument("--nyu", type=Path, default=NYU, help="folder of the NYUv2 samples' test split (rgb/, depth/)")
    ap.add_argument("--size", type=size, default=MODEL_SIZE, help="the network's input and the first camera's size (HxW)")
    ap.add_argument("--large", type=size, default=CAMERA_720P, help="the larger camera (HxW; '' leaves that case out)")
    args = ap.parse_args()
    load_start = os.getloadavg()
    args.work.mkdir(parents=True, exist_ok=True)

    from acnet.errors import BackendUnavailableError

    small, large = args.size, args.large
    name_small, name_large = f"{small[0]}x{small[1]}", None if large is None else f"{large[0]}x{large[1]}"
    models = {"float": export(args.checkpoint, args.work, "float", small),
              "camera": export(args.checkpoint, args.work, "camera", small, io="camera")}
    frames = nyu_frames(args.nyu)
    if frames[0][0].shape[:2] != small:
        frames = upscaled(frames, small)
    cases = {name_small: (frames, ("float", "camera"))}
    if large is not None:
        models["camera_large"] = export(args.checkpoint, args.work, f"camera{name_large}", small, io="camera", camera_size=large)
        cases[f"{name_large}->{name_small}"] = (upscaled(frames, large), ("float", "camera_large"))

    stream: dict = {case: {m: [] for m in names} for case, (_, names) in cases.items()}
    stream_skipped = None
    try:
        for r in range(args.rounds):
            for case, (frames, names) in cases.items():
                for name in (names if r % 2 == 0 else names[::-1]):
                    result = stream_round(models[name], frames, args.frames, args.threads, args.device)
                    stream[case][name].append(result)
                    print(f"round {r + 1} {case} {name}: {result['fps']:.2f} frames/s, outside the network "
                          f"{result['outside_wall_ms']:.3f} ms (pre+post CPU {result['pre_post_cpu_ms']:.3f} ms), "
                          f"load {result['load_1min']:.2f}", flush=True)
    except BackendUnavailableError as exc:  # e.g. no CUDA provider in this onnxruntime
        stream_skipped = str(exc)

    def median_of(runs, key):
        return statistics.median(run[key] for run in runs)

    keys = ("fps", "outside_wall_ms", "pre_post_cpu_ms", "network_ms", "preprocess_ms", "postprocess_ms",
            "infer_outside_network_ms")
    summary = {} if stream_skipped else {case: {name: {key: median_of(runs, key) for key in keys} for name, runs in per.items()}
                                         for case, per in stream.items()}

    c_results: dict = {}
    if not args.no_c:
        from acnet.runtime.capi import build

        device = "cuda" if args.device.startswith("cuda") else "cpu"
        pt2 = {"float": package(args.checkpoint, args.work, "float", small, device),
               "camera": package(args.checkpoint, args.work, "camera", small, device, io="camera")}
        if large is not None:
            pt2["camera_large"] = package(args.checkpoint, args.work, f"camera{name_large}", small, device, io="camera",
                                          camera_size=large)
        build(args.work / "capi-build", aoti="on", tensorrt="off")
        segment = args.work / "capi-build" / "segment"
        for case, (frames, names) in cases.items():
            rgb, depth = frames[0]
            c_results[case] = {name: c_example(segment, pt2[name], rgb, depth, args.work, args.repeat, args.threads,
                                               args.device) for name in names}

    from acnet.benchmarks.environment import cpu_info

    cpu = cpu_info()
    infos = {name: _info(path) for name, path in models.items()}
    resnet50 = infos["float"].with_(num_classes=40, class_names=tuple(f"c{i}" for i in range(40)))
    transfers = {"float (this model)": infos["float"].io_bytes(), "float (ACNet-ResNet50, 40 classes)": resnet50.io_bytes(),
                 f"camera {name_small}": infos["camera"].io_bytes()}
    if large is not None:
        transfers[f"camera {name_large}"] = infos["camera_large"].io_bytes()

    record = {
        "command": " ".join(["python", "benchmarks/camera_native.py", *sys.argv[1:]]),
        "checkpoint": str(args.checkpoint),
        "models": {name: {"path": str(p), "io": infos[name].camera.describe() if infos[name].camera else "normalised float32 in, logits out",
                          "classes": infos[name].num_classes, "input": [infos[name].input_height, infos[name].input_width]}
                   for name, p in models.items()},
        "frames": {"source": "the six NYUv2 test samples (../shared/data/nyuv2-samples), looped; 720x1280: upscaled",
                   "per_run": args.frames, "rounds": args.rounds},
        "device": args.device,
        "stream": summary,
        "stream_skipped": stream_skipped,
        "stream_rounds": stream,
        "c_example": c_results,
        "bytes_per_frame": transfers,
        "environment": {"load_average_start": list(load_start), "load_average_end": list(os.getloadavg()),
                        "cpu": f"{cpu.model} ({cpu.signature})", "cpu_count": cpu.usable_cpus, "python": platform.python_version(),
                        "threads": args.threads, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    }
    if stream_skipped:
        print(f"stream: skipped ({stream_skipped})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    table = markdown(record)
    args.out.with_suffix(".md").write_text(table)
    print(table)
    print(f"JSON: {args.out}")


def _info(path: Path) -> "ModelInfo":  # noqa: F821
    import onnx

    from acnet.export.graph import read_metadata

    return read_metadata(onnx.load(str(path), load_external_data=False), source=str(path))


def markdown(record: dict) -> str:
    env = record["environment"]
    lines = [f"# Camera-native vs float models ({record['checkpoint']})", "",
             f"- `{record['command']}`",
             f"- {env['cpu']}, {env['cpu_count']} CPUs, load average {env['load_average_start'][0]:.2f} at start, "
             f"{env['load_average_end'][0]:.2f} at end; medians of {record['frames']['rounds']} rounds of "
             f"{record['frames']['per_run']} frames, device {record['device']}", "",
             "| case | model | outside the network, ms/frame (wall) | pre+post CPU, ms/frame | network ms | frames/s |",
             "|---|---|---|---|---|---|"]
    if record["stream_skipped"]:
        lines.append(f"| - | - | stream skipped: {record['stream_skipped']} | | | |")
    for case, per in record["stream"].items():
        for name, s in per.items():
            lines.append(f"| {case} | {name} | {s['outside_wall_ms']:.3f} | {s['pre_post_cpu_ms']:.3f} | "
                         f"{s['network_ms']:.1f} | {s['fps']:.2f} |")
    if record["c_example"]:
        lines += ["", "| case | package | C example: outside the model, ms | model ms | total ms |", "|---|---|---|---|---|"]
        for case, per in record["c_example"].items():
            for name, c in per.items():
                lines.append(f"| {case} | {name} | {c['outside_ms']:.3f} | {c['model_ms']:.1f} | {c['total_ms']:.1f} |")
    lines += ["", "| model | bytes to and from the device per frame |", "|---|---|"]
    for name, b in record["bytes_per_frame"].items():
        parts = ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in b.items() if k != "total")
        lines.append(f"| {name} | **{b['total'] / 1e6:.2f} MB** ({parts}) |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
