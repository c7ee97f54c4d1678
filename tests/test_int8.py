"""INT8 export: Q/DQ kinds per target, ONNX Runtime runs it, the gates catch a broken calibration, bad input.

A tiny trained-looking network at 64x96. Its weights are random, so its
agreement with FP32 after INT8 says nothing about a trained model's (see
benchmarks/results for those); these tests check what each target puts in
the graph, that every consumer runs it, and that verification and parity
refuse a model calibrated on frames of zeros.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from support.installed import assert_one_line_error, run_acnet
from support.trained import trained_looking_checkpoint

CALIB = "synthetic:4?size=64x96"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, tiny_config):
    import dataclasses

    config = dataclasses.replace(tiny_config, num_classes=9)  # the synthetic scenes' classes, for acnet parity
    return trained_looking_checkpoint(tmp_path_factory.mktemp("int8") / "tiny.pt", config, (64, 96), seed=3)


#: Export gate for the random tiny network: its flat logits make INT8 agree ~96 % with FP32
#: (trained models: see benchmarks/results); a calibration on frames of zeros falls far below.
GATE = 0.9


def _export(ckpt, path, target, verify=False, calib=CALIB, exclude=()):
    from acnet.export.int8 import Int8Options
    from acnet.export.onnx import OnnxExportOptions, export_onnx

    options = OnnxExportOptions(int8=Int8Options(calib_data=calib, calib_frames=4, target=target, exclude=exclude,
                                                 min_agreement=GATE), verify=verify)
    return export_onnx(ckpt, path, options)


@pytest.fixture(scope="module")
def cpu_model(ckpt):
    path = ckpt.with_name("tiny_int8_cpu.onnx")
    report = _export(ckpt, path, "cpu", verify=True, exclude=("acm_depth.0",))
    return path, report


@pytest.fixture(scope="module")
def trt_model(ckpt):
    path = ckpt.with_name("tiny_int8_trt.onnx")
    _export(ckpt, path, "tensorrt")
    return path


def _inits(model):
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _qdq(model, op):
    return [n for n in model.graph.node if n.op_type == op]


def test_cpu_target_uint8_activations_int8_per_channel_weights(cpu_model):
    path, report = cpu_model
    model = onnx.load(path)
    inits = _inits(model)
    quants = _qdq(model, "QuantizeLinear")
    assert len(quants) > 50
    # Activations (what QuantizeLinear quantizes at run time) are uint8 with real zero points.
    zps = [inits[q.input[2]] for q in quants]
    assert all(z.dtype == np.uint8 for z in zps)
    assert any(int(z) != 0 for z in zps)
    # Weights are stored as int8 and dequantized per output channel.
    weight_dqs = [d for d in _qdq(model, "DequantizeLinear") if inits.get(d.input[0]) is not None
                  and inits[d.input[0]].dtype == np.int8 and inits[d.input[0]].ndim == 4]
    assert len(weight_dqs) >= 100
    for d in weight_dqs:  # per channel: one scale per output channel (axis 0 for Conv, 1 for ConvTranspose)
        axis = next((a.i for a in d.attribute if a.name == "axis"), 1)
        assert inits[d.input[1]].size == inits[d.input[0]].shape[axis] > 1, d.name
    assert all(not inits[d.input[2]].any() for d in weight_dqs)  # symmetric weights
    # What the metadata says, and the parts kept in floating point.
    from acnet.export.graph import read_metadata

    info = read_metadata(model)
    assert info.precision == "int8"
    q = info.quantization
    assert (q["target"], q["calibration_data"], q["calibration_frames"], q["calibration_method"]) == ("cpu", CALIB, 4, "minmax")
    assert "decoder.final_deconv" in q["exclude"] and "acm_depth.0" in q["exclude"]
    # The cpu target writes the transposed convolutions as Conv + DepthToSpace (so the decoder runs in INT8);
    # the logits layer's stays in floating point: a float Conv on float weights, no Q/DQ.
    from acnet.export.graph import producers

    final = next(n for n in model.graph.node if n.output[0] == "logits")
    assert final.op_type == "DepthToSpace"
    phases = producers(model.graph)[final.input[0]]
    assert phases.op_type == "Conv" and inits[phases.input[1]].dtype == np.float32
    assert producers(model.graph)[phases.input[0]].op_type == "DequantizeLinear"


def test_tensorrt_target_symmetric_int8_on_weighted_inputs(trt_model):
    model = onnx.load(trt_model)
    inits = _inits(model)
    from acnet.export.graph import producers

    made_by = producers(model.graph)
    for node in _qdq(model, "QuantizeLinear") + _qdq(model, "DequantizeLinear"):
        zp = inits[node.input[2]]
        assert zp.dtype == np.int8 and not zp.any(), node.name  # symmetric, zero point 0
    # Every convolution but the excluded logits layer reads dequantized activations and weights.
    convs = [n for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose") and n.output[0] != "logits"]
    for conv in convs:
        assert made_by[conv.input[0]].op_type == "DequantizeLinear", conv.name
        assert made_by[conv.input[1]].op_type == "DequantizeLinear", conv.name
    # No convolution output is quantized (unless a convolution reads it), so TensorRT fuses bias,
    # ReLU and the residual Add into the convolution; biases stay float.
    read_by = {}
    for n in model.graph.node:
        for i in n.input:
            read_by.setdefault(i, []).append(n)
    for q in _qdq(model, "QuantizeLinear"):
        producer = made_by.get(q.input[0])
        assert producer is None or producer.op_type not in ("Conv", "ConvTranspose") or any(
            r.op_type in ("Conv", "ConvTranspose") for r in read_by[q.input[0]] if r is not q), q.name
    assert not [d for d in _qdq(model, "DequantizeLinear") if inits.get(d.input[0]) is not None
                and inits[d.input[0]].dtype == np.int32]
    residual = [n for n in model.graph.node if n.op_type == "Add"
                and any(made_by.get(i) is not None and made_by[i].op_type == "DequantizeLinear" for i in n.input)]
    assert residual, "no residual Add reads a quantized skip input"


def test_onnxruntime_segmenter_and_bench_run_int8(cpu_model, ckpt):
    from acnet.benchmarks.bench import BenchConfig, run_bench
    from acnet.export.verify import synthetic_frame
    from acnet.runtime import Segmenter

    path, _ = cpu_model
    seg = Segmenter(path)
    rgb, depth = synthetic_frame(120, 160, seed=5)
    labels = seg.segment(rgb, depth)
    assert labels.shape == (120, 160) and labels.dtype == np.uint8 and labels.min() >= 1
    assert seg.info.precision == "int8"
    backends = ("onnxruntime-int8", "openvino-int8") if _has("openvino") else ("onnxruntime-int8",)
    report = run_bench(BenchConfig(model=ckpt, int8_onnx=path, backends=backends, warmup=1, iters=2,
                                   device="cpu", progress=False))
    assert [r.backend for r in report.results] == list(backends)
    for row in report.results:  # OpenVINO's row: the same file, its Q/DQ pairs run as OpenVINO's INT8
        assert row.ok and row.details["precision"] == "int8", row.reason
    # Each row is held against the INT8 peak: a VNNI figure where the CPU has VNNI, none (said so) where not.
    assert {e["peak_precision"] for e in report.efficiency()} <= {"int8", None}


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_parity_runs_int8_models_in_openvino_by_the_int8_gate(ckpt, cpu_model):
    """acnet parity --openvino: the INT8 export in OpenVINO, judged by the INT8 gate; --openvino-bf16 reaches
    OpenVINO as its precision: refused on a CPU without bf16, and an INT8 model keeps the INT8 gate where it runs."""
    pytest.importorskip("openvino")
    from acnet.benchmarks.environment import cpu_info
    from acnet.benchmarks.parity import Candidate, ParityConfig, _open_candidate, run_parity
    from acnet.errors import BackendUnavailableError

    path, _ = cpu_model
    config = ParityConfig(checkpoint=ckpt, data="synthetic:2?size=64x96", candidates=[Candidate("ov", path, "openvino")],
                          progress=False)
    (row,) = run_parity(config).to_dict()["results"]
    assert row["backend"] == "openvino" and row["precision"] == "int8" and row["runtime"].startswith("openvino")
    assert row["gate"] == {"min_agreement_pct": 98.0, "max_delta_miou_points": 1.0}
    bf16 = Candidate("ov-bf16", path, "openvino", "--openvino-bf16", "bf16")
    if {"avx512_bf16", "amx_bf16"} & set(cpu_info().flags):
        with _open_candidate(bf16, config) as seg:
            assert seg.backend.precision == "bf16" and seg.backend.compute_precision == "int8"
    else:  # the installed command's line for this refusal: tests/test_error_sweep.py (infer/openvino-bf16-...)
        with pytest.raises(BackendUnavailableError, match="bf16 needs a CPU with AVX512-BF16 or AMX"):
            _open_candidate(bf16, config)


def test_verify_report_has_the_per_stage_table(cpu_model):
    path, report = cpu_model
    stages = [s.stage for s in report.verification.stages]
    assert stages == ["m0", "m1", "m2", "m3", "m4", "deconv1", "deconv2", "deconv3", "deconv4", "final_conv", "logits"]
    saved = json.loads(path.with_name("tiny_int8_cpu.verify.json").read_text())
    assert [s["stage"] for s in saved["verification"]["stages"]] == stages
    errors = [s["rel_rms"] for s in saved["verification"]["stages"]]
    assert all(0 < e < 0.5 for e in errors), errors
    graph = saved["verification"]["fp32_graph"]  # the graph before quantization, at the FP32 gate
    assert graph["passed"] and graph["agreement"] >= 0.999 and graph["max_abs_err"] < 1e-3, graph
    assert "per-stage error" in report.summary() and "m4" in report.summary()
    assert "FP32 graph before quantization vs PyTorch: max |dlogits|" in report.summary()


def _zero_frames(root, count=4):
    from acnet.runtime.images import write_png

    for i in range(count):
        write_png(root / "train" / "rgb" / f"{i}.png", np.zeros((64, 96, 3), np.uint8))
        write_png(root / "train" / "depth" / f"{i}.png", np.zeros((64, 96), np.uint16))
        write_png(root / "train" / "semantic_40" / f"{i}.png", np.zeros((64, 96), np.uint8))
    return f"folder:{root}?split=train"


def test_blank_calibration_frames_are_refused_in_one_line(ckpt, tmp_path):
    """Frames of zeros (a covered lens, a camera that sent nothing) give ranges that quantize every real frame
    wrongly, and on a random network no agreement gate separates them from a good calibration (measured: 98.1 %
    against 99.0 % on held-out frames): the export refuses them before quantizing, and writes nothing."""
    spec = _zero_frames(tmp_path / "zeros")
    out = tmp_path / "bad.onnx"
    proc = run_acnet("export", "onnx", ckpt, "-o", out, "--int8", "--calib-data", spec, "--calib-frames", "4")
    assert_one_line_error(proc, f"calibration data {spec}: all 4 frames read are blank", "one colour, flat depth")
    assert not out.exists() and not list(tmp_path.glob("bad*"))
    # One frame with content is enough to calibrate on.
    from acnet.export.int8 import calibration_frames
    from acnet.runtime.images import write_png
    from acnet.runtime.preprocess import PreprocessConfig

    write_png(tmp_path / "zeros" / "train" / "rgb" / "3.png", np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8))
    assert len(calibration_frames(spec, 4, PreprocessConfig(64, 96))) == 4


def test_gates_refuse_an_int8_model_below_them(ckpt, cpu_model, tmp_path):
    """Export verification and acnet parity both apply the INT8 gate they are given: a 100 % gate refuses
    the INT8 model (which agrees ~98 % here), the default passes it."""
    from acnet.errors import ParityError
    from acnet.export.int8 import Int8Options
    from acnet.export.onnx import OnnxExportOptions, export_onnx

    out = tmp_path / "strict.onnx"
    options = OnnxExportOptions(int8=Int8Options(calib_data=CALIB, calib_frames=4, target="cpu", min_agreement=1.0))
    with pytest.raises(ParityError, match=r"FAILED .*not writing .*per-stage errors in"):
        export_onnx(ckpt, out, options)
    assert not out.exists()
    assert json.loads(out.with_name("strict.verify.json").read_text())["verification"]["passed"] is False
    # From the installed command, after the calibration's progress (no bar off a terminal): one line, nothing written.
    proc = run_acnet("export", "onnx", ckpt, "-o", out, "--int8", "--calib-data", CALIB, "--calib-frames", "4",
                     "--int8-agreement", "100")
    assert_one_line_error(proc, "argmax agreement", "(need 100.0%): FAILED", f"not writing {out}")
    assert not out.exists()
    good, _ = cpu_model
    args = ["parity", ckpt, "--int8-onnx", good, "--data", "synthetic:2?size=64x96", "--no-progress"]
    assert run_acnet(*args, "--int8-agreement", "100").returncode == 1
    assert run_acnet(*args, "--int8-agreement", "50", "--int8-dmiou", "100").returncode == 0


@pytest.mark.parametrize("part", ["batchnorm", "acm"])
def test_verification_catches_a_wrong_batchnorm_or_acm_that_int8_error_would_hide(ckpt, tmp_path, monkeypatch, part):
    """One BatchNorm or ACM broken in the exported copy only, under an INT8 gate (50 %) that a wrong fold would
    pass: the FP32 graph before quantization is checked at the FP32 gate, and the export refuses to write."""
    import copy

    import acnet.export.onnx as export_module
    from acnet.errors import ParityError
    from acnet.export.int8 import Int8Options
    from acnet.export.onnx import OnnxExportOptions, export_onnx
    from support.trained import break_on_purpose

    trace = export_module.trace_to_onnx
    monkeypatch.setattr(export_module, "trace_to_onnx", lambda model, *a: trace(break_on_purpose(copy.deepcopy(model), part), *a))
    out = tmp_path / "broken.onnx"
    options = OnnxExportOptions(int8=Int8Options(calib_data=CALIB, calib_frames=4, target="cpu", min_agreement=0.5))
    with pytest.raises(ParityError, match="the FP32 graph before quantization already disagrees") as caught:
        export_onnx(ckpt, out, options)
    print(caught.value)
    assert not out.exists()
    saved = json.loads(out.with_name("broken.verify.json").read_text())["verification"]
    assert saved["agreement"] >= 0.5 and not saved["fp32_graph"]["passed"], saved  # the INT8 gate alone passed it


def test_verification_frames_are_held_out_from_calibration(tmp_path):
    """Another split first, then the calibration split's unused frames, then synthetic scenes; never a calibration frame."""
    from acnet.export.int8 import calibration_frames, check_frames
    from acnet.runtime.images import write_png
    from acnet.runtime.preprocess import PreprocessConfig

    config = PreprocessConfig(64, 96)

    def same(a, b):
        return np.array_equal(a["rgb"], b[0]) and np.array_equal(a["depth"], b[1])

    for spec, split, other in [("synthetic:4?size=64x96", "train", "test"), ("synthetic:4?size=64x96&split=test", "test", "train")]:
        feeds, where = check_frames(spec, 4, config)
        calib = calibration_frames(spec, 4, config)
        assert len(feeds) == 4 and where.startswith(f"4 frames of the {other} split") and f"calibration read {split}" in where
        assert not any(same(f, c) for f in feeds for c in calib)
    spec = _zero_frames(tmp_path / "six", count=6)  # one split only: the two frames calibration on four left
    for i in range(6):  # tell the frames apart (and give them content: blank frames are refused)
        write_png(tmp_path / "six" / "train" / "rgb" / f"{i}.png", np.random.default_rng(i).integers(0, 256, (64, 96, 3), dtype=np.uint8))
    calib = calibration_frames(spec, 4, config)
    feeds, where = check_frames(spec, 4, config)
    assert len(feeds) == 2 and "that calibration did not read" in where
    assert not any(same(f, c) for f in feeds for c in calib)
    assert check_frames(spec, 6, config)[0] is None  # every frame calibrated: the synthetic check scenes


