"""TensorRT engine building: version-dependent decisions, the build flow with a fake
TensorRT module, the sidecar it writes, and the refusal where TensorRT is absent."""

from __future__ import annotations

import importlib.util
import json
import types

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from acnet.errors import BackendUnavailableError, ConfigError, ModelFileError
from acnet.export.graph import set_metadata
from acnet.export.tensorrt import (
    GpuInfo,
    TrtBuildOptions,
    build_engine,
    network_flags,
    plan_build,
    resolve_batch,
    tensorrt_version,
    trtexec_command,
)
from acnet.runtime.metadata import ModelInfo
from acnet.runtime.sidecar import check_engine_compatible, read_sidecar

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
GPU = GpuInfo("NVIDIA Jetson AGX Orin", "8.7")


# --------------------------------------------------------------------------- a small acnet-style ONNX


def _onnx(path, batch="batch", precision="fp32"):
    """rgb (N,3,H,W) + depth (N,1,H,W) -> Concat -> Conv1x1 -> logits (N,5,H,W), with acnet metadata."""
    w = np.random.default_rng(0).standard_normal((5, 4, 1, 1)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Concat", ["rgb", "depth"], ["x"], name="concat", axis=1),
            helper.make_node("Conv", ["x", "w"], ["logits"], name="classifier"),
        ],
        "tiny",
        [
            helper.make_tensor_value_info("rgb", TensorProto.FLOAT, [batch, 3, 64, 96]),
            helper.make_tensor_value_info("depth", TensorProto.FLOAT, [batch, 1, 64, 96]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 5, 64, 96])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    if precision == "fp16":
        from acnet.export.fp16 import convert_to_fp16

        model = convert_to_fp16(model)
    info = ModelInfo(
        acnet_version="0.1.0", backbone="resnet18", num_classes=5, class_names=tuple("abcde"),
        input_height=64, input_width=96, precision=precision, batch=0 if isinstance(batch, str) else batch,
    )
    onnx.save(set_metadata(model, info), path)
    return path


# --------------------------------------------------------------------------- a fake tensorrt module


def fake_trt(version: str, fail_node: int | None = None, build_fails: bool = False):
    """Enough of the TensorRT Python API to drive build_engine; records every call."""
    calls: dict = {"flags": [], "profiles": [], "pool": None, "parsed": None, "network_flags": None, "timing_cache_in": None}
    major = int(version.split(".")[0])

    class Logger:
        WARNING = 2

        def __init__(self, severity):
            self.severity = severity

    class Error:
        def __init__(self, node):
            self._node = node

        def node(self):
            return self._node

        def node_name(self):
            return ""  # some versions leave it empty: the builder looks it up in the ONNX

        def node_operator(self):
            return ""

        def desc(self):
            return "Unsupported operator"

    class Parser:
        def __init__(self, network, logger):
            self.num_errors = 0

        def parse(self, data, path=None):
            calls["parsed"] = onnx.load_from_string(data)
            if fail_node is not None:
                self.num_errors = 2
                return False
            return True

        def get_error(self, i):
            return Error(fail_node)

    class Cache:
        def __init__(self, data):
            self.data = data

        def serialize(self):
            return self.data + b"+tuned"

    class Config:
        progress_monitor = None

        def set_memory_pool_limit(self, pool, size):
            calls["pool"] = (pool, size)

        def set_flag(self, flag):
            calls["flags"].append(flag)

        def add_optimization_profile(self, profile):
            calls["profiles"].append(profile.shapes)

        def create_timing_cache(self, data):
            calls["timing_cache_in"] = data
            self._cache = Cache(data)
            return self._cache

        def set_timing_cache(self, cache, ignore_mismatch):
            assert ignore_mismatch is False
            return True

        def get_timing_cache(self):
            return self._cache

    class Profile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, min, opt, max):
            self.shapes[name] = (tuple(min), tuple(opt), tuple(max))

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags=0):
            calls["network_flags"] = flags
            return object()

        def create_builder_config(self):
            calls["config"] = Config()
            return calls["config"]

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            monitor = config.progress_monitor
            if monitor is not None:
                monitor.phase_start("Building", None, 3)
                for step in range(3):
                    assert monitor.step_complete("Building", step) is True
                monitor.phase_finish("Building")
            return None if build_fails else b"SERIALIZED-ENGINE"

    class IProgressMonitor:
        def __init__(self):
            pass

    class Engine:
        def get_tensor_shape(self, name):
            return (-1, 3 if name == "rgb" else 1, 64, 96)

        def get_tensor_profile_shape(self, name, index):
            c = 3 if name == "rgb" else 1
            return [(1, c, 64, 96), (2, c, 64, 96), (4, c, 64, 96)]

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            return Engine() if data == b"SERIALIZED-ENGINE" else None

    flags = {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1}
    builder_flags = {"TF32": 6} if major >= 11 else {"FP16": 0, "TF32": 6}
    module = types.SimpleNamespace(
        __version__=version,
        Logger=Logger,
        Builder=Builder,
        Runtime=Runtime,
        OnnxParser=Parser,
        IProgressMonitor=IProgressMonitor,
        NetworkDefinitionCreationFlag=types.SimpleNamespace(**flags),
        BuilderFlag=types.SimpleNamespace(**builder_flags),
        MemoryPoolType=types.SimpleNamespace(WORKSPACE="workspace"),
    )
    return module, calls


