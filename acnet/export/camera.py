"""Camera-native models: the steps around the network as graph heads, in torch.

A camera-native model (``acnet export onnx --io camera``, ``acnet export aoti
--io camera``) takes the buffers a camera gives, uint8 RGB (N, H, W, 3) and
raw depth (N, H, W), at the camera's size, and returns what a planner reads,
uint8 ``labels`` and ``confidence`` (N, H, W) at the same size. Nothing
is left for the CPU: on a GPU the frame crosses to the device as 1.5 MB at
480x640 (uint8 RGB and uint16 depth) and 0.6 MB comes back, where float
inputs and 40-class logits are 54 MB.

The heads are the one preprocessing and postprocessing of
:mod:`acnet.runtime.preprocess` written as tensor operations, operation by
operation in float32 with the constants computed there, so a camera frame
gives bit for bit the network input the numpy runtime makes, and the labels
its postprocessing makes from the same logits:

- RGB: uint8 -> float32, bilinear resize with half-pixel centres as gathers
  of the rows and columns of :func:`~acnet.runtime.preprocess.linear_taps`
  (``a + (b - a) * w``, rows first), then ``(x - mean) * inv_std``;
- depth: -> float32, "nearest-exact" gathers, ``* depth_scale``, then
  ``(d - mean) * inv_std``;
- logits: bilinear resize to the camera's size the same way, then the class
  id of the first channel at the maximum (+ offset; 0 where none is, NaN);
  confidence: the top class's softmax probability at the network's size,
  resized the same way, x 255, rounded half to even (``top_probability``).

The head's form is chosen for TensorRT. Class ids come from ``ReduceMax``,
``Equal``, ``Where`` and another ``ReduceMax``, not ``ArgMax``: TensorRT turns
ArgMax into TopK, which has no implementation on some devices (TensorRT
issue 3677, a Jetson Nano), and its int32/int64 result cannot be cast to
uint8 in TensorRT (its ``DataType.UINT8`` converts to and from float32 and
float16 only). Every value stays float32 until the final casts, which are
exact for the integers they hold. TensorRT has no unsigned 16-bit type,
so :func:`depth_as_bytes` gives engines the uint16 depth buffer as its
(N, H, W, 2) bytes, recombined in the graph (``lo + 256 * hi``, exact):
the same memory, with no conversion pass on the host.

The network itself is exported (and quantized or converted to FP16) as for
``--io tensor``; :func:`attach_heads` joins the heads around its graph, so
Q/DQ and FP16 stay inside the network and the I/O stays uint8 and uint16.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from acnet._logging import quiet_loggers
from acnet.errors import ModelFileError
from acnet.export.fp16 import _topological
from acnet.export.graph import EXPORTER_LOGGERS, graph_sources, with_outputs
from acnet.export.verify import MIN_AGREEMENT, compare_labels, run_onnx, synthetic_frame
from acnet.runtime.metadata import CameraIO, ModelInfo
from acnet.runtime.preprocess import linear_taps, nearest_indices, normalization_constants, preprocess

log = logging.getLogger(__name__)

#: Name prefixes of the heads' nodes, tensors and initializers in a camera-native ONNX model.
INPUT_PREFIX = "acnet_camera_in."
OUTPUT_PREFIX = "acnet_camera_out."
#: The network's inputs as the input head produces them.
_NET_RGB, _NET_DEPTH = "net_rgb", "net_depth"


def _taps(src: int, dst: int, axis: int, rank: int):
    """Gather indices and the weight tensor (shaped to broadcast along ``axis``) of a bilinear resize."""
    i0, i1, w1 = linear_taps(src, dst)
    shape = [1] * rank
    shape[axis] = dst
    return torch.from_numpy(i0), torch.from_numpy(i1), torch.from_numpy(w1).reshape(shape)


def _register_resize(module: nn.Module, src: tuple[int, int], dst: tuple[int, int], row_axis: int) -> bool:
    """Register the bilinear taps from ``src`` to ``dst`` (height, width) as buffers; False if the sizes are equal.

    Rows are resized along ``row_axis`` of a rank-4 tensor, columns along
    axis 0 (see :func:`_resize`).
    """
    if src == dst:
        return False
    for name, s, d, axis in (("y", src[0], dst[0], row_axis), ("x", src[1], dst[1], 0)):
        i0, i1, w = _taps(s, d, axis, 4)
        module.register_buffer(f"{name}0", i0, persistent=False)
        module.register_buffer(f"{name}1", i1, persistent=False)
        module.register_buffer(f"w{name}", w, persistent=False)
    return True


def _lerp(x: torch.Tensor, axis: int, i0: torch.Tensor, i1: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``a + (b - a) * w`` along ``axis``: the float32 formula of :func:`acnet.runtime.preprocess.resize_bilinear`."""
    a = x.index_select(axis, i0)
    b = x.index_select(axis, i1)
    return a + (b - a) * w


