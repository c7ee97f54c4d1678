"""Small, dependency-light helpers to read and edit ONNX graphs.

They let export add what the traced network lacks (the argmax head, the
metadata) and let tests and users check what the exporter produced, above
all that each ACM fusion point is one pointwise chain runtimes can fuse.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from acnet.errors import ModelFileError
from acnet.runtime.metadata import ModelInfo
from acnet.runtime.postprocess import CLASS_ID_OFFSET


#: Loggers of the exporter's passes, which report every rewrite at INFO.
EXPORTER_LOGGERS = ("onnx_ir", "onnxscript", "torch.onnx", "torch.export", "torch._export")


#: Ops that only change a tensor's dtype; see through them when walking.
_TRANSPARENT = ("Cast",)


def node_scopes(node: onnx.NodeProto) -> tuple[str, ...]:
    """The PyTorch module names a node was exported from (outermost first).

    The torch.export-based exporter records them in the node's
    ``pkg.torch.onnx.name_scopes`` metadata; a convolution with BatchNorm
    folded in carries the BatchNorm's name (``rgb.bn1``).
    """
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            try:
                names = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return ()
            return tuple(n for n in names[:-1] if n)  # the last one is the op, not a module
    return ()


def producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    """Tensor name -> the node that writes it."""
    return {out: node for node in graph.node for out in node.output}


def consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    """Tensor name -> the nodes that read it."""
    result: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            result.setdefault(name, []).append(node)
    return result


def graph_sources(graph: onnx.GraphProto) -> dict[str, frozenset[str]]:
    """Tensor name -> the graph inputs it depends on.

    Tells the RGB branch (depends on ``rgb`` only) from the depth branch and
    from the fused branch (both). Nodes are in topological order in any
    valid ONNX graph.
    """
    inputs = {i.name for i in graph.input}
    sources: dict[str, frozenset[str]] = {name: frozenset([name]) for name in inputs}
    for node in graph.node:
        deps = frozenset().union(*(sources.get(name, frozenset()) for name in node.input))
        for out in node.output:
            sources[out] = deps
    return sources


def _see_through(name: str, made_by: dict[str, onnx.NodeProto]) -> str:
    """Follow ``name`` back through dtype casts to the tensor they convert."""
    node = made_by.get(name)
    while node is not None and node.op_type in _TRANSPARENT:
        name = node.input[0]
        node = made_by.get(name)
    return name


def _initializer_shapes(graph: onnx.GraphProto) -> dict[str, tuple[int, ...]]:
    return {init.name: tuple(init.dims) for init in graph.initializer}


def _reduce_axes(node: onnx.NodeProto, graph: onnx.GraphProto) -> tuple[int, ...] | None:
    """Axes of a ReduceMean, from its attribute (opset < 18) or constant input."""
    for attr in node.attribute:
        if attr.name == "axes":
            return tuple(attr.ints)
    if len(node.input) > 1:
        for init in graph.initializer:
            if init.name == node.input[1]:
                return tuple(int(v) for v in numpy_helper.to_array(init).ravel())
    return None


def _keepdims(node: onnx.NodeProto) -> int:
    for attr in node.attribute:
        if attr.name == "keepdims":
            return attr.i
    return 1


def _is_spatial_mean(node: onnx.NodeProto, graph: onnx.GraphProto) -> bool:
    """A mean over H and W of an NCHW tensor with kept dims: ReduceMean, or GlobalAveragePool."""
    if node.op_type == "GlobalAveragePool":
        return True
    if node.op_type != "ReduceMean" or _keepdims(node) != 1:
        return False
    axes = _reduce_axes(node, graph)
    return axes is not None and sorted(a % 4 for a in axes) == [2, 3]


@dataclass(frozen=True)
class AcmBranch:
    """One ``x * sigmoid(conv1x1(mean_hw(x)))`` in the graph (the mean: ReduceMean or GlobalAveragePool)."""

    feature: str  # x
    mul: str  # node names, for messages
    sigmoid: str
    conv: str
    reduce: str


@dataclass(frozen=True)
class AcmFusion:
    """One fusion point: ``residual + rgb*A(rgb) + depth*A(depth)``."""

    stage: int
    rgb: AcmBranch
    depth: AcmBranch
    add: str
    #: The fused branch's tensor ``m`` added to the ACM terms (None at stage 0).
    residual: str | None
    residual_add: str | None


def _acm_branch(mul_out: str, graph: onnx.GraphProto, made_by, weights) -> AcmBranch | None:
    """The ACM branch that produces ``mul_out``, or None if it is not one.

    Requires the sigmoid to feed the multiply directly (no Expand, Reshape,
    Tile or anything else between them), a 1x1 Conv on a ReduceMean over
    H and W with kept dims, and the ReduceMean to read the same tensor as the
    multiply (casts aside, as an FP16 model keeps the mean in FP32).
    """
    mul = made_by.get(mul_out)
    if mul is None or mul.op_type != "Mul" or len(mul.input) != 2:
        return None
    for feature, gate in (mul.input, reversed(mul.input)):
        sigmoid = made_by.get(gate)
        if sigmoid is None or sigmoid.op_type != "Sigmoid":
            continue
        conv = made_by.get(_see_through(sigmoid.input[0], made_by))
        if conv is None or conv.op_type != "Conv" or weights.get(conv.input[1], ())[2:] != (1, 1):
            continue
        reduce = made_by.get(_see_through(conv.input[0], made_by))
        if reduce is None or not _is_spatial_mean(reduce, graph):
            continue
        if _see_through(reduce.input[0], made_by) != _see_through(feature, made_by):
            continue
        return AcmBranch(feature=_see_through(feature, made_by), mul=mul.name, sigmoid=sigmoid.name, conv=conv.name, reduce=reduce.name)
    return None


def find_acm_fusions(model: onnx.ModelProto | onnx.GraphProto) -> list[AcmFusion]:
    """All ACM fusion points of an exported ACNet, shallowest first.

    A fusion point is an ``Add`` of an RGB-only ACM branch and a depth-only
    ACM branch, itself added to the fused branch except at stage 0.
    """
    graph = model.graph if isinstance(model, onnx.ModelProto) else model
    made_by = producers(graph)
    read_by = consumers(graph)
    weights = _initializer_shapes(graph)
    sources = graph_sources(graph)
    found: list[AcmFusion] = []
    for node in graph.node:
        if node.op_type != "Add" or len(node.input) != 2:
            continue
        branches = [_acm_branch(name, graph, made_by, weights) for name in node.input]
        if None in branches:
            continue
        by_source = {sources.get(b.feature): b for b in branches}
        rgb, depth = by_source.get(frozenset({"rgb"})), by_source.get(frozenset({"depth"}))
        if rgb is None or depth is None:
            continue
        residual = residual_add = None
        nexts = read_by.get(node.output[0], [])
        if len(nexts) == 1 and nexts[0].op_type == "Add":
            other = [name for name in nexts[0].input if name != node.output[0]]
            if other and sources.get(other[0]) == frozenset({"rgb", "depth"}):
                residual, residual_add = other[0], nexts[0].name
        found.append(AcmFusion(len(found), rgb, depth, node.name, residual, residual_add))
    return found


# --------------------------------------------------------------------------- editing


def add_argmax_head(model: onnx.ModelProto, logits: str = "logits", labels: str = "labels") -> onnx.ModelProto:
    """Replace the ``logits`` output by ``labels`` (N,H,W) int32 class ids.

    Class id = argmax channel + :data:`CLASS_ID_OFFSET`, as the label files
    (0 is void). The logits stay in the graph as an intermediate tensor.
    """
    graph = model.graph
    outputs = [o.name for o in graph.output]
    if outputs != [logits]:
        raise ModelFileError(f"expected a single {logits!r} output to add argmax to, found {outputs}")
    out = graph.output[0]
    dims = out.type.tensor_type.shape.dim
    shape = [d.dim_param or d.dim_value for d in (dims[0], dims[2], dims[3])] if len(dims) == 4 else None
    graph.initializer.append(numpy_helper.from_array(np.array(CLASS_ID_OFFSET, dtype=np.int32), "acnet_class_id_offset"))
    graph.node.extend(
        [
            helper.make_node("ArgMax", [logits], ["acnet_argmax"], name="acnet_argmax", axis=1, keepdims=0),
            helper.make_node("Cast", ["acnet_argmax"], ["acnet_argmax_i32"], name="acnet_argmax_cast", to=TensorProto.INT32),
            helper.make_node("Add", ["acnet_argmax_i32", "acnet_class_id_offset"], [labels], name="acnet_class_ids"),
        ]
    )
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(labels, TensorProto.INT32, shape))
    return model


def spatial_means_as_global_pools(model: onnx.ModelProto) -> int:
    """Write each ``ReduceMean`` over H and W (kept dims) of a 4-D tensor as ``GlobalAveragePool``; return how many.

    The same mean, in the op runtimes have layout-aware kernels for: in an
    INT8 model ONNX Runtime runs it as ``QLinearGlobalAveragePool`` on NHWC
    uint8 tensors, where a ``ReduceMean`` stays in float between transposes
    (17 % of the quantized ACNet-ResNet50's time on this CPU). Node names and
    module scopes are kept.
    """
    graph = model.graph
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in (*graph.input, *graph.value_info, *graph.output)
             if v.type.tensor_type.HasField("shape")}
    count = 0
    for k, node in enumerate(graph.node):
        if node.op_type != "ReduceMean" or not _is_spatial_mean(node, graph) or ranks.get(node.input[0], 4) != 4:
            continue
        pool = helper.make_node("GlobalAveragePool", [node.input[0]], list(node.output), name=node.name)
        pool.metadata_props.extend(node.metadata_props)
        graph.node[k].CopyFrom(pool)
        count += 1
    if count:
        used = {name for n in graph.node for name in n.input}
        keep = [init for init in graph.initializer if init.name in used]
        del graph.initializer[:]
        graph.initializer.extend(keep)
    return count


def with_outputs(model: onnx.ModelProto, names: Iterable[str]) -> onnx.ModelProto:
    """A copy of ``model`` that also returns the intermediate tensors ``names``."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    present = {o.name for o in copy.graph.output}
    for name in names:
        if name not in present:
            copy.graph.output.append(helper.make_empty_tensor_value_info(name))
    return copy


def set_metadata(model: onnx.ModelProto, info: ModelInfo) -> onnx.ModelProto:
    """Write ``info`` into ``metadata_props``, replacing earlier acnet keys."""
    props = info.to_props()
    keep = [(p.key, p.value) for p in model.metadata_props if p.key not in props and not p.key.startswith("acnet.")]
    del model.metadata_props[:]
    for key, value in keep + sorted(props.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model


def read_metadata(model: onnx.ModelProto, source: str = "model") -> ModelInfo:
    """The :class:`ModelInfo` in ``metadata_props`` (raises ModelFileError if absent)."""
    return ModelInfo.from_props({p.key: p.value for p in model.metadata_props}, source=source)


def io_signature(model: onnx.ModelProto) -> dict[str, dict[str, tuple]]:
    """``{"inputs"|"outputs": {name: (dtype name, shape)}}``; symbolic dims are strings."""

    def describe(values):
        result = {}
        for v in values:
            t = v.type.tensor_type
            shape = tuple(d.dim_param or d.dim_value for d in t.shape.dim)
            result[v.name] = (TensorProto.DataType.Name(t.elem_type).lower(), shape)
        return result

    inits = {i.name for i in model.graph.initializer}
    return {
        "inputs": describe(i for i in model.graph.input if i.name not in inits),
        "outputs": describe(model.graph.output),
    }
