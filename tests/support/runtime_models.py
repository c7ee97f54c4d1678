"""Tiny hand-built ONNX models for runtime tests: torch-free, built in milliseconds.

The "network" is a 1x1 convolution over concat(rgb, depth), so tests can
compute its exact logits in numpy from the shared preprocessing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from acnet.runtime.metadata import ModelInfo
from acnet.runtime.postprocess import postprocess_logits
from acnet.runtime.preprocess import PreprocessConfig, preprocess

NUM_CLASSES = 5
HEIGHT, WIDTH = 32, 64


def tiny_info(**changes) -> ModelInfo:
    info = ModelInfo(
        acnet_version="0.1.0",
        backbone="resnet18",
        num_classes=NUM_CLASSES,
        class_names=tuple(f"class{i}" for i in range(1, NUM_CLASSES + 1)),
        input_height=HEIGHT,
        input_width=WIDTH,
    )
    return info.with_(**changes)


def weights(classes: int = NUM_CLASSES) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.standard_normal((classes, 4, 1, 1)).astype(np.float32)


def make_onnx(
    path: Path,
    info: ModelInfo | None = None,
    *,
    batch: int | str = 1,
    output: str = "logits",
    fp16: bool = False,
    classes: int | None = None,
    metadata: bool = True,
    dynamic_hw: bool = False,
    graph_size: tuple[int, int] | None = None,
) -> Path:
    """Write a model whose logits are ``W @ concat(rgb, depth)`` per pixel."""
    info = info or tiny_info(output=output, batch=0 if isinstance(batch, str) else batch, precision="fp16" if fp16 else "fp32", dynamic_hw=dynamic_hw)
    classes = classes or info.num_classes
    h, w = ("height", "width") if dynamic_hw else graph_size or (info.input_height, info.input_width)
    nodes = [helper.make_node("Concat", ["rgb", "depth"], ["x"], axis=1)]
    x = "x"
    if fp16:
        nodes.append(helper.make_node("Cast", ["x"], ["x16"], to=TensorProto.FLOAT16))
        x = "x16"
    kernel = weights(classes).astype(np.float16 if fp16 else np.float32)
    nodes.append(helper.make_node("Conv", [x, "W"], ["raw"]))
    if fp16:
        nodes.append(helper.make_node("Cast", ["raw"], ["logits"], to=TensorProto.FLOAT))
    else:
        nodes[-1].output[0] = "logits"
    inits = [numpy_helper.from_array(kernel, "W")]
    if output == "labels":
        inits.append(numpy_helper.from_array(np.array(1, np.int32), "one"))
        nodes += [
            helper.make_node("ArgMax", ["logits"], ["am"], axis=1, keepdims=0),
            helper.make_node("Cast", ["am"], ["am32"], to=TensorProto.INT32),
            helper.make_node("Add", ["am32", "one"], ["labels"]),
        ]
        out = helper.make_tensor_value_info("labels", TensorProto.INT32, [batch, h, w])
    else:
        out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, classes, h, w])
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info("rgb", TensorProto.FLOAT, [batch, 3, h, w]),
            helper.make_tensor_value_info("depth", TensorProto.FLOAT, [batch, 1, h, w]),
        ],
        [out],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    if metadata:
        for key, value in info.to_props().items():
            model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def reference_logits(rgb: np.ndarray, depth: np.ndarray, info: ModelInfo, depth_scale=None, size=None) -> np.ndarray:
    """What the tiny model must output for one frame, in numpy: (C, H, W)."""
    h, w = size or (info.input_height, info.input_width)
    r, d = preprocess(rgb, depth, PreprocessConfig(h, w, info.normalization), depth_scale)
    x = np.concatenate([r, d])
    return np.einsum("ck,khw->chw", weights(info.num_classes)[:, :, 0, 0], x)


def reference_labels(rgb, depth, info, depth_scale=None) -> np.ndarray:
    return postprocess_logits(reference_logits(rgb, depth, info, depth_scale), *rgb.shape[:2])


def frame(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random RGB-D frame (uint8 RGB, uint16 millimetres)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), rng.integers(0, 256, (h, w))], -1)
    depth = (500 + 40 * xx + 10 * yy + rng.integers(0, 50, (h, w))).astype(np.uint16)
    return rgb.astype(np.uint8), depth