# --------------------------------------------------------------------------- pure decisions


@pytest.mark.parametrize(
    "version, onnx_precision, fp16, expected",
    [
        ("10.3.0.26", "fp32", True, ("fp16", (), ("FP16",), False)),
        ("10.3.0.26", "fp32", False, ("fp32", (), (), False)),
        ("10.8.0", "fp16", False, ("fp16", ("STRONGLY_TYPED",), (), False)),
        ("10.8.0", "fp16", True, ("fp16", ("STRONGLY_TYPED",), (), False)),
        ("11.0.0", "fp32", True, ("fp16", (), (), True)),
        ("11.2.1", "fp16", True, ("fp16", (), (), False)),
        ("11.0.0", "fp32", False, ("fp32", (), (), False)),
    ],
)
def test_plan_build_per_version(version, onnx_precision, fp16, expected):
    plan = plan_build(version, onnx_precision, fp16)
    assert (plan.precision, plan.network_flags, plan.builder_flags, plan.convert_to_fp16) == expected
    assert plan.trt_version == version


def test_plan_build_refuses_old_or_unknown_versions():
    with pytest.raises(BackendUnavailableError, match="too old"):
        plan_build("8.6.1", "fp32", True)
    with pytest.raises(BackendUnavailableError, match="missing"):
        tensorrt_version(types.SimpleNamespace())
    assert tensorrt_version(types.SimpleNamespace(__version__="10.3.0")) == "10.3.0"


def test_network_flags_from_the_module_enum():
    trt10, _ = fake_trt("10.3.0")
    assert network_flags(trt10, plan_build("10.3.0", "fp16", False)) == 1 << 1
    assert network_flags(trt10, plan_build("10.3.0", "fp32", True)) == 0
    no_flag = types.SimpleNamespace(NetworkDefinitionCreationFlag=types.SimpleNamespace())
    with pytest.raises(BackendUnavailableError, match="STRONGLY_TYPED"):
        network_flags(no_flag, plan_build("10.3.0", "fp16", False))


