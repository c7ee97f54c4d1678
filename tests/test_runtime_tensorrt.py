"""The TensorRT backend: its GPU-free logic with fakes here, the real thing where TensorRT exists.

The engine fakes drive the backend's whole run (buffers allocated once,
addresses bound once, shapes set when the batch changes, one stream); their
``TensorIOMode``, ``DataType``, ``Logger`` and ``nptype`` are those of the
real TensorRT 10.16 bindings (tests/support/tensorrt_bindings.py), so an engine
reports dtypes as TensorRT does. cuda-python is faked after its runtime API.
"""

from __future__ import annotations

import ctypes
import importlib.util
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from support.runtime_models import NUM_CLASSES, frame, reference_labels, reference_logits, tiny_info, weights
from support.tensorrt_bindings import spec_or_skip
from support.trt_fake import FakeTensorRT

from acnet.errors import BackendUnavailableError, ConfigError, ModelFileError
from acnet.runtime import Segmenter
from acnet.runtime.backends.base import BatchLimits
from acnet.runtime.backends.trt import CudaRuntime, TensorRTBackend, TensorSpec, describe_engine, plan_engine
from acnet.runtime.sidecar import EngineSidecar, TensorShape, write_sidecar

H, W = 32, 64


# --------------------------------------------------------------------------- fakes


class FakeCuda:
    """Device memory as numpy byte arrays keyed by fake pointers.

    As in CUDA, the current device belongs to the calling thread (0 until the
    thread sets one), a stream belongs to the device current when it was made,
    and work launched into a stream of another device fails (copies do not).
    """

    def __init__(self) -> None:
        self.memory: dict[int, np.ndarray] = {}
        self.host: list[np.ndarray] = []
        self.freed: list[int] = []
        self.freed_host = 0
        self.streams: list[int] = []
        self.stream_device: dict[int, int] = {}
        self.copies = 0
        self._thread = threading.local()

    def set_device(self, index):
        self._thread.device = index

    @property
    def device(self) -> int:
        return getattr(self._thread, "device", 0)

    def device_info(self, index):
        return "Fake GPU", (8, 9)

    def malloc(self, nbytes):
        ptr = 0x1000 * (len(self.memory) + 1)
        self.memory[ptr] = np.zeros(nbytes, np.uint8)
        return ptr

    def host_empty(self, count, dtype):
        array = np.empty(count, dtype)
        self.host.append(array)
        return array

    def free(self, ptr):
        self.freed.append(ptr)

    def free_host(self, array):
        self.freed_host += 1

    def stream_create(self):
        self.streams.append(77)
        self.stream_device[77] = self.device
        return 77

    def stream_destroy(self, stream):
        self.streams.remove(stream)

    def memcpy_htod_async(self, dst, src, stream):
        assert stream == 77
        self.memory[dst][: src.nbytes] = np.ascontiguousarray(src).view(np.uint8).ravel()
        self.copies += 1

    def memcpy_dtoh_async(self, dst, src, stream):
        assert stream == 77
        dst.view(np.uint8)[:] = self.memory[src][: dst.nbytes]

    def stream_synchronize(self, stream):
        assert stream == 77


class FakeEngine:
    """IO tensors: rgb, depth -> logits (the tiny 1x1-conv model)."""

    def __init__(self, cuda: FakeCuda, batch=-1, profile_batch=(1, 2, 4), hw=(H, W), dtype=np.float32, out_dtype=np.float32, classes=NUM_CLASSES):
        self.cuda = cuda
        h, w = hw
        self.tensors = {
            "rgb": ("in", (batch, 3, h, w), dtype),
            "depth": ("in", (batch, 1, h, w), dtype),
            "logits": ("out", (batch, classes, h, w), out_dtype),
        }
        lo, opt, hi = profile_batch
        self.profiles = {
            "rgb": ((lo, 3, H, W), (opt, 3, H, W), (hi, 3, H, W)),
            "depth": ((lo, 1, H, W), (opt, 1, H, W), (hi, 1, H, W)),
        }
        self.num_io_tensors = 3
        self.contexts: list[FakeContext] = []

    def get_tensor_name(self, i):
        return list(self.tensors)[i]

    def get_tensor_mode(self, name):
        return FakeTrt.TensorIOMode.INPUT if self.tensors[name][0] == "in" else FakeTrt.TensorIOMode.OUTPUT

    def get_tensor_shape(self, name):
        return self.tensors[name][1]

    def get_tensor_dtype(self, name):  # a DataType member, as TensorRT returns
        return getattr(FakeTrt.DataType, {"float32": "FLOAT", "float16": "HALF", "int32": "INT32"}[np.dtype(self.tensors[name][2]).name])

    def get_tensor_profile_shape(self, name, profile):
        assert profile == 0
        return self.profiles[name]

    def create_execution_context(self):
        self.contexts.append(FakeContext(self))
        return self.contexts[-1]


