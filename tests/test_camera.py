"""Camera-native models (``--io camera``): camera buffers in, uint8 labels and confidence out.

The network is the session's tiny trained-looking ACNet (tests/support/capi_artifacts.py):
one model is exported with the CLI (camera 72x112, so its heads resize); the
other variants join the heads around the same exported network, which takes
seconds instead of a new trace. The reference is always the numpy runtime
(acnet/runtime/preprocess.py) with the float model or PyTorch.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from support.capi_artifacts import CAMERA_HEIGHT, CAMERA_WIDTH, camera_onnx, camera_variant, checkpoint, folder_dataset, onnx_model
from onnx import TensorProto

from acnet.errors import ConfigError, InputError
from acnet.runtime import Segmenter
from acnet.runtime.metadata import CameraIO, ModelInfo
from support.installed import run_acnet


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_config):
    return camera_onnx(tmp_path_factory, tiny_config)


@pytest.fixture(scope="module")
def float_model(tmp_path_factory, tiny_config):
    return onnx_model(tmp_path_factory, tiny_config)


def _raw_frame(info: ModelInfo, seed: int):
    from acnet.export.camera import camera_frame

    return camera_frame(info, seed)


def _io(model) -> dict:
    proto = onnx.load(model) if not isinstance(model, onnx.ModelProto) else model
    inits = {i.name for i in proto.graph.initializer}

    def describe(values):
        return {v.name: (TensorProto.DataType.Name(v.type.tensor_type.elem_type),
                         [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]) for v in values if v.name not in inits}

    return {"inputs": describe(proto.graph.input), "outputs": describe(proto.graph.output)}


# --------------------------------------------------------------------------- export


def test_cli_export_takes_camera_buffers_and_returns_uint8_labels_and_confidence(exported):
    """`acnet export onnx --io camera --camera-size 72x112`: uint8 RGB NHWC and uint16 depth in at the camera's size,
    uint8 labels and confidence out; the metadata (schema 2) says so; the export verified the network against PyTorch
    and the heads against the numpy runtime, whose network inputs they reproduce bit for bit."""
    path, stdout = exported
    h, w = CAMERA_HEIGHT, CAMERA_WIDTH
    assert _io(path) == {"inputs": {"rgb": ("UINT8", [1, h, w, 3]), "depth": ("UINT16", [1, h, w])},
                         "outputs": {"labels": ("UINT8", [1, h, w]), "confidence": ("UINT8", [1, h, w])}}
    proto = onnx.load(path)
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["acnet.schema_version"]) == 2 and json.loads(props["acnet.io"]) == "camera"
    assert json.loads(props["acnet.camera"]) == {"height": h, "width": w, "depth_dtype": "uint16", "depth_scale": 0.001}
    assert "camera 72x112: uint8 RGB (N,H,W,3) and uint16 depth (mm) in" in stdout
    # No ArgMax (TopK in TensorRT): the class ids come from ReduceMax/Equal/Where, cast from float32.
    ops = {n.op_type for n in proto.graph.node}
    assert "ArgMax" not in ops and "TopK" not in ops and {"ReduceMax", "Equal", "Where"} <= ops
    report = json.loads(path.with_name("camera.verify.json").read_text())["verification"]
    heads = report["camera_heads"]
    assert report["passed"] and report["agreement"] > 0.999 and heads["passed"]
    assert heads["max_input_diff"] == 0.0 and heads["other_differences"] == 0 and heads["camera_size"] == [h, w]


@pytest.mark.parametrize("size, depth, scale", [(None, "uint16", 0.001), ((80, 136), "float32", 1.0), ((48, 64), "uint16", 0.0001)])
def test_heads_compute_the_numpy_runtimes_inputs_and_labels(tmp_path_factory, tiny_config, float_model, size, depth, scale):
    """At the network's size, upscaling and downscaling, uint16 at two scales and float32 metres, the input head
    gives bit for bit the tensors acnet.runtime.preprocess gives, and the output head the numpy runtime's labels
    and confidence from the same logits; the torch head (AOTInductor packages) gives the same tensors."""
    import torch

    from acnet.export.camera import CameraInput, check_heads
    from acnet.runtime.preprocess import preprocess

    path = camera_variant(tmp_path_factory, tiny_config, size, depth, scale)
    info = Segmenter(path).info
    check = check_heads(path.read_bytes(), float_model.read_bytes(), info, 1)
    assert check.passed and check.max_input_diff == 0.0 and check.agreement == 1.0, check.summary()
    assert check.max_confidence_diff <= 1
    rgb, raw = _raw_frame(info, seed=9)
    head = CameraInput(info.camera, info.input_height, info.input_width, info.normalization)
    with torch.no_grad():
        x, d = head(torch.from_numpy(rgb[None]), torch.from_numpy(raw[None]))
    ref_rgb, ref_depth = preprocess(rgb, raw, info.preprocess_config, info.camera.depth_scale)
    assert np.array_equal(x[0].numpy(), ref_rgb) and np.array_equal(d[0].numpy(), ref_depth)


def test_fp16_and_int8_stay_inside_the_network(tmp_path, tiny_config, tmp_path_factory, monkeypatch):
    """--io camera with --fp16 and --int8: the I/O stays uint8/uint16, the heads stay float32 and unquantized
    (Q/DQ and float16 only inside the network), and the heads still compute the numpy runtime's answers
    on each network (the FP16 export runs its whole verification; INT8's, slow, is test_int8's)."""
    import acnet.export.onnx as export_module
    from acnet.export.camera import INPUT_PREFIX, OUTPUT_PREFIX, check_heads
    from acnet.export.int8 import Int8Options

    network = onnx.load(onnx_model(tmp_path_factory, tiny_config))  # the trace already made, not another one
    monkeypatch.setattr(export_module, "trace_to_onnx", lambda *a: network)
    ckpt = checkpoint(tmp_path_factory, tiny_config)
    for name, extra in (("fp16", {"fp16": True}),
                        ("int8", {"int8": Int8Options(calib_data="synthetic:2?size=64x96", calib_frames=2), "verify": False})):
        out = tmp_path / f"{name}.onnx"
        report = export_module.export_onnx(ckpt, out, export_module.OnnxExportOptions(io="camera", **extra))
        assert report.info.precision == name
        if name == "fp16":
            assert report.passed and report.verification.camera_heads.passed, report.summary()
        else:
            check = check_heads(out.read_bytes(), _network_of(onnx.load(out)).SerializeToString(), report.info, 1)
            assert check.passed and check.max_input_diff == 0.0, check.summary()
        proto = onnx.load(out)
        assert _io(proto)["inputs"] == {"rgb": ("UINT8", [1, 64, 96, 3]), "depth": ("UINT16", [1, 64, 96])}
        assert {v[0] for v in _io(proto)["outputs"].values()} == {"UINT8"}
        heads = [n for n in proto.graph.node if n.name.startswith((INPUT_PREFIX, OUTPUT_PREFIX))]
        head_tensors = {t for n in heads for t in n.input}
        assert heads and not [n.name for n in heads if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
        assert not [i.name for i in proto.graph.initializer if i.name in head_tensors and i.data_type != TensorProto.FLOAT
                    and i.data_type != TensorProto.INT64]
        if name == "int8":
            assert sum(n.op_type == "QuantizeLinear" for n in proto.graph.node) > 20
        else:
            assert sum(i.data_type == TensorProto.FLOAT16 for i in proto.graph.initializer) > 20


def _network_of(model: onnx.ModelProto) -> onnx.ModelProto:
    """The network inside a camera-native model: from the input head's outputs to ``logits``."""
    from onnx.utils import Extractor

    from acnet.export.camera import INPUT_PREFIX

    inputs = [INPUT_PREFIX + "net_rgb", INPUT_PREFIX + "net_depth"]
    net = Extractor(onnx.shape_inference.infer_shapes(model)).extract_model(inputs, ["logits"])
    for value, name in zip(net.graph.input, ("rgb", "depth")):
        old = value.name
        for node in net.graph.node:
            node.input[:] = [name if n == old else n for n in node.input]
        value.name = name
    return net


