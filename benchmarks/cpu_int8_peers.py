#!/usr/bin/env python
"""acnet's CPU paths against their peers, in one process: FP32, BF16 and every INT8 model, ONNX Runtime and OpenVINO.

It builds every model itself, so anyone can rerun it:

- the network at real size (default: ACNet-ResNet50, 40 NYUv2 classes, 480x640, random weights after
  ``torch.manual_seed(0)``, as in benchmarks/results; timing does not depend on the values), exported by
  ``acnet export onnx`` in FP32, INT8 for ONNX Runtime (``--int8-target cpu``) and INT8 for OpenVINO
  (``--int8-target nncf``: NNCF with acnet's calibration frames and exclusions), all calibrated on the same
  frames (default: the six real NYUv2 frames);
- the peer a CPU user would reach for: NNCF's ``quantize`` with its default settings on the OpenVINO model
  read from acnet's FP32 ONNX, calibrated on the same frames, saved as OpenVINO IR.

Speed: batch 1, ``--threads`` threads for every runtime, the network alone (normalised arrays in, logits out,
what ``acnet bench`` calls compute). Each round runs every path once, in a rotating order, after waiting until
no thread of the process still spins (``acnet.benchmarks.timing.settle``); the figure is the median over
rounds, and ratios are of medians from this one run. The load average is recorded at the start, after each
round and at the end, with the CPU flags that decide the kernels (VNNI, AVX512-BF16, AMX). Each row's share
of peak is against the measured peak of its precision (``acnet.benchmarks.peak``: FMA, VNNI and AVX512-BF16
loops, run only where the CPU has them). The BF16 row runs only where OpenVINO reports BF16; elsewhere it
says why, with no figure.

Accuracy (``--trained CKPT``, e.g. the quickstart's): the same exports of a trained network, and NNCF's default
model of it, against PyTorch FP32 on held-out frames: per-pixel agreement and ΔmIoU against the labels, through
``acnet parity``'s own code, and the agreement of the same models on ``--real-frames`` (the six NYUv2 frames;
another label set, so no ΔmIoU). ``--real-frames`` also gives the timed models' agreement on those frames.
Run it from the repository root (the frames are ``../shared/data``).

    python benchmarks/cpu_int8_peers.py --work /tmp/peers --threads 2 --rounds 7 \\
        --trained acnet-quickstart/train/best.pt \\
        --json benchmarks/results/cpu-int8-peers-resnet50-480x640-b1.json \\
        --markdown benchmarks/results/cpu-int8-peers-resnet50-480x640-b1.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger("cpu_int8_peers")

NYUV2 = "folder:../shared/data/nyuv2-samples?split=test"
#: The quickstart's synthetic scenes (acnet.quickstart: 120x160 scenes, seed 0), train split for calibration.
QUICKSTART_CALIB = "synthetic:256?size=120x160&seed=0&split=train"
QUICKSTART_TEST = "synthetic:32?size=120x160&seed=0"


# --------------------------------------------------------------------------- the models


def random_checkpoint(path: Path, backbone: str, height: int, width: int) -> Path:
    """ACNet with random weights after torch.manual_seed(0), NYUv2's 40 classes and statistics."""
    import torch

    from acnet.runtime.preprocess import Normalization
    from acnet.training.checkpoint import make_record, save_checkpoint
    from acnet.training.config import ModelConfig
    from acnet.training.data.resources import class_names
    from acnet.training.model import build_model

    torch.manual_seed(0)
    config = ModelConfig(backbone=backbone)
    return save_checkpoint(path, make_record(build_model(config), config, list(class_names("nyuv2_40")),
                                             Normalization(), (height, width)))


def export(checkpoint: Path, out: Path, target: str | None, calib: str, frames: int) -> Path:
    """``acnet export onnx`` (FP32, or INT8 for ``target``), kept in the work folder between runs.

    INT8 exports are not verified here (``verify=False``): the export gate would stop the run at the first
    model below it, where this script measures every model's agreement itself (a random network's flat
    logits make any INT8 disagree more than a trained one's).
    """
    from acnet.export.int8 import Int8Options
    from acnet.export.onnx import OnnxExportOptions, export_onnx

    if out.exists():
        return out
    int8 = None if target is None else Int8Options(calib_data=calib, calib_frames=frames, target=target)
    log.info("exporting %s", out.name)
    report = export_onnx(checkpoint, out, OnnxExportOptions(int8=int8, verify=target is None), progress=True)
    log.info("%s", report.summary().splitlines()[-2 if report.verification else -1])
    return out


