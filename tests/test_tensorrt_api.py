"""acnet's TensorRT code against the real TensorRT 10.16 and 11.4 Python bindings.

The bindings are downloaded once (tests/support/tensorrt_bindings.py); the list of
what acnet uses is derived from its code twice: statically (an AST walk of
acnet's TensorRT modules, typed by the real signatures' return types) and
dynamically (every call of every build and run path, through a fake made from
the real spec that binds each call to the real overloads). Run alone with
``pytest -m tensorrt_api``.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from support.tensorrt_bindings import WHEELS, bindings_dir, run_with_bindings, signatures, spec_or_skip, undefined_symbols
from support.trt_fake import FakeTensorRT

import acnet
from acnet.export.fp16 import convert_to_fp16
from acnet.export.graph import set_metadata
from acnet.export.tensorrt import GpuInfo, TrtBuildOptions, build_engine, describe_engine_file, plan_build
from acnet.runtime.metadata import ModelInfo
from acnet.runtime.sidecar import read_sidecar

pytestmark = pytest.mark.tensorrt_api

MAJORS = sorted(WHEELS)
GPU = GpuInfo("Fake GPU", "8.9")
ACNET = Path(acnet.__file__).parent
#: acnet's modules that talk to TensorRT.
TRT_MODULES = (ACNET / "export" / "tensorrt.py", ACNET / "runtime" / "backends" / "trt.py")


@pytest.fixture(scope="module", params=MAJORS, ids=[f"trt{m}" for m in MAJORS])
def spec(request):
    return spec_or_skip(request.param)


# --------------------------------------------------------------------------- tiny acnet-style ONNX models


def tiny_onnx(path, batch="batch", hw=(32, 64), qdq=False, dynamic_hw=False):
    """rgb + depth -> Concat -> [Q/DQ] -> Conv1x1 -> logits, with acnet metadata."""
    h, w = ("height", "width") if dynamic_hw else hw
    weight = np.random.default_rng(0).standard_normal((5, 4, 1, 1)).astype(np.float32)
    nodes = [helper.make_node("Concat", ["rgb", "depth"], ["x"], name="concat", axis=1)]
    inits = [numpy_helper.from_array(weight, "w")]
    x, wname = "x", "w"
    if qdq:  # explicit quantization as ONNX exporters write it: Q/DQ on activations and weights
        inits += [numpy_helper.from_array(np.array(0.05, np.float32), "sx"), numpy_helper.from_array(np.array(0, np.int8), "zx"),
                  numpy_helper.from_array(np.full(5, 0.02, np.float32), "sw"), numpy_helper.from_array(np.zeros(5, np.int8), "zw")]
        nodes += [
            helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"], name="q_x"),
            helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xd"], name="dq_x"),
            helper.make_node("QuantizeLinear", ["w", "sw", "zw"], ["wq"], name="q_w", axis=0),
            helper.make_node("DequantizeLinear", ["wq", "sw", "zw"], ["wd"], name="dq_w", axis=0),
        ]
        x, wname = "xd", "wd"
    nodes.append(helper.make_node("Conv", [x, wname], ["logits"], name="classifier"))
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("rgb", TensorProto.FLOAT, [batch, 3, h, w]),
         helper.make_tensor_value_info("depth", TensorProto.FLOAT, [batch, 1, h, w])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 5, h, w])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)], ir_version=10)
    info = ModelInfo(acnet_version="0.1.0", backbone="resnet18", num_classes=5, class_names=tuple("abcde"),
                     input_height=hw[0], input_width=hw[1], batch=0 if isinstance(batch, str) else batch, dynamic_hw=dynamic_hw)
    onnx.save(set_metadata(model, info), path)
    return path


# --------------------------------------------------------------------------- the bindings themselves


@pytest.mark.parametrize("major", MAJORS)
def test_real_bindings_import_with_stub_libraries(major):
    spec = spec_or_skip(major)
    package, version = WHEELS[major]
    assert spec["version"] == version
    root = bindings_dir(major) / "tensorrt_bindings"
    symbols = undefined_symbols(root / "tensorrt.so")
    assert "createInferBuilder_INTERNAL" in symbols and "createNvOnnxParser_INTERNAL" in symbols and len(symbols) <= 12
    # A call that needs the GPU library fails with a Python error, not a crash.
    proc = run_with_bindings(major, "import sys; sys.path.insert(0, sys.argv[1]); import tensorrt_bindings as t\n"
                                    "try:\n    t.Builder(t.Logger(t.Logger.WARNING))\nexcept TypeError as e:\n    print('refused:', e)")
    assert proc.returncode == 0 and "refused:" in proc.stdout, proc.stderr


def test_weak_typing_is_gone_from_tensorrt_11():
    ten, eleven = spec_or_skip(10), spec_or_skip(11)
    for flag in ("FP16", "INT8", "BF16", "FP8"):
        assert flag in ten["classes"]["BuilderFlag"]["enum"] and flag not in eleven["classes"]["BuilderFlag"]["enum"]
    assert "EXPLICIT_BATCH" in ten["classes"]["NetworkDefinitionCreationFlag"]["enum"]
    assert "EXPLICIT_BATCH" not in eleven["classes"]["NetworkDefinitionCreationFlag"]["enum"]
    assert "int8_calibrator" in ten["classes"]["IBuilderConfig"]["properties"]
    assert "int8_calibrator" not in eleven["classes"]["IBuilderConfig"]["properties"]
    # The value of STRONGLY_TYPED moved: flags must come from the module, never a number.
    assert (ten["classes"]["NetworkDefinitionCreationFlag"]["enum"]["STRONGLY_TYPED"],
            eleven["classes"]["NetworkDefinitionCreationFlag"]["enum"]["STRONGLY_TYPED"]) == (1, 0)


# --------------------------------------------------------------------------- what acnet uses, from its code


def _absent_in_11(ten: dict, eleven: dict) -> set[str]:
    gone = set()
    for name, entry in ten["classes"].items():
        other = eleven["classes"].get(name)
        for kind in ("methods", "properties", "members"):
            for member in entry[kind]:
                if other is None or member not in other[kind]:
                    gone.add(f"{name}.{member}")
    return gone


class _Uses:
    """Attribute chains off the ``trt`` module and methods on TensorRT objects, typed by the real signatures.

    A variable's type comes from what it is assigned in its function (``trt.Builder(...)``,
    a method whose real signature returns a TensorRT class); parameters and
    ``self`` attributes fall back to the names below.
    """

    #: Parameter names acnet gives TensorRT objects.
    PARAMS = {"builder": "Builder", "network": "INetworkDefinition", "parser": "OnnxParser", "config": "IBuilderConfig",
              "engine": "ICudaEngine"}
    #: Return types the docstrings spell with the C++ name.
    ALIASES = {"IParserError": "ParserError"}

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.found: set[str] = set()

    def _returns(self, cls: str, method: str) -> str | None:
        for entry in (self.spec["classes"][cls], *(self.spec["classes"][b] for b in self.spec["classes"][cls]["bases"])):
            if method in entry["methods"]:
                sigs = signatures(entry["methods"][method], method)
                kind = self.ALIASES.get(sigs[0]["returns"], sigs[0]["returns"]) if sigs else ""
                return kind if kind in self.spec["classes"] else None
        return None

    def type_of(self, node, env: dict) -> str | None:
        text = ast.unparse(node)
        if text in env:
            return env[text]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            if isinstance(func.value, ast.Name) and func.value.id == "trt":
                return func.attr if func.attr in self.spec["classes"] else None
            owner = self.type_of(func.value, env)
            return self._returns(owner, func.attr) if owner else None
        return None

    def module(self, tree) -> None:
        self_env: dict = {}
        functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for _ in range(2):  # self attributes set in __init__ are used in other methods
            for func in functions:
                self.function(func, self_env)

    def function(self, func, self_env: dict) -> None:
        env = {a.arg: self.PARAMS[a.arg] for a in func.args.args if a.arg in self.PARAMS}
        env.update(self_env)
        nodes = sorted((n for n in ast.walk(func) if hasattr(n, "lineno")), key=lambda n: (n.lineno, n.col_offset))
        for node in nodes:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = ast.unparse(node.targets[0])
                env[target] = self.type_of(node.value, env)
                if target.startswith("self."):
                    self_env[target] = env[target]
            elif isinstance(node, ast.For) and isinstance(node.target, ast.Name):
                env[node.target.id] = None
            elif isinstance(node, ast.Attribute):
                chain = ast.unparse(node)
                if chain.startswith("trt.") and chain.count(".") <= 2:
                    parts = chain.split(".")[1:]
                    self.found.add("tensorrt." + parts[0] if len(parts) == 1 else f"{parts[0]}.{parts[1]}")
                owner = self.type_of(node.value, env)
                if owner:
                    self.found.add(f"{owner}.{node.attr}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
                if len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and ast.unparse(node.args[0]) == "trt":
                    self.found.add(f"tensorrt.{node.args[1].value}")


def static_uses(spec: dict) -> set[str]:
    uses = _Uses(spec)
    for path in TRT_MODULES:
        uses.module(ast.parse(path.read_text()))
    return uses.found


def _exists(spec: dict, name: str) -> bool:
    owner, member = name.split(".", 1)
    if owner == "tensorrt":
        return member == "__version__" or member in spec["classes"] or member in spec["functions"] or member in spec["constants"]
    entries = [spec["classes"][owner], *(spec["classes"][b] for b in spec["classes"][owner]["bases"])]
    return any(member in e[k] for e in entries for k in ("methods", "properties", "members", "nested"))


def exercise(major: int, tmp: Path) -> FakeTensorRT:
    """Every build and run path of acnet's TensorRT code, through one fake of the real ``major``."""
    from acnet.runtime.backends.trt import TensorRTBackend
    from test_runtime_tensorrt import FakeCuda

    spec = spec_or_skip(major)
    cuda = FakeCuda()
    trt = FakeTensorRT(spec, gpu=GPU.name, device_memory=cuda.memory)
    dyn, fixed, qdq = tiny_onnx(tmp / "dyn.onnx"), tiny_onnx(tmp / "fixed.onnx", batch=1), tiny_onnx(tmp / "q.onnx", qdq=True)
    half = tmp / "half.onnx"
    onnx.save(convert_to_fp16(onnx.load(dyn)), half)
    cache = tmp / "timing.cache"
    for i, (model, options) in enumerate([
        (dyn, TrtBuildOptions(fp16=True, max_batch=4, timing_cache=cache)),
        (dyn, TrtBuildOptions(timing_cache=cache)),
        (fixed, TrtBuildOptions()),
        (qdq, TrtBuildOptions(max_batch=2)),
        (half, TrtBuildOptions(max_batch=2)),
    ]):
        build_engine(model, tmp / f"e{i}.engine", options, trt=trt, gpu=GPU)
    describe_engine_file(dyn, tmp / "e1.engine", trt=trt, gpu=GPU)
    backend = TensorRTBackend(tmp / "e1.engine", "cuda:0", trt=trt, cuda=cuda)
    rng = np.random.default_rng(0)
    logits = backend.run(rng.random((2, 3, 32, 64), np.float32), rng.random((2, 1, 32, 64), np.float32))
    assert logits.shape == (2, 5, 32, 64) and np.abs(logits).sum() > 0
    backend.close()
    failing = FakeTensorRT(spec, gpu=GPU.name, fail_node=1)
    with pytest.raises(acnet.errors.ModelFileError):
        build_engine(dyn, tmp / "bad.engine", trt=failing, gpu=GPU)
    trt.calls += failing.calls
    trt.reached |= failing.reached
    trt.missing |= failing.missing
    return trt