def test_export_options_are_checked(tmp_path_factory, tiny_config):
    from acnet.export.onnx import OnnxExportOptions

    for kwargs, fragment in ((dict(io="camera", argmax=True), "--argmax and --io camera"),
                             (dict(io="camera", dynamic_hw=True), "--dynamic-hw and --io camera"),
                             (dict(camera_size=(480, 640)), "--camera-size applies only to camera-native models"),
                             (dict(io="camera", camera_depth="float32", depth_scale=0.001), "float32 camera depth is metres"),
                             (dict(io="camera", depth_scale=1.0), "beyond any sensor"),
                             (dict(io="camera", camera_size=(0, 640)), "'camera.height' must be an integer in 1..16384"),
                             (dict(io="grpc"), "io must be one of tensor, camera")):
        with pytest.raises(ConfigError, match=fragment):
            OnnxExportOptions(**kwargs)


def test_metadata_of_camera_models_is_validated():
    base = dict(acnet_version="0.1.0", backbone="resnet18", num_classes=3, class_names=("a", "b", "c"),
                input_height=32, input_width=32, output="labels")
    info = ModelInfo(**base, camera=CameraIO(48, 64))
    d = info.to_dict()
    assert d["schema_version"] == 2 and ModelInfo.from_dict(d) == info
    assert ModelInfo(**{**base, "output": "logits"}).to_dict()["schema_version"] == 1  # older readers keep reading these
    # Each field's rules, on the C library's reader too: tests/metadata_cases.json (camera_*, io_unknown).