class FakeContext:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.addresses: dict[str, int] = {}
        self.address_calls = 0
        self.shape_calls: list[tuple[str, tuple]] = []
        self.shapes = {n: s for n, (_, s, _) in engine.tensors.items()}
        self.streams: list[int] = []

    def set_tensor_address(self, name, ptr):
        self.addresses[name] = ptr
        self.address_calls += 1

    def set_input_shape(self, name, shape):
        lo, _, hi = self.engine.profiles[name]
        if not all(a <= b <= c for a, b, c in zip(lo, shape, hi)):
            return False
        self.shape_calls.append((name, tuple(shape)))
        self.shapes[name] = tuple(shape)
        return True

    def get_tensor_shape(self, name):
        n = self.shapes["rgb"][0]
        return (n, *self.engine.tensors["logits"][1][1:]) if name == "logits" else self.shapes[name]

    def execute_async_v3(self, stream_handle):
        self.streams.append(stream_handle)
        if self.engine.cuda.stream_device[stream_handle] != self.engine.cuda.device:
            return False  # kernels launched into another device's stream fail (TensorRT logs it, returns False)
        mem = self.engine.cuda.memory
        read = lambda name: mem[self.addresses[name]].view(self.engine.tensors[name][2])  # noqa: E731
        n = self.shapes["rgb"][0]
        rgb = read("rgb")[: n * 3 * H * W].reshape(n, 3, H, W).astype(np.float32)
        depth = read("depth")[: n * H * W].reshape(n, 1, H, W).astype(np.float32)
        logits = np.einsum("ck,nkhw->nchw", weights()[:, :, 0, 0], np.concatenate([rgb, depth], 1))
        out = logits.astype(self.engine.tensors["logits"][2]).ravel().view(np.uint8)
        mem[self.addresses["logits"]][: out.size] = out
        return True


class FakeTrt:
    """The parts of the ``tensorrt`` module the backend touches; enums and ``nptype`` from the real 10.16 bindings."""

    __version__ = "10.16.1.11"
    TensorIOMode = DataType = Logger = nptype = None  # set by the real_enums fixture
    engine: FakeEngine | None = None

    class Runtime:
        def __init__(self, logger):
            self.logger = logger

        def deserialize_cuda_engine(self, data):
            return FakeTrt.engine if data == b"FAKE-ENGINE" else None


@pytest.fixture(autouse=True, scope="module")
def real_enums():
    real = FakeTensorRT(spec_or_skip(10))
    FakeTrt.__version__ = real.__version__
    FakeTrt.TensorIOMode, FakeTrt.DataType, FakeTrt.Logger = real.TensorIOMode, real.DataType, real.Logger
    FakeTrt.nptype = staticmethod(real.nptype)


def _sidecar(engine: Path, info=None, trt_version="10.16.1.11", gpu="Fake GPU") -> Path:
    profile = TensorShape("float32", (1, 3, H, W), (2, 3, H, W), (4, 3, H, W))
    return write_sidecar(
        engine,
        EngineSidecar(
            tensorrt_version=trt_version,
            gpu_name=gpu,
            compute_capability="8.9",
            precision="fp16",
            inputs={"rgb": profile, "depth": profile},
            outputs={"logits": TensorShape("float32", (-1, NUM_CLASSES, H, W), (-1, NUM_CLASSES, H, W), (-1, NUM_CLASSES, H, W))},
            source_onnx="tiny.onnx",
            source_onnx_sha256="",
            info=info or tiny_info(batch=0, precision="fp16"),
            engine_size=engine.stat().st_size,
        ),
    )


@pytest.fixture
def engine_file(tmp_path) -> Path:
    """A fake engine file with a real sidecar."""
    path = tmp_path / "tiny.engine"
    path.write_bytes(b"FAKE-ENGINE")
    _sidecar(path)
    return path


