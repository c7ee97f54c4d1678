"""TensorRT engine building: version-dependent decisions, the build flow, the sidecar it
writes, and the refusal where TensorRT is absent.

TensorRT is a fake made from the real 10.16 / 11.4 bindings (tests/support/trt_fake.py):
their enums, signatures, and TensorRT's own build rules."""

from __future__ import annotations

import dataclasses
import errno
import importlib.util
import json
import logging
import shlex
import types
from pathlib import Path

import numpy as np
import onnx
import pytest
from support import capi_artifacts
from support.installed import assert_one_line_error, run_acnet
from onnx import TensorProto, helper, numpy_helper
from support.tensorrt_bindings import spec_or_skip
from support.trt_fake import FakeTensorRT

from acnet.errors import BackendUnavailableError, ConfigError, ModelFileError, OutputError
from acnet.export.graph import read_metadata, set_metadata
from acnet.export.tensorrt import (
    GpuInfo,
    TrtBuildOptions,
    build_engine,
    network_flags,
    plan_build,
    resolve_batch,
    tensorrt_version,
)
from acnet.runtime.metadata import ModelInfo
from acnet.runtime.sidecar import check_engine_compatible, read_sidecar

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
GPU = GpuInfo("NVIDIA Jetson AGX Orin", "8.7")


# --------------------------------------------------------------------------- a small acnet-style ONNX