def _resize(module: nn.Module, x: torch.Tensor, row_axis: int, col_axis: int, order: tuple[int, ...]) -> torch.Tensor:
    """Bilinear resize of ``x``: rows first, then columns, as numpy does (so every value rounds as there).

    The columns are moved to the front (``order``, a permutation starting
    with ``col_axis``) before they are resized: ONNX Runtime gathers whole
    contiguous blocks along a tensor's first axis, where along its last it
    copies value by value (the upsampled logits' column gathers took 85 of a
    170 ms model on this project's CPU). The values are the same.
    """
    assert order[0] == col_axis
    x = _lerp(x, row_axis, module.y0, module.y1, module.wy)
    return _lerp(x.permute(*order), 0, module.x0, module.x1, module.wx)


class CameraInput(nn.Module):
    """Camera buffers -> the network's normalised inputs, as ``acnet.runtime.preprocess.preprocess``.

    ``rgb`` uint8 (N, H, W, 3) and ``depth`` (N, H, W) uint16 or float32 at
    the camera's size -> (N, 3, h, w) and (N, 1, h, w) float32 at the
    network's.
    """

    def __init__(self, camera: CameraIO, height: int, width: int, normalization) -> None:
        super().__init__()
        ch, cw = camera.size
        self.resize = _register_resize(self, camera.size, (height, width), row_axis=1)  # NHWC
        if self.resize:
            self.register_buffer("depth_rows", torch.from_numpy(nearest_indices(ch, height)), persistent=False)
            self.register_buffer("depth_cols", torch.from_numpy(nearest_indices(cw, width)), persistent=False)
        mean, inv_std, depth_mean, depth_inv_std = normalization_constants(normalization)
        self.register_buffer("rgb_mean", torch.from_numpy(mean), persistent=False)
        self.register_buffer("rgb_inv_std", torch.from_numpy(inv_std), persistent=False)
        scale = np.float32(camera.depth_scale)  # as preprocess.depth_to_metres multiplies
        self.scale_depth = camera.depth_scale != 1.0  # x 1.0 is exact: float32 metres skip it
        self.register_buffer("depth_scale", torch.tensor(scale), persistent=False)
        self.register_buffer("depth_mean", torch.tensor(depth_mean), persistent=False)
        self.register_buffer("depth_inv_std", torch.tensor(depth_inv_std), persistent=False)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = rgb.to(torch.float32)
        d = depth.to(torch.float32)
        if self.resize:
            x = _resize(self, x, 1, 2, (2, 0, 1, 3))  # (N, H, W, 3) -> (w, N, h, 3)
            x = ((x - self.rgb_mean) * self.rgb_inv_std).permute(1, 3, 2, 0)
            d = d.index_select(1, self.depth_rows).index_select(2, self.depth_cols)
        else:
            x = ((x - self.rgb_mean) * self.rgb_inv_std).permute(0, 3, 1, 2)
        if self.scale_depth:
            d = d * self.depth_scale
        d = (d - self.depth_mean) * self.depth_inv_std
        return x, d.unsqueeze(1)