def _backend(path, cuda=None, device="cuda:0", **engine_kw):
    cuda = cuda or FakeCuda()
    FakeTrt.engine = FakeEngine(cuda, **engine_kw)
    return TensorRTBackend(path, device, trt=FakeTrt, cuda=cuda), cuda


# --------------------------------------------------------------------------- running


def test_dynamic_batch_engine_runs_with_buffers_and_bindings_made_once(engine_file):
    backend, cuda = _backend(engine_file)
    assert backend.info.precision == "fp16" and backend.compute_capability == (8, 9)
    assert backend.limits == BatchLimits(1, 4)
    context = FakeTrt.engine.contexts[0]
    seg = Segmenter.from_backend(backend, batch_size=3)
    assert seg.batch_size == 3
    frames = [frame(40 + i, 70, seed=i) for i in range(5)]
    for _ in range(2):
        for labels, f in zip(seg.segment_batch(frames), frames):
            np.testing.assert_array_equal(labels, reference_labels(*f, seg.info))
    # allocated for the profile's largest batch, once; addresses bound once
    assert len(cuda.memory) == 3 and len(cuda.host) == 3
    assert cuda.host[0].size == 4 * 3 * H * W and cuda.host[2].size == 4 * NUM_CLASSES * H * W
    assert context.address_calls == 3 and len(FakeTrt.engine.contexts) == 1
    # input shapes set only when the batch changes: 3, 2, 3, 2
    assert [s for name, s in context.shape_calls if name == "rgb"] == [(3, 3, H, W), (2, 3, H, W)] * 2
    assert context.streams == [77] * 4 and cuda.streams == [77]
    np.testing.assert_allclose(seg.logits(*frames[0]), reference_logits(*frames[0], seg.info), rtol=1e-5, atol=1e-5)
    assert "TensorRT 10.16.1.11 on cuda:0 (Fake GPU), dynamic batch 1..4" in backend.describe()
    backend.close()
    assert sorted(cuda.freed) == sorted(cuda.memory) and cuda.freed_host == 3 and cuda.streams == []
    backend.close()  # twice is harmless


def test_an_engine_on_another_device_runs_there_from_any_thread(engine_file):
    """CUDA's current device is per thread: a pipeline's workers must not run ``cuda:1`` on device 0."""
    backend, cuda = _backend(engine_file, device="cuda:1")
    assert cuda.stream_device[77] == 1
    seg = Segmenter.from_backend(backend)
    rgb, depth = frame(H, W, seed=4)
    with ThreadPoolExecutor(2) as pool:  # fresh threads, whose current device is 0
        results = list(pool.map(lambda _: seg.segment(rgb, depth), range(4)))
    for labels in results:
        np.testing.assert_array_equal(labels, reference_labels(rgb, depth, seg.info))
    backend.close()
    assert cuda.streams == []


def test_profile_minimum_batch_is_padded(engine_file):
    backend, _ = _backend(engine_file, profile_batch=(2, 2, 8))
    seg = Segmenter.from_backend(backend)
    rgb, depth = frame(H, W, seed=3)
    np.testing.assert_array_equal(seg.segment(rgb, depth), reference_labels(rgb, depth, seg.info))
    assert FakeTrt.engine.contexts[0].shape_calls[0] == ("rgb", (2, 3, H, W))


def test_fp16_engine_io_is_cast_to_and_from_float32(engine_file):
    backend, cuda = _backend(engine_file, dtype=np.float16, out_dtype=np.float16)
    seg = Segmenter.from_backend(backend)
    rgb, depth = frame(H, W, seed=1)
    logits = seg.logits(rgb, depth)
    assert logits.dtype == np.float32 and cuda.host[0].dtype == np.float16
    np.testing.assert_allclose(logits, reference_logits(rgb, depth, seg.info), atol=0.05)


def test_results_are_copies_not_views_of_the_pinned_buffer(engine_file):
    backend, _ = _backend(engine_file)
    a = backend.run(*[x[None] for x in Segmenter.from_backend(backend).preprocess(*frame(H, W, 1))])
    kept = a.copy()
    backend.run(*[x[None] for x in Segmenter.from_backend(backend).preprocess(*frame(H, W, 2))])
    np.testing.assert_array_equal(a, kept)