# --------------------------------------------------------------------------- runtime


def test_segmenter_hands_the_callers_buffers_to_onnx_runtime(tmp_path_factory, tiny_config, float_model, monkeypatch):
    """Segmenter on a camera-native model: no preprocessing, the very arrays go to ONNX Runtime (with and
    without IO binding); labels and confidence equal the float model's through the numpy runtime."""
    path = camera_variant(tmp_path_factory, tiny_config)
    reference = Segmenter(float_model)
    for io_binding in (False, True):
        seg = Segmenter(path, io_binding=io_binding)
        assert seg.camera_native and seg.camera_size == (64, 96) and seg.input_size == (64, 96)
        seen = []
        session = seg.backend.session
        if io_binding:
            binding = seg.backend.session.io_binding()  # the class of the binding the backend makes
            original = type(binding).bind_cpu_input
            monkeypatch.setattr(type(binding), "bind_cpu_input", lambda self, name, a: (seen.append(a), original(self, name, a))[1])
        else:
            monkeypatch.setattr(seg.backend, "session", _Recording(session, seen))
        rgb, depth = _raw_frame(seg.info, seed=3)
        labels, confidence = seg.segment_with_confidence(rgb, depth)
        assert any(np.shares_memory(a, rgb) for a in seen) and any(np.shares_memory(a, depth) for a in seen)
        ref_labels, ref_confidence = reference.segment_with_confidence(rgb, depth)
        assert labels.dtype == confidence.dtype == np.uint8 and labels.shape == (64, 96)
        assert np.array_equal(labels, ref_labels) and np.abs(confidence.astype(int) - ref_confidence).max() <= 1
        assert np.array_equal(seg.segment(rgb, depth), labels)
        assert [a.shape for a in seg.segment_batch([(rgb, depth)] * 2)] == [(64, 96)] * 2
        monkeypatch.undo()


def test_io_binding_stages_frames_in_host_buffers_bound_once(tmp_path_factory, tiny_config, monkeypatch):
    """With page-locked host memory (what ONNX Runtime's CUDA device offers; CPU OrtValues stand in for it here),
    each frame is copied into buffers bound once per batch shape, the outputs come back in bound buffers, and the
    caller gets copies: the same labels and confidence as a plain run, frame after frame."""
    import onnxruntime as ort

    path = camera_variant(tmp_path_factory, tiny_config)
    plain, staged = Segmenter(path), Segmenter(path, io_binding=True)
    made = []
    original = ort.OrtValue.ortvalue_from_shape_and_type

    def host_value(shape, element_type, device_type="cpu", device_id=0, vendor_id=-1, memory_info=None):
        assert memory_info == "host-accessible"  # the backend asks for the device's page-locked memory
        made.append(tuple(shape))
        return original(shape, element_type, "cpu", 0)

    monkeypatch.setattr(ort.OrtValue, "ortvalue_from_shape_and_type", staticmethod(host_value))
    staged.backend._pinned = "host-accessible"
    results = []
    for seed in range(3):
        rgb, depth = _raw_frame(plain.info, seed)
        labels, confidence = staged.segment_with_confidence(rgb, depth)
        assert np.array_equal(labels, plain.segment(rgb, depth))
        assert np.array_equal(confidence, plain.segment_with_confidence(rgb, depth)[1])
        results.append(labels)
    assert sorted(made) == sorted([(1, 64, 96, 3), (1, 64, 96), (1, 64, 96), (1, 64, 96)])  # 2 inputs, 2 outputs, once
    assert not np.array_equal(results[0], results[1])  # each result is the caller's own, not the reused buffer