@pytest.mark.parametrize("args, fragments", [
    (["--int8", "--fp16", "--calib-data", CALIB], ("--int8 and --fp16",)),
    (["--int8"], ("--calib-data",)),
    (["--int8", "--calib-data", "synthetic:0"], ("synthetic", "at least 1")),
    (["--int8", "--calib-data", "EMPTY"], ("contains no images",)),
    (["--int8", "--calib-data", CALIB, "--calib-frames", "0"], ("--calib-frames",)),
    (["--int8", "--calib-data", CALIB, "--int8-exclude", "decoder.nonsense"], ("decoder.nonsense", "matches no part")),
])
def test_bad_int8_input_is_one_line(ckpt, tmp_path, args, fragments):
    empty = tmp_path / "empty"
    for sub in ("rgb", "depth", "semantic_40"):
        (empty / "train" / sub).mkdir(parents=True)
    args = [f"folder:{empty}" if a == "EMPTY" else a for a in args]
    proc = run_acnet("export", "onnx", ckpt, "-o", tmp_path / "m.onnx", *args)
    assert_one_line_error(proc, *fragments)
    assert not (tmp_path / "m.onnx").exists()


# --------------------------------------------------------------------------- the nncf target (for OpenVINO)


@pytest.fixture(scope="module")
def ov_model(ckpt):
    if not _has("nncf"):  # not importorskip: importing nncf outside load_nncf() would switch its telemetry on
        pytest.skip("the nncf extra is not installed (pip install 'acnet[nncf]')")
    path = ckpt.with_name("tiny_int8_nncf.onnx")
    report = _export(ckpt, path, "nncf", verify=True, exclude=("acm_depth.0",))
    return path, report


