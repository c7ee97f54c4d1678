"""FP32 ONNX -> FP16 ONNX with FP32 inputs and outputs.

TensorRT 11 networks are strongly typed: a layer runs in the type of its
tensors, so an FP16 engine comes from an FP16 model. This converter makes
weights and compute float16 and keeps the graph's inputs and outputs float32
by inserting ``Cast`` nodes inside the graph, so callers feed and read the
same arrays as for the FP32 model.

Nodes can be kept in float32 by op type or by name; the default keeps the
ACM's global mean (``ReduceMean``) in float32, see :data:`DEFAULT_KEEP_FP32_OPS`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from acnet.errors import ModelFileError

log = logging.getLogger(__name__)

FP16_MAX = float(np.finfo(np.float16).max)

#: Kept in float32 by default. ``ReduceMean`` is the ACM's global average
#: pool: it sums a whole feature map (76,800 values at 240x320), and a sum
#: held in float16 overflows past 65,504 (in a PyTorch emulation agreement
#: with FP32 fell to 93% on the small test model). Its cost is one reduction
#: per fusion point. The sigmoid, the 1x1 conv on the pooled vector and the
#: final logits convert without a measurable loss (under 0.02 points of
#: agreement on real NYUv2 frames), so they stay FP16 and the sigmoid still
#: feeds the multiply directly.
DEFAULT_KEEP_FP32_OPS: tuple[str, ...] = ("ReduceMean",)

#: Ops whose output type is set by an attribute or that are type plumbing;
#: they are left as they are.
_PASSTHROUGH_OPS = frozenset({"Cast", "CastLike", "Shape", "Size", "ConstantOfShape", "ArgMax", "ArgMin"})

#: Inputs that the ONNX schema requires to be float32 whatever the data type.
_FLOAT32_INPUTS = {"Resize": {2}, "Upsample": {1}}


@dataclass(frozen=True)
class Fp16Stats:
    """What a conversion did, for logs and tests."""

    fp16_nodes: int
    fp32_nodes: int
    casts_added: int
    #: Weights outside the float16 range, clipped to +-65504.
    clipped_weights: int


def convert_to_fp16(
    model: onnx.ModelProto,
    keep_fp32_ops: Iterable[str] = DEFAULT_KEEP_FP32_OPS,
    keep_fp32_nodes: Iterable[str] = (),
    return_stats: bool = False,
):
    """Return an FP16 copy of ``model`` whose inputs and outputs stay float32.

    ``keep_fp32_ops`` (op types) and ``keep_fp32_nodes`` (node names) stay in
    float32; casts are inserted wherever float16 and float32 parts meet.
    Weights read only by float16 nodes are stored as float16 (values beyond
    +-65504 are clipped, and counted). With ``return_stats`` also returns an
    :class:`Fp16Stats`.
    """
    if model.graph.node and any(n.domain not in ("", "ai.onnx") for n in model.graph.node):
        raise ModelFileError("FP16 conversion supports standard ONNX ops only")
    if any(attr.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in model.graph.node for attr in n.attribute):
        raise ModelFileError("FP16 conversion does not support control-flow subgraphs")
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except onnx.shape_inference.InferenceError as exc:
        raise ModelFileError(f"cannot infer tensor types for FP16 conversion: {exc}") from None
    out = onnx.ModelProto()
    out.CopyFrom(inferred)
    graph = out.graph

    dtypes = _tensor_types(graph)
    keep_ops = frozenset(keep_fp32_ops)
    keep_names = frozenset(keep_fp32_nodes)
    initializers = {init.name: init for init in graph.initializer}

    def is_float(name: str) -> bool:
        return dtypes.get(name) == TensorProto.FLOAT

    # Node positions, not protobuf wrappers: those are not stable objects.
    nodes = list(graph.node)
    half_nodes = {
        k
        for k, node in enumerate(nodes)
        if node.op_type not in keep_ops
        and node.name not in keep_names
        and node.op_type not in _PASSTHROUGH_OPS
        and any(is_float(t) for t in (*node.input, *node.output))
    }

    # Where each float tensor lives: producers decide; inputs are float32.
    precision: dict[str, int] = {}
    for k, node in enumerate(nodes):
        for name in node.output:
            if is_float(name):
                precision[name] = TensorProto.FLOAT16 if k in half_nodes else TensorProto.FLOAT
    # Initializers read only by float16 nodes (in float16 slots) become float16.
    readers: dict[str, list[tuple[int, int]]] = {}
    for k, node in enumerate(nodes):
        for i, name in enumerate(node.input):
            readers.setdefault(name, []).append((k, i))
    clipped = 0
    for name, init in initializers.items():
        if init.data_type != TensorProto.FLOAT:
            continue
        uses = readers.get(name, [])
        if uses and all(k in half_nodes and i not in _FLOAT32_INPUTS.get(nodes[k].op_type, ()) for k, i in uses):
            values = numpy_helper.to_array(init)
            clipped += int((np.abs(values) > FP16_MAX).sum())
            half = np.clip(values, -FP16_MAX, FP16_MAX).astype(np.float16)
            init.CopyFrom(numpy_helper.from_array(half, name))
            precision[name] = TensorProto.FLOAT16
        else:
            precision[name] = TensorProto.FLOAT
    for value in graph.input:
        if is_float(value.name):
            precision.setdefault(value.name, TensorProto.FLOAT)

    # Rewire: every float input a node reads must be in the node's precision.
    casts: dict[tuple[str, int], str] = {}
    new_nodes: list[onnx.NodeProto] = []

    def cast_of(name: str, to: int) -> str:
        key = (name, to)
        if key not in casts:
            suffix = "fp16" if to == TensorProto.FLOAT16 else "fp32"
            casts[key] = _unique(f"{name}_{suffix}", dtypes)
            dtypes[casts[key]] = to
            new_nodes.append(helper.make_node("Cast", [name], [casts[key]], name=f"{casts[key]}_cast", to=to))
        return casts[key]

    for k, node in enumerate(nodes):
        half = k in half_nodes
        for i, name in enumerate(node.input):
            if not name or name not in precision:
                continue
            want = TensorProto.FLOAT16 if half and i not in _FLOAT32_INPUTS.get(node.op_type, ()) else TensorProto.FLOAT
            if node.op_type in _PASSTHROUGH_OPS:
                continue  # Cast/Shape read any type
            if precision[name] != want:
                node.input[i] = cast_of(name, want)
        if half:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT:
                    attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float16), attr.t.name))
        new_nodes.append(node)

    # Graph outputs keep float32: rename an fp16 producer's output, cast back.
    for value in graph.output:
        if precision.get(value.name) == TensorProto.FLOAT16:
            inner = _unique(f"{value.name}_fp16", dtypes)
            dtypes[inner] = TensorProto.FLOAT16
            for node in new_nodes:
                node.input[:] = [inner if n == value.name else n for n in node.input]
                node.output[:] = [inner if n == value.name else n for n in node.output]
            new_nodes.append(helper.make_node("Cast", [inner], [value.name], name=f"{value.name}_to_fp32", to=TensorProto.FLOAT))

    del graph.node[:]
    graph.node.extend(_topological(new_nodes, {i.name for i in graph.input} | set(initializers)))
    del graph.value_info[:]
    try:
        result = onnx.shape_inference.infer_shapes(out, strict_mode=True)
    except onnx.shape_inference.InferenceError as exc:  # pragma: no cover - a converter bug
        raise ModelFileError(f"FP16 conversion produced an invalid graph: {exc}") from None
    stats = Fp16Stats(
        fp16_nodes=len(half_nodes),
        fp32_nodes=len(model.graph.node) - len(half_nodes),
        casts_added=len(result.graph.node) - len(model.graph.node),
        clipped_weights=clipped,
    )
    if clipped:
        log.warning("%d weights exceed the float16 range and were clipped to +-%g", clipped, FP16_MAX)
    log.debug("FP16 conversion: %s", stats)
    return (result, stats) if return_stats else result


def _tensor_types(graph: onnx.GraphProto) -> dict[str, int]:
    types = {}
    for value in (*graph.input, *graph.value_info, *graph.output):
        if value.type.HasField("tensor_type"):
            types[value.name] = value.type.tensor_type.elem_type
    for init in graph.initializer:
        types[init.name] = init.data_type
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
                    types[node.output[0]] = attr.t.data_type
    return types


def _unique(name: str, taken: dict[str, int]) -> str:
    candidate, k = name, 1
    while candidate in taken:
        candidate, k = f"{name}_{k}", k + 1
    return candidate


def _topological(nodes: list[onnx.NodeProto], available: set[str]) -> list[onnx.NodeProto]:
    """Order ``nodes`` so each runs after the producers of its inputs."""
    ready = set(available) | {""}
    pending = list(nodes)
    ordered: list[onnx.NodeProto] = []
    while pending:
        rest = []
        for node in pending:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ModelFileError(f"graph has a cycle or a missing input near node {rest[0].name!r}")
        pending = rest
    return ordered
