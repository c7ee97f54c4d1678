"""FP32 -> FP16 ONNX conversion: types, casts, parity in ONNX Runtime, real frames."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from acnet.export.fp16 import FP16_MAX, convert_to_fp16
from acnet.export.graph import find_acm_fusions, io_signature, producers
from acnet.export.verify import run_onnx

F32, F16 = TensorProto.FLOAT, TensorProto.FLOAT16


def _acm_graph(scale: float = 1.0) -> onnx.ModelProto:
    """x -> Conv3x3 -> y; y * sigmoid(conv1x1(mean(y))) -> out (a one-branch ACM)."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array((rng.standard_normal((8, 3, 3, 3)) * scale).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal((8, 8, 1, 1)).astype(np.float32), "w_gate"),
        numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b_gate"),
        numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("ReduceMean", ["y", "axes"], ["pooled"], name="mean", keepdims=1),
        helper.make_node("Conv", ["pooled", "w_gate", "b_gate"], ["gate_logit"], name="gate"),
        helper.make_node("Sigmoid", ["gate_logit"], ["gate_sig"], name="sigmoid"),
        helper.make_node("Mul", ["y", "gate_sig"], ["out"], name="mul"),
    ]
    graph = helper.make_graph(
        nodes, "acm", [helper.make_tensor_value_info("x", F32, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("out", F32, [1, 8, 16, 16])], inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)


def _types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output)}
    types.update({i.name: i.data_type for i in inferred.graph.initializer})
    return types


def test_weights_and_compute_fp16_io_fp32():
    model = _acm_graph()
    half, stats = convert_to_fp16(model, return_stats=True)
    onnx.checker.check_model(half, full_check=True)
    sig = io_signature(half)
    assert sig["inputs"]["x"][0] == "float" and sig["outputs"]["out"][0] == "float"
    types = _types(half)
    assert types["w"] == F16 and types["w_gate"] == F16 and types["axes"] == TensorProto.INT64
    assert types["y"] == F16 and types["gate_sig"] == F16
    # ReduceMean stays float32 by default: it reads a cast of y and writes float32
    made_by = producers(half.graph)
    mean = next(n for n in half.graph.node if n.op_type == "ReduceMean")
    assert types[mean.input[0]] == F32 and made_by[mean.input[0]].op_type == "Cast"
    assert types[mean.output[0]] == F32
    # the sigmoid feeds the multiply directly; the output is cast back to float32
    mul = next(n for n in half.graph.node if n.op_type == "Mul")
    assert made_by[mul.input[1]].op_type == "Sigmoid"
    assert made_by["out"].op_type == "Cast"
    assert stats.fp32_nodes == 1 and stats.casts_added == 4 and stats.clipped_weights == 0
    assert model.graph.initializer[0].data_type == F32  # the input model is untouched


def test_keep_lists_and_all_fp16():
    every = convert_to_fp16(_acm_graph(), keep_fp32_ops=())
    assert _types(every)["pooled"] == F16
    kept = convert_to_fp16(_acm_graph(), keep_fp32_ops=(), keep_fp32_nodes=("sigmoid",))
    types = _types(kept)
    assert types["pooled"] == F16 and types["gate_sig"] == F32
    assert types["w_gate"] == F16  # read by an fp16 conv only


def test_runs_in_onnxruntime_close_to_fp32():
    model = _acm_graph()
    x = np.random.default_rng(1).standard_normal((1, 3, 16, 16)).astype(np.float32)
    (ref,) = run_onnx(model.SerializeToString(), {"x": x})
    (out,) = run_onnx(convert_to_fp16(model).SerializeToString(), {"x": x})
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref, atol=2e-2 * np.abs(ref).max())
    assert np.abs(out - ref).max() > 0  # it really computed in float16


def test_out_of_range_weights_are_clipped_and_counted():
    model = _acm_graph()
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.full((8, 3, 3, 3), 1e6, np.float32), "w"))
    half, stats = convert_to_fp16(model, return_stats=True)
    assert stats.clipped_weights == 8 * 3 * 3 * 3
    assert np.abs(numpy_helper.to_array(half.graph.initializer[0])).max() == pytest.approx(FP16_MAX)


# --------------------------------------------------------------------------- the real network


@pytest.fixture(scope="module")
def tiny_fp32(tiny_config):
    """A trained-looking network (tests/support/trained.py): FP16 must keep its BatchNorm and ACM weights right."""
    from support.trained import trained_looking_model

    from acnet.export.onnx import OnnxExportOptions, trace_to_onnx

    return trace_to_onnx(trained_looking_model(tiny_config), 64, 96, OnnxExportOptions(dynamic_hw=True))


def test_exported_fp16_keeps_five_fused_acm_points(tiny_fp32):
    half = convert_to_fp16(tiny_fp32)
    fusions = find_acm_fusions(half)
    assert len(fusions) == 5
    casts = sum(n.op_type == "Cast" for n in half.graph.node)
    assert casts == 2 + 2 * 10 + 1  # inputs, into/out of each ACM mean, logits
    assert all(i.data_type != F32 for i in half.graph.initializer)


def _frames(root):
    from PIL import Image

    folder = root / "nyuv2-samples" / "test"
    for rgb_path in sorted((folder / "rgb").glob("*.png")):
        rgb = np.asarray(Image.open(rgb_path).convert("RGB"))
        depth = np.asarray(Image.open(folder / "depth" / rgb_path.name))
        yield rgb_path.stem, rgb, depth


def test_fp16_agrees_with_fp32_on_real_frames(shared_data, tiny_fp32):
    from acnet.runtime.preprocess import PreprocessConfig, preprocess

    config = PreprocessConfig(480, 640)
    fp32 = tiny_fp32.SerializeToString()
    fp16 = convert_to_fp16(tiny_fp32).SerializeToString()
    frames = list(_frames(shared_data))
    assert len(frames) >= 5
    for name, rgb, depth in frames:
        r, d = preprocess(rgb, depth, config)
        feeds = {"rgb": r[None], "depth": d[None]}
        (ref,) = run_onnx(fp32, feeds)
        (half,) = run_onnx(fp16, feeds)
        labels = ref.argmax(1)
        assert len(np.unique(labels)) >= 5, f"frame {name}: a near one-class prediction tests nothing"
        agreement = (labels == half.argmax(1)).mean()
        assert agreement >= 0.995, f"frame {name}: FP16 agrees with FP32 on {100 * agreement:.2f}% of pixels"
        assert np.abs(half - ref).max() < 0.01 * np.abs(ref).max()


@pytest.mark.parametrize("part", ["batchnorm", "acm"])
def test_fp16_export_refuses_a_wrong_batchnorm_or_acm(tiny_config, tmp_path, monkeypatch, part):
    """One BatchNorm or ACM broken in the exported copy only: the FP16 verification must catch it."""
    import copy

    from support.trained import break_on_purpose, trained_looking_checkpoint

    import acnet.export.onnx as export_module
    from acnet.errors import ParityError
    from acnet.export.onnx import OnnxExportOptions, export_onnx

    checkpoint = trained_looking_checkpoint(tmp_path / "tiny.pt", tiny_config)
    trace = export_module.trace_to_onnx
    monkeypatch.setattr(export_module, "trace_to_onnx", lambda model, *a: trace(break_on_purpose(copy.deepcopy(model), part), *a))
    out = tmp_path / "m16.onnx"
    with pytest.raises(ParityError, match=r"need 99\.5%\): FAILED"):
        export_onnx(checkpoint, out, OnnxExportOptions(fp16=True))
    assert not out.exists()