def _onnx(path, batch="batch", precision="fp32", hw=(64, 96)):
    """rgb (N,3,H,W) + depth (N,1,H,W) -> Concat -> Conv1x1 -> logits (N,5,H,W), with acnet metadata.

    ``batch`` and ``hw`` may be symbolic names; the metadata's input size stays 64x96.
    """
    h, w = hw
    kernel = np.random.default_rng(0).standard_normal((5, 4, 1, 1)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Concat", ["rgb", "depth"], ["x"], name="concat", axis=1),
            helper.make_node("Conv", ["x", "w"], ["logits"], name="classifier"),
        ],
        "tiny",
        [
            helper.make_tensor_value_info("rgb", TensorProto.FLOAT, [batch, 3, h, w]),
            helper.make_tensor_value_info("depth", TensorProto.FLOAT, [batch, 1, h, w]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 5, h, w])],
        [numpy_helper.from_array(kernel, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    if precision == "fp16":
        from acnet.export.fp16 import convert_to_fp16

        model = convert_to_fp16(model)
    info = ModelInfo(
        acnet_version="0.1.0", backbone="resnet18", num_classes=5, class_names=tuple("abcde"),
        input_height=64, input_width=96, precision=precision, batch=0 if isinstance(batch, str) else batch,
        dynamic_hw=isinstance(h, str),
    )
    onnx.save(set_metadata(model, info), path)
    return path


# --------------------------------------------------------------------------- the fake: the real bindings' API and rules


def fake_trt(major: int, **kwargs) -> FakeTensorRT:
    """``tensorrt`` of release ``major`` (10.16 or 11.4): real enums, signatures and rules (tests/support/trt_fake.py)."""
    return FakeTensorRT(spec_or_skip(major), gpu=GPU.name, **kwargs)


def calls(trt, name: str) -> list[dict]:
    """The bound arguments of every call of ``name`` ("IBuilderConfig.set_flag")."""
    return [args for call, args in trt.calls if call == name]


def flag_value(trt, enum: str, name: str) -> int:
    return int(getattr(getattr(trt, enum), name))


# --------------------------------------------------------------------------- decisions, checked on the real enums


@pytest.mark.parametrize(
    "major, onnx_precision, fp16, precision, network_flags, builder_flags",
    [
        (10, "fp32", True, "fp16", (), ("FP16",)),
        (10, "fp32", False, "fp32", (), ()),
        (10, "fp16", False, "fp16", ("STRONGLY_TYPED",), ()),
        (10, "fp16", True, "fp16", ("STRONGLY_TYPED",), ()),
        (11, "fp32", True, "fp16", (), ()),
        (11, "fp16", True, "fp16", (), ()),
        (11, "fp32", False, "fp32", (), ()),
    ],
)
def test_each_plan_reaches_tensorrt_as_the_real_enums(tmp_path, major, onnx_precision, fp16, precision, network_flags, builder_flags):
    """The build's create_network/set_flag calls carry the real values of the flags each release needs."""
    trt = fake_trt(major)
    report = build_engine(_onnx(tmp_path / "m.onnx", precision=onnx_precision), tmp_path / "m.engine", TrtBuildOptions(fp16=fp16), trt=trt, gpu=GPU)
    mask = sum(1 << flag_value(trt, "NetworkDefinitionCreationFlag", f) for f in network_flags)
    assert calls(trt, "Builder.create_network") == [{"flags": mask}]
    assert calls(trt, "IBuilderConfig.set_flag") == [{"flag": f"BuilderFlag.{f}"} for f in builder_flags]
    assert report.sidecar.precision == precision and report.sidecar.info.precision == precision
    parsed = onnx.load_from_string(trt.parsed[-1])
    fp16_weights = [i.data_type for i in parsed.graph.initializer] == [TensorProto.FLOAT16]
    assert fp16_weights == (precision == "fp16" and "FP16" not in builder_flags)


def test_plan_build_refuses_old_or_unknown_versions():
    with pytest.raises(BackendUnavailableError, match="too old"):
        plan_build("8.6.1", "fp32", True)
    with pytest.raises(BackendUnavailableError, match="missing"):
        tensorrt_version(types.SimpleNamespace())
    assert tensorrt_version(fake_trt(10)) == "10.16.1.11" and tensorrt_version(fake_trt(11)) == "11.4.0.106"


def test_network_flags_from_the_module_enum():
    ten, eleven = fake_trt(10), fake_trt(11)
    assert network_flags(ten, plan_build(ten.__version__, "fp16", False)) == 1 << 1  # STRONGLY_TYPED is 1 in 10.16
    assert network_flags(ten, plan_build(ten.__version__, "fp32", True)) == 0
    assert network_flags(eleven, plan_build(eleven.__version__, "fp16", False)) == 0  # always strongly typed
    with pytest.raises(BackendUnavailableError, match="EXPLICIT_BATCH"):  # gone in 11
        network_flags(eleven, dataclasses.replace(plan_build(eleven.__version__, "fp16", False), network_flags=("EXPLICIT_BATCH",)))


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


# --------------------------------------------------------------------------- the build


def test_trt10_fp16_uses_the_builder_flag(tmp_path):
    onnx_path = _onnx(tmp_path / "model.onnx")
    trt = fake_trt(10)
    report = build_engine(onnx_path, tmp_path / "model.engine", TrtBuildOptions(fp16=True, max_batch=4), trt=trt, gpu=GPU)
    assert calls(trt, "IBuilderConfig.set_flag") == [{"flag": "BuilderFlag.FP16"}]
    assert calls(trt, "IBuilderConfig.set_memory_pool_limit") == [{"pool": "MemoryPoolType.WORKSPACE", "pool_size": 2 * 2**30}]
    assert trt.parsed == [onnx.load(onnx_path).SerializeToString()]  # parsed as is
    assert calls(trt, "IOptimizationProfile.set_shape") == [
        {"input": "rgb", "min": (1, 3, 64, 96), "opt": (1, 3, 64, 96), "max": (4, 3, 64, 96)},
        {"input": "depth", "min": (1, 1, 64, 96), "opt": (1, 1, 64, 96), "max": (4, 1, 64, 96)},
    ]
    engine = tmp_path / "model.engine"
    assert trt.Runtime(trt.Logger()).deserialize_cuda_engine(engine.read_bytes()) is not None

    sidecar = read_sidecar(engine)
    assert sidecar == report.sidecar
    assert (sidecar.tensorrt_version, sidecar.gpu_name, sidecar.compute_capability) == ("10.16.1.11", GPU.name, "8.7")
    assert sidecar.precision == "fp16" and sidecar.build["fp16_source"] == "BuilderFlag.FP16"
    assert sidecar.batch_range == (1, 1, 4)
    assert sidecar.outputs["logits"].max == (4, 5, 64, 96)
    assert sidecar.info.precision == "fp16" and sidecar.info.batch == 0 and sidecar.info.class_names == tuple("abcde")
    assert len(sidecar.source_onnx_sha256) == 64 and sidecar.source_onnx == "model.onnx"
    assert sidecar.engine_size == engine.stat().st_size
    check_engine_compatible(sidecar, "10.16.1.11", GPU.name, GPU.compute_capability)
    assert "TensorRT 10.16.1.11" in report.summary() and "1..4" in report.summary()


def test_trt11_builds_from_an_fp16_onnx_saved_beside_the_engine(tmp_path):
    """TensorRT 11: the FP32 ONNX is converted, and trtexec is pointed at the converted file, not the FP32 one."""
    onnx_path = _onnx(tmp_path / "model.onnx")
    trt = fake_trt(11)
    report = build_engine(onnx_path, tmp_path / "model.engine", TrtBuildOptions(fp16=True), trt=trt, gpu=GPU)
    parsed = onnx.load_from_string(trt.parsed[-1])
    assert calls(trt, "IBuilderConfig.set_flag") == [] and calls(trt, "Builder.create_network") == [{"flags": 0}]
    assert [i.data_type for i in parsed.graph.initializer] == [TensorProto.FLOAT16]
    assert all(v.type.tensor_type.elem_type == TensorProto.FLOAT for v in (*parsed.graph.input, *parsed.graph.output))
    assert report.sidecar.precision == "fp16" and "converted" in report.sidecar.build["fp16_source"]
    converted = tmp_path / "model.engine.fp16.onnx"
    assert converted.read_bytes() == trt.parsed[-1]  # the very model TensorRT built
    assert report.sidecar.build["built_from_onnx"] == converted.name
    args = shlex.split(report.trtexec)
    assert f"--onnx={converted}" in args and "--fp16" not in args  # trtexec 11 has no precision flags
    assert read_metadata(onnx.load(converted), source="x").num_classes == 5  # still an acnet model


def test_trt10_fp16_onnx_is_built_strongly_typed(tmp_path):
    onnx_path = _onnx(tmp_path / "model16.onnx", precision="fp16")
    trt = fake_trt(10)
    report = build_engine(onnx_path, tmp_path / "model.engine", TrtBuildOptions(fp16=True), trt=trt, gpu=GPU)
    assert calls(trt, "Builder.create_network") == [{"flags": 1 << flag_value(trt, "NetworkDefinitionCreationFlag", "STRONGLY_TYPED")}]
    assert calls(trt, "IBuilderConfig.set_flag") == []  # the strongly typed network would refuse FP16
    assert report.sidecar.precision == "fp16" and "--stronglyTyped" in report.trtexec


def test_fixed_batch_model_has_no_profile(tmp_path):
    onnx_path = _onnx(tmp_path / "model.onnx", batch=1)
    trt = fake_trt(10)
    report = build_engine(onnx_path, tmp_path / "model.engine", TrtBuildOptions(), trt=trt, gpu=GPU)
    assert calls(trt, "Builder.create_optimization_profile") == [] and report.sidecar.batch_range == (1, 1, 1)
    assert report.sidecar.precision == "fp32" and report.sidecar.info.batch == 1
    assert "Shapes" not in report.trtexec
    with pytest.raises(ConfigError, match="fixed batch"):
        build_engine(onnx_path, tmp_path / "b.engine", TrtBuildOptions(max_batch=8), trt=trt, gpu=GPU)


@pytest.mark.parametrize("major", [10, 11])
@pytest.mark.parametrize("case", ["max-batch-1", "dynamic-hw"])
def test_symbolic_dimensions_always_get_a_profile(tmp_path, major, case):
    """A dynamic-batch ONNX with --max-batch 1, or one with symbolic height and width (named as
    `acnet export onnx --dynamic-hw` names them), still has symbolic dimensions: without a profile
    TensorRT refuses to build, so one is added and trtexec gets the shapes."""
    if case == "max-batch-1":
        source = _onnx(tmp_path / "m.onnx", batch="batch", hw=("height", "width"))
    else:
        source = _onnx(tmp_path / "m.onnx", batch=1, hw=("height", "width"))
    options = TrtBuildOptions(max_batch=1) if case == "max-batch-1" else TrtBuildOptions()
    trt = fake_trt(major)
    report = build_engine(source, tmp_path / "m.engine", options, trt=trt, gpu=GPU)
    shapes = {c["input"]: (c["min"], c["opt"], c["max"]) for c in calls(trt, "IOptimizationProfile.set_shape")}
    n = 1
    assert shapes == {"rgb": ((n, 3, 64, 96),) * 3, "depth": ((n, 1, 64, 96),) * 3}
    assert report.sidecar.batch_range == (1, 1, 1)
    args = shlex.split(report.trtexec)
    assert "--minShapes=rgb:1x3x64x96,depth:1x1x64x96" in args and "--maxShapes=rgb:1x3x64x96,depth:1x1x64x96" in args


def test_timing_cache_is_read_and_written_back(tmp_path):
    onnx_path = _onnx(tmp_path / "model.onnx")
    cache = tmp_path / "timing.cache"
    trt = fake_trt(10)
    build_engine(onnx_path, tmp_path / "a.engine", TrtBuildOptions(timing_cache=cache), trt=trt, gpu=GPU)
    first = cache.read_bytes()
    assert calls(trt, "IBuilderConfig.create_timing_cache") == [{"serialized_timing_cache": "<0 bytes>"}]
    trt = fake_trt(10)
    report = build_engine(onnx_path, tmp_path / "b.engine", TrtBuildOptions(timing_cache=cache), trt=trt, gpu=GPU)
    assert calls(trt, "IBuilderConfig.create_timing_cache") == [{"serialized_timing_cache": f"<{len(first)} bytes>"}]
    assert calls(trt, "IBuilderConfig.set_timing_cache") == [{"cache": "ITimingCache", "ignore_mismatch": False}]
    assert json.loads(cache.read_bytes().split(b"\n", 1)[1])["entries"] == 2  # the second build added to the first's
    assert report.sidecar.build["timing_cache_loaded"] is True
    assert f"--timingCacheFile={cache}" in report.trtexec


@pytest.mark.parametrize("kind", ["corrupt", "foreign"])
def test_a_refused_timing_cache_is_reported_and_replaced(tmp_path, caplog, kind):
    onnx_path = _onnx(tmp_path / "model.onnx")
    cache = tmp_path / "timing.cache"
    if kind == "corrupt":
        cache.write_bytes(b"\x00\x01 not a timing cache")
    else:  # from the same TensorRT on another GPU
        build_engine(onnx_path, tmp_path / "other.engine", TrtBuildOptions(timing_cache=cache),
                     trt=FakeTensorRT(spec_or_skip(10), gpu="NVIDIA A100"), gpu=GpuInfo("NVIDIA A100", "8.0"))
    trt = fake_trt(10)
    with caplog.at_level(logging.WARNING, logger="acnet.export.tensorrt"):
        report = build_engine(onnx_path, tmp_path / "m.engine", TrtBuildOptions(timing_cache=cache), trt=trt, gpu=GPU)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    expected = "corrupt" if kind == "corrupt" else "refused the timing cache"
    assert len(warnings) == 1 and expected in warnings[0] and str(cache) in warnings[0]
    assert report.sidecar.build["timing_cache_loaded"] is False
    replaced = trt.Builder(trt.Logger()).create_builder_config()
    assert replaced.set_timing_cache(replaced.create_timing_cache(cache.read_bytes()), False)  # usable here now


def test_an_engine_is_never_left_without_its_sidecar(tmp_path, monkeypatch):
    import acnet.export.tensorrt as module

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module, "write_sidecar", disk_full)
    with pytest.raises(OutputError, match="model.engine: no space left on device$"):
        build_engine(_onnx(tmp_path / "model.onnx"), tmp_path / "model.engine", TrtBuildOptions(), trt=fake_trt(10), gpu=GPU)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


@pytest.mark.parametrize("major", [10, 11])
@pytest.mark.parametrize("fp16, batch, cache", [(True, "batch", True), (False, 1, False), (True, 1, False)])
def test_trtexec_command_builds_what_the_api_built(tmp_path, major, fp16, batch, cache):
    """The printed trtexec line says, flag for flag, what the recorded calls told TensorRT."""
    onnx_path = _onnx(tmp_path / "my model.onnx", batch=batch)
    trt = fake_trt(major)
    options = TrtBuildOptions(fp16=fp16, max_batch=2 if batch == "batch" else None, workspace_gb=1.5,
                              timing_cache=tmp_path / "t.cache" if cache else None)
    report = build_engine(onnx_path, tmp_path / "m.engine", options, trt=trt, gpu=GPU)
    args = shlex.split(report.trtexec)
    assert args[0] == "trtexec" and f"--saveEngine={tmp_path / 'm.engine'}" in args
    given = Path(next(a for a in args if a.startswith("--onnx="))[len("--onnx="):])
    assert given.read_bytes() == trt.parsed[-1]
    assert ("--fp16" in args) == ({"flag": "BuilderFlag.FP16"} in calls(trt, "IBuilderConfig.set_flag"))
    mask = calls(trt, "Builder.create_network")[0]["flags"]
    strongly = major < 11 and bool(mask & 1 << flag_value(trt, "NetworkDefinitionCreationFlag", "STRONGLY_TYPED"))
    assert ("--stronglyTyped" in args) == strongly
    pool = calls(trt, "IBuilderConfig.set_memory_pool_limit")[0]["pool_size"]
    assert f"--memPoolSize=workspace:{pool // 2**20}M" in args
    shapes = {c["input"]: c for c in calls(trt, "IOptimizationProfile.set_shape")}
    for key in ("min", "opt", "max"):
        flag = f"--{key}Shapes=" + ",".join(f"{n}:{'x'.join(map(str, s[key]))}" for n, s in shapes.items())
        assert (flag in args) == bool(shapes)
    assert (f"--timingCacheFile={tmp_path / 't.cache'}" in args) == cache


def test_parser_errors_name_the_failing_node(tmp_path):
    onnx_path = _onnx(tmp_path / "model.onnx")
    trt = fake_trt(10, fail_node=1)
    with pytest.raises(ModelFileError) as info:
        build_engine(onnx_path, tmp_path / "model.engine", TrtBuildOptions(), trt=trt, gpu=GPU)
    message = str(info.value)
    assert "node 1 'classifier' (Conv): Unsupported operator" in message and "1 more" in message
    assert not (tmp_path / "model.engine").exists()


def test_unknown_operator_is_named_by_the_parser(tmp_path):
    model = onnx.load(_onnx(tmp_path / "model.onnx"))
    model.graph.node[1].op_type = "NotAnOp"
    onnx.save(model, tmp_path / "bad.onnx")
    with pytest.raises(ModelFileError, match="node 1 'classifier' \\(NotAnOp\\): No importer registered for op: NotAnOp"):
        build_engine(tmp_path / "bad.onnx", tmp_path / "m.engine", TrtBuildOptions(), trt=fake_trt(11), gpu=GPU)


def test_failed_build_writes_nothing(tmp_path):
    onnx_path = _onnx(tmp_path / "model.onnx")
    trt = fake_trt(10, fail_build="out of GPU memory")
    with pytest.raises(ModelFileError, match="failed to build"):
        build_engine(onnx_path, tmp_path / "model.engine", TrtBuildOptions(timing_cache=tmp_path / "t.cache"), trt=trt, gpu=GPU)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_bad_onnx_inputs(tmp_path):
    trt = fake_trt(10)
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
    trt = fake_trt(10)
    engine = tmp_path / "hand.engine"
    build_engine(onnx_path, engine, TrtBuildOptions(min_batch=1, opt_batch=2, max_batch=4), trt=trt, gpu=GPU)
    engine.with_name("hand.engine.json").unlink()  # as trtexec --saveEngine leaves it
    data = engine.read_bytes()
    report = describe_engine_file(onnx_path, engine, fp16=True, trt=trt, gpu=GPU)
    sidecar = read_sidecar(engine)
    assert sidecar == report.sidecar and engine.read_bytes() == data
    assert sidecar.batch_range == (1, 2, 4) and sidecar.precision == "fp16" and sidecar.info.batch == 0
    assert report.summary().startswith("described") and "trtexec" not in report.summary()
    with pytest.raises(ModelFileError, match="another TensorRT or for another GPU"):
        describe_engine_file(onnx_path, engine, trt=fake_trt(11), gpu=GPU)
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


# --------------------------------------------------------------------------- a trained-looking ACNet through the engine
#
# The graphs above test what acnet tells TensorRT; these test what the engine computes. The fake's
# engine carries the ONNX its parser read and runs it in ONNX Runtime, so an engine of a trained-looking
# ACNet (tests/support/trained.py: BatchNorm and ACM weights away from initialisation) gives that ONNX's logits,
# read back through the runtime's TensorRT backend. What the fake cannot show is TensorRT's own kernels:
# a TensorRT 10 FP16 engine (BuilderFlag.FP16) runs the FP32 ONNX here.

RUN_GPU = GpuInfo("Fake GPU", "8.9")  # the device tests/test_runtime_tensorrt.py's FakeCuda reports


@pytest.fixture(scope="module")
def acnet_ckpt(tmp_path_factory, tiny_config):
    """The session's tiny trained-looking ACNet (tests/support/capi_artifacts.py, made once for every path)."""
    return capi_artifacts.checkpoint(tmp_path_factory, tiny_config)


@pytest.fixture(scope="module")
def acnet_onnx(tmp_path_factory, tiny_config):
    """Its verified ONNX export (batch 1, 64x96), shared with the C-ABI tests."""
    return capi_artifacts.onnx_model(tmp_path_factory, tiny_config)


@pytest.fixture(scope="module")
def reference(acnet_ckpt, acnet_onnx):
    """A check frame as the runtime feeds it, and PyTorch's logits of the trained-looking network on it."""
    import torch

    from acnet.export.verify import check_inputs
    from acnet.training.checkpoint import load_model

    model, _ = load_model(acnet_ckpt)
    rgb, depth = check_inputs(read_metadata(onnx.load(acnet_onnx)), capi_artifacts.HEIGHT, capi_artifacts.WIDTH, seed=11)
    with torch.inference_mode():
        return rgb, depth, model(torch.from_numpy(rgb), torch.from_numpy(depth)).numpy()


def _broken_onnx(part, acnet_ckpt, acnet_onnx):
    """The export with one part applied wrongly (tests/support/trained.py): a decoder BatchNorm without its
    statistics (a broken copy exported), or stage 2's depth ACM without its sigmoid (made in the graph)."""
    import copy

    import acnet.export.onnx as export_module
    from support.trained import break_exported_on_purpose, break_on_purpose

    path = acnet_onnx.with_name(f"broken-{part}.onnx")
    if part == "acm":
        onnx.save(break_exported_on_purpose(onnx.load(acnet_onnx), "acm"), path)
    else:
        with pytest.MonkeyPatch.context() as patch:
            trace = export_module.trace_to_onnx
            patch.setattr(export_module, "trace_to_onnx", lambda model, *a: trace(break_on_purpose(copy.deepcopy(model), part), *a))
            export_module.export_onnx(acnet_ckpt, path, export_module.OnnxExportOptions(verify=False))
    return path


def _running_trt(major):
    """A fake TensorRT whose engines execute in the memory of a fake CUDA runtime."""
    from test_runtime_tensorrt import FakeCuda

    cuda = FakeCuda()
    return FakeTensorRT(spec_or_skip(major), gpu=RUN_GPU.name, device_memory=cuda.memory), cuda


def _engine_logits(trt, cuda, engine, rgb, depth):
    from acnet.runtime.backends.trt import TensorRTBackend

    backend = TensorRTBackend(engine, "cuda:0", trt=trt, cuda=cuda)
    try:
        return backend.run(rgb, depth)
    finally:
        backend.close()


@pytest.mark.parametrize("major, fp16", [(10, False), (10, True), (11, False), (11, True)])
def test_engine_of_a_trained_acnet_gives_its_pytorch_logits(acnet_onnx, reference, tmp_path, major, fp16):
    """TensorRT parses the very ONNX exported from the trained-looking network (TensorRT 11 FP16: its FP16
    conversion, weights in float16), and the engine, run by the runtime's backend, gives PyTorch's
    logits of that network within its precision's gate."""
    from acnet.export.tensorrt import converted_onnx_path
    from acnet.export.verify import MIN_AGREEMENT, compare_logits

    trt, cuda = _running_trt(major)
    report = build_engine(acnet_onnx, tmp_path / "m.engine", TrtBuildOptions(fp16=fp16), trt=trt, gpu=RUN_GPU)
    parsed = onnx.load_from_string(trt.parsed[-1])
    weights = [i for i in parsed.graph.initializer if len(i.dims) == 4]
    converted = major >= 11 and fp16
    if converted:
        assert report.sidecar.build["built_from_onnx"] == converted_onnx_path(report.engine).name
        assert trt.parsed[-1] == converted_onnx_path(report.engine).read_bytes()
        assert len(weights) > 50 and {i.data_type for i in weights} == {TensorProto.FLOAT16}
    else:
        assert trt.parsed[-1] == acnet_onnx.read_bytes()  # the exported model itself
        assert len(weights) > 50 and {i.data_type for i in weights} == {TensorProto.FLOAT}

    rgb, depth, expected = reference
    result = compare_logits(expected, _engine_logits(trt, cuda, report.engine, rgb, depth), MIN_AGREEMENT[report.sidecar.precision])
    assert result.passed and result.reference_classes > 3, result.summary("TensorRT (fake)")
    assert result.rel_err < (5e-3 if converted else 1e-4), result.summary("TensorRT (fake)")


@pytest.mark.parametrize("part, major, fp16", [("batchnorm", 10, False), ("acm", 11, True)])
def test_parity_refuses_the_engine_of_a_wrongly_folded_network(acnet_ckpt, acnet_onnx, reference, tmp_path_factory, tiny_config,
                                                              tmp_path, monkeypatch, part, major, fp16):
    """`acnet parity CKPT --engine` (run_parity, opening engines as users do) passes the engine of the
    exported network and fails one built from an export with a BatchNorm or ACM applied wrongly
    (TensorRT 10 FP32 and TensorRT 11 FP16, the two ways an engine's weights reach TensorRT)."""
    import torch
    from support.trained import break_on_purpose

    from acnet.benchmarks.parity import Candidate, ParityConfig, run_parity
    from acnet.runtime.backends import trt as backend_module
    from acnet.training.checkpoint import load_model

    broken = _broken_onnx(part, acnet_ckpt, acnet_onnx)
    trt, cuda = _running_trt(major)
    monkeypatch.setattr(backend_module, "load_tensorrt", lambda: trt)
    monkeypatch.setattr(backend_module.CudaRuntime, "load", classmethod(lambda cls: cuda))
    options = TrtBuildOptions(fp16=fp16)
    good = build_engine(acnet_onnx, tmp_path / "good.engine", options, trt=trt, gpu=RUN_GPU)
    bad = build_engine(broken, tmp_path / "bad.engine", options, trt=trt, gpu=RUN_GPU)
    rgb, depth, expected = reference
    model, _ = load_model(acnet_ckpt)
    with torch.inference_mode():
        wrong = break_on_purpose(model, part)(torch.from_numpy(rgb), torch.from_numpy(depth)).numpy()
    scale = np.abs(expected).max()
    assert np.abs(wrong - expected).max() > 0.1 * scale  # on this network the fault is far off, not rounding
    got = _engine_logits(trt, cuda, bad.engine, rgb, depth)
    assert np.abs(got - wrong).max() < (5e-3 if fp16 else 1e-4) * scale  # and the bad engine computes that very fault

    data = capi_artifacts.folder_dataset(tmp_path_factory, tiny_config.num_classes, count=2, size=(capi_artifacts.HEIGHT, capi_artifacts.WIDTH))
    report = run_parity(ParityConfig(checkpoint=acnet_ckpt, data=f"folder:{data}", progress=False,
                                     candidates=(Candidate("good", good.engine, "tensorrt"), Candidate("bad", bad.engine, "tensorrt"))))
    results = {r.label: r for r in report.results}
    precision = "fp16" if fp16 else "fp32"
    assert results["good"].passed and results["good"].precision == precision, results["good"]
    assert f"TensorRT {trt.__version__}" in results["good"].runtime
    assert not results["bad"].passed and results["bad"].precision == precision, results["bad"]
    assert not report.passed


# --------------------------------------------------------------------------- the CLI where TensorRT is absent


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here; this checks the message where it is not")
def test_cli_without_tensorrt_says_what_is_missing(tmp_path):
    onnx_path = _onnx(tmp_path / "model.onnx")
    proc = run_acnet("export", "trt", onnx_path, "-o", tmp_path / "m.engine", "--fp16")
    assert_one_line_error(proc, "tensorrt", "pip install 'acnet[tensorrt-cu12]'", "'acnet[tensorrt-cu13]'", "NVIDIA GPU")
    assert proc.stdout == "" and not (tmp_path / "m.engine").exists()


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
