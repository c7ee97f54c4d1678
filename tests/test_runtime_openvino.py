"""acnet.runtime on OpenVINO (``--backend openvino``), with tiny hand-built models (no torch).

The same models as tests/test_runtime.py, run by the real OpenVINO on this
CPU: results equal the numpy reference and ONNX Runtime, the metadata comes
through OpenVINO's own reading of the file (ONNX and IR), and every refusal
(BF16 on a CPU without it, an Intel GPU that is not there, a corrupt model, a
wrong input size) is one typed error. The same refusals through the installed
command are rows of tests/test_error_sweep.py (``infer/openvino-*``).
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support.installed import assert_one_line_error, run_acnet
from support.runtime_models import NUM_CLASSES, frame, make_onnx, reference_labels, reference_logits, tiny_info

from acnet.errors import BackendUnavailableError, ConfigError, InputError, ModelFileError
from acnet.runtime import Segmenter
from acnet.runtime.backends import Device, choose_backend, open_backend

ov = pytest.importorskip("openvino", reason="the openvino extra is not installed (pip install 'acnet[openvino]')")

from acnet.runtime.backends import openvino as ovb  # noqa: E402

#: Whether OpenVINO says this CPU computes in bf16 (AVX512-BF16 or AMX); the Zen 3 CI machine does not.
CPU_BF16 = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ov-models")
    fixed = make_onnx(root / "fixed.onnx")
    ir = root / "fixed_ir.xml"
    ov.save_model(ov.Core().read_model(str(fixed)), str(ir))  # OpenVINO IR, with the ONNX metadata in its rt_info
    return {
        "fixed": fixed,
        "ir": ir,
        "dynamic": make_onnx(root / "dynamic.onnx", batch="N"),
        "labels": make_onnx(root / "labels.onnx", output="labels"),
        "fp16": make_onnx(root / "fp16.onnx", fp16=True),
        "dynamic_hw": make_onnx(root / "dynamic_hw.onnx", batch="N", dynamic_hw=True),
    }


@pytest.fixture(scope="module")
def seg(models) -> Segmenter:
    return Segmenter(models["fixed"], backend="openvino", threads=1)


# --------------------------------------------------------------------------- results


@pytest.mark.parametrize("size", [(32, 64), (48, 80)])
def test_labels_and_logits_equal_the_network(seg, size):
    rgb, depth = frame(*size, seed=size[0])
    labels = seg.segment(rgb, depth)
    assert labels.shape == size and labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, reference_labels(rgb, depth, seg.info))
    logits = seg.logits(rgb, depth)
    assert logits.shape == (NUM_CLASSES, 32, 64) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, reference_logits(rgb, depth, seg.info), rtol=1e-5, atol=1e-5)


def test_metadata_comes_through_openvino(seg):
    assert seg.backend.name == "openvino" and seg.backend.precision == "fp32"
    assert seg.class_names == tiny_info().class_names and seg.input_size == (32, 64)
    assert seg.info.normalization == tiny_info().normalization
    assert seg.backend.threads == 1  # what OpenVINO compiled with, read back
    assert "openvino" in repr(seg) and "fp32" in repr(seg) and "1 threads" in repr(seg)


def test_ir_runs_by_suffix_with_its_metadata(models):
    """OpenVINO IR (.xml + .bin) is read with its rt_info metadata and chosen by its suffix."""
    assert choose_backend(models["ir"]) == "openvino"
    rgb, depth = frame(40, 72, seed=5)
    with Segmenter(models["ir"]) as seg:
        assert seg.backend.name == "openvino" and seg.class_names == tiny_info().class_names
        np.testing.assert_array_equal(seg.segment(rgb, depth), reference_labels(rgb, depth, seg.info))


def test_batches_labels_fp16_and_dynamic_sizes_agree_with_onnxruntime(models):
    frames = [frame(32 + 8 * i, 64, seed=i) for i in range(3)]
    for name, kwargs in (("dynamic", {"batch_size": 2}), ("labels", {}), ("fp16", {}), ("dynamic_hw", {"input_size": (64, 96)})):
        with Segmenter(models[name], backend="openvino", **kwargs) as a, Segmenter(models[name], **kwargs) as b:
            assert a.backend.limits == b.backend.limits and a.input_size == b.input_size
            for x, y in zip(a.segment_batch(frames), b.segment_batch(frames)):
                assert (x == y).mean() > 0.999, name  # fp16: a rare tie may round the other way


def test_outputs_are_copies_not_the_request_buffer(models):
    with Segmenter(models["fixed"], backend="openvino") as seg:
        first = seg.infer([seg.preprocess(*frame(32, 64, seed=1))])
        kept = first.copy()
        seg.infer([seg.preprocess(*frame(32, 64, seed=2))])
        np.testing.assert_array_equal(first, kept)


# --------------------------------------------------------------------------- precision and devices


@pytest.mark.skipif(CPU_BF16, reason="this CPU has BF16: the refusal is for CPUs without it")
def test_bf16_is_refused_where_openvino_reports_no_bf16(models):
    with pytest.raises(BackendUnavailableError, match=r"bf16 needs a CPU with AVX512-BF16 or AMX; OpenVINO reports .* FP32"):
        Segmenter(models["fixed"], backend="openvino", precision="bf16")


@pytest.mark.skipif(CPU_BF16, reason="this CPU has BF16, so OpenVINO compiles it as asked")
def test_a_silent_fallback_to_f32_never_passes_for_bf16(models, monkeypatch):
    """The hint reaches OpenVINO, and what OpenVINO compiled is read back, not assumed.

    Here the capability check is told the CPU has BF16, so the real OpenVINO
    gets the bf16 hint on a CPU without it: it compiles f32 without a word,
    and the backend says so instead of running f32 as bf16.
    """
    monkeypatch.setattr(ovb.OpenVINOBackend, "_check_capability", lambda *args: None)
    with pytest.raises(BackendUnavailableError, match="at f32, not bf16 as asked"):
        Segmenter(models["fixed"], backend="openvino", precision="bf16")


@pytest.mark.skipif(not CPU_BF16, reason="this CPU has no BF16 (AVX512-BF16 or AMX)")
def test_bf16_compiles_and_stays_close(models):
    rgb, depth = frame(32, 64, seed=9)
    with Segmenter(models["fixed"], backend="openvino", precision="bf16") as seg:
        assert seg.backend.precision == "bf16" and "bf16" in repr(seg)
        assert (seg.segment(rgb, depth) == reference_labels(rgb, depth, seg.info)).mean() > 0.99


def test_devices_and_options(models):
    with pytest.raises(ConfigError, match="unknown device 'cuda'; use cpu, gpu or gpu:N"):
        Segmenter(models["fixed"], backend="openvino", device="cuda")
    with pytest.raises(ConfigError, match="unknown OpenVINO precision 'fp16'; use fp32 or bf16"):
        Segmenter(models["fixed"], backend="openvino", precision="fp16")
    with pytest.raises(ConfigError, match="precision only applies to the OpenVINO backend"):
        Segmenter(models["fixed"], precision="bf16")
    with pytest.raises(ConfigError, match="threads must be at least 1, got 0"):
        Segmenter(models["fixed"], backend="openvino", threads=0)
    with pytest.raises(ConfigError, match="io_binding only apply to the ONNX Runtime backend"):
        open_backend(models["fixed"], "openvino", io_binding=True)
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):  # ONNX Runtime has no Intel GPU device
        Segmenter(models["fixed"], device="gpu")
    assert Device.parse("GPU:1", kinds=ovb.DEVICE_KINDS) == Device("gpu", 1) and str(Device("gpu", 1)) == "gpu:1"
    assert ovb.device_name(Device("gpu", 1)) == "GPU.1" and ovb.device_name(Device("cpu")) == "CPU"


@pytest.mark.skipif("GPU" in " ".join(ov.Core().available_devices), reason="an Intel GPU is visible to OpenVINO here")
def test_an_intel_gpu_that_is_not_there_is_named(models):
    with pytest.raises(BackendUnavailableError, match=r"OpenVINO sees no GPU here \(it sees CPU"):
        Segmenter(models["fixed"], backend="openvino", device="gpu")


# --------------------------------------------------------------------------- bad models and inputs


@pytest.mark.parametrize("content", [b"", b"not a model at all\n", "truncated"])
def test_corrupt_models_are_one_line_model_file_errors(tmp_path, models, content, capfd):
    path = tmp_path / "broken.onnx"
    data = models["fixed"].read_bytes()
    path.write_bytes(data[: len(data) // 2] if content == "truncated" else content)
    with pytest.raises(ModelFileError) as info:
        Segmenter(path, backend="openvino")
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    assert ("the file is empty" if content == b"" else "not a usable ONNX model: Model can't be parsed") in str(info.value)
    assert capfd.readouterr().err == ""  # no other frontend tried the file and printed from C++


def test_broken_ir_is_refused(tmp_path, models):
    xml = tmp_path / "m.xml"
    xml.write_text("<net>not closed")
    with pytest.raises(ModelFileError, match="its weights m.bin are not beside it"):
        Segmenter(xml)
    xml.with_suffix(".bin").write_bytes(b"\0" * 16)
    with pytest.raises(ModelFileError, match="m.xml is not a usable OpenVINO IR model"):
        Segmenter(xml)
    with pytest.raises(ModelFileError, match="is OpenVINO IR; run it with the openvino backend"):
        Segmenter(models["ir"], backend="onnxruntime")
    with pytest.raises(ModelFileError, match="the OpenVINO backend runs .onnx models and OpenVINO IR"):
        choose_backend("m.engine", "openvino")


def test_foreign_and_mismatched_models_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="no acnet metadata"):
        Segmenter(make_onnx(tmp_path / "foreign.onnx", metadata=False), backend="openvino")
    with pytest.raises(ModelFileError, match="7 classes but its metadata lists 5"):
        Segmenter(make_onnx(tmp_path / "classes.onnx", classes=NUM_CLASSES + 2), backend="openvino")
    with pytest.raises(ModelFileError, match="height 32 but its metadata says 64"):
        Segmenter(make_onnx(tmp_path / "size.onnx", graph_size=(32, 64), info=tiny_info(input_height=64)), backend="openvino")


def test_wrong_input_sizes_are_input_and_config_errors(models, seg):
    with pytest.raises(InputError, match=r"OpenVINO cannot run fixed.onnx on rgb \(1, 3, 16, 64\)"):
        seg.backend.run(np.zeros((1, 3, 16, 64), np.float32), np.zeros((1, 1, 16, 64), np.float32))
    with pytest.raises(ConfigError, match="takes 32x64 inputs only"):
        Segmenter(models["fixed"], backend="openvino", input_size=(64, 64))


# --------------------------------------------------------------------------- the installed command


def _pngs(root: Path, count: int = 2) -> Path:
    from acnet.runtime import write_png

    for i in range(count):
        rgb, depth = frame(40, 72, seed=i)
        write_png(root / "rgb" / f"{i:04d}.png", rgb)
        write_png(root / "depth" / f"{i:04d}.png", depth)
    return root


def test_infer_and_stream_run_openvino_as_users_do(models, tmp_path):
    from acnet.runtime import read_depth, read_rgb

    data = _pngs(tmp_path / "in")
    out = tmp_path / "infer"
    proc = run_acnet("infer", models["fixed"], "--rgb", data / "rgb", "--depth", data / "depth", "-o", out,
                     "--backend", "openvino", "--threads", "1")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    stream = tmp_path / "stream"
    proc = run_acnet("stream", models["ir"], "--source", f"folder:{data}", "-o", stream, "--no-video", "--no-progress",
                     "--json", stream / "stream.json")
    assert proc.returncode == 0, proc.stderr
    assert "openvino" in json.loads((stream / "stream.json").read_text())["backend"]
    for i in range(2):
        rgb, depth = read_rgb(data / "rgb" / f"{i:04d}.png"), read_depth(data / "depth" / f"{i:04d}.png")
        expected = reference_labels(rgb, depth, tiny_info())
        np.testing.assert_array_equal(np.asarray(Image.open(out / f"{i:04d}_labels.png")), expected)
        np.testing.assert_array_equal(np.asarray(Image.open(stream / "labels" / f"{i:04d}.png")), expected)


def test_without_openvino_the_backend_is_one_line_naming_the_extra(models, tmp_path):
    """The installed command where openvino cannot be imported, as on a plain ``pip install acnet``."""
    blocker = tmp_path / "site"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(textwrap.dedent("""
        import importlib.abc, sys

        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "openvino":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)

        sys.meta_path.insert(0, Blocker())
    """))
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(blocker), os.environ.get("PYTHONPATH")]))}
    data = _pngs(tmp_path / "in", 1)
    for model, backend in ((models["fixed"], ("--backend", "openvino")), (models["ir"], ())):
        proc = run_acnet("infer", model, "--rgb", data / "rgb", "--depth", data / "depth", "-o", tmp_path / "out", *backend,
                         env=env)
        assert_one_line_error(proc, "the OpenVINO backend needs the openvino package", "pip install 'acnet[openvino]'")
    proc = run_acnet("infer", models["fixed"], "--rgb", data / "rgb", "--depth", data / "depth", "-o", tmp_path / "ort", env=env)
    assert proc.returncode == 0, proc.stderr  # ONNX Runtime still runs the model


# --------------------------------------------------------------------------- acnet bench


def test_bench_has_a_row_per_openvino_precision(models, tmp_path):
    """openvino (fp32) is timed with OpenVINO's versions and compiled precision; openvino-bf16 is timed against the
    bf16 peak where the CPU has it and skipped with OpenVINO's reason where not; openvino-int8 needs --int8-onnx."""
    from acnet.benchmarks.bench import BenchConfig, run_bench

    config = BenchConfig(model=models["fixed"], backends=("openvino", "openvino-bf16", "openvino-int8"), warmup=1,
                         iters=2, threads=1, cache_dir=tmp_path, progress=False)
    report = run_bench(config)
    rows = {r.backend: r for r in report.results}
    fp32 = rows["openvino"]
    assert fp32.ok and fp32.compute_ms.median > 0
    assert fp32.details["framework"] == f"openvino {ov.get_version().split('-')[0]}"
    assert fp32.details["inference_precision_hint"] == "f32" and fp32.details["threads"] == 1
    assert fp32.details["precision"] == "fp32" and "FP32" in fp32.details["device_capabilities"]
    bf16 = rows["openvino-bf16"]
    if CPU_BF16:
        assert bf16.ok and bf16.details["precision"] == "bf16" and bf16.details["inference_precision_hint"] == "bf16"
        assert {e["precision"]: e["peak_precision"] for e in report.efficiency()}["bf16"] == "bf16"
    else:
        assert bf16.status == "skipped" and "bf16 needs a CPU with AVX512-BF16 or AMX" in bf16.reason
    assert rows["openvino-int8"].status == "skipped" and "--int8-onnx" in rows["openvino-int8"].reason
    # With the clock measured, the peaks are the loops' (acnet.benchmarks.peak) where a C compiler builds them.
    if report.cpu_clock["source"] == "measured":
        assert report.cpu_peaks["fp32"]["formula"].startswith("measured: vfmadd231ps")
    # The JSON records the CPU flags that decide the kernels.
    from acnet.benchmarks.environment import cpu_info

    kernel_flags = report.to_dict()["environment"]["cpu"]["kernel_flags"]
    assert kernel_flags == {f: f in cpu_info().flags for f in ("avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile",
                                                                 "amx_int8", "amx_bf16")}
