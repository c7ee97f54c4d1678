"""``acnet bench`` and ``acnet parity``.

Exit codes: 0 all measured backends ran (bench) or passed their gate
(parity); 1 a backend failed; 2 bad input (one line on stderr).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from acnet._options import POSITIVE, FiniteFloat

from acnet._io import atomic_write_text, check_writable
from acnet.benchmarks.bench import BenchConfig, run_bench
from acnet.benchmarks.parity import CAMERA_GATE, Candidate, DEFAULT_GATES, Gate, ParityConfig, run_parity
from acnet.benchmarks.plot import plot_bench
from acnet.benchmarks.report import bench_markdown, parity_markdown
from acnet.errors import ConfigError


def _batches(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise ConfigError(f"--batch takes comma-separated positive integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise ConfigError(f"--batch takes comma-separated positive integers, got {text!r}")
    return values


def _write_outputs(report, json_out: Path | None, markdown_out: Path | None, markdown) -> None:
    if json_out:
        atomic_write_text(check_writable(json_out), report.to_json())
        click.echo(f"JSON: {json_out}")
    if markdown_out:
        atomic_write_text(check_writable(markdown_out), markdown(report))
        click.echo(f"report: {markdown_out}")


@click.command("bench")
@click.argument("model", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-b", "--backend", "backends", multiple=True, metavar="NAME",
              help="Backend to measure (repeatable): torch, torch-tf32, torch-fp16, torch-bf16, torch[-fp16|-bf16]-compile, "
                   "onnxruntime, onnxruntime-int8 (--int8-onnx), onnxruntime-trt, tensorrt, aoti, aoti-fp16, "
                   "openvino, openvino-bf16 (CPUs with AVX512-BF16 or AMX), openvino-int8 (--int8-onnx). "
                   "Default: torch and onnxruntime (and onnxruntime-int8 with --int8-onnx) on CPU; "
                   "torch, torch-fp16, torch-fp16-compile, onnxruntime, tensorrt on CUDA.")
@click.option("--batch", "batch_text", default="1", show_default=True, help="Batch sizes, comma-separated, e.g. 1,2,4,8.")
@click.option("--height", type=POSITIVE, help="Input height (multiple of 32); default: the model's.")
@click.option("--width", type=POSITIVE, help="Input width (multiple of 32); default: the model's.")
@click.option("--warmup", type=POSITIVE, default=3, show_default=True,
              help="Untimed calls first, at least 1: the first calls build kernels, caches and graphs.")
@click.option("--iters", type=POSITIVE, default=20, show_default=True, help="Timed iterations per backend and batch (at least).")
@click.option("--duration", type=FiniteFloat(min=0.0), default=0.0, show_default=True, help="Also time for at least this many seconds.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N, or auto (CUDA when torch sees a GPU).")
@click.option("--threads", type=POSITIVE, help="CPU threads for torch, ONNX Runtime and OpenVINO (default: theirs).")
@click.option("--checkpoint", type=click.Path(path_type=Path, dir_okay=False), help="Checkpoint of the same network (enables torch when MODEL is ONNX/engine).")
@click.option("--onnx", "onnx_path", type=click.Path(path_type=Path, dir_okay=False), help="ONNX model for onnxruntime (default: exported from the checkpoint).")
@click.option("--engine", type=click.Path(path_type=Path, dir_okay=False), help="TensorRT engine for the tensorrt backend.")
@click.option("--aoti", "aoti_path", type=click.Path(path_type=Path, dir_okay=False),
              help="AOTInductor package (.pt2) for the aoti or aoti-fp16 backend (default: compiled from the checkpoint).")
@click.option("--int8-onnx", type=click.Path(path_type=Path, dir_okay=False), help="INT8 ONNX model (acnet export onnx --int8) for the onnxruntime-int8 and openvino-int8 backends.")
@click.option("--camera-onnx", type=click.Path(path_type=Path, dir_okay=False),
              help="Camera-native ONNX model (acnet export onnx --io camera) for the onnxruntime-camera backend.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), help="Where ONNX exports, engines and packages made for benchmarking are kept (default ~/.cache/acnet/bench).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic frames every backend gets.")
@click.option("--cpu-clock-ghz", type=FiniteFloat(min=0.0, min_open=True), help="Core clock for the CPU's peaks (default: measured with a dependent-add chain; "
              "without a C compiler, what the OS reports, often the base clock).")
@click.option("--fma-units", type=POSITIVE, default=2, show_default=True, help="Full-width FMA (and VNNI) pipes per core, for the peaks.")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False), help="Write the full report (all statistics and samples) as JSON.")
@click.option("--markdown", "markdown_out", type=click.Path(path_type=Path, dir_okay=False), help="Write the table as markdown.")
@click.option("--plot", "plot_out", type=click.Path(path_type=Path, dir_okay=False), help="Draw latency vs batch and latency distributions (PNG).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def bench(model, backends, batch_text, height, width, warmup, iters, duration, device, threads, checkpoint, onnx_path,
          engine, aoti_path, int8_onnx, camera_onnx, cache_dir, seed, cpu_clock_ghz, fma_units, json_out, markdown_out, plot_out,
          progress):
    """Measure latency and throughput of MODEL (checkpoint, .onnx, .engine or .pt2) per backend.

    Every backend gets the same frames. Figures follow trtexec: compute
    (the network alone), latency (with host<->device copies), end-to-end
    (raw frames to class ids through the runtime) and throughput, each as
    min/mean/median/p90/p99/max. Backends that cannot run here are listed as
    skipped with the reason; when a device or backends were asked for and
    none can run, exit 2 with the reasons. Exit 1 when a backend fails while running.
    """
    for out in (json_out, markdown_out, plot_out):
        if out:
            check_writable(out)
    config = BenchConfig(
        model=model, checkpoint=checkpoint, onnx=onnx_path, engine=engine, aoti=aoti_path, int8_onnx=int8_onnx,
        camera_onnx=camera_onnx, backends=backends,
        batches=_batches(batch_text), height=height, width=width, warmup=warmup, iters=iters, duration_s=duration,
        device=device, threads=threads, cache_dir=cache_dir, seed=seed, cpu_clock_ghz=cpu_clock_ghz,
        fma_units=fma_units, progress=progress,
    )
    report = run_bench(config)
    click.echo(report.table())
    _write_outputs(report, json_out, markdown_out, bench_markdown)
    if plot_out:
        click.echo(f"plot: {plot_bench(report, plot_out)}")
    if any(r.status == "error" for r in report.results):
        sys.exit(1)


@click.command("parity")
@click.argument("checkpoint", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--onnx", "onnx_paths", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="FP32 ONNX model to check (repeatable). Default when no model is given: export one.")
@click.option("--fp16-onnx", "fp16_paths", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="FP16 ONNX model to check (repeatable).")
@click.option("--int8-onnx", "int8_paths", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="INT8 ONNX model to check (repeatable).")
@click.option("--engine", "engines", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="TensorRT engine to check (repeatable; needs TensorRT and a GPU).")
@click.option("--aoti", "packages", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="AOTInductor package (.pt2) to check (repeatable; runs on the device it was compiled for).")
@click.option("--openvino", "openvino_paths", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Model (.onnx of any precision, or OpenVINO IR .xml) to check in OpenVINO at fp32 (repeatable).")
@click.option("--openvino-bf16", "openvino_bf16_paths", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The same in OpenVINO at bf16, on CPUs with AVX512-BF16 or AMX (repeatable; FP16 gate, INT8 models "
                   "the INT8 gate).")
@click.option("--torch", "torch_variants", multiple=True, type=click.Choice(["torch-tf32", "torch-fp16", "torch-bf16"]),
              help="PyTorch itself in reduced precision on --device (repeatable): TF32, FP16 or bf16 autocast.")
@click.option("--data", required=True, help="Dataset spec: synthetic[:N][?size=HxW], folder:ROOT, nyuv2-mat:FILE.")
@click.option("--split", default="test", show_default=True)
@click.option("--limit", type=POSITIVE, help="Use at most the first N frames.")
@click.option("--device", help="Device of the candidates (default: cpu for ONNX and torch, cuda for engines, "
                                "a package's own device).")
@click.option("--reference-device", default="cpu", show_default=True, help="Device of the PyTorch FP32 reference.")
@click.option("--threads", type=POSITIVE, help="CPU threads for PyTorch, ONNX Runtime and OpenVINO.")
@click.option("--fp32-agreement", type=FiniteFloat(0.0, 100.0), default=DEFAULT_GATES["fp32"].min_agreement_pct, show_default=True,
              help="Least per-pixel agreement (%) for FP32 models.")
@click.option("--fp32-dmiou", type=FiniteFloat(min=0.0), default=DEFAULT_GATES["fp32"].max_delta_miou_points, show_default=True,
              help="Largest |ΔmIoU| (points) for FP32 models.")
@click.option("--fp16-agreement", type=FiniteFloat(0.0, 100.0), default=DEFAULT_GATES["fp16"].min_agreement_pct, show_default=True,
              help="Least per-pixel agreement (%) for FP16 models.")
@click.option("--fp16-dmiou", type=FiniteFloat(min=0.0), default=DEFAULT_GATES["fp16"].max_delta_miou_points, show_default=True,
              help="Largest |ΔmIoU| (points) for FP16 models.")
@click.option("--int8-agreement", type=FiniteFloat(0.0, 100.0), default=DEFAULT_GATES["int8"].min_agreement_pct, show_default=True,
              help="Least per-pixel agreement (%) for INT8 models.")
@click.option("--int8-dmiou", type=FiniteFloat(min=0.0), default=DEFAULT_GATES["int8"].max_delta_miou_points, show_default=True,
              help="Largest |ΔmIoU| (points) for INT8 models.")
@click.option("--camera-agreement", type=FiniteFloat(0.0, 100.0), default=CAMERA_GATE.min_agreement_pct, show_default=True,
              help="Least per-pixel agreement (%) of an FP32 camera-native model (--io camera) whose camera size is "
                   "the network's; every other difference must be an argmax tie.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), help="Where an ONNX export made for the check is kept.")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False), help="Write the report as JSON.")
@click.option("--report", "markdown_out", type=click.Path(path_type=Path, dir_okay=False), help="Write the report as markdown.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def parity(checkpoint, onnx_paths, fp16_paths, int8_paths, engines, packages, openvino_paths, openvino_bf16_paths,
           torch_variants, data, split, limit, device,
           reference_device, threads, fp32_agreement, fp32_dmiou, fp16_agreement, fp16_dmiou, int8_agreement, int8_dmiou,
           camera_agreement, cache_dir, json_out, markdown_out, progress):
    """Compare exported models of CHECKPOINT with PyTorch FP32 on a dataset.

    Reports max/mean logits error, per-pixel agreement and mIoU against the
    labels with ΔmIoU, and gates each model by its precision. Exit 1 when a
    model fails its gate, so CI can depend on it.
    """
    for out in (json_out, markdown_out):
        if out:
            check_writable(out)
    candidates = [Candidate(_label("onnx", p, onnx_paths), p, "onnxruntime", "--onnx") for p in onnx_paths]
    candidates += [Candidate(_label("onnx-fp16", p, fp16_paths), p, "onnxruntime", "--fp16-onnx") for p in fp16_paths]
    candidates += [Candidate(_label("onnx-int8", p, int8_paths), p, "onnxruntime", "--int8-onnx") for p in int8_paths]
    candidates += [Candidate(_label("tensorrt", p, engines), p, "tensorrt", "--engine") for p in engines]
    candidates += [Candidate(_label("aoti", p, packages), p, "aoti", "--aoti") for p in packages]
    candidates += [Candidate(_label("openvino", p, openvino_paths), p, "openvino", "--openvino") for p in openvino_paths]
    candidates += [Candidate(_label("openvino-bf16", p, openvino_bf16_paths), p, "openvino", "--openvino-bf16", "bf16")
                   for p in openvino_bf16_paths]
    candidates += [Candidate(name, checkpoint, name) for name in dict.fromkeys(torch_variants)]
    config = ParityConfig(
        checkpoint=checkpoint, data=data, candidates=candidates, split=split, limit=limit, device=device,
        reference_device=reference_device, threads=threads, cache_dir=cache_dir, progress=progress,
        gates={"fp32": Gate(fp32_agreement, fp32_dmiou), "fp16": Gate(fp16_agreement, fp16_dmiou),
               "int8": Gate(int8_agreement, int8_dmiou), "camera": Gate(camera_agreement, fp32_dmiou)},
    )
    report = run_parity(config)
    click.echo(report.table())
    _write_outputs(report, json_out, markdown_out, parity_markdown)
    if not report.passed:
        sys.exit(1)


def _label(kind: str, path: Path, all_paths) -> str:
    """"onnx", or "onnx:NAME" when several models of a kind are checked."""
    return kind if len(all_paths) == 1 else f"{kind}:{path.name}"