def test_refusals(engine_file, tmp_path):
    with pytest.raises(ConfigError, match="CUDA device"):
        TensorRTBackend(engine_file, "cpu", trt=FakeTrt, cuda=FakeCuda())
    broken = tmp_path / "broken.engine"
    broken.write_bytes(b"garbage")
    _sidecar(broken)
    with pytest.raises(ModelFileError, match="could not deserialize"):
        TensorRTBackend(broken, "cuda", trt=FakeTrt, cuda=FakeCuda())
    with pytest.raises(ModelFileError, match="7 classes but its metadata lists 5"):
        _backend(engine_file, classes=NUM_CLASSES + 2)


@pytest.mark.parametrize(
    ("sidecar", "message"),
    [
        ({"trt_version": "10.8.0.1"}, "built for TensorRT 10.8.0.1 \\(this machine has 10.16.1.11\\)"),
        ({"gpu": "NVIDIA Jetson AGX Orin"}, "the GPU 'NVIDIA Jetson AGX Orin' \\(this one is 'Fake GPU'\\)"),
        (None, "has no sidecar"),
    ],
)
def test_engine_from_another_tensorrt_or_gpu_is_refused(tmp_path, sidecar, message):
    path = tmp_path / "other.engine"
    path.write_bytes(b"FAKE-ENGINE")
    if sidecar is not None:
        _sidecar(path, **sidecar)
    cuda = FakeCuda()
    FakeTrt.engine = FakeEngine(cuda)
    with pytest.raises(ModelFileError, match=message):
        TensorRTBackend(path, "cuda", trt=FakeTrt, cuda=cuda)
    assert not cuda.memory  # refused before anything was allocated


# --------------------------------------------------------------------------- engine plans


def _specs(batch=None, profile=((1, 3, H, W), (2, 3, H, W), (8, 3, H, W)), hw=(H, W), out=np.float32):
    d_profile = None if profile is None else tuple((p[0], 1, *p[2:]) for p in profile)
    return [
        TensorSpec("rgb", True, np.dtype(np.float32), (batch, 3, *hw), profile),
        TensorSpec("depth", True, np.dtype(np.float32), (batch, 1, *hw), d_profile),
        TensorSpec("logits", False, np.dtype(out), (batch, NUM_CLASSES, *hw)),
    ]


def test_plan_for_dynamic_and_fixed_batches():
    plan = plan_engine(_specs(), tiny_info(batch=0), "e")
    assert plan.limits == BatchLimits(1, 8)
    assert plan.buffer_shapes == {"rgb": (8, 3, H, W), "depth": (8, 1, H, W), "logits": (8, NUM_CLASSES, H, W)}
    fixed = plan_engine(_specs(batch=2, profile=None), tiny_info(batch=2), "e")
    assert fixed.limits == BatchLimits(2, 2) and fixed.buffer_shapes["logits"] == (2, NUM_CLASSES, H, W)


def test_plan_for_dynamic_height_and_width():
    profile = ((1, 3, 32, 32), (1, 3, 64, 96), (4, 3, 128, 160))
    plan = plan_engine(_specs(hw=(None, None), profile=profile), tiny_info(batch=0, dynamic_hw=True), "e", size=(96, 128))
    assert plan.buffer_shapes["rgb"] == (4, 3, 96, 128) and (plan.height, plan.width) == (96, 128)
    with pytest.raises(ModelFileError, match="allows width 32..160, not 192"):
        plan_engine(_specs(hw=(None, None), profile=profile), tiny_info(batch=0, dynamic_hw=True), "e", size=(96, 192))


def test_plan_refuses_engines_that_do_not_fit_their_metadata():
    with pytest.raises(ModelFileError, match="no optimisation profile"):
        plan_engine(_specs(profile=None), tiny_info(batch=0), "e")
    with pytest.raises(ModelFileError, match="expected a float type"):
        plan_engine(_specs(out=np.int32), tiny_info(batch=0), "e")
    with pytest.raises(ModelFileError, match="height 32 but its metadata says 64"):
        plan_engine(_specs(), tiny_info(batch=0, input_height=64), "e")


def test_describe_engine_reads_the_name_based_api():
    engine = FakeEngine(FakeCuda())
    specs = {s.name: s for s in describe_engine(engine, FakeTrt)}
    assert specs["rgb"].is_input and not specs["logits"].is_input
    assert specs["rgb"].shape == (None, 3, H, W) and specs["rgb"].profile[2] == (4, 3, H, W)
    assert specs["logits"].profile is None and specs["logits"].dtype == np.float32