@pytest.fixture(scope="module")
def exercised(tmp_path_factory):
    return {major: exercise(major, tmp_path_factory.mktemp(f"trt{major}")) for major in MAJORS}


@pytest.mark.parametrize("major", MAJORS)
def test_every_tensorrt_name_acnet_uses_exists_and_is_exercised(major, exercised):
    spec = spec_or_skip(major)
    uses = static_uses(spec)
    assert {"Builder.build_serialized_network", "IExecutionContext.execute_async_v3", "tensorrt.OnnxParser"} <= uses
    assert [u for u in sorted(uses) if not _exists(spec, u)] == []
    trt = exercised[major]
    assert trt.missing == set()  # nothing asked for that this release lacks
    record = Path(bindings_dir(major)) / "acnet-calls.json"  # for people: what acnet calls on this release
    record.write_text(json.dumps({"static": sorted(uses), "calls": sorted({c for c, _ in trt.calls}),
                                  "reached": sorted(trt.reached)}, indent=1))


def test_every_call_site_is_exercised_against_a_real_signature(exercised):
    """Each use the AST finds was reached on some release, so the fake bound it to the real overloads."""
    uses = set().union(*(static_uses(spec_or_skip(m)) for m in MAJORS))
    reached = set().union(*(exercised[m].reached for m in MAJORS))
    assert sorted(uses - reached - {"tensorrt.__version__"}) == []