def test_resolve_batch():
    assert resolve_batch(None, None, None, None) == (1, 1, 8)
    assert resolve_batch(None, 2, None, 16) == (2, 2, 16)
    assert resolve_batch(None, None, 4, None) == (1, 4, 8)
    assert resolve_batch(None, None, 12, None) == (1, 12, 12)
    assert resolve_batch(1, None, None, None) == (1, 1, 1)
    assert resolve_batch(2, 2, 2, 2) == (2, 2, 2)
    with pytest.raises(ConfigError, match="fixed batch of 1.*--dynamic-batch"):
        resolve_batch(1, None, None, 4)
    with pytest.raises(ConfigError, match="min-batch <= --opt-batch"):
        resolve_batch(None, 4, 2, 8)
    with pytest.raises(ConfigError, match="positive"):
        resolve_batch(None, 0, None, None)


# --------------------------------------------------------------------------- the build with a fake TensorRT


def test_trt10_fp16_uses_the_builder_flag(tmp_path):
    onnx_path = _onnx(tmp_path / "model.onnx")
    trt, calls = fake_trt("10.3.0.26")
    report = build_engine(onnx_path, tmp_path / "model.engine", TrtBuildOptions(fp16=True, max_batch=4), trt=trt, gpu=GPU)
    assert calls["flags"] == [trt.BuilderFlag.FP16] and calls["network_flags"] == 0
    assert calls["pool"] == ("workspace", 2 * 2**30)
    assert calls["parsed"].SerializeToString() == onnx.load(onnx_path).SerializeToString()  # parsed as is
    assert calls["profiles"] == [
        {"rgb": ((1, 3, 64, 96), (1, 3, 64, 96), (4, 3, 64, 96)), "depth": ((1, 1, 64, 96), (1, 1, 64, 96), (4, 1, 64, 96))}
    ]
    assert (tmp_path / "model.engine").read_bytes() == b"SERIALIZED-ENGINE"

    sidecar = read_sidecar(tmp_path / "model.engine")
    assert sidecar == report.sidecar
    assert (sidecar.tensorrt_version, sidecar.gpu_name, sidecar.compute_capability) == ("10.3.0.26", GPU.name, "8.7")
    assert sidecar.precision == "fp16" and sidecar.build["fp16_source"] == "BuilderFlag.FP16"
    assert sidecar.batch_range == (1, 1, 4)
    assert sidecar.outputs["logits"].max == (4, 5, 64, 96)
    assert sidecar.info.precision == "fp16" and sidecar.info.batch == 0 and sidecar.info.class_names == tuple("abcde")
    assert len(sidecar.source_onnx_sha256) == 64 and sidecar.source_onnx == "model.onnx"
    check_engine_compatible(sidecar, "10.3.0.26", GPU.name, GPU.compute_capability)
    assert "--fp16" in report.trtexec and "--maxShapes=rgb:4x3x64x96,depth:4x1x64x96" in report.trtexec
    assert "--memPoolSize=workspace:2048M" in report.trtexec
    assert "TensorRT 10.3.0.26" in report.summary() and "1..4" in report.summary()


def test_trt11_builds_from_an_fp16_onnx_converted_on_the_fly(tmp_path):
    onnx_path = _onnx(tmp_path / "model.onnx")
    trt, calls = fake_trt("11.0.0.12")
    report = build_engine(onnx_path, tmp_path / "model.engine", TrtBuildOptions(fp16=True), trt=trt, gpu=GPU)
    parsed = calls["parsed"]
    assert calls["flags"] == [] and calls["network_flags"] == 0
    assert [i.data_type for i in parsed.graph.initializer] == [TensorProto.FLOAT16]
    assert all(v.type.tensor_type.elem_type == TensorProto.FLOAT for v in (*parsed.graph.input, *parsed.graph.output))
    assert report.sidecar.precision == "fp16" and "converted" in report.sidecar.build["fp16_source"]
    assert "--fp16" not in report.trtexec  # trtexec 11 has no precision flags