# --------------------------------------------------------------------------- CUDA wrapper


class FakeCudart:
    """cuda-python's runtime module: every call returns (error, *values)."""

    class cudaError_t:  # noqa: N801 (cuda-python's names)
        cudaSuccess = 0
        cudaErrorMemoryAllocation = 2

    class cudaMemcpyKind:  # noqa: N801
        cudaMemcpyHostToDevice = 1
        cudaMemcpyDeviceToHost = 2

    def __init__(self) -> None:
        self.buffers = []
        self.calls = []

    def cudaMallocHost(self, nbytes):  # noqa: N802
        buf = (ctypes.c_uint8 * nbytes)()
        self.buffers.append(buf)
        return (0, ctypes.addressof(buf))

    def cudaGetDeviceProperties(self, index):  # noqa: N802
        return (0, SimpleNamespace(name=b"NVIDIA H100 80GB HBM3" + bytes(235), major=9, minor=0))

    def cudaMalloc(self, nbytes):  # noqa: N802
        return (self.cudaError_t.cudaErrorMemoryAllocation, 0)

    def cudaMemcpyAsync(self, dst, src, nbytes, kind, stream):  # noqa: N802
        self.calls.append((dst, src, nbytes, kind, stream))
        return (0,)


def test_cuda_runtime_wraps_pinned_memory_and_reports_errors():
    rt = FakeCudart()
    cuda = CudaRuntime(rt)
    host = cuda.host_empty(6, np.float32)
    assert host.shape == (6,) and host.dtype == np.float32
    host[:] = np.arange(6)
    np.testing.assert_array_equal(np.frombuffer(rt.buffers[0], np.float32), np.arange(6))  # the pinned buffer itself
    cuda.memcpy_htod_async(0xABC, host, 5)
    assert rt.calls[-1] == (0xABC, host.ctypes.data, 24, 1, 5)
    with pytest.raises(BackendUnavailableError, match="cudaMalloc failed"):
        cuda.malloc(100)
    assert cuda.device_info(0) == ("NVIDIA H100 80GB HBM3", (9, 0))
    assert cuda.device_name(0) == "NVIDIA H100 80GB HBM3"  # used by `acnet export trt`


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_missing_tensorrt_names_the_extra(tmp_path, engine_file):
    with pytest.raises(BackendUnavailableError, match=r"acnet\[tensorrt-cu12\]"):
        Segmenter(engine_file)


# --------------------------------------------------------------------------- the real thing


@pytest.mark.cuda
@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None, reason="TensorRT is not installed (it needs an NVIDIA GPU machine)")
@pytest.mark.parametrize("fp16", [False, True])
def test_real_engine_agrees_with_onnx_runtime(tmp_path, fp16):
    from support.runtime_models import make_onnx

    from acnet.export.tensorrt import TrtBuildOptions, build_engine

    onnx_path = make_onnx(tmp_path / "tiny.onnx", batch="N")
    report = build_engine(onnx_path, tmp_path / "tiny.engine", TrtBuildOptions(fp16=fp16, min_batch=1, opt_batch=2, max_batch=4, workspace_gb=0.5))
    reference = Segmenter(onnx_path)
    with Segmenter(report.engine, batch_size=3) as engine:
        assert engine.backend.name == "tensorrt" and engine.backend.limits == BatchLimits(1, 4)
        frames = [frame(40 + 8 * i, 72, seed=i) for i in range(5)]  # batches of 3 and 2
        for got, f in zip(engine.segment_batch(frames), frames):
            agreement = (got == reference.segment(*f)).mean()
            assert agreement >= (0.99 if fp16 else 0.999), agreement
        np.testing.assert_allclose(engine.logits(*frames[0]), reference.logits(*frames[0]), atol=0.05 if fp16 else 1e-4)


# --------------------------------------------------------------------------- dtypes, cuda-python versions and handles


def test_engine_with_a_type_numpy_lacks_is_refused_by_name(engine_file):
    cuda = FakeCuda()
    FakeTrt.engine = FakeEngine(cuda)
    FakeTrt.engine.get_tensor_dtype = lambda name: FakeTrt.DataType.BF16  # real TensorRT has BF16, numpy has not
    with pytest.raises(ModelFileError, match="engine tensor 'rgb' has TensorRT type BF16, which numpy cannot hold"):
        TensorRTBackend(engine_file, "cuda", trt=FakeTrt, cuda=cuda)


