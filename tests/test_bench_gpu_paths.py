"""The backends the GPU run measures, as far as a CPU can check them.

TF32 is a CUDA-only variant; AOTInductor packages run through the runtime's
Segmenter (``aoti``, ``aoti-fp16``); parity takes packages and PyTorch's
reduced precisions as candidates. Their CUDA halves are in tests/test_cuda.py.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from support.capi_artifacts import HEIGHT, WIDTH, aoti_package, checkpoint, folder_dataset
from support.installed import assert_one_line_error, run_acnet

from acnet.benchmarks.parity import DEFAULT_GATES, Candidate, Gate, ParityConfig, gate_for, run_parity
from acnet.benchmarks.timing import Skip
from acnet.benchmarks.backends import AotiBackend, TorchBackend, package_device, parse_variant, segmenter_around
from acnet.errors import ConfigError, ModelFileError


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, tiny_config):
    return checkpoint(tmp_path_factory, tiny_config)


@pytest.fixture(scope="module")
def package(tmp_path_factory, tiny_config):
    return aoti_package(tmp_path_factory, tiny_config)[0]


def _model_and_info(ckpt):
    from acnet.export.onnx import OnnxExportOptions, model_info
    from acnet.training.checkpoint import load_model

    model, record = load_model(ckpt)
    return model, model_info(record, OnnxExportOptions(dynamic_batch=True, verify=False), HEIGHT, WIDTH)


def test_tf32_is_a_cuda_variant_of_eager_fp32(ckpt):
    assert parse_variant("torch-tf32") == ("tf32", False)
    assert parse_variant("torch-tf32-compile") == ("tf32", True)
    with pytest.raises(ConfigError, match="torch-tf32-fp16"):
        parse_variant("torch-tf32-fp16")
    model, info = _model_and_info(ckpt)
    with pytest.raises(Skip, match="TF32 is a mode of NVIDIA GPUs"):
        TorchBackend("torch-tf32", model, info, "cpu")


def test_reduced_precisions_are_judged_by_the_fp16_gate():
    assert gate_for("fp16", DEFAULT_GATES) == gate_for("bf16", DEFAULT_GATES) == gate_for("tf32", DEFAULT_GATES) == Gate(99.5, 0.2)
    assert gate_for("fp32", DEFAULT_GATES) == gate_for("int8?", DEFAULT_GATES) == Gate(99.9, 0.05)
    own = {**DEFAULT_GATES, "bf16": Gate(99.0, 0.5)}
    assert gate_for("bf16", own) == Gate(99.0, 0.5) and gate_for("tf32", own) == Gate(99.5, 0.2)


@pytest.mark.slow
def test_package_backend_runs_through_the_segmenter(ckpt, package):
    from acnet.benchmarks.bench import BenchConfig, run_bench
    from acnet.export.verify import synthetic_frame

    assert package_device(package) == "cpu"
    report = run_bench(BenchConfig(ckpt, aoti=package, backends=("torch", "aoti", "aoti-fp16"), batches=(1, 2),
                                   warmup=1, iters=2, device="cpu", progress=False))
    aoti1, aoti2 = report.result("aoti", 1), report.result("aoti", 2)
    assert aoti1.ok, aoti1.reason
    assert aoti1.details["precision"] == "fp32" and aoti1.details["package"] == str(package)
    # The package is timed inside each end-to-end call, as every backend is: the overhead is measured, not None.
    assert 0 < aoti1.network_ms.median <= aoti1.end_to_end_ms.median and aoti1.overhead is not None
    assert "Segmenter" in aoti1.details["runtime"] and aoti1.details["batch"] == "fixed batch 1"
    assert aoti2.status == "skipped" and "fixed batch of 1" in aoti2.reason
    assert report.result("aoti-fp16", 1).status == "skipped" and "CUDA only" in report.result("aoti-fp16", 1).reason
    assert any(s["backend"] == "aoti" for s in report.speedups())
    assert report.model["aoti"] == str(package)

    # The same labels as PyTorch through the same runtime code, at the frame's own size.
    model, info = _model_and_info(ckpt)
    torch_seg = segmenter_around(TorchBackend("torch", model, info, "cpu"), 1)
    rgb, depth = synthetic_frame(90, 130, seed=3)
    seg = segmenter_around(AotiBackend("aoti", package, "cpu"), 1)
    np.testing.assert_allclose(seg.logits(rgb, depth), torch_seg.logits(rgb, depth), rtol=1e-4, atol=1e-4)
    assert (seg.segment(rgb, depth) == torch_seg.segment(rgb, depth)).mean() >= 0.999
    assert "AOTInductor fp32 package" in seg.backend.describe()

    with pytest.raises(Skip, match="compiled for cpu, not cuda"):
        AotiBackend("aoti", package, "cuda")
    with pytest.raises(ConfigError, match="is a fp32 package; aoti-fp16 runs fp16"):
        AotiBackend("aoti-fp16", package, "cpu")


def test_package_device_of_a_foreign_file_is_a_model_error(tmp_path):
    not_zip = tmp_path / "x.pt2"
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not a readable AOTInductor package"):
        package_device(not_zip)
    foreign = tmp_path / "y.pt2"
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("y/data.bin", b"0")
    with pytest.raises(ModelFileError, match="AOTI_DEVICE_KEY"):
        package_device(foreign)


@pytest.mark.slow
def test_parity_takes_packages_and_torch_precisions(ckpt, package, tmp_path_factory, tiny_config):
    root = folder_dataset(tmp_path_factory, tiny_config.num_classes, count=3)
    report = run_parity(ParityConfig(ckpt, f"folder:{root}", (Candidate("aoti", package, "aoti"),
                                                            Candidate("torch-bf16", ckpt, "torch-bf16")),
                                     device="cpu", progress=False))
    aoti, bf16 = report.results
    assert aoti.precision == "fp32" and aoti.gate == DEFAULT_GATES["fp32"] and aoti.frames == 3
    assert aoti.passed and aoti.agreement_pct >= 99.9 and aoti.max_abs_logits < 1e-3
    assert "AOTInductor" in aoti.runtime
    assert bf16.precision == "bf16" and bf16.gate == DEFAULT_GATES["fp16"]
    assert 0 < bf16.max_abs_logits and bf16.miou is not None and "torch-bf16" in bf16.runtime
    assert report.reference["input_size"] == [HEIGHT, WIDTH]


@pytest.mark.slow
def test_parity_candidate_that_cannot_run_here_is_one_line(ckpt, tmp_path_factory, tiny_config):
    root = folder_dataset(tmp_path_factory, tiny_config.num_classes, count=3)
    proc = run_acnet("parity", str(ckpt), "--torch", "torch-fp16", "--data", f"folder:{root}", "--device", "cpu")
    assert_one_line_error(proc, "torch-fp16 cannot run here", "FP16 autocast needs CUDA")