class CameraOutput(nn.Module):
    """Logits at the network's size -> uint8 class ids and confidence at the camera's.

    As :mod:`acnet.runtime.preprocess`'s ``postprocess_logits`` (logits
    resized bilinearly, then the first channel at the maximum: ties go to
    the lowest, as argmax) and ``top_probability`` (the top class's softmax
    probability at the network's size, resized bilinearly, x 255, NaN to 0,
    clipped and rounded half to even). See the module docstring for why no ArgMax.
    """

    def __init__(self, num_classes: int, height: int, width: int, camera: CameraIO, class_id_offset: int) -> None:
        super().__init__()
        self.resize = _register_resize(self, (height, width), camera.size, row_axis=2)  # NCHW
        # Channel c scores C - c where it holds the maximum: the highest score is the lowest such channel.
        self.register_buffer("scores", torch.arange(num_classes, 0, -1, dtype=torch.float32), persistent=False)
        self.register_buffer("zero", torch.zeros((), dtype=torch.float32), persistent=False)
        self.last_id = float(num_classes + class_id_offset)

    def forward(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        small = logits.to(torch.float32)
        top = small.amax(dim=1, keepdim=True)
        probability = 1.0 / torch.exp(small - top).sum(dim=1, keepdim=True)
        if self.resize:  # resized with the columns in front: (W, N, C, H), back to (N, H, W) once uint8-sized
            x, channel, back = _resize(self, small, 2, 3, (3, 0, 1, 2)), 2, (1, 2, 0)
            probability = _resize(self, probability, 2, 3, (3, 0, 1, 2))
        else:
            x, channel, back = small, 1, (0, 1, 2)
        scores = self.scores.reshape([-1 if k == channel else 1 for k in range(4)])
        best = x.amax(dim=channel, keepdim=True)
        score = torch.where(x == best, scores, self.zero).amax(dim=channel)
        labels = torch.where(score > 0, self.last_id - score, self.zero)  # score 0 only where the maximum is NaN
        level = probability.squeeze(channel) * 255.0
        level = torch.round(torch.where(torch.isnan(level), self.zero, level).clamp(0.0, 255.0))
        return labels.permute(*back).to(torch.uint8), level.permute(*back).to(torch.uint8)


class CameraModel(nn.Module):
    """The whole camera-native model in torch: input head, network, output head (AOTInductor packages)."""

    def __init__(self, network: nn.Module, info: ModelInfo) -> None:
        super().__init__()
        camera = _camera(info)
        self.head_in = CameraInput(camera, info.input_height, info.input_width, info.normalization)
        self.network = network
        self.head_out = CameraOutput(info.num_classes, info.input_height, info.input_width, camera, info.class_id_offset)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head_out(self.network(*self.head_in(rgb, depth)))


def _camera(info: ModelInfo) -> CameraIO:
    if info.camera is None:
        raise ModelFileError("not a camera-native model: its metadata has no camera I/O")
    return info.camera


def example_inputs(info: ModelInfo, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero camera buffers of the model's input types, for tracing."""
    camera = _camera(info)
    h, w = camera.size
    dtype = torch.uint16 if camera.depth_dtype == "uint16" else torch.float32
    return torch.zeros(batch, h, w, 3, dtype=torch.uint8), torch.zeros(batch, h, w, dtype=dtype)


# --------------------------------------------------------------------------- ONNX


class _Heads(nn.Module):
    """Both heads in one module, so one export (torch.onnx's setup dominates a head's cost) gives both graphs."""

    def __init__(self, head_in: CameraInput, head_out: CameraOutput) -> None:
        super().__init__()
        self.head_in, self.head_out = head_in, head_out

    def forward(self, rgb, depth, logits):
        return (*self.head_in(rgb, depth), *self.head_out(logits))


def _export_heads(info: ModelInfo, batch: int, dynamic_batch: bool, opset: int) -> onnx.ModelProto:
    """The two heads as one ONNX graph: rgb, depth, logits -> net_rgb, net_depth, labels, confidence."""
    camera = _camera(info)
    heads = _Heads(CameraInput(camera, info.input_height, info.input_width, info.normalization),
                   CameraOutput(info.num_classes, info.input_height, info.input_width, camera, info.class_id_offset))
    rgb, depth = example_inputs(info, batch)
    logits = torch.zeros(batch, info.num_classes, info.input_height, info.input_width)
    inputs = ["rgb", "depth", "logits"]
    shapes = None
    if dynamic_batch:
        dim = torch.export.Dim("batch", min=1, max=1024)
        shapes = {name: {0: dim} for name in inputs}
    with warnings.catch_warnings(), quiet_loggers(*EXPORTER_LOGGERS), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(heads.eval(), (rgb, depth, logits), None, dynamo=True, opset_version=opset,
                                        input_names=inputs, output_names=[_NET_RGB, _NET_DEPTH, "labels", "confidence"],
                                        dynamic_shapes=shapes, optimize=True, external_data=False, verbose=False)
        except Exception as exc:  # the exporter raises many internal types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFileError(f"torch.onnx.export of the camera heads failed: {first}") from exc
    return program.model_proto


def _rename(graph: onnx.GraphProto, names: dict[str, str]) -> None:
    """Rename tensors everywhere ``graph`` mentions them."""
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    for value in (*graph.input, *graph.output, *graph.value_info):
        value.name = names.get(value.name, value.name)
    for init in graph.initializer:
        init.name = names.get(init.name, init.name)


def attach_heads(network: onnx.ModelProto, info: ModelInfo, opset: int) -> onnx.ModelProto:
    """The camera-native model: the heads of ``info.camera`` joined around ``network``.

    ``network`` is an acnet export with inputs ``rgb`` (N,3,h,w) and
    ``depth`` (N,1,h,w) float32 and the output ``logits``, in any precision
    (FP16 and Q/DQ models keep float32 I/O). The result takes ``rgb`` and
    ``depth`` as the camera gives them and returns ``labels`` and
    ``confidence``; the network's nodes keep their names, the heads' are
    prefixed :data:`INPUT_PREFIX` (the nodes the camera's inputs reach) and
    :data:`OUTPUT_PREFIX` (those ``logits`` reaches).
    """
    _camera(info)
    inits = {init.name for init in network.graph.initializer}
    net_inputs = [i.name for i in network.graph.input if i.name not in inits]
    if sorted(net_inputs) != ["depth", "rgb"] or [o.name for o in network.graph.output] != ["logits"]:
        raise ModelFileError(f"expected a network with inputs rgb, depth and the output logits, found "
                             f"{net_inputs} -> {[o.name for o in network.graph.output]}")
    dims = network.graph.input[0].type.tensor_type.shape.dim
    dynamic_batch = bool(dims and dims[0].dim_param)
    batch = 2 if dynamic_batch else (dims[0].dim_value if dims else 1)
    heads = _export_heads(info, batch, dynamic_batch, opset)

    # Prefix every name of the heads by the side it belongs to, keeping the names that join the parts.
    sources = graph_sources(heads.graph)
    keep = {"rgb", "depth", "logits", "labels", "confidence"}
    names = {}
    for node in heads.graph.node:
        prefix = OUTPUT_PREFIX if "logits" in sources.get(node.output[0], ()) else INPUT_PREFIX
        node.name = prefix + (node.name or node.output[0])
        for tensor in (*node.input, *node.output):
            if tensor and tensor not in keep and tensor not in names:
                names[tensor] = prefix + tensor
    for init in heads.graph.initializer:
        names.setdefault(init.name, INPUT_PREFIX + init.name)
    _rename(heads.graph, names)

    net = onnx.ModelProto()
    net.CopyFrom(network)
    _rename(net.graph, {"rgb": INPUT_PREFIX + _NET_RGB, "depth": INPUT_PREFIX + _NET_DEPTH})
    graph = helper.make_graph(
        _topological([*heads.graph.node, *net.graph.node], {"rgb", "depth"} | inits | {i.name for i in heads.graph.initializer}),
        "acnet_camera_native",
        [i for i in heads.graph.input if i.name in ("rgb", "depth")],
        [o for o in heads.graph.output if o.name in ("labels", "confidence")],
        [*heads.graph.initializer, *net.graph.initializer],
        value_info=[*heads.graph.value_info, *net.graph.value_info],
    )
    opsets: dict[str, int] = {}
    for part in (heads, net):
        for o in part.opset_import:
            opsets[o.domain] = max(opsets.get(o.domain, 0), o.version)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())])
    model.ir_version = max(heads.ir_version, net.ir_version)
    model.functions.extend([*heads.functions, *net.functions])
    model.producer_name, model.producer_version = network.producer_name, network.producer_version
    return model