def nncf_default(fp32_onnx: Path, out: Path, calib: str, frames: int) -> Path:
    """The peer: NNCF's ``quantize`` with its defaults on OpenVINO's reading of the FP32 ONNX, saved as IR."""
    if out.exists():
        return out
    import openvino as ov

    from acnet.export.int8 import calibration_frames, load_nncf
    from acnet.runtime.backends.openvino import model_props, read_model
    from acnet.runtime.metadata import ModelInfo

    nncf = load_nncf()  # without its telemetry
    model = read_model(fp32_onnx)
    info = ModelInfo.from_props(model_props(model), str(fp32_onnx))
    data = calibration_frames(calib, frames, info.preprocess_config)
    log.info("NNCF default quantization of %s on %d frames", fp32_onnx.name, len(data))
    quantized = nncf.quantize(model, nncf.Dataset([{"rgb": r, "depth": d} for r, d in data]), subset_size=len(data))
    # OpenVINO keeps the ONNX metadata (rt_info "framework") in the IR; it is an INT8 model now.
    quantized.set_rt_info(json.dumps("int8"), ["framework", "acnet.precision"])
    ov.save_model(quantized, str(out))  # its defaults too: float weights left unquantized are stored as FP16
    return out


# --------------------------------------------------------------------------- the paths


@dataclass
class Path_:
    """One way to run the network: a label, what it runs, and the backend's run (normalised arrays -> logits)."""

    label: str
    runtime: str
    precision: str
    model: str
    run: object = None
    skipped: str | None = None
    samples_s: list = field(default_factory=list)
    logits: np.ndarray | None = None


def open_paths(models: dict, checkpoint: Path, threads: int) -> list[Path_]:
    """Every path, opened as an application opens it (a Segmenter's backend; PyTorch eager for the baseline)."""
    import torch

    from acnet.errors import BackendUnavailableError
    from acnet.runtime import Segmenter
    from acnet.training.checkpoint import load_model

    torch.set_num_threads(threads)
    model, _ = load_model(checkpoint)

    def eager(rgb, depth):
        with torch.inference_mode():
            return model(torch.from_numpy(rgb), torch.from_numpy(depth)).numpy()

    specs = [
        ("PyTorch FP32 (eager)", "torch", "fp32", "checkpoint", None),
        ("ONNX Runtime FP32", "onnxruntime", "fp32", "fp32", None),
        ("ONNX Runtime INT8 (acnet Q/DQ, --int8-target cpu)", "onnxruntime", "int8", "int8_cpu", None),
        ("OpenVINO FP32", "openvino", "fp32", "fp32", "fp32"),
        ("OpenVINO BF16 (inference precision hint)", "openvino", "bf16", "fp32", "bf16"),
        ("OpenVINO on acnet's Q/DQ (--int8-target cpu)", "openvino", "int8", "int8_cpu", "fp32"),
        ("OpenVINO on acnet's NNCF export (--int8-target nncf)", "openvino", "int8", "int8_nncf", "fp32"),
        ("OpenVINO on NNCF defaults (peer)", "openvino", "int8", "nncf_default", "fp32"),
    ]
    paths = []
    for label, runtime, precision, key, hint in specs:
        p = Path_(label, runtime, precision, key)
        if runtime == "torch":
            p.run = eager
        else:
            kwargs = {"precision": hint} if runtime == "openvino" else {}
            try:
                p.run = Segmenter(models[key], backend=runtime, threads=threads, **kwargs).backend.run
            except BackendUnavailableError as exc:
                p.skipped = str(exc)
        paths.append(p)
    return paths


def measure(paths: list[Path_], rgb: np.ndarray, depth: np.ndarray, rounds: int, warmup: int) -> list[list[float]]:
    """Warm every path up, then ``rounds`` rounds of one call each in a rotating order; returns the loads per round."""
    from tqdm import tqdm

    from acnet.benchmarks.environment import load_average
    from acnet.benchmarks.timing import settle

    live = [p for p in paths if p.skipped is None]
    for p in live:
        for _ in range(warmup):
            p.logits = p.run(rgb, depth)
    loads = []
    for r in tqdm(range(rounds), desc="rounds", unit="round"):
        order = live[r % len(live):] + live[: r % len(live)]
        for p in order:
            settle()
            start = time.perf_counter()
            p.run(rgb, depth)
            p.samples_s.append(time.perf_counter() - start)
        loads.append(load_average())
    return loads