def test_tensorrt_11_reaches_no_weak_typing_api(exercised):
    ten, eleven = spec_or_skip(10), spec_or_skip(11)
    gone = _absent_in_11(ten, eleven)
    assert "BuilderFlag.FP16" in gone and "NetworkDefinitionCreationFlag.EXPLICIT_BATCH" in gone
    assert sorted(exercised[11].reached & gone) == []
    # TensorRT 10 does reach the flag it has (FP32 ONNX + --fp16), from the real enum.
    assert ("IBuilderConfig.set_flag", {"flag": "BuilderFlag.FP16"}) in exercised[10].calls


@pytest.mark.parametrize("major", MAJORS)
def test_build_flags_named_by_every_plan_exist(major):
    """plan_build names flags as strings; each it can return exists in that release's enums."""
    spec = spec_or_skip(major)
    version = spec["version"]
    for precision in ("fp32", "fp16", "int8"):
        for want_fp16 in (False, True):
            if precision == "int8" and want_fp16:
                continue
            plan = plan_build(version, precision, want_fp16)
            for flag in plan.network_flags:
                assert flag in spec["classes"]["NetworkDefinitionCreationFlag"]["enum"], (plan, flag)
            for flag in plan.builder_flags:
                assert flag in spec["classes"]["BuilderFlag"]["enum"], (plan, flag)
            if major >= 11:
                assert plan.builder_flags == () and plan.network_flags == ()