def test_nncf_target_is_nncfs_quantization_with_acnets_frames_and_exclusions(ov_model):
    """NNCF's defaults: symmetric activations (zero point 0), int8 per-channel weights; acnet's exclusions stay float."""
    from acnet.export.graph import producers, read_metadata

    path, report = ov_model
    model = onnx.load(path)
    inits = _inits(model)
    quants = _qdq(model, "QuantizeLinear")
    assert len(quants) > 50
    assert all(not inits[q.input[2]].any() and inits[q.input[2]].dtype in (np.uint8, np.int8) for q in quants)
    assert {inits[q.input[2]].dtype for q in quants} == {np.dtype(np.uint8), np.dtype(np.int8)}  # after ReLU, and signed
    weights = [d for d in _qdq(model, "DequantizeLinear") if d.input[0] in inits and inits[d.input[0]].ndim == 4]
    assert len(weights) >= 100 and all(inits[d.input[0]].dtype == np.int8 and inits[d.input[1]].size > 1 for d in weights)
    made_by = producers(model.graph)
    final = made_by["logits"]
    assert final.op_type == "ConvTranspose" and inits[final.input[1]].dtype == np.float32  # the logits layer: float
    assert made_by[final.input[0]].op_type != "DequantizeLinear"
    # The excluded depth ACM's 1x1 convolution reads float weights too (module names, as for the other targets).
    from acnet.export.int8 import node_scopes

    acm = [n for n in model.graph.node if n.op_type == "Conv" and any(x.startswith("acm_depth.0") for x in node_scopes(n))]
    assert acm and all(inits[n.input[1]].dtype == np.float32 for n in acm)
    q = read_metadata(model).quantization
    assert (q["target"], q["calibration_method"], q["calibration_frames"]) == ("nncf", "nncf", 4)
    assert "NNCF" in q["activations"] and "acm_depth.0" in q["exclude"] and "decoder.final_deconv" in q["exclude"]
    assert report.passed and report.agreement >= GATE
    assert [s.stage for s in report.verification.stages][-1] == "logits"


