"""Every CUDA path, on a real GPU: torch bench variants, torch.compile with CUDA graphs,
AOTInductor CUDA packages from Python and from the C library, AMP training, parity.

Marked ``cuda``: they skip, with the reason, where torch sees no GPU, and
``benchmarks/gpu/run.sh`` runs them (``pytest -m cuda``) on a lent GPU machine.
The network is a tiny trained-looking ACNet (tests/support/trained.py) at 64x96.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from support.capi_artifacts import acnet_cli, capi_build, folder_dataset, read_pgm8, write_pgm16, write_ppm
from support.trained import trained_looking_checkpoint

pytestmark = pytest.mark.cuda

HEIGHT, WIDTH = 64, 96
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, tiny_config) -> Path:
    return trained_looking_checkpoint(tmp_path_factory.mktemp("cuda") / "tiny.pt", tiny_config, (HEIGHT, WIDTH), seed=3)


@pytest.fixture(scope="module")
def loaded(ckpt):
    """(FP32 CPU model, ModelInfo) of the checkpoint."""
    from acnet.export.onnx import OnnxExportOptions, model_info
    from acnet.training.checkpoint import load_model

    model, record = load_model(ckpt)
    return model, model_info(record, OnnxExportOptions(dynamic_batch=True, verify=False), HEIGHT, WIDTH)


def _frames(info, batch: int, seed: int = 0):
    from acnet.benchmarks.timing import make_frames
    from acnet.export.verify import synthetic_frame
    from acnet.runtime.preprocess import PreprocessConfig

    raw = [synthetic_frame(HEIGHT + 16, WIDTH + 32, seed + i) for i in range(batch)]  # resized by the runtime
    return make_frames([r for r, _ in raw], [d for _, d in raw], PreprocessConfig(HEIGHT, WIDTH, info.normalization))


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm((a - b).ravel()) / np.linalg.norm(b.ravel()))


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a.argmax(1) == b.argmax(1)).mean())


# --------------------------------------------------------------------------- torch variants


def test_torch_bench_variants_run_on_cuda_with_their_settings(ckpt):
    from acnet.benchmarks.bench import BenchConfig, run_bench

    report = run_bench(BenchConfig(ckpt, backends=("torch", "torch-tf32", "torch-fp16", "torch-bf16"), batches=(1, 2),
                                   warmup=2, iters=3, device="cuda", progress=False))
    for r in report.results:
        assert r.ok, (r.backend, r.batch, r.reason)
        # Compute (CUDA events around the network) is inside latency (host clock around copies + network).
        assert 0 < r.compute_ms.median <= r.latency_ms.median * 1.05, (r.backend, r.batch)
        assert r.details["device"] == "cuda:0" and r.details["gpu"]
    details = {r.backend: r.details for r in report.results if r.batch == 1}
    assert details["torch"]["cudnn_allow_tf32"] is False and details["torch"]["layout"] == "NCHW"
    # Every variant autotunes cuDNN, the baseline too: a speed-up measures precision and layout, not autotuning.
    assert all(d["cudnn_benchmark"] is True for d in details.values())
    assert details["torch-tf32"]["cudnn_allow_tf32"] is True and details["torch-tf32"]["layout"] == "NCHW"
    for amp in ("torch-fp16", "torch-bf16"):
        assert details[amp]["layout"] == "channels_last" and details[amp]["cudnn_benchmark"] is True
    assert report.environment["gpu"]["value"] and report.environment["cuda"]["value"]
    assert {(s["backend"], s["batch"]) for s in report.speedups()} == {
        (b, n) for b in ("torch-tf32", "torch-fp16", "torch-bf16") for n in (1, 2)}


@pytest.mark.parametrize("name, max_rel, min_agree", [
    ("torch", 1e-4, 0.999), ("torch-tf32", 2e-2, 0.99), ("torch-fp16", 2e-2, 0.99), ("torch-bf16", 8e-2, 0.97)])
def test_torch_variants_on_cuda_compute_what_fp32_on_cpu_computes(loaded, name, max_rel, min_agree):
    import torch

    from acnet.benchmarks.backends import TorchBackend, segmenter_around
    from acnet.benchmarks.torch_timer import TorchTimer

    model, info = loaded
    frames = _frames(info, 2)
    reference = TorchBackend("torch", copy.deepcopy(model), info, "cpu").run(frames.rgb_batch, frames.depth_batch)
    timer = TorchTimer(TorchBackend(name, copy.deepcopy(model), info, "cuda"))
    timer.prepare(frames)
    out = timer.run(frames).output
    assert out.dtype == np.float32 and out.shape == reference.shape and np.isfinite(out).all()
    assert out.flags["C_CONTIGUOUS"]  # NCHW, as the runtime's backends return logits
    assert torch.from_numpy(out).is_pinned()  # latency copies the logits into pinned memory, not pageable
    assert _relative(out, reference) < max_rel and _agreement(out, reference) >= min_agree
    assert 0 < timer.end_to_end(frames)  # the network's seconds inside one end-to-end call
    labels = segmenter_around(timer.backend, frames.batch).segment_batch(zip(frames.rgb, frames.depth))
    assert [lab.shape for lab in labels] == [f.shape[:2] for f in frames.rgb] and all(lab.dtype == np.uint8 for lab in labels)
    timer.close()


@pytest.mark.slow
def test_torch_compile_replays_cuda_graphs_with_eager_answers(loaded):
    from acnet.benchmarks.backends import TorchBackend
    from acnet.benchmarks.torch_timer import TorchTimer

    model, info = loaded
    frames = _frames(info, 1, seed=5)
    eager = TorchTimer(TorchBackend("torch-fp16", copy.deepcopy(model), info, "cuda"))
    eager.prepare(frames)
    expected = eager.run(frames).output
    compiled = TorchTimer(TorchBackend("torch-fp16-compile", copy.deepcopy(model), info, "cuda"))
    assert "CUDA graphs" in compiled.details()["compiled"]
    compiled.prepare(frames)
    outputs = [compiled.run(frames).output for _ in range(4)]  # compile, record, then replays
    assert len({out.ctypes.data for out in outputs}) == 4  # each call's logits in memory of its own
    for out in outputs:
        assert _relative(out, expected) < 1e-2 and _agreement(out, expected) >= 0.99
    assert 0 < compiled.end_to_end(frames)  # end_to_end returns the network's seconds inside the call


# --------------------------------------------------------------------------- AOTInductor on CUDA


@pytest.fixture(scope="module")
def cuda_package(ckpt, tmp_path_factory) -> tuple[Path, str]:
    """``acnet export aoti --device cuda --fp16 --dynamic-batch``, as the GPU run makes it."""
    out = tmp_path_factory.mktemp("cuda-aoti") / "tiny_fp16.pt2"
    proc = acnet_cli("export", "aoti", str(ckpt), "-o", str(out), "--device", "cuda", "--fp16", "--dynamic-batch")
    return out, proc.stdout


@pytest.mark.slow
def test_cuda_fp16_package_is_verified_and_describes_itself(cuda_package):
    from acnet.benchmarks.backends import package_device
    from acnet.export.aoti import read_package_info

    package, stdout = cuda_package
    assert "AOTInductor, cuda:0, fp16, dynamic batch" in stdout and ": passed" in stdout
    report = json.loads(package.with_name("tiny_fp16.aoti.verify.json").read_text())
    assert report["device"] == "cuda:0" and report["verification"]["passed"] is True
    assert report["verification"]["agreement"] >= 0.995
    info = read_package_info(package)
    assert info.precision == "fp16" and info.batch == 0 and (info.input_height, info.input_width) == (HEIGHT, WIDTH)
    assert package_device(package) == "cuda"


@pytest.mark.slow
def test_cuda_package_bench_backend_at_two_batch_sizes(ckpt, cuda_package, loaded):
    from acnet.benchmarks.backends import AotiBackend, TorchBackend
    from acnet.benchmarks.bench import BenchConfig, run_bench
    from acnet.benchmarks.torch_timer import TorchTimer

    package = cuda_package[0]
    report = run_bench(BenchConfig(ckpt, aoti=package, backends=("torch", "aoti-fp16"), batches=(1, 3),
                                   warmup=2, iters=3, device="cuda", progress=False))
    for batch in (1, 3):
        r = report.result("aoti-fp16", batch)
        assert r.ok, r.reason
        assert r.details["device"] == "cuda:0" and r.details["precision"] == "fp16" and "dynamic batch" in r.details["batch"]
        assert 0 < r.compute_ms.median <= r.latency_ms.median * 1.05

    model, info = loaded
    frames = _frames(info, 3, seed=9)
    timer = TorchTimer(AotiBackend("aoti-fp16", package, "cuda"))
    timer.prepare(frames)
    out = timer.run(frames).output
    reference = TorchBackend("torch", copy.deepcopy(model), info, "cpu").run(frames.rgb_batch, frames.depth_batch)
    assert _relative(out, reference) < 2e-2 and _agreement(out, reference) >= 0.99


@pytest.mark.slow
def test_c_library_runs_the_cuda_package_like_the_python_runtime(cuda_package, tmp_path_factory, tmp_path):
    from acnet.benchmarks.backends import AotiBackend, segmenter_around
    from acnet.export.verify import synthetic_frame
    from acnet.runtime.capi import rpath_environment

    package = cuda_package[0]
    build = capi_build(tmp_path_factory)[0]
    seg = segmenter_around(AotiBackend("aoti-fp16", package, "cuda"), 1)
    env = rpath_environment(os.environ)  # libtorch through the rpath; the driver's folders stay
    for i, (h, w) in enumerate(((HEIGHT, WIDTH), (120, 160))):
        rgb, depth = synthetic_frame(h, w, seed=20 + i)
        rgb_path, depth_path = write_ppm(tmp_path / f"f{i}.ppm", rgb), write_pgm16(tmp_path / f"f{i}.pgm", depth)
        out = tmp_path / f"f{i}_labels.pgm"
        proc = subprocess.run([str(build / "segment"), "--device", "cuda", "--repeat", "5", str(package), str(rgb_path),
                               str(depth_path), str(out)], capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
        assert "aoti/cuda:0" in proc.stdout and "median" in proc.stdout
        labels = read_pgm8(out)
        assert labels.shape == (h, w) and len(np.unique(labels)) > 1  # one class would make agreement meaningless
        assert (labels == seg.segment(rgb, depth)).mean() >= 0.9999  # the same package: the same answers
    refused = subprocess.run([str(build / "segment"), "--device", "cpu", str(package), str(rgb_path), str(depth_path),
                              str(tmp_path / "no.pgm")], capture_output=True, text=True, env=env)
    assert refused.returncode != 0 and "compiled for cuda" in refused.stderr


# --------------------------------------------------------------------------- training


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_training_steps_on_cuda(tmp_path, tiny_config, amp):
    import torch

    from acnet.training.data.synthetic import SYNTHETIC_CLASSES
    from acnet.training.train import TrainConfig, Trainer

    model = dataclasses.replace(tiny_config, num_classes=len(SYNTHETIC_CLASSES))
    config = TrainConfig(data=f"synthetic:2?size={HEIGHT}x{WIDTH}", val_data="none", model=model,
                         input_height=HEIGHT, input_width=WIDTH, batch_size=2, lr=0.02, amp=amp, device="cuda",
                         num_workers=0, progress=False, tensorboard=False, out_dir=str(tmp_path))
    trainer = Trainer(config)
    trainer.setup()
    assert trainer.device.type == "cuda" and trainer.channels_last
    assert trainer.amp_dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    assert trainer.scaler.is_enabled() == (amp == "fp16")
    assert next(trainer.model.parameters()).is_cuda
    batch = next(iter(trainer.loader))
    losses = [trainer._train_step([batch]) for _ in range(12)]
    assert all(math.isfinite(v) for v in losses), losses
    assert losses[-1] < 0.9 * losses[0], losses  # the same batch: it is being learnt


def test_training_throughput_reports_every_precision_on_cuda(tmp_path, monkeypatch):
    from acnet.benchmarks.throughput import ThroughputConfig, measure

    monkeypatch.chdir(tmp_path)
    report = measure(ThroughputConfig("resnet18", 0.25, HEIGHT, WIDTH, 2, ("fp32", "bf16", "fp16"), 1, 3, "cuda"))
    results = report["results"]
    for name in ("fp32", "bf16", "fp16"):
        r = results[name]
        assert r["status"] == "ok" and r["device"].startswith("cuda") and r["channels_last"] is True
        assert r["images_per_s"]["median"] > 0 and all(math.isfinite(v) for v in r["losses"])
        assert r["cudnn_allow_tf32"] is not None
    assert results["fp16"]["grad_scaler"] is True and results["bf16"]["grad_scaler"] is False
    assert results["fp32"]["autocast"] is None and results["fp16"]["autocast"] == "float16"


# --------------------------------------------------------------------------- parity and ceilings


def test_parity_of_torch_precisions_on_cuda(ckpt, tmp_path_factory, tiny_config):
    from acnet.benchmarks.parity import DEFAULT_GATES, Candidate, ParityConfig, run_parity

    root = folder_dataset(tmp_path_factory, tiny_config.num_classes, count=3)
    report = run_parity(ParityConfig(ckpt, f"folder:{root}", tuple(Candidate(n, ckpt, n) for n in
                                                                 ("torch", "torch-fp16", "torch-bf16")),
                                     device="cuda", progress=False))
    fp32, fp16, bf16 = report.results
    assert fp32.precision == "fp32" and fp32.passed, fp32.failures  # CUDA FP32 (TF32 off) gives the CPU's answers
    assert fp16.precision == "fp16" and fp16.gate == DEFAULT_GATES["fp16"] and fp16.agreement_pct >= 99.0
    assert bf16.precision == "bf16" and bf16.gate == DEFAULT_GATES["fp16"] and bf16.agreement_pct >= 97.0
    assert all("cuda" in r.runtime for r in report.results)


def test_gpu_run_ceilings_are_measured_and_checked():
    spec = importlib.util.spec_from_file_location("gpu_probes", REPO / "benchmarks" / "gpu" / "gpu_probes.py")
    gpu_probes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_probes)
    c = gpu_probes.measure_ceilings("cuda", matmul_n=2048, copy_mib=256)
    assert c["matmul_bf16"]["passed"] and c["copy"]["passed"], c
    assert c["matmul_bf16"]["tflops"] > 1 and c["copy"]["gb_per_s"] > 50
