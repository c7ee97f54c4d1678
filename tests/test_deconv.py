"""The ConvTranspose -> Conv + DepthToSpace rewrite: exact to float rounding, on single ops and trained-looking ACNets."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from acnet.export.deconv import rewrite_transposed_convs

H, W = 64, 96


def _transposed_conv_model(weight, bias, **attrs) -> onnx.ModelProto:
    """One ONNX ConvTranspose node with constant weights, written by hand (no exporter involved)."""
    inits = [numpy_helper.from_array(weight, "w")]
    inputs = ["x", "w"]
    if bias is not None:
        inits.append(numpy_helper.from_array(bias, "b"))
        inputs.append("b")
    node = helper.make_node("ConvTranspose", inputs, ["y"], name="up", **attrs)
    cin, cout = weight.shape[:2]
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", cin, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", cout, "h2", "w2"])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]


@pytest.mark.parametrize("kernel, padding, output_padding", [(2, 0, 0), (3, 1, 1)])
@pytest.mark.parametrize("bias", [True, False])
def test_single_op_is_exact_to_rounding(kernel, padding, output_padding, bias):
    rng = np.random.default_rng(kernel * 10 + bias)
    cin, cout = 6, 5
    weight = rng.normal(size=(cin, cout, kernel, kernel)).astype(np.float32)
    b = rng.normal(size=cout).astype(np.float32) if bias else None
    model = _transposed_conv_model(weight, b, kernel_shape=[kernel, kernel], strides=[2, 2],
                                   pads=[padding] * 4, output_padding=[output_padding] * 2)
    assert rewrite_transposed_convs(model) == 1
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node] == ["Conv", "DepthToSpace"]
    assert {i.name for i in model.graph.initializer}.isdisjoint({"w", "b"})  # the old weights are gone
    for shape in ((2, cin, 5, 7), (1, cin, 8, 3)):  # odd sizes and a batch: every phase and border is used
        x = rng.normal(size=shape).astype(np.float32)
        expected = torch.nn.functional.conv_transpose2d(
            torch.from_numpy(x), torch.from_numpy(weight), None if b is None else torch.from_numpy(b), stride=2,
            padding=padding, output_padding=output_padding).numpy()
        got = _run(model, x)
        assert got.shape == expected.shape == (shape[0], cout, 2 * shape[2], 2 * shape[3])
        scale = np.abs(expected).max()
        assert np.abs(got - expected).max() <= 1e-6 * scale * np.sqrt(cin * kernel * kernel)


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 0, 0, 0]},  # another padding: not the decoder's
    {"kernel_shape": [2, 2], "strides": [1, 1]},
    {"kernel_shape": [2, 2], "strides": [2, 2], "dilations": [2, 2]},
])
def test_other_transposed_convs_are_left_alone(attrs):
    k = attrs["kernel_shape"][0]
    model = _transposed_conv_model(np.ones((2, 3, k, k), np.float32), None, **attrs)
    before = model.SerializeToString()
    assert rewrite_transposed_convs(model) == 0
    assert model.SerializeToString() == before


def test_trained_looking_acnet_is_exact_and_has_no_convtranspose(tmp_path, tiny_config):
    from acnet.cli import main
    from acnet.export.onnx import OnnxExportOptions, export_onnx
    from support.trained import trained_looking_checkpoint

    ckpt = trained_looking_checkpoint(tmp_path / "tiny.pt", tiny_config, (H, W), seed=5)
    rewritten, kept = tmp_path / "d2s.onnx", tmp_path / "kept.onnx"
    result = CliRunner().invoke(main, ["export", "onnx", str(ckpt), "-o", str(rewritten), "--rewrite-deconv"])
    assert result.exit_code == 0, result.output  # verified against PyTorch (the export refuses a model that is not)
    assert ": passed" in result.output
    assert export_onnx(ckpt, kept, OnnxExportOptions(verify=False)).info.precision == "fp32"  # the default keeps them
    ops = lambda path: [n.op_type for n in onnx.load(str(path)).graph.node]
    assert "ConvTranspose" not in ops(rewritten)
    assert ops(kept).count("ConvTranspose") == ops(rewritten).count("DepthToSpace") == 9  # 4 stages x 2 + final

    rng = np.random.default_rng(0)
    feeds = {"rgb": rng.normal(size=(1, 3, H, W)).astype(np.float32),
             "depth": rng.normal(size=(1, 1, H, W)).astype(np.float32)}
    a, b = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, feeds)[0] for p in (rewritten, kept))
    assert np.abs(a - b).max() <= 1e-5 * np.abs(b).max()
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.999
