"""The graph rewrites that make the INT8 CPU model fast, checked in ONNX Runtime's own optimised graph.

ONNX Runtime has no quantized ConvTranspose, and runs a ``ReduceMean`` of a
quantized tensor in float between layout transposes: in the first INT8
ACNet-ResNet50 these two took 40 % of the time (benchmarks/results/README.md).
The ``cpu`` target writes the ACM means as ``GlobalAveragePool`` and the
transposed convolutions as Conv + DepthToSpace; both are exact in FP32, and
what counts is what ONNX Runtime then runs, which these tests read from the
optimised model it saves.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import onnx
import pytest

from support.trained import trained_looking_checkpoint

CALIB = "synthetic:4?size=64x96"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, tiny_config):
    config = dataclasses.replace(tiny_config, num_classes=9)
    return trained_looking_checkpoint(tmp_path_factory.mktemp("int8graph") / "tiny.pt", config, (64, 96), seed=4)


def _export(ckpt, path, target="cpu", **options):
    from acnet.export.int8 import Int8Options
    from acnet.export.onnx import OnnxExportOptions, export_onnx

    int8 = Int8Options(calib_data=CALIB, calib_frames=4, target=target, exclude=options.pop("exclude", ()))
    return export_onnx(ckpt, path, OnnxExportOptions(int8=int8, verify=False, **options))


def _ort_ops(path, tmp_path) -> Counter:
    """The op types of the graph ONNX Runtime's CPU provider actually runs (ORT_ENABLE_ALL)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / f"{path.stem}.ort-optimized.onnx")
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)


def test_cpu_target_runs_acm_means_and_decoder_in_int8(ckpt, tmp_path):
    path = tmp_path / "cpu.onnx"
    _export(ckpt, path)
    ops = Counter(n.op_type for n in onnx.load(path).graph.node)
    assert ops["ReduceMean"] == 0 and ops["GlobalAveragePool"] == 10  # two ACMs at each of five stages
    assert ops["ConvTranspose"] == 0 and ops["DepthToSpace"] == 9  # every decoder deconvolution, the logits layer's too
    ran = _ort_ops(path, tmp_path)
    assert ran["QLinearGlobalAveragePool"] == 10, ran
    assert ran["ConvTranspose"] == 0 and ran["ReduceMean"] == 0, ran
    # Only the logits layer (kept in floating point by default) is a float Conv; every other one is quantized.
    assert ran["Conv"] + ran["FusedConv"] == 1 and ran["QLinearConv"] > 20, ran


def test_keep_deconv_and_the_tensorrt_target_keep_transposed_convolutions(ckpt, tmp_path):
    kept = tmp_path / "kept.onnx"
    _export(ckpt, kept, rewrite_deconv=False)
    ops = Counter(n.op_type for n in onnx.load(kept).graph.node)
    assert ops["ConvTranspose"] == 9 and ops["DepthToSpace"] == 0 and ops["GlobalAveragePool"] == 10
    trt = tmp_path / "trt.onnx"  # TensorRT has INT8 deconvolutions of its own
    _export(ckpt, trt, target="tensorrt")
    assert Counter(n.op_type for n in onnx.load(trt).graph.node)["ConvTranspose"] == 9


def test_excluding_a_rewritten_deconv_keeps_its_phases_in_float(ckpt, tmp_path):
    # The rewrite keeps each node's module scope, so --int8-exclude still finds a rewritten deconvolution.
    from acnet.export.graph import producers

    path = tmp_path / "excl.onnx"
    _export(ckpt, path, exclude=("decoder.deconv2.3.upsample.0",))  # a ConvTranspose (+ its BatchNorm)
    model = onnx.load(path)
    floats = {i.name for i in model.graph.initializer if onnx.numpy_helper.to_array(i).dtype == np.float32}
    made_by = producers(model.graph)
    float_convs = [n for n in model.graph.node if n.op_type == "Conv" and n.input[1] in floats]
    assert len(float_convs) == 2, [n.name for n in float_convs]  # the logits layer's and that deconvolution's phases
    for conv in float_convs:
        assert made_by[conv.input[0]].op_type == "DequantizeLinear"


def test_global_pool_rewrite_is_exact_and_keeps_the_acm_fusions(ckpt, tmp_path):
    import onnxruntime as ort

    from acnet.export.graph import find_acm_fusions, spatial_means_as_global_pools
    from acnet.export.onnx import OnnxExportOptions, export_onnx

    path = tmp_path / "fp32.onnx"
    export_onnx(ckpt, path, OnnxExportOptions(verify=False))
    model = onnx.load(path)
    assert Counter(n.op_type for n in model.graph.node)["ReduceMean"] == 10
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    assert spatial_means_as_global_pools(rewritten) == 10
    assert len(find_acm_fusions(rewritten)) == len(find_acm_fusions(model)) == 5
    rng = np.random.default_rng(0)
    feeds = {"rgb": rng.standard_normal((1, 3, 64, 96), np.float32), "depth": rng.standard_normal((1, 1, 64, 96), np.float32)}
    run = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
           for m in (model, rewritten)]
    np.testing.assert_allclose(run[1], run[0], rtol=1e-5, atol=1e-5 * np.abs(run[0]).max())