def test_trt10_fp16_onnx_is_built_strongly_typed(tmp_path):
    onnx_path = _onnx(tmp_path / "model16.onnx", precision="fp16")
    trt, calls = fake_trt("10.9.0")
    report = build_engine(onnx_path, tmp_path / "model.engine", TrtBuildOptions(), trt=trt, gpu=GPU)
    assert calls["network_flags"] == 1 << 1 and calls["flags"] == []
    assert report.sidecar.precision == "fp16" and "--stronglyTyped" in report.trtexec


def test_fixed_batch_model_has_no_profile(tmp_path):
    onnx_path = _onnx(tmp_path / "model.onnx", batch=1)
    trt, calls = fake_trt("10.3.0")
    report = build_engine(onnx_path, tmp_path / "model.engine", TrtBuildOptions(), trt=trt, gpu=GPU)
    assert calls["profiles"] == [] and report.sidecar.batch_range == (1, 1, 1)
    assert report.sidecar.precision == "fp32" and report.sidecar.info.batch == 1
    with pytest.raises(ConfigError, match="fixed batch"):
        build_engine(onnx_path, tmp_path / "b.engine", TrtBuildOptions(max_batch=8), trt=trt, gpu=GPU)


def test_timing_cache_is_read_and_written_back(tmp_path):
    onnx_path = _onnx(tmp_path / "model.onnx")
    cache = tmp_path / "timing.cache"
    trt, calls = fake_trt("10.3.0")
    build_engine(onnx_path, tmp_path / "a.engine", TrtBuildOptions(timing_cache=cache), trt=trt, gpu=GPU)
    assert calls["timing_cache_in"] == b"" and cache.read_bytes() == b"+tuned"
    trt, calls = fake_trt("10.3.0")
    report = build_engine(onnx_path, tmp_path / "b.engine", TrtBuildOptions(timing_cache=cache), trt=trt, gpu=GPU)
    assert calls["timing_cache_in"] == b"+tuned" and cache.read_bytes() == b"+tuned+tuned"
    assert f"--timingCacheFile={cache}" in report.trtexec


def test_parser_errors_name_the_failing_node(tmp_path):
    onnx_path = _onnx(tmp_path / "model.onnx")
    trt, _ = fake_trt("10.3.0", fail_node=1)
    with pytest.raises(ModelFileError) as info:
        build_engine(onnx_path, tmp_path / "model.engine", TrtBuildOptions(), trt=trt, gpu=GPU)
    message = str(info.value)
    assert "node 1 'classifier' (Conv): Unsupported operator" in message and "1 more" in message
    assert not (tmp_path / "model.engine").exists()


def test_failed_build_writes_nothing(tmp_path):
    onnx_path = _onnx(tmp_path / "model.onnx")
    trt, _ = fake_trt("10.3.0", build_fails=True)
    with pytest.raises(ModelFileError, match="failed to build"):
        build_engine(onnx_path, tmp_path / "model.engine", TrtBuildOptions(), trt=trt, gpu=GPU)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_bad_onnx_inputs(tmp_path):
    trt, _ = fake_trt("10.3.0")
    with pytest.raises(ModelFileError, match="not found"):
        build_engine(tmp_path / "missing.onnx", tmp_path / "m.engine", trt=trt, gpu=GPU)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\xffnot a protobuf" * 10)
    with pytest.raises(ModelFileError, match="not a readable ONNX"):
        build_engine(garbage, tmp_path / "m.engine", trt=trt, gpu=GPU)
    foreign = tmp_path / "foreign.onnx"
    model = onnx.load(_onnx(tmp_path / "x.onnx"))
    del model.metadata_props[:]
    onnx.save(model, foreign)
    with pytest.raises(ModelFileError, match="no acnet metadata"):
        build_engine(foreign, tmp_path / "m.engine", trt=trt, gpu=GPU)


