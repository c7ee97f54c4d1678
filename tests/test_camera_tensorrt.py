"""Camera-native models on TensorRT: the I/O types checked against the real 10.16 and 11.4 bindings.

What TensorRT accepts is read from NVIDIA's own bindings and headers
(tests/tensorrt_bindings.py): ``DataType`` has UINT8 but no unsigned (or any)
16-bit integer type, and UINT8 converts to and from float32 and float16 only.
The fake (tests/support/trt_fake.py) holds those rules, so the engines built here are
built from ONNX graphs the real parser would take: uint16 depth as its bytes,
class ids cast from float32. Engines run through the runtime's backend over
a fake CUDA runtime, executing the parsed graph in ONNX Runtime.
"""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
from support.capi_artifacts import camera_onnx
from onnx import TensorProto, helper
from support.tensorrt_bindings import run_with_bindings, spec_or_skip
from test_tensorrt_headers import HEADERS
from support.trt_fake import FakeTensorRT

from acnet.errors import ModelFileError
from acnet.export.tensorrt import GpuInfo, TrtBuildOptions, build_engine, converted_onnx_path, describe_engine_file
from acnet.runtime import Segmenter

pytestmark = pytest.mark.tensorrt_api

GPU = GpuInfo("Fake GPU", "8.9")  # what tests/test_runtime_tensorrt.py's FakeCuda reports
MAJORS = (10, 11)


@pytest.fixture(scope="module")
def camera_model(tmp_path_factory, tiny_config):
    return camera_onnx(tmp_path_factory, tiny_config)[0]


@pytest.mark.parametrize("major", MAJORS)
def test_the_real_bindings_have_uint8_and_no_16_bit_integers(major):
    """TensorRT 10.16 and 11.4 (their Python bindings) list UINT8, numpy's uint8, and no UINT16 or INT16:
    so engines take RGB, labels and confidence as they are and uint16 depth only as bytes."""
    spec = spec_or_skip(major)
    types = spec["classes"]["DataType"]["enum"]
    assert "UINT8" in types and spec["nptype"]["UINT8"] == "uint8"
    assert not [t for t in types if re.fullmatch(r"U?INT16", t)], sorted(types)


@pytest.mark.parametrize("major", MAJORS)
def test_the_real_uint8_rule_is_what_the_fake_and_the_head_follow(major):
    """The real DataType docstring: uint8 converts to and from float32 and float16 only. The fake refuses
    anything else, and the camera head's casts are exactly those (its class ids are float32 until cast)."""
    spec_or_skip(major)
    code = "import sys; sys.path.insert(0, sys.argv[1]); import tensorrt_bindings as trt; print(trt.DataType.__doc__)"
    proc = run_with_bindings(major, code)
    assert proc.returncode == 0, proc.stderr
    doc = " ".join(proc.stdout.split())
    assert "``uint8`` conversions are only supported for {``float32``, ``float16``}" in doc
    version = {10: "10.16", 11: "11.1"}[major]
    header = HEADERS / version / "include" / "NvInferRuntimeBase.h"
    if header.is_file():
        text = header.read_text()
        assert "kUINT8 conversions are only supported for {kFLOAT, kHALF}" in text and "kUINT16" not in text