class _Handle:
    """cuda-python 13's cudaStream_t: int() still works but is deprecated."""

    def __init__(self, address):
        self.address = address

    def __int__(self):
        import warnings

        warnings.warn("int(cuda_obj) is deprecated; use cuda.bindings.utils.get_cuda_native_handle", DeprecationWarning, stacklevel=2)
        return self.address


@pytest.mark.parametrize("has_utils", [True, False], ids=["cuda-python-13", "cuda-python-12.6"])
def test_stream_handle_uses_the_supported_accessor(monkeypatch, has_utils):
    import sys
    import types
    import warnings

    if has_utils:
        utils = types.ModuleType("cuda.bindings.utils")
        utils.get_cuda_native_handle = lambda obj: obj.address
        monkeypatch.setitem(sys.modules, "cuda.bindings.utils", utils)
    else:
        monkeypatch.setitem(sys.modules, "cuda.bindings.utils", None)  # older 12.x: no such module
    rt = FakeCudart()
    rt.cudaStreamCreate = lambda: (0, _Handle(0xBEEF))
    with warnings.catch_warnings():
        warnings.simplefilter("error" if has_utils else "ignore", DeprecationWarning)
        assert CudaRuntime(rt).stream_create() == 0xBEEF


@pytest.mark.parametrize(
    "tensorrt_cuda, cuda_python, driver, message",
    [
        ((12, "tensorrt-cu12"), "13.0.1", 12090, r"tensorrt-cu12 is built for CUDA 12 but cuda-python 13.0.1 is for CUDA 13: pip install 'acnet\[tensorrt-cu12\]'"),
        ((13, "tensorrt-cu13"), "12.9.0", 13000, r"built for CUDA 13 but cuda-python 12.9.0 is for CUDA 12"),
        (None, "13.0.1", 12060, r"cuda-python 13.0.1 needs a CUDA 13 driver but this driver supports CUDA 12.6"),
    ],
)
def test_cuda_python_of_another_cuda_major_is_refused(monkeypatch, tensorrt_cuda, cuda_python, driver, message):
    """JetPack 6 (CUDA 12 driver, system TensorRT 10) with cuda-python 13 fails only at the first CUDA call otherwise."""
    import sys
    import types

    from acnet.runtime.backends import trt as module

    cudart = FakeCudart()
    cudart.cudaDriverGetVersion = lambda: (0, driver)
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = cudart
    monkeypatch.setitem(sys.modules, "cuda", types.ModuleType("cuda"))
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cudart)
    monkeypatch.setattr(module, "tensorrt_cuda_major", lambda: tensorrt_cuda)
    monkeypatch.setattr(module, "cuda_python_version", lambda: cuda_python)
    with pytest.raises(BackendUnavailableError, match=message):
        CudaRuntime.load()
    monkeypatch.setattr(module, "cuda_python_version", lambda: f"{tensorrt_cuda[0] if tensorrt_cuda else 12}.9.0")
    cudart.cudaDriverGetVersion = lambda: (0, 13000)
    assert isinstance(CudaRuntime.load(), CudaRuntime)  # matching versions load


def test_the_installed_tensorrt_wheel_tells_its_cuda_major(monkeypatch):
    from importlib import metadata

    from acnet.runtime.backends import trt as module

    installed = {"tensorrt-cu13-bindings": "11.4.0.106", "cuda-bindings": "13.0.3"}

    def version(name):
        if name not in installed:
            raise metadata.PackageNotFoundError(name)
        return installed[name]

    monkeypatch.setattr(metadata, "version", version)
    assert module.tensorrt_cuda_major() == (13, "tensorrt-cu13-bindings") and module.cuda_python_version() == "13.0.3"
    installed.clear()
    assert module.tensorrt_cuda_major() is None and module.cuda_python_version() is None  # JetPack's own TensorRT


def test_each_tensorrt_extra_pairs_one_cuda_major():
    """pip must not pair cuda-python 13 with a CUDA 12 TensorRT: one extra per CUDA major, both bounded."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    extras = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for major in (12, 13):
        requirements = extras[f"tensorrt-cu{major}"]
        assert any(r.startswith(f"tensorrt-cu{major}>=") for r in requirements), requirements
        assert f"cuda-python>={major},<{major + 1}" in requirements, requirements
    assert "tensorrt" not in extras  # an unbounded extra would let pip mix CUDA majors