# --------------------------------------------------------------------------- INT8 (Q/DQ) engines


@pytest.mark.parametrize("major", MAJORS)
def test_qdq_onnx_builds_as_explicit_quantization(tmp_path, major):
    spec = spec_or_skip(major)
    trt = FakeTensorRT(spec, gpu=GPU.name)
    report = build_engine(tiny_onnx(tmp_path / "q.onnx", qdq=True), tmp_path / "q.engine", TrtBuildOptions(max_batch=2), trt=trt, gpu=GPU)
    calls = dict(trt.calls)
    strongly_typed = spec["classes"]["NetworkDefinitionCreationFlag"]["enum"]["STRONGLY_TYPED"]
    assert calls["Builder.create_network"]["flags"] == (0 if major >= 11 else 1 << strongly_typed)
    assert "IBuilderConfig.set_flag" not in calls  # explicit quantization: no precision flags
    sidecar = read_sidecar(tmp_path / "q.engine")
    assert sidecar.precision == "int8" and sidecar.info.precision == "int8" and "Q/DQ" in sidecar.build["fp16_source"]
    assert ("--stronglyTyped" in report.trtexec) == (major < 11) and "--int8" not in report.trtexec


@pytest.mark.parametrize("major", MAJORS)
def test_qdq_onnx_with_fp16_is_refused(tmp_path, major):
    spec = spec_or_skip(major)
    with pytest.raises(acnet.errors.ConfigError, match="Q/DQ.*drop --fp16"):
        build_engine(tiny_onnx(tmp_path / "q.onnx", qdq=True), tmp_path / "q.engine", TrtBuildOptions(fp16=True),
                     trt=FakeTensorRT(spec, gpu=GPU.name), gpu=GPU)