def test_the_pipeline_passes_the_models_labels_and_confidence_through(tmp_path_factory, tiny_config):
    """Pipeline (acnet stream's and the ROS 2 node's runner) on a camera-native model: each result holds the
    model's own labels and confidence, with no work of the runtime's around them."""
    from acnet.runtime.pipeline import Pipeline
    from acnet.runtime.sources import Frame

    seg = Segmenter(camera_variant(tmp_path_factory, tiny_config))
    frames = [_raw_frame(seg.info, seed) for seed in range(3)]
    source = [Frame(rgb, depth, 0.001, float(i), i, f"f{i}") for i, (rgb, depth) in enumerate(frames)]
    results = list(Pipeline(seg, source, confidence=True))
    assert len(results) == 3
    for (rgb, depth), r in zip(frames, results):
        labels, confidence = seg.segment_with_confidence(rgb, depth)
        assert np.array_equal(r.labels, labels) and np.array_equal(r.confidence, confidence)


class _Recording:
    """An onnxruntime session that records the arrays it is fed."""

    def __init__(self, session, seen):
        self._session, self._seen = session, seen

    def run(self, names, feeds):
        self._seen.extend(feeds.values())
        return self._session.run(names, feeds)


def test_openvino_runs_camera_native_models_as_onnx_runtime_does(tmp_path_factory, tiny_config):
    """--backend openvino on a camera-native model: the same buffers in, the same uint8 labels and confidence as
    ONNX Runtime out (OpenVINO computes the heads itself, so confidence may differ by one level); wrong dtypes
    are an InputError, not a silent cast."""
    pytest.importorskip("openvino", reason="the openvino extra is not installed (pip install 'acnet[openvino]')")
    path = camera_variant(tmp_path_factory, tiny_config)
    ort_seg, ov_seg = Segmenter(path), Segmenter(path, backend="openvino")
    assert ov_seg.camera_native and ov_seg.camera_size == ort_seg.camera_size
    for seed in (1, 2):
        rgb, depth = _raw_frame(ov_seg.info, seed=seed)
        labels, confidence = ov_seg.segment_with_confidence(rgb, depth)
        ref_labels, ref_confidence = ort_seg.segment_with_confidence(rgb, depth)
        assert labels.dtype == confidence.dtype == np.uint8 and labels.shape == ref_labels.shape
        assert (labels == ref_labels).mean() >= 0.999
        assert np.abs(confidence.astype(int) - ref_confidence).max() <= 1
    with pytest.raises(InputError, match="camera-native model takes rgb uint8 and depth uint16"):
        ov_seg.backend.run(rgb[None].astype(np.float32), depth[None])


def test_segmenter_refuses_frames_the_model_was_not_exported_for(tmp_path_factory, tiny_config):
    seg = Segmenter(camera_variant(tmp_path_factory, tiny_config))
    metres = Segmenter(camera_variant(tmp_path_factory, tiny_config, (64, 96), "float32", 1.0))
    rgb, depth = _raw_frame(seg.info, seed=1)
    cases = [
        (seg, (rgb[:32], depth[:32]), "takes 64x96 frames, got a 32x96 frame"),
        (seg, (rgb.transpose(2, 0, 1), depth), "rgb must be HxWx3"),
        (seg, (rgb, depth.astype(np.float32) / 1000), "depth is float32 but this camera-native model takes uint16"),
        (seg, (rgb, depth, 0.0001), "exported for 0.001 m per unit"),
        (metres, (rgb, depth), "depth is uint16 but this camera-native model takes float32 metres"),
        (metres, (rgb, np.full(depth.shape, np.nan, np.float32)), "NaN"),
        (metres, (rgb, np.full(depth.shape, 2000.0, np.float32)), "beyond any sensor"),
    ]
    for model, args, fragment in cases:
        with pytest.raises(InputError, match=fragment):
            model.segment(*args)
    with pytest.raises(ConfigError, match="--io camera"):
        seg.logits(rgb, depth)