# --------------------------------------------------------------------------- accuracy


def agreement_on_frames(models: dict, checkpoint: Path, spec: str, threads: int) -> dict:
    """Per-pixel agreement of each real-size model with PyTorch FP32 on ``spec``'s frames (no labels needed)."""
    from acnet.benchmarks.parity import Candidate, ParityConfig, run_parity

    candidates = [Candidate(label, models[key], backend) for label, key, backend in CANDIDATES if key in models]
    report = run_parity(ParityConfig(checkpoint=checkpoint, data=spec, candidates=candidates, threads=threads,
                                     progress=False))
    return report.to_dict()


def agreement_only(models: dict, checkpoint: Path, spec: str, threads: int) -> dict:
    """Per-pixel agreement of each model's labels with PyTorch FP32's on ``spec``'s frames, whatever their labels.

    For a trained model on frames of another label set (the quickstart's 9 synthetic classes on NYUv2's 40), where
    ``acnet parity`` refuses the class-count mismatch and ΔmIoU means nothing; the frames are the runtime's
    (resized to the model's input, labels back at the frame's size).
    """
    from acnet.benchmarks.backends import TorchBackend, segmenter_around
    from acnet.runtime import Segmenter
    from acnet.training.checkpoint import load_model
    from acnet.training.data.spec import open_dataset

    model, _ = load_model(checkpoint)
    with Segmenter(models["fp32"], threads=threads) as fp32:
        info = fp32.info
    reference = segmenter_around(TorchBackend("torch", model, info, "cpu", threads), 1)
    data = open_dataset(spec)
    frames = [data[i] for i in range(len(data))]
    ref = [reference.segment(f.rgb, f.depth) for f in frames]
    rows = []
    for label, key, backend in CANDIDATES:
        if key not in models:
            continue
        with Segmenter(models[key], backend=backend, threads=threads) as seg:
            agree = [float((seg.segment(f.rgb, f.depth) == r).mean()) for f, r in zip(frames, ref)]
        rows.append({"label": label, "model": str(models[key]), "agreement_pct": 100 * float(np.mean(agree)),
                     "worst_frame_agreement_pct": 100 * min(agree), "frames": [f.name for f in frames]})
    return {"frames": len(frames), "results": rows}


#: (parity label, model key, backend) of the accuracy checks.
CANDIDATES = (
    ("onnxruntime-fp32", "fp32", "onnxruntime"),
    ("onnxruntime-int8-qdq", "int8_cpu", "onnxruntime"),
    ("openvino-fp32", "fp32", "openvino"),
    ("openvino-int8-qdq", "int8_cpu", "openvino"),
    ("openvino-int8-nncf-acnet", "int8_nncf", "openvino"),
    ("openvino-int8-nncf-default", "nncf_default", "openvino"),
)


# --------------------------------------------------------------------------- report