def test_qdq_onnx_runs_in_onnx_runtime(tmp_path):
    """The hand-built Q/DQ model is valid ONNX (what issue 15's export writes has the same nodes)."""
    import onnxruntime as ort

    path = tiny_onnx(tmp_path / "q.onnx", qdq=True, batch=1)
    onnx.checker.check_model(onnx.load(path))
    out = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"rgb": np.ones((1, 3, 32, 64), np.float32), "depth": np.ones((1, 1, 32, 64), np.float32)})[0]
    assert out.shape == (1, 5, 32, 64) and np.isfinite(out).all()


# --------------------------------------------------------------------------- the fake enforces TensorRT's rules


def _network(trt, path, flags=0):
    builder = trt.Builder(trt.Logger(trt.Logger.WARNING))
    network = builder.create_network(flags)
    assert trt.OnnxParser(network, trt.Logger(trt.Logger.WARNING)).parse(Path(path).read_bytes(), str(path))
    return builder, network, builder.create_builder_config()


def test_fake_refuses_dynamic_inputs_without_a_valid_profile(tmp_path, spec):
    trt = FakeTensorRT(spec)
    path = tiny_onnx(tmp_path / "m.onnx")
    builder, network, config = _network(trt, path)
    assert builder.build_serialized_network(network, config) is None
    assert "no optimization profile" in trt.build_log[-1]
    builder, network, config = _network(trt, path)
    profile = builder.create_optimization_profile()
    profile.set_shape("rgb", (2, 3, 32, 64), (1, 3, 32, 64), (4, 3, 32, 64))  # opt < min
    profile.set_shape("depth", (1, 1, 32, 64), (1, 1, 32, 64), (4, 1, 32, 64))
    assert config.add_optimization_profile(profile) == -1
    assert builder.build_serialized_network(network, config) is None
    builder, network, config = _network(trt, path)
    profile = builder.create_optimization_profile()
    for name, c in (("rgb", 3), ("depth", 1)):
        profile.set_shape(name, (1, c, 32, 64), (1, c, 32, 64), (4, c, 32, 64))
    assert config.add_optimization_profile(profile) == 0
    assert builder.build_serialized_network(network, config) is not None


def test_fake_binds_calls_to_the_real_signatures(tmp_path, spec):
    trt = FakeTensorRT(spec)
    builder, network, config = _network(trt, tiny_onnx(tmp_path / "m.onnx", batch=1))
    with pytest.raises(TypeError, match="incompatible function arguments"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE)  # pool_size missing
    with pytest.raises(TypeError, match="incompatible function arguments"):
        config.set_flag(0)  # an int is not a BuilderFlag
    with pytest.raises(TypeError, match="incompatible function arguments"):
        builder.create_network(flags=trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)  # the enum, not 1 << it
    with pytest.raises(AttributeError):
        config.set_precision  # noqa: B018 - no such method in either release