@pytest.mark.parametrize("major, fp16", [(10, False), (10, True), (11, False), (11, True)])
def test_camera_engines_take_uint8_buffers_and_give_the_onnx_models_labels(camera_model, tmp_path, major, fp16):
    """`acnet export trt` of a camera-native ONNX: TensorRT parses the model with depth as uint8 (N,H,W,2)
    bytes (saved beside the engine for trtexec), strongly typed on both releases so the heads stay float32
    with --fp16 too; the runtime's backend binds uint8 buffers, hands the uint16 depth in as its bytes, and
    returns the ONNX model's labels and confidence (FP16: within its gate)."""
    from test_runtime_tensorrt import FakeCuda

    from acnet.export.camera import camera_frame, head_node_names
    from acnet.runtime.backends.trt import TensorRTBackend

    cuda = FakeCuda()
    trt = FakeTensorRT(spec_or_skip(major), gpu=GPU.name, device_memory=cuda.memory)
    report = build_engine(camera_model, tmp_path / "m.engine", TrtBuildOptions(fp16=fp16), trt=trt, gpu=GPU)
    parsed = onnx.load_from_string(trt.parsed[-1])
    inputs = {i.name: (i.type.tensor_type.elem_type, [d.dim_value for d in i.type.tensor_type.shape.dim]) for i in parsed.graph.input}
    h, w = Segmenter(camera_model).camera_size
    assert inputs == {"rgb": (TensorProto.UINT8, [1, h, w, 3]), "depth": (TensorProto.UINT8, [1, h, w, 2])}
    assert trt.parsed[-1] == converted_onnx_path(report.engine, fp16).read_bytes()
    assert report.sidecar.build["built_from_onnx"] == converted_onnx_path(report.engine, fp16).name
    assert "bytes" in report.sidecar.build["depth_input"] and report.sidecar.info.camera is not None
    assert ("STRONGLY_TYPED" in report.sidecar.build["network_flags"]) == (major == 10) and not report.sidecar.build["builder_flags"]
    assert converted_onnx_path(report.engine, fp16).name in report.trtexec and "--fp16" not in report.trtexec
    if fp16:  # the network's weights are float16, the heads' constants float32
        heads = {t for n in parsed.graph.node if n.name in head_node_names(parsed) for t in n.input}
        inits = {i.name: i.data_type for i in parsed.graph.initializer}
        assert {t for t in heads if inits.get(t) == TensorProto.FLOAT16} == set()
        assert sum(t == TensorProto.FLOAT16 for t in inits.values()) > 20

    seg = Segmenter(camera_model)
    backend = TensorRTBackend(report.engine, "cuda:0", trt=trt, cuda=cuda)
    try:
        assert backend.signature.depth_bytes and backend.plan.dtypes["rgb"] == np.uint8
        assert "camera-native" in backend.describe()
        for seed in (0, 1):
            rgb, depth = camera_frame(seg.info, seed)
            labels, confidence = backend.run(rgb[None], depth[None])
            ref_labels, ref_confidence = seg.segment_with_confidence(rgb, depth)
            agreement = (labels[0] == ref_labels).mean()
            assert labels.dtype == confidence.dtype == np.uint8 and labels.shape == (1, h, w)
            if fp16:
                assert agreement >= 0.995
            else:
                assert agreement == 1.0 and np.array_equal(confidence[0], ref_confidence)
        # The engine's buffers are sized for uint8: 1 byte per value, 2 per depth pixel.
        assert backend.plan.buffer_shapes == {"rgb": (1, h, w, 3), "depth": (1, h, w, 2), "labels": (1, h, w),
                                              "confidence": (1, h, w)}
    finally:
        backend.close()
    described = describe_engine_file(camera_model, report.engine, trt=trt, gpu=GPU)  # a hand-built engine's sidecar
    assert described.sidecar.inputs["depth"].dtype == "uint8" and described.sidecar.inputs["depth"].min == (1, h, w, 2)


def test_what_tensorrt_would_refuse_is_refused_by_the_fake(camera_model, tmp_path):
    """The reasons for the graph's form: the uint16 input itself, and an ArgMax head whose int64 ids are
    cast to uint8, do not parse; the model acnet gives TensorRT does."""
    spec = spec_or_skip(10)
    trt = FakeTensorRT(spec, gpu=GPU.name)

    def parses(model) -> tuple[bool, str]:
        logger = trt.Logger(trt.Logger.WARNING)
        parser = trt.OnnxParser(trt.Builder(logger).create_network(0), logger)
        ok = parser.parse(model.SerializeToString(), "m.onnx")
        return ok, "" if ok else parser.get_error(0).desc()

    from acnet.export.camera import depth_as_bytes

    proto = onnx.load(camera_model)
    ok, why = parses(proto)
    assert not ok and "UINT16" in why
    assert parses(depth_as_bytes(proto))[0]
    argmax = helper.make_model(helper.make_graph(
        [helper.make_node("ArgMax", ["logits"], ["ids"], axis=1, keepdims=0),
         helper.make_node("Cast", ["ids"], ["labels"], to=TensorProto.UINT8)],
        "argmax_head", [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 5, 8, 8])],
        [helper.make_tensor_value_info("labels", TensorProto.UINT8, [1, 8, 8])]), opset_imports=[helper.make_opsetid("", 18)])
    ok, why = parses(argmax)
    assert not ok and "uint8 converts to and from float32 and float16 only" in why


def test_a_sidecar_of_another_camera_is_refused(camera_model, tmp_path):
    """The backend checks the engine's tensors against the sidecar's camera: an engine of another camera size
    or depth type behind a sidecar is refused, naming the tensor."""
    from acnet.runtime.backends.base import BatchLimits
    from acnet.runtime.backends.trt import TensorSpec, plan_engine

    info = Segmenter(camera_model).info
    h, w = info.camera.size
    specs = [TensorSpec("rgb", True, np.dtype(np.uint8), (1, h, w, 3)), TensorSpec("depth", True, np.dtype(np.uint8), (1, h, w, 2)),
             TensorSpec("labels", False, np.dtype(np.uint8), (1, h, w)), TensorSpec("confidence", False, np.dtype(np.uint8), (1, h, w))]
    plan = plan_engine(specs, info, "m.engine")
    assert plan.signature.depth_bytes and plan.limits == BatchLimits(1, 1)
    wrong_size = [TensorSpec("rgb", True, np.dtype(np.uint8), (1, h + 1, w, 3)), *specs[1:]]
    with pytest.raises(ModelFileError, match="input 'rgb' has shape"):
        plan_engine(wrong_size, info, "m.engine")
    float_labels = [*specs[:2], TensorSpec("labels", False, np.dtype(np.int32), (1, h, w)), specs[3]]
    with pytest.raises(ModelFileError, match="'labels' is int32"):
        plan_engine(float_labels, info, "m.engine")
