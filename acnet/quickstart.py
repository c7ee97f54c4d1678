"""``acnet quickstart``: the whole toolchain end to end on built-in synthetic scenes.

It trains a small ACNet on procedurally generated RGB-D rooms, evaluates it,
exports it to ONNX (FP32 and FP16), segments a few frames with the torch-free
runtime through ``acnet infer``, exports a camera-native model (camera frames
in, labels and confidence out) and runs it on the same frames, checks parity
of the exports against PyTorch, compiles an AOTInductor package and segments the same frames with
the C library's example (where CMake and a C++ compiler are found),
benchmarks PyTorch against ONNX Runtime, then quantizes to INT8 (calibrated
on training scenes), checks its parity and benchmarks it against FP32 ONNX
Runtime. No GPU, download or data
set is needed; everything lands in one folder with a ``quickstart.json``
summary, so each step can be repeated by hand with the command it prints.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import numpy as np
import torch
from PIL import Image

from acnet._io import atomic_write_text, make_dir
from acnet._options import POSITIVE
from acnet.benchmarks.bench import BenchConfig, run_bench
from acnet.benchmarks.parity import Candidate, ParityConfig, run_parity
from acnet.errors import BackendUnavailableError, ConfigError, ParityError
from acnet.export.aoti import AotiExportOptions, compile_package
from acnet.export.int8 import Int8Options
from acnet.export.onnx import OnnxExportOptions, export_onnx
from acnet.export.verify import MIN_AGREEMENT
from acnet.runtime import Segmenter, read_depth, read_rgb
from acnet.runtime.capi import build, example_path
from acnet.runtime.cli import infer
from acnet.runtime.images import write_png
from acnet.runtime.preprocess import PreprocessConfig
from acnet.training.checkpoint import load_model
from acnet.training.config import ModelConfig
from acnet.training.data import SYNTHETIC_CLASSES, open_dataset
from acnet.training.evaluate import evaluate
from acnet.training.metrics import ConfusionMatrix
from acnet.training.train import TrainConfig, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuickstartConfig:
    """Sizes of the quickstart run; the defaults take a few minutes on 2 CPU cores.

    The recipe departs from the paper's on purpose: a short schedule on easy
    synthetic data learns fastest with a larger learning rate (0.05) and the
    authors' code's weight decay (1e-4). About 1000 steps reach an mIoU of
    roughly 0.55 on unseen scenes, against about 0.06 for a constant guess.
    """

    out_dir: Path = Path("acnet-quickstart")
    backbone: str = "resnet18"
    width: float = 0.25
    #: Network input; scenes are rendered at ``scene_size`` and scaled/cropped to it.
    height: int = 96
    width_px: int = 128
    scene_size: tuple[int, int] = (120, 160)
    train_frames: int = 256
    test_frames: int = 32
    epochs: int = 32
    batch_size: int = 8
    lr: float = 0.05
    weight_decay: float = 1e-4
    #: Frames written as PNGs and segmented with ``acnet infer`` (and the C example).
    infer_frames: int = 4
    #: Where the C library is built; default ``<out_dir>/capi-build`` (kept, so a rerun is incremental).
    capi_build_dir: Path | None = None
    bench_iters: int = 20
    threads: int | None = None
    seed: int = 0
    progress: bool = True

    def data_spec(self, split: str, count: int) -> str:
        h, w = self.scene_size
        return f"synthetic:{count}?size={h}x{w}&seed={self.seed}&split={split}"


def _step(index: int, total: int, text: str) -> None:
    click.secho(f"\n[{index}/{total}] {text}", bold=True)


def run_quickstart(config: QuickstartConfig) -> dict:
    """Run every step and return the summary that is also written to ``quickstart.json``."""
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out_dir)
    make_dir(out)
    total = 9
    summary: dict = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}}
    started = time.perf_counter()

    # 1. train -----------------------------------------------------------------------
    _step(1, total, f"train ACNet-{config.backbone} (width {config.width}) on {config.train_frames} synthetic "
                    f"RGB-D scenes, input {config.height}x{config.width_px}")
    train_spec = config.data_spec("train", config.train_frames)
    test_spec = config.data_spec("test", config.test_frames)
    train_config = TrainConfig(
        data=train_spec,
        val_data=test_spec,
        model=ModelConfig(config.backbone, len(SYNTHETIC_CLASSES), "acm", config.width),
        input_height=config.height,
        input_width=config.width_px,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        weight_decay=config.weight_decay,
        lr_decay_epochs=max(1, config.epochs // 4),
        val_every=max(1, config.epochs // 4),
        out_dir=str(out / "train"),
        seed=config.seed,
        num_workers=0,
        progress=config.progress,
        tensorboard=False,
        resume=True,
    )
    t0 = time.perf_counter()
    result = train(train_config)
    checkpoint = result.best_checkpoint or result.last_checkpoint
    summary["train"] = {"checkpoint": str(checkpoint), "epochs": result.epochs_completed,
                        "steps": result.global_step, "seconds": round(time.perf_counter() - t0, 1)}
    click.echo(f"checkpoint: {checkpoint}  ({result.global_step} steps, {summary['train']['seconds']} s)")
    click.echo(f"  again: acnet train --config {out / 'train' / 'config.json'}")

    # 2. evaluate --------------------------------------------------------------------
    _step(2, total, f"evaluate on {config.test_frames} unseen synthetic scenes")
    model, info = load_model(checkpoint)
    test_set = open_dataset(test_spec)
    evaluation = evaluate(model, test_set, _preprocess_config(info), save_vis=out / "eval_vis",
                          max_frames=config.test_frames, progress=config.progress)
    miou = evaluation.miou
    click.echo(evaluation.table())
    chance = _constant_guess_miou(evaluation.confusion)
    click.echo(f"mIoU {100 * miou:.1f}% on unseen scenes (predicting the most common class everywhere scores "
               f"{100 * chance:.1f}%); side-by-side pictures in {out / 'eval_vis'}")
    summary["eval"] = {**evaluation.summary(), "constant_guess_miou": chance, "vis_dir": str(out / "eval_vis")}

    # 3. export ----------------------------------------------------------------------
    _step(3, total, "export to ONNX (FP32 and FP16), each verified against PyTorch")
    onnx_path, fp16_path = out / "acnet.onnx", out / "acnet_fp16.onnx"
    summary["export"] = {}
    for path, fp16 in ((onnx_path, False), (fp16_path, True)):
        report = export_onnx(checkpoint, path, OnnxExportOptions(fp16=fp16))
        click.echo(report.summary())
        summary["export"]["fp16" if fp16 else "fp32"] = {
            "path": str(path), "max_abs_err": report.max_abs_err, "agreement": report.agreement}

    # 4. infer -----------------------------------------------------------------------
    _step(4, total, f"segment {config.infer_frames} frames with the torch-free runtime (acnet infer)")
    frames_dir = _write_frames(test_set, out / "frames", config.infer_frames)
    infer_dir = out / "infer"
    infer_args = [str(onnx_path), "--rgb", str(frames_dir / "rgb"), "--depth", str(frames_dir / "depth"),
                  "-o", str(infer_dir)] + (["--threads", str(config.threads)] if config.threads else [])
    infer.main(infer_args, standalone_mode=False)
    click.echo(f"  again: acnet infer {onnx_path} --rgb {frames_dir / 'rgb'} --depth {frames_dir / 'depth'} -o {infer_dir}")
    summary["infer"] = {"out_dir": str(infer_dir), "frames": config.infer_frames}

    # 5. camera-native ------------------------------------------------------------------
    h, w = config.scene_size
    _step(5, total, f"a camera-native model: {h}x{w} camera frames in, labels and confidence out, every step in the graph")
    summary["camera"] = _camera_step(config, out, checkpoint, onnx_path, frames_dir, test_spec)

    # 6. parity ----------------------------------------------------------------------
    _step(6, total, "parity of the exports against PyTorch FP32 (logits, pixel agreement, mIoU)")
    parity = run_parity(ParityConfig(
        checkpoint=checkpoint, data=test_spec,
        candidates=(Candidate("onnx", onnx_path, "onnxruntime"), Candidate("onnx-fp16", fp16_path, "onnxruntime")),
        threads=config.threads, progress=config.progress,
    ))
    click.echo(parity.table())
    atomic_write_text(out / "parity.json", parity.to_json())
    summary["parity"] = {"passed": parity.passed, "json": str(out / "parity.json")}

    # 7. AOTInductor and the C library ---------------------------------------------------
    _step(7, total, "compile an AOTInductor package (verified against PyTorch) and segment the frames from C")
    summary["aoti"] = _aoti_and_c_example(config, checkpoint, onnx_path, frames_dir, out)

    # 8. bench -----------------------------------------------------------------------
    _step(8, total, "benchmark PyTorch eager against ONNX Runtime on this CPU")
    bench = run_bench(BenchConfig(
        model=checkpoint, onnx=onnx_path, backends=("torch", "onnxruntime"), batches=(1,), warmup=3,
        iters=config.bench_iters, device="cpu", threads=config.threads, progress=config.progress,
    ))
    click.echo(bench.table())
    atomic_write_text(out / "bench.json", bench.to_json())
    summary["bench"] = {"json": str(out / "bench.json"), "speedups": bench.speedups()}

    # 9. INT8 -------------------------------------------------------------------------
    _step(9, total, "INT8 for ONNX Runtime on this CPU: calibrate, verify, check parity, benchmark against FP32")
    summary["int8"] = _int8_step(config, out, checkpoint, onnx_path, train_spec, test_spec)

    summary["seconds"] = round(time.perf_counter() - started, 1)
    atomic_write_text(out / "quickstart.json", json.dumps(summary, indent=2, default=str) + "\n")
    click.secho("\nsummary", bold=True)
    click.echo(f"  mIoU (synthetic test scenes): {100 * miou:.1f}%")
    click.echo("  " + parity.summary().replace("\n", "\n  "))
    camera = summary["camera"]
    click.echo(f"  camera-native model: labels equal the float model's on {100 * camera['agreement']:.3f}% of pixels, "
               f"parity {'passed' if camera['parity_passed'] else 'FAILED'}; {camera['bytes']['camera'] / 1e3:.0f} kB "
               f"cross to a GPU and back per frame instead of {camera['bytes']['float'] / 1e3:.0f} kB")
    c_example = summary["aoti"]["c_example"]
    click.echo(f"  AOTInductor package: agreement {100 * summary['aoti']['agreement']:.3f}% with PyTorch; C library: "
               + (f"skipped ({c_example['skipped']})" if "skipped" in c_example
                  else f"labels agree with the Python runtime on {100 * c_example['agreement']:.3f}% of pixels"))
    click.echo("  " + bench.summary().replace("\n", "\n  "))
    click.echo(f"  everything is in {out}/ (quickstart.json, parity.json, bench.json, infer/, c_example/, eval_vis/); "
               f"{summary['seconds']:.0f} s in all")
    return summary


def _aoti_and_c_example(config: QuickstartConfig, checkpoint: Path, onnx_path: Path, frames_dir: Path, out: Path) -> dict:
    """``acnet export aoti``, then ``acnet capi build`` and its ``segment`` example on each frame.

    The C labels are compared with the Python runtime's (ONNX Runtime on the
    ONNX export) pixel by pixel; below the FP32 export gate (99.9%) it is a
    ParityError. Without CMake or a
    C++ compiler the C half is skipped, and the summary says so.
    """
    package = out / "acnet.pt2"
    export = compile_package(checkpoint, package, AotiExportOptions())
    click.echo(export.summary())
    v = export.verification
    result: dict = {"path": str(package), "max_abs_err": v.max_abs_err, "agreement": v.agreement,
                    "seconds": round(export.seconds, 1)}
    click.echo(f"  again: acnet export aoti {checkpoint} -o {package}")

    missing = [tool for tool, found in (("cmake", shutil.which("cmake")),
                                        ("a C++ compiler", shutil.which("c++") or shutil.which("g++"))) if not found]
    if missing:
        reason = f"{' and '.join(missing)} not found on PATH"
        click.secho(f"skipped the C library: {reason} (install them and run `acnet capi build`)", fg="yellow")
        result["c_example"] = {"skipped": reason}
        return result
    build_dir = Path(config.capi_build_dir or out / "capi-build")
    t0 = time.perf_counter()
    build(build_dir, echo=click.echo)  # with the tools present, a failed build is an error, not a skip
    segment = example_path(build_dir)
    build_seconds = time.perf_counter() - t0

    c_dir = out / "c_example"
    c_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **({"OMP_NUM_THREADS": str(config.threads)} if config.threads else {})}
    frames = pixels = agree = 0
    with Segmenter(onnx_path, threads=config.threads) as seg:
        for rgb_path in sorted((frames_dir / "rgb").glob("*.png")):
            rgb, depth = read_rgb(rgb_path), read_depth(frames_dir / "depth" / rgb_path.name)
            ppm, pgm, labels_path = c_dir / f"{rgb_path.stem}.ppm", c_dir / f"{rgb_path.stem}_depth.pgm", c_dir / f"{rgb_path.stem}_labels.pgm"
            Image.fromarray(rgb).save(ppm)
            Image.fromarray(depth).save(pgm)  # 16-bit PGM, millimetres
            proc = subprocess.run([str(segment), str(package), str(ppm), str(pgm), str(labels_path)],
                                  capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
                raise BackendUnavailableError(f"the C example failed on {rgb_path.name}: {last}")
            with Image.open(labels_path) as im:
                c_labels = np.asarray(im)
            py_labels = seg.segment(rgb, depth)
            frames += 1
            pixels += py_labels.size
            agree += int((c_labels == py_labels).sum())
    agreement = agree / max(pixels, 1)
    click.echo(f"C example ({segment}) on {frames} frames: labels agree with the "
               f"Python runtime on {100 * agreement:.3f}% of {pixels} pixels; label maps in {c_dir}")
    click.echo(f"  again: {segment} {package} {ppm} {pgm} {labels_path}")
    if agreement < MIN_AGREEMENT["fp32"]:  # two FP32 backends: a near-tie pixel may flip, a wrong model cannot pass
        raise ParityError(f"the C library's labels differ from the Python runtime's on {pixels - agree} of {pixels} pixels "
                          f"({100 * agreement:.3f}% agree, need {100 * MIN_AGREEMENT['fp32']:.1f}%)")
    result["c_example"] = {"agreement": agreement, "frames": frames, "pixels": pixels, "build_dir": str(build_dir),
                           "build_seconds": round(build_seconds, 1), "out_dir": str(c_dir)}
    return result


def _camera_step(config: QuickstartConfig, out: Path, checkpoint: Path, onnx_path: Path, frames_dir: Path,
                 test_spec: str) -> dict:
    """Export a camera-native model for the frames' camera, segment them with it, check its parity.

    The frames are the written PNGs (``scene_size``, larger than the
    network's input), so the model's input head resizes and its output head
    resizes back. Its labels are compared with the float model's through the
    numpy runtime on the same files; parity runs it on raw camera frames.
    """
    h, w = config.scene_size
    camera_path = out / "acnet_camera.onnx"
    report = export_onnx(checkpoint, camera_path, OnnxExportOptions(io="camera", camera_size=(h, w)))
    click.echo(report.summary())
    click.echo(f"  again: acnet export onnx {checkpoint} -o {camera_path} --io camera --camera-size {h}x{w}")
    infer_dir = out / "infer_camera"
    infer.main([str(camera_path), "--rgb", str(frames_dir / "rgb"), "--depth", str(frames_dir / "depth"), "-o", str(infer_dir)]
               + (["--threads", str(config.threads)] if config.threads else []), standalone_mode=False)
    pixels = agree = 0
    with Segmenter(onnx_path, threads=config.threads) as seg:
        sizes = {"float": seg.info.io_bytes()["total"], "camera": report.info.io_bytes()["total"]}
        fh, fw = seg.input_size
        for rgb_path in sorted((frames_dir / "rgb").glob("*.png")):
            expected = seg.segment(read_rgb(rgb_path), read_depth(frames_dir / "depth" / rgb_path.name))
            with Image.open(infer_dir / f"{rgb_path.stem}_labels.png") as im:
                got = np.asarray(im)
            pixels, agree = pixels + got.size, agree + int((got == expected).sum())
    agreement = agree / max(pixels, 1)
    click.echo(f"acnet infer {camera_path.name}: labels equal the float model's (numpy pre- and postprocessing) on "
               f"{100 * agreement:.3f}% of {pixels} pixels; in {infer_dir}")
    # 8 scenes (150k pixels): the float model's parity runs on every test scene; this one's heads are what is new.
    parity = run_parity(ParityConfig(checkpoint=checkpoint, data=test_spec, limit=min(8, config.test_frames),
                                     candidates=(Candidate("onnx-camera", camera_path, "onnxruntime"),),
                                     threads=config.threads, progress=config.progress))
    click.echo(parity.table())
    atomic_write_text(out / "parity_camera.json", parity.to_json())
    click.echo(f"per {h}x{w} frame, {sizes['camera'] / 1e3:.0f} kB cross to a GPU and back (uint8 RGB, uint16 depth, uint8 "
               f"labels and confidence) where the float model moves {sizes['float'] / 1e3:.0f} kB at its "
               f"{fh}x{fw} input (float32 tensors and logits)")
    return {"path": str(camera_path), "agreement": agreement, "parity_passed": parity.passed,
            "parity_json": str(out / "parity_camera.json"), "infer_dir": str(infer_dir), "bytes": sizes}


def _int8_step(config: QuickstartConfig, out: Path, checkpoint: Path, onnx_path: Path, train_spec: str,
               test_spec: str) -> dict:
    """Export INT8 calibrated on training scenes, check parity on test scenes, bench it beside FP32."""
    int8_path = out / "acnet_int8.onnx"
    frames = 32
    report = export_onnx(checkpoint, int8_path, OnnxExportOptions(int8=Int8Options(calib_data=train_spec, calib_frames=frames)),
                         progress=config.progress)
    click.echo(report.summary())
    click.echo(f"  again: acnet export onnx {checkpoint} -o {int8_path} --int8 --calib-data '{train_spec}' --calib-frames {frames}")
    parity = run_parity(ParityConfig(checkpoint=checkpoint, data=test_spec,
                                     candidates=(Candidate("onnx-int8", int8_path, "onnxruntime"),),
                                     threads=config.threads, progress=config.progress))
    click.echo(parity.table())
    atomic_write_text(out / "parity_int8.json", parity.to_json())
    bench = run_bench(BenchConfig(model=onnx_path, int8_onnx=int8_path, backends=("onnxruntime", "onnxruntime-int8"),
                                  batches=(1,), warmup=3, iters=config.bench_iters, device="cpu", threads=config.threads,
                                  progress=config.progress))
    click.echo(bench.table())
    atomic_write_text(out / "bench_int8.json", bench.to_json())
    fp32, int8 = bench.result("onnxruntime", 1), bench.result("onnxruntime-int8", 1)
    speedup = fp32.latency_ms.median / int8.latency_ms.median if fp32 and int8 and fp32.ok and int8.ok else None
    if speedup:
        click.echo(f"INT8 runs {speedup:.2f}x FP32 ONNX Runtime here; the file is "
                   f"{100 * int8_path.stat().st_size / onnx_path.stat().st_size:.0f}% of the FP32 one")
    return {"path": str(int8_path), "agreement": report.agreement, "parity_passed": parity.passed,
            "parity_json": str(out / "parity_int8.json"), "bench_json": str(out / "bench_int8.json"),
            "speedup_vs_fp32_onnxruntime": speedup}


def _constant_guess_miou(confusion) -> float:
    """mIoU of predicting the most frequent true class everywhere: the bar to clear."""
    truth = confusion.matrix.sum(axis=1)
    guess = ConfusionMatrix(confusion.num_classes)
    guess.matrix[:, int(np.argmax(truth))] = truth
    return guess.miou()


def _preprocess_config(info):
    return PreprocessConfig(info.input_height, info.input_width, info.normalization)


def _write_frames(dataset, folder: Path, count: int) -> Path:
    """Write frames as PNG files (RGB, uint16 depth in millimetres), as a camera would give them."""
    for i in range(min(count, len(dataset))):
        frame = dataset[i]
        write_png(folder / "rgb" / f"{frame.name}.png", frame.rgb)
        write_png(folder / "depth" / f"{frame.name}.png", np.round(frame.depth * 1000.0).astype(np.uint16))
    return folder


@click.command("quickstart")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("acnet-quickstart"),
              show_default=True, help="Folder for the checkpoint, models, pictures and reports.")
@click.option("--epochs", type=POSITIVE, default=QuickstartConfig.epochs, show_default=True)
@click.option("--train-frames", type=POSITIVE, default=QuickstartConfig.train_frames, show_default=True)
@click.option("--test-frames", type=POSITIVE, default=QuickstartConfig.test_frames, show_default=True)
@click.option("--threads", type=POSITIVE, default=None, help="CPU threads for torch and ONNX Runtime.")
@click.option("--no-progress", is_flag=True, help="No progress bars (for logs).")
def quickstart(out_dir: Path, epochs: int, train_frames: int, test_frames: int, threads: int | None,
               no_progress: bool) -> None:
    """Train a small ACNet on synthetic RGB-D scenes, then evaluate, export, infer, check parity and benchmark.

    Needs no GPU, no download and no data. A second run in the same folder
    resumes training where it stopped.
    """
    for name, value in (("--epochs", epochs), ("--train-frames", train_frames), ("--test-frames", test_frames)):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    run_quickstart(QuickstartConfig(out_dir=out_dir, epochs=epochs, train_frames=train_frames,
                                    test_frames=test_frames, threads=threads, progress=not no_progress))