def test_tensorrt_10_refuses_precision_flags_on_a_strongly_typed_network(tmp_path):
    trt = FakeTensorRT(spec_or_skip(10))
    strongly = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    builder, network, config = _network(trt, tiny_onnx(tmp_path / "m.onnx", batch=1), strongly)
    config.set_flag(trt.BuilderFlag.FP16)
    assert builder.build_serialized_network(network, config) is None
    assert "not allowed on a strongly typed network" in trt.build_log[-1]
    builder, network, config = _network(trt, tiny_onnx(tmp_path / "m.onnx", batch=1))  # weakly typed: allowed
    config.set_flag(trt.BuilderFlag.FP16)
    assert builder.build_serialized_network(network, config) is not None


def test_fake_timing_cache_refuses_corrupt_and_foreign_caches(tmp_path, spec):
    trt = FakeTensorRT(spec, gpu="GPU A")
    builder, network, config = _network(trt, tiny_onnx(tmp_path / "m.onnx", batch=1))
    assert config.create_timing_cache(b"\x00garbage") is None
    fresh = config.create_timing_cache(b"")
    assert config.set_timing_cache(fresh, False) is True
    blob = bytes(memoryview(fresh.serialize()))
    other = FakeTensorRT(spec, gpu="GPU B")
    _, _, other_config = _network(other, tiny_onnx(tmp_path / "m.onnx", batch=1))
    foreign = other_config.create_timing_cache(blob)
    assert foreign is not None and other_config.set_timing_cache(foreign, False) is False
    assert other_config.set_timing_cache(foreign, True) is True  # ignore_mismatch: another device is allowed


def test_fake_execution_needs_every_shape_and_address(tmp_path, spec):
    trt = FakeTensorRT(spec)
    path = tiny_onnx(tmp_path / "m.onnx")
    builder, network, config = _network(trt, path)
    profile = builder.create_optimization_profile()
    for name, c in (("rgb", 3), ("depth", 1)):
        profile.set_shape(name, (1, c, 32, 64), (1, c, 32, 64), (2, c, 32, 64))
    config.add_optimization_profile(profile)
    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(builder.build_serialized_network(network, config))
    context = engine.create_execution_context()
    assert context.execute_async_v3(0) is False
    for i, name in enumerate(("rgb", "depth", "logits")):
        assert context.set_tensor_address(name, 4096 * (i + 1))
    assert context.execute_async_v3(0) is False  # input shapes not set
    assert context.set_input_shape("rgb", (3, 3, 32, 64)) is False  # outside the profile
    assert context.set_input_shape("rgb", (2, 3, 32, 64)) and context.set_input_shape("depth", (2, 1, 32, 64))
    assert context.execute_async_v3(0) is True
    assert tuple(context.get_tensor_shape("logits")) == (2, 5, 32, 64)


def test_fake_dtypes_are_datatypes_and_nptype_refuses_what_numpy_lacks(tmp_path, spec):
    trt = FakeTensorRT(spec)
    assert engine_dtype(trt, tmp_path) == trt.DataType.FLOAT
    assert trt.nptype(trt.DataType.HALF) is np.float16
    with pytest.raises(TypeError):
        trt.nptype(trt.DataType.BF16)
    with pytest.raises(TypeError):
        trt.nptype(np.float32)  # a numpy type is not a TensorRT DataType


def engine_dtype(trt, tmp_path):
    builder, network, config = _network(trt, tiny_onnx(tmp_path / "m.onnx", batch=1))
    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(builder.build_serialized_network(network, config))
    return engine.get_tensor_dtype("logits")


def test_fake_refuses_engines_of_another_tensorrt(tmp_path):
    ten, eleven = FakeTensorRT(spec_or_skip(10)), FakeTensorRT(spec_or_skip(11))
    builder, network, config = _network(ten, tiny_onnx(tmp_path / "m.onnx", batch=1))
    plan = builder.build_serialized_network(network, config)
    assert ten.Runtime(ten.Logger()).deserialize_cuda_engine(plan) is not None
    assert eleven.Runtime(eleven.Logger()).deserialize_cuda_engine(plan) is None