def markdown(record: dict) -> str:
    env = record["environment"]
    cpu = env["cpu"]
    lines = [
        "# acnet's CPU paths and their peers",
        "",
        f"- {record['network']}, batch 1, {record['threads']} threads, {record['rounds']} rounds (median; rotating order)",
        f"- CPU: {cpu['model']} ({cpu.get('signature', '')}), flags: {', '.join(cpu['flags'])}; the flags that decide "
        f"the int8/bf16 kernels: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cpu["kernel_flags"].items()),
        f"- OpenVINO reports: {', '.join(record['openvino_capabilities'])}",
        f"- versions: " + ", ".join(f"{k} {v}" for k, v in record["versions"].items()),
        f"- load average (1 min): start {record['load']['start'][0]}, rounds "
        f"{', '.join(str(l[0]) for l in record['load']['rounds'])}, end {record['load']['end'][0]}",
        "",
        f"- {record['gflops_per_frame']:.1f} GFLOPs per frame; measured peaks (2 x multiply-adds per second, "
        f"{record['threads']} threads): " + "; ".join(
            f"{k} {v['gops']:.0f} GOP/s ({v['kernel']})" if v.get("gops") else f"{k}: none ({v.get('note') or v['reason']})"
            for k, v in record["peaks"].items()),
        "",
        "| path | ms (median) | min | max | vs ONNX Runtime FP32 | vs PyTorch FP32 | % of its precision's peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in record["speed"]:
        if row["skipped"]:
            lines.append(f"| {row['label']} | skipped: {row['skipped']} | | | | | |")
            continue
        share = f"{100 * row['fraction_of_peak']:.0f}% ({row['precision']})" if row["fraction_of_peak"] else \
            f"no {row['precision']} peak"
        lines.append(f"| {row['label']} | {row['median_ms']:.0f} | {row['min_ms']:.0f} | {row['max_ms']:.0f} | "
                     f"{row['speedup_vs_ort_fp32']:.2f}x | {row['speedup_vs_torch']:.2f}x | {share} |")
    for key, title in (("trained", "Trained model"),
                       ("real_frames", "The timed model (random weights: agreement counts, its mIoU means nothing)")):
        part = record.get(key)
        if not part:
            continue
        lines += ["", f"## {title}: {part['what']}", "",
                  "| model | agreement with PyTorch FP32 | mIoU | ΔmIoU (points) | max abs Δlogit |", "|---|---|---|---|---|"]
        ref = part["parity"]["reference"].get("miou")
        for r in part["parity"]["results"]:
            miou = r.get("miou")
            delta = r.get("delta_miou_points")
            lines.append(f"| {r['label']} | {r['agreement_pct']:.3f}% | "
                         f"{'' if miou is None else f'{100 * miou:.2f}'} | {'' if delta is None else f'{delta:+.2f}'} | "
                         f"{r['max_abs_logits']:.3g} |")
        if ref is not None:
            lines.append(f"\nPyTorch FP32 mIoU: {100 * ref:.2f}")
        real = part.get("real_frames")
        if real:
            lines += ["", f"### {real['what']}, {real['frames']} frames", "",
                      "| model | agreement with PyTorch FP32 | worst frame |", "|---|---|---|"]
            lines += [f"| {r['label']} | {r['agreement_pct']:.3f}% | {r['worst_frame_agreement_pct']:.3f}% |"
                      for r in real["results"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True,
                        help="Folder for the checkpoint and models, named after their checkpoint and reused by the "
                             "next run (delete it to rebuild them).")
    parser.add_argument("--checkpoint", type=Path, help="Network to time (default: random ACNet-ResNet50, made here).")
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--calib-data", default=NYUV2, help="Calibration frames of the timed models.")
    parser.add_argument("--calib-frames", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--trained", type=Path, help="A trained checkpoint for agreement and ΔmIoU (e.g. the quickstart's).")
    parser.add_argument("--trained-calib", default=QUICKSTART_CALIB)
    parser.add_argument("--trained-calib-frames", type=int, default=32)
    parser.add_argument("--trained-data", default=QUICKSTART_TEST, help="Held-out labelled frames (its test split).")
    parser.add_argument("--real-frames", default=NYUV2, help="Frames for the real-size models' agreement ('' to skip).")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import openvino as ov
    import onnxruntime as ort

    from acnet._io import atomic_write_text
    from acnet.benchmarks.environment import collect_environment, cpu_info, load_average
    from acnet.benchmarks.peak import measure_peaks
    from acnet.training.checkpoint import load_model
    from acnet.training.summary import summarize
    from acnet.export.int8 import load_nncf
    from acnet.runtime.preprocess import preprocess
    from acnet.export.verify import synthetic_frame

    load_start = load_average()
    nncf = load_nncf()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    checkpoint = args.checkpoint
    if checkpoint is None:
        checkpoint = work / f"acnet_{args.backbone}_{args.height}x{args.width}_random.pt"
        if not checkpoint.exists():
            random_checkpoint(checkpoint, args.backbone, args.height, args.width)
    stem = checkpoint.stem
    models = {"fp32": export(checkpoint, work / f"{stem}.onnx", None, args.calib_data, args.calib_frames)}
    for target in ("cpu", "nncf"):
        models[f"int8_{target}"] = export(checkpoint, work / f"{stem}_int8_{target}.onnx", target, args.calib_data,
                                          args.calib_frames)
    models["nncf_default"] = nncf_default(models["fp32"], work / f"{stem}_nncf_default.xml", args.calib_data,
                                          args.calib_frames)

    _, ckpt = load_model(checkpoint)
    gflops = 2 * summarize(ckpt.model_config, ckpt.input_height, ckpt.input_width).total_macs / 1e9
    # The measured peak of each precision on the threads the networks get (acnet.benchmarks.peak): FMA for fp32,
    # VNNI for int8 and AVX512-BF16 for bf16 where the CPU has them, each missing one said why.
    peaks = measure_peaks(cpu_info().flags, work / "peak-cache", threads=args.threads)
    paths = open_paths(models, checkpoint, args.threads)
    from acnet.runtime.backends.ort import OnnxRuntimeBackend

    info = OnnxRuntimeBackend(models["fp32"]).info
    r, d = preprocess(*synthetic_frame(info.input_height, info.input_width, seed=0), info.preprocess_config)
    rgb, depth = r[None], d[None]
    loads = measure(paths, rgb, depth, args.rounds, args.warmup)

    def median_ms(label_start: str) -> float:
        return 1000 * statistics.median(next(p for p in paths if p.label.startswith(label_start)).samples_s)

    ort_fp32, torch_fp32 = median_ms("ONNX Runtime FP32"), median_ms("PyTorch FP32")
    speed = []
    for p in paths:
        row = {"label": p.label, "runtime": p.runtime, "precision": p.precision, "model": str(models.get(p.model, checkpoint)),
               "skipped": p.skipped}
        if p.skipped is None:
            ms = [1000 * s for s in p.samples_s]
            med = statistics.median(ms)
            achieved = gflops / (med / 1000)
            peak = peaks.get(p.precision, {}).get("gops")
            row.update(median_ms=med, min_ms=min(ms), max_ms=max(ms), samples_ms=ms,
                       speedup_vs_ort_fp32=ort_fp32 / med, speedup_vs_torch=torch_fp32 / med,
                       gops_per_s=achieved, peak_gops=peak, fraction_of_peak=achieved / peak if peak else None)
        speed.append(row)
    for p in paths:  # free the timed sessions before the accuracy runs open their own
        p.run = None

    trained = None
    if args.trained:
        tstem = args.trained.stem
        tmodels = {"fp32": export(args.trained, work / f"{tstem}.onnx", None, args.trained_calib, args.trained_calib_frames)}
        for target in ("cpu", "nncf"):
            tmodels[f"int8_{target}"] = export(args.trained, work / f"{tstem}_int8_{target}.onnx", target,
                                               args.trained_calib, args.trained_calib_frames)
        tmodels["nncf_default"] = nncf_default(tmodels["fp32"], work / f"{tstem}_nncf_default.xml", args.trained_calib,
                                               args.trained_calib_frames)
        trained = {"what": f"{args.trained} on {args.trained_data} (test split), calibrated on "
                           f"{args.trained_calib_frames} frames of {args.trained_calib}",
                   "parity": agreement_on_frames(tmodels, args.trained, args.trained_data, args.threads)}
        if args.real_frames:
            trained["real_frames"] = {"what": f"the same models on {args.real_frames} (labels of another class set: "
                                              f"agreement with PyTorch FP32 only)",
                                      **agreement_only(tmodels, args.trained, args.real_frames, args.threads)}
    real = None
    if args.real_frames:
        real = {"what": f"{checkpoint.name} on {args.real_frames}",
                "parity": agreement_on_frames(models, checkpoint, args.real_frames, args.threads)}

    env = collect_environment(load_start)
    record = {
        "schema": "acnet.cpu_int8_peers",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "network": f"ACNet-{info.backbone} ({info.num_classes} classes, {checkpoint.name}) at "
                   f"{info.input_height}x{info.input_width}",
        "threads": args.threads,
        "rounds": args.rounds,
        "gflops_per_frame": gflops,
        "peaks": peaks,
        "versions": {"openvino": ov.get_version().split("-")[0], "nncf": nncf.__version__, "onnxruntime": ort.__version__,
                     "torch": env["packages"]["torch"]["value"], "acnet": env["packages"]["acnet"]["value"]},
        "openvino_capabilities": [str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")],
        "load": {"start": load_start, "rounds": loads, "end": load_average()},
        "speed": speed,
        "trained": trained,
        "real_frames": real,
        "environment": env,
    }
    print(markdown(record))
    if args.json:
        atomic_write_text(args.json, json.dumps(record, indent=2) + "\n")
    if args.markdown:
        atomic_write_text(args.markdown, markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