def test_sidecar_for_an_engine_built_by_hand(tmp_path):
    from acnet.export.tensorrt import describe_engine_file

    onnx_path = _onnx(tmp_path / "model.onnx")
    engine = tmp_path / "hand.engine"
    engine.write_bytes(b"SERIALIZED-ENGINE")  # as trtexec --saveEngine would
    trt, _ = fake_trt("10.3.0.26")
    report = describe_engine_file(onnx_path, engine, fp16=True, trt=trt, gpu=GPU)
    sidecar = read_sidecar(engine)
    assert sidecar == report.sidecar and engine.read_bytes() == b"SERIALIZED-ENGINE"
    assert sidecar.batch_range == (1, 2, 4) and sidecar.precision == "fp16" and sidecar.info.batch == 0
    assert report.summary().startswith("described") and "trtexec" not in report.summary()
    engine.write_bytes(b"from another TensorRT")
    with pytest.raises(ModelFileError, match="another TensorRT or for another GPU"):
        describe_engine_file(onnx_path, engine, trt=trt, gpu=GPU)
    with pytest.raises(ModelFileError, match="not found"):
        describe_engine_file(onnx_path, tmp_path / "none.engine", trt=trt, gpu=GPU)


def test_query_gpu_reads_name_and_compute_capability():
    from acnet.export.tensorrt import query_gpu

    class Cuda:
        def __init__(self, fail=False):
            self.fail = fail

        def set_device(self, index):
            if self.fail:
                raise BackendUnavailableError("CUDA cudaSetDevice failed: cudaErrorNoDevice")

        def device_info(self, index):
            return "NVIDIA Jetson AGX Orin", (8, 7)

    assert query_gpu(0, Cuda()) == GPU
    with pytest.raises(BackendUnavailableError, match="no usable NVIDIA GPU.*cudaErrorNoDevice"):
        query_gpu(0, Cuda(fail=True))


def test_missing_onnx_package_is_named(tmp_path, monkeypatch):
    import sys

    from acnet.export.tensorrt import read_onnx

    onnx_path = _onnx(tmp_path / "model.onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)  # as on a runtime-only install
    with pytest.raises(BackendUnavailableError, match="pip install onnx"):
        read_onnx(onnx_path)


def test_trtexec_command_for_a_fixed_model():
    from acnet.runtime.sidecar import TensorShape

    plan = plan_build("10.3.0", "fp32", True)
    shape = TensorShape("float32", (1, 3, 480, 640), (1, 3, 480, 640), (1, 3, 480, 640))
    cmd = trtexec_command("my model.onnx", "m.engine", plan, {"rgb": shape}, 1.5)
    assert cmd == "trtexec '--onnx=my model.onnx' --saveEngine=m.engine --fp16 --memPoolSize=workspace:1536M"


# --------------------------------------------------------------------------- the CLI where TensorRT is absent


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here; this checks the message where it is not")
def test_cli_without_tensorrt_says_what_is_missing(tmp_path):
    from acnet.cli import main

    onnx_path = _onnx(tmp_path / "model.onnx")
    result = CliRunner().invoke(main, ["export", "trt", str(onnx_path), "-o", str(tmp_path / "m.engine"), "--fp16"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("acnet: error:")
    assert "tensorrt" in lines[0] and "pip install 'acnet[tensorrt]'" in lines[0] and "NVIDIA GPU" in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "m.engine").exists()


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_TENSORRT, reason="TensorRT is not installed (needs an NVIDIA GPU machine)")
def test_real_tensorrt_builds_an_engine_with_sidecar(tmp_path):
    onnx_path = _onnx(tmp_path / "model.onnx")
    report = build_engine(onnx_path, tmp_path / "model.engine", TrtBuildOptions(fp16=True, max_batch=2, workspace_gb=0.5))
    sidecar = read_sidecar(report.engine)
    import tensorrt

    check_engine_compatible(sidecar, tensorrt.__version__, sidecar.gpu_name, sidecar.compute_capability)
    runtime = tensorrt.Runtime(tensorrt.Logger(tensorrt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(report.engine.read_bytes())
    assert engine is not None
    assert json.loads(report.sidecar_path.read_text())["precision"] == "fp16"