def head_node_names(model: onnx.ModelProto) -> list[str]:
    """The heads' nodes of a camera-native model (kept in float32 when the network is converted to FP16)."""
    return [n.name for n in model.graph.node if n.name.startswith((INPUT_PREFIX, OUTPUT_PREFIX))]


def depth_as_bytes(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of a camera-native model whose uint16 ``depth`` input is its bytes: uint8 (N, H, W, 2).

    TensorRT has no unsigned 16-bit type (``DataType`` of 10.16 and 11.4:
    FLOAT, HALF, BF16, INT8, INT32, INT64, BOOL, UINT8, FP8, INT4, FP4,
    E8M0), so its ONNX parser refuses a uint16 input. A uint16 buffer read
    as bytes is the same memory; the graph recombines each little-endian pair
    as ``lo + 256 * hi`` in float32 (exact below 2^24) where the input head
    converted the uint16 value to float32. A model without uint16 depth is
    returned unchanged.
    """
    graph = model.graph
    depth = next((i for i in graph.input if i.name == "depth"), None)
    if depth is None or depth.type.tensor_type.elem_type != TensorProto.UINT16:
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    readers = [n for n in graph.node if "depth" in n.input]
    to_float = [n for n in readers if n.op_type == "Cast" and any(a.name == "to" and a.i == TensorProto.FLOAT for a in n.attribute)]
    if not readers or len(to_float) != len(readers):
        raise ModelFileError("the camera-native model's uint16 depth is read by something other than a cast to float32; "
                             "re-export it with `acnet export onnx --io camera`")
    converted = to_float[0].output[0]
    for extra in to_float[1:]:
        _rename(graph, {extra.output[0]: converted})
    for node in to_float:
        graph.node.remove(node)
    prefix = INPUT_PREFIX + "depth_bytes"
    graph.initializer.extend([
        numpy_helper.from_array(np.array([1.0, 256.0], np.float32), prefix + ".weights"),
        numpy_helper.from_array(np.array([-1], np.int64), prefix + ".axis"),
    ])
    recombine = [
        helper.make_node("Cast", ["depth"], [prefix + ".float"], name=prefix + ".cast", to=TensorProto.FLOAT),
        helper.make_node("Mul", [prefix + ".float", prefix + ".weights"], [prefix + ".weighted"], name=prefix + ".mul"),
        helper.make_node("ReduceSum", [prefix + ".weighted", prefix + ".axis"], [converted], name=prefix + ".sum", keepdims=0),
    ]
    for k, node in enumerate(recombine):
        graph.node.insert(k, node)
    dims = [d for d in depth.type.tensor_type.shape.dim]
    shape = [d.dim_param or d.dim_value for d in dims] + [2]
    new_input = helper.make_tensor_value_info("depth", TensorProto.UINT8, shape)
    index = list(graph.input).index(depth) if depth in graph.input else [i.name for i in graph.input].index("depth")
    graph.input[index].CopyFrom(new_input)
    del graph.value_info[:]
    return onnx.shape_inference.infer_shapes(out, strict_mode=True)


# --------------------------------------------------------------------------- checks

#: Largest difference allowed between the network inputs the input head makes and numpy's (normalised
#: values of a few units; ONNX Runtime on a CPU reproduces them exactly).
MAX_INPUT_DIFF = 1e-6


@dataclass(frozen=True)
class CameraCheck:
    """A camera-native model's labels and confidence against a reference, on synthetic camera frames."""

    #: What the model was compared with, in words.
    against: str
    frames: int
    #: (height, width) of the camera frames.
    camera_size: tuple[int, int]
    #: Share of pixels whose label equals the reference's.
    agreement: float
    min_agreement: float
    #: Pixels that differ where the reference's top two logits are within the tie tolerance.
    ties: int
    #: Pixels that differ anywhere else.
    other_differences: int
    #: Largest |confidence - the reference's| in levels of 1/255.
    max_confidence_diff: int
    #: ONNX heads: largest |network input made in the graph - numpy's preprocessing| (0: bit for bit); else None.
    max_input_diff: float | None
    passed: bool

    def summary(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        inputs = "" if self.max_input_diff is None else f"network inputs within {self.max_input_diff:.3g} of numpy's, "
        return (f"camera-native model vs {self.against}, {self.frames} frame(s) at {self.camera_size[0]}x"
                f"{self.camera_size[1]}: {inputs}labels {100 * self.agreement:.4f}% equal (need "
                f"{100 * self.min_agreement:.2f}%; {self.ties} tie(s), {self.other_differences} other difference(s)), "
                f"confidence within {self.max_confidence_diff} level(s): {verdict}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["camera_size"] = list(self.camera_size)
        return d


def camera_frame(info: ModelInfo, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic camera frame as the model takes it: uint8 RGB and depth of its type and scale."""
    camera = _camera(info)
    rgb, depth_mm = synthetic_frame(*camera.size, seed=seed)
    metres = depth_mm.astype(np.float32) * np.float32(0.001)
    if camera.depth_dtype == "float32":
        return rgb, metres
    return rgb, np.clip(np.rint(metres / camera.depth_scale), 0, 65535).astype(np.uint16)


def _frames(info: ModelInfo, batch: int) -> tuple[list, np.ndarray, np.ndarray]:
    frames = [camera_frame(info, seed) for seed in range(batch)]
    return frames, np.stack([f[0] for f in frames]), np.stack([f[1] for f in frames])


def _compare(logits: np.ndarray, labels: np.ndarray, confidence: np.ndarray):
    """:func:`acnet.export.verify.compare_labels` over a batch."""
    result = None
    for k in range(len(logits)):
        one = compare_labels(logits[k], labels[k], confidence[k])
        result = one if result is None else result.merge(one)
    return result


def check_heads(model: bytes, network: bytes, info: ModelInfo, batch: int) -> CameraCheck:
    """Run the camera-native ``model`` and, through the numpy runtime, its ``network`` on the same frames.

    The network's inputs made in the graph must equal the numpy runtime's
    preprocessing (to 1e-6: bit for bit in ONNX Runtime). Both halves then
    see the same logits (the same network in ONNX Runtime), so the labels are
    compared for the output head alone: they must be the numpy runtime's but
    for ties (reference logits within the tolerance of
    :func:`acnet.export.verify.compare_labels`), and the confidence within
    one level (exp and the sum may round differently).
    """
    camera = _camera(info)
    frames, rgb, depth = _frames(info, batch)
    inner = [INPUT_PREFIX + _NET_RGB, INPUT_PREFIX + _NET_DEPTH]
    probe = with_outputs(onnx.load_from_string(model), inner).SerializeToString()
    labels, confidence, net_rgb, net_depth = run_onnx(probe, {"rgb": rgb, "depth": depth}, ["labels", "confidence", *inner])
    inputs = [preprocess(r, d, info.preprocess_config, camera.depth_scale) for r, d in frames]
    ref_rgb, ref_depth = np.stack([i[0] for i in inputs]), np.stack([i[1] for i in inputs])
    input_diff = max(float(np.abs(net_rgb - ref_rgb).max()), float(np.abs(net_depth - ref_depth).max()))
    logits = run_onnx(network, {"rgb": ref_rgb, "depth": ref_depth}, ["logits"])[0]
    r = _compare(logits, labels, confidence)
    passed = r.other_differences == 0 and r.max_confidence_diff <= 1 and input_diff <= MAX_INPUT_DIFF
    return CameraCheck("the numpy runtime on the same logits", batch, camera.size, r.agreement, 1.0, r.ties,
                       r.other_differences, r.max_confidence_diff, input_diff, passed)


def check_package(package, model: nn.Module, info: ModelInfo, device, batch: int) -> CameraCheck:
    """A camera-native AOTInductor package against PyTorch FP32 through the numpy runtime, on camera frames.

    The reference preprocesses each frame with :mod:`acnet.runtime.preprocess`,
    runs ``model`` (FP32, CPU) and resizes its logits to the camera's size.
    The package must agree on the share of pixels of its precision's gate
    (``acnet.export.verify.MIN_AGREEMENT``); an FP32 one may differ at ties only.
    """
    camera = _camera(info)
    frames, rgb, depth = _frames(info, batch)
    inputs = [preprocess(r, d, info.preprocess_config, camera.depth_scale) for r, d in frames]
    with torch.inference_mode():
        logits = model(torch.from_numpy(np.stack([i[0] for i in inputs])),
                       torch.from_numpy(np.stack([i[1] for i in inputs]))).float().numpy()
        try:
            runner = torch._inductor.aoti_load_package(str(package), device_index=device.index if device.is_cuda else -1)
            labels, confidence = runner(torch.from_numpy(rgb).to(str(device)), torch.from_numpy(depth).to(str(device)))
        except Exception as exc:
            raise ModelFileError(f"the compiled package does not run: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from exc
    r = _compare(logits, labels.cpu().numpy(), confidence.cpu().numpy())
    need = MIN_AGREEMENT.get(info.precision, MIN_AGREEMENT["fp32"])
    passed = r.agreement >= need and (info.precision != "fp32" or (r.other_differences == 0 and r.max_confidence_diff <= 1))
    return CameraCheck("PyTorch FP32 through the numpy runtime", batch, camera.size, r.agreement, need, r.ties,
                       r.other_differences, r.max_confidence_diff, None, passed)