def test_parity_passes_the_exports_and_fails_heads_broken_on_purpose(tmp_path_factory, tiny_config, exported):
    """acnet parity on raw camera frames: the CLI export (resizing heads) and a same-size model pass, the latter at
    the camera gate (99.99 %, differences only at argmax ties, counted); a wrong RGB mean, a wrong depth scale and
    swapped R and B each fail it."""
    from support.trained import CAMERA_FAULTS

    from acnet.benchmarks.parity import Candidate, ParityConfig, run_parity

    ckpt = checkpoint(tmp_path_factory, tiny_config)
    data = folder_dataset(tmp_path_factory, tiny_config.num_classes, count=2, size=(96, 128))
    candidates = [Candidate("resized", exported[0], "onnxruntime"),
                  Candidate("same-size", camera_variant(tmp_path_factory, tiny_config), "onnxruntime")]
    candidates += [Candidate(f, camera_variant(tmp_path_factory, tiny_config, fault=f), "onnxruntime") for f in CAMERA_FAULTS]
    report = run_parity(ParityConfig(checkpoint=ckpt, data=f"folder:{data}", candidates=tuple(candidates), progress=False))
    results = {r.label: r for r in report.results}
    good = results["same-size"]
    assert good.passed and good.gate.min_agreement_pct == 99.99 and good.other_differences == 0, good
    assert good.ties is not None and good.confidence_within_one_pct == 100.0 and "tie(s)" in good.note
    assert results["resized"].passed and results["resized"].gate.min_agreement_pct == 99.9, results["resized"]
    assert results["resized"].camera.startswith("72x112")
    for fault in CAMERA_FAULTS:
        r = results[fault]
        assert not r.passed and r.other_differences > 0 and r.agreement_pct < 99.99, r
    assert "tie(s)" in report.summary()


# --------------------------------------------------------------------------- as users meet it (bad input: tests/test_error_sweep.py's camera rows)


def test_infer_and_stream_run_camera_native_models(tmp_path, exported):
    """`acnet infer` and `acnet stream` on camera frames: the labels the Segmenter gives, one PNG per frame."""
    from PIL import Image

    from acnet.runtime.images import read_depth, read_rgb, write_png

    seg = Segmenter(exported[0])
    for i in range(2):
        rgb, depth = _raw_frame(seg.info, seed=20 + i)
        write_png(tmp_path / "in" / "rgb" / f"f{i}.png", rgb)
        write_png(tmp_path / "in" / "depth" / f"f{i}.png", depth)
    infer = run_acnet("infer", exported[0], "--rgb", tmp_path / "in" / "rgb", "--depth", tmp_path / "in" / "depth",
                      "-o", tmp_path / "infer")
    assert infer.returncode == 0, infer.stderr
    stream = run_acnet("stream", exported[0], "--source", f"folder:{tmp_path / 'in'}", "-o", tmp_path / "stream",
                       "--no-video", "--no-progress", "--json", tmp_path / "stream.json")
    assert stream.returncode == 0, stream.stderr
    assert json.loads((tmp_path / "stream.json").read_text())["frames"] == 2
    for i in range(2):
        expected = seg.segment(read_rgb(tmp_path / "in" / "rgb" / f"f{i}.png"), read_depth(tmp_path / "in" / "depth" / f"f{i}.png"))
        assert np.array_equal(np.asarray(Image.open(tmp_path / "infer" / f"f{i}_labels.png")), expected)
        assert np.array_equal(np.asarray(Image.open(tmp_path / "stream" / "labels" / f"f{i}.png")), expected)


def test_bench_times_the_camera_model_on_raw_frames_beside_the_float_model(tmp_path_factory, tiny_config, float_model):
    """acnet bench --camera-onnx: the onnxruntime-camera row runs the camera-native model on the benchmark's
    frames as its camera gives them, in the same run as the float model's row, with the runtime's overhead."""
    from acnet.benchmarks.bench import BenchConfig, run_bench

    camera = camera_variant(tmp_path_factory, tiny_config)  # camera = the network's 64x96
    report = run_bench(BenchConfig(model=float_model, camera_onnx=camera, backends=("onnxruntime", "onnxruntime-camera"),
                                   warmup=1, iters=2, device="cpu", threads=1, progress=False))
    rows = {r.backend: r for r in report.results}
    assert set(rows) == {"onnxruntime", "onnxruntime-camera"} and all(r.status == "ok" for r in rows.values()), rows
    assert rows["onnxruntime-camera"].network_ms.median > 0 and rows["onnxruntime-camera"].overhead_ms is not None
    assert report.to_dict()["model"]["camera_onnx"] == str(camera)