def test_openvino_runs_the_int8_exports_like_onnxruntime(ov_model, cpu_model):
    """Both INT8 exports in OpenVINO (its FakeQuantize) and ONNX Runtime give nearly the same labels."""
    pytest.importorskip("openvino")
    from acnet.export.verify import synthetic_frame
    from acnet.runtime import Segmenter

    rgb, depth = synthetic_frame(64, 96, seed=11)
    for path in (ov_model[0], cpu_model[0]):
        with Segmenter(path, backend="openvino") as a, Segmenter(path) as b:
            assert a.info.precision == "int8"
            assert (a.segment(rgb, depth) == b.segment(rgb, depth)).mean() > 0.97, path.name


def test_nncf_is_imported_without_telemetry(tmp_path):
    """acnet never lets NNCF phone home: its own switch is set before the first import (a fresh process, no pytest)."""
    if not _has("nncf"):
        pytest.skip("the nncf extra is not installed (pip install 'acnet[nncf]')")
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NNCF_CI"}
    code = ("from acnet.export.int8 import load_nncf; load_nncf(); import nncf.telemetry.decorator as d; "
            "from nncf.telemetry.wrapper import NNCFTelemetry; print(isinstance(d.telemetry, NNCFTelemetry))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**env, "HOME": str(tmp_path)})
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr  # NNCF's stub, not its telemetry
