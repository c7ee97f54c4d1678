"""TensorRT backend: a serialized engine (``.engine``/``.plan``) on one CUDA device.

Written against the name-based TensorRT 10/11 Python API
(``num_io_tensors``, ``get_tensor_name/mode/shape/dtype``,
``get_tensor_profile_shape``, ``set_input_shape``, ``set_tensor_address``,
``execute_async_v3``) and cuda-python's runtime API for memory. Buffers are
allocated once for the largest batch the engine's profile allows (pinned
host memory and device memory), their addresses are bound once, and every
run uses one stream: copy in, enqueue, copy out, synchronise. CUDA's
current device belongs to the calling thread, and a pipeline calls ``run``
from its worker threads, so every run (and ``close``) first makes the
engine's device current: without it ``cuda:1`` would run on device 0.

A camera-native engine's buffers are sized for its uint8 (and uint16) I/O:
at 480x640 the copies are 0.92 MB of RGB and 0.61 MB of depth in, twice
0.31 MB of labels and confidence out. Its uint16 depth is bound as bytes,
uint8 (N,H,W,2), since TensorRT has no unsigned 16-bit type: a view of the
caller's array, no conversion.

``tensorrt`` and ``cuda-python`` are imported only when an engine is opened.
The logic that needs no GPU (which tensor is which, batch range, buffer
sizes, the sidecar check) is in plain functions that tests drive with fakes.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import math
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from acnet.errors import BackendUnavailableError, ConfigError, InputError, ModelFileError
from acnet.runtime.backends.base import BatchLimits, Device, Dynamic, Signature, check_camera_dtypes, resolve_signature
from acnet.runtime.metadata import ModelInfo
from acnet.runtime.sidecar import check_engine_compatible, parse_version, read_sidecar

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "pip install 'acnet[tensorrt-cu12]' (CUDA 12, e.g. JetPack 6) or 'acnet[tensorrt-cu13]' (CUDA 13) "
    "on a machine with an NVIDIA GPU"
)


def load_tensorrt():
    """The ``tensorrt`` module, or a clear error naming the extra to install."""
    try:
        import tensorrt  # optional (acnet[tensorrt-cu12/13]): loaded when an engine is opened
    except ImportError as exc:
        raise BackendUnavailableError(f"the TensorRT backend needs the tensorrt package ({exc}); {INSTALL_HINT}") from None
    return tensorrt


def _distribution_version(*names: str) -> tuple[str, str] | None:
    """(name, version) of the first installed distribution among ``names``."""
    for name in names:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def tensorrt_cuda_major() -> tuple[int, str] | None:
    """(CUDA major, wheel name) the pip-installed TensorRT is built for; None for a system TensorRT (JetPack)."""
    for major in (12, 13):
        found = _distribution_version(f"tensorrt-cu{major}-bindings", f"tensorrt-cu{major}", f"tensorrt-cu{major}-libs")
        if found:
            return major, found[0]
    return None


def cuda_python_version() -> str | None:
    found = _distribution_version("cuda-bindings", "cuda-python")
    return found[1] if found else None


def check_cuda_versions(tensorrt_cuda: tuple[int, str] | None, cuda_python: str | None, driver_cuda: int | None) -> None:
    """Refuse cuda-python of another CUDA major than TensorRT's wheel, or newer than the driver.

    pip cannot see that ``cuda-python`` 13 next to a CUDA 12 TensorRT (or on
    a JetPack 6 driver) fails only at the first CUDA call.
    """
    if not cuda_python:
        return
    major = int(parse_version(cuda_python)[0])
    if tensorrt_cuda is not None and tensorrt_cuda[0] != major:
        raise BackendUnavailableError(
            f"{tensorrt_cuda[1]} is built for CUDA {tensorrt_cuda[0]} but cuda-python {cuda_python} is for CUDA {major}: "
            f"pip install 'acnet[tensorrt-cu{tensorrt_cuda[0]}]' (cuda-python>={tensorrt_cuda[0]},<{tensorrt_cuda[0] + 1})"
        )
    if driver_cuda is not None and driver_cuda // 1000 < major:
        raise BackendUnavailableError(
            f"cuda-python {cuda_python} needs a CUDA {major} driver but this driver supports CUDA "
            f"{driver_cuda // 1000}.{driver_cuda % 1000 // 10}: pip install 'cuda-python>={driver_cuda // 1000},<{driver_cuda // 1000 + 1}'"
        )


def native_handle(obj) -> int:
    """The address a cuda-python handle (``cudaStream_t``) wraps.

    ``int(handle)`` is deprecated from cuda-python 13 (12.9 too):
    ``cuda.bindings.utils.get_cuda_native_handle`` replaces it; older 12.x lack it.
    """
    if isinstance(obj, int):
        return obj
    try:
        from cuda.bindings.utils import get_cuda_native_handle  # cuda-python comes with the TensorRT extras
    except ImportError:
        return int(obj)
    return int(get_cuda_native_handle(obj))


class CudaRuntime:
    """The few CUDA runtime calls the backend makes, through cuda-python."""

    def __init__(self, cudart) -> None:
        self._rt = cudart

    @classmethod
    def load(cls) -> "CudaRuntime":
        try:
            from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
        except ImportError:
            try:
                from cuda import cudart  # older cuda-python
            except ImportError:
                raise BackendUnavailableError(f"the TensorRT backend needs cuda-python; {INSTALL_HINT}") from None
        runtime = cls(cudart)
        check_cuda_versions(tensorrt_cuda_major(), cuda_python_version(), runtime.driver_version())
        return runtime

    def driver_version(self) -> int | None:
        """The CUDA version the driver supports (12060 = 12.6), or None without a driver."""
        try:
            err, version = self._rt.cudaDriverGetVersion()
        except Exception:  # noqa: BLE001 - a fake or a broken install: not this check's business
            return None
        return int(version) if err == self._rt.cudaError_t.cudaSuccess and version else None

    def _call(self, what: str, result):
        err, *values = result if isinstance(result, tuple) else (result,)
        if err != self._rt.cudaError_t.cudaSuccess:
            name = getattr(err, "name", str(err))
            raise BackendUnavailableError(f"CUDA {what} failed: {name}")
        return values[0] if len(values) == 1 else values

    def set_device(self, index: int) -> None:
        self._call("cudaSetDevice", self._rt.cudaSetDevice(index))

    def device_name(self, index: int) -> str:
        return self.device_info(index)[0]

    def device_info(self, index: int) -> tuple[str, tuple[int, int]]:
        """(GPU name, compute capability) of device ``index``."""
        props = self._call("cudaGetDeviceProperties", self._rt.cudaGetDeviceProperties(index))
        name = props.name
        name = (name.decode(errors="replace") if isinstance(name, bytes) else str(name)).split("\x00")[0].strip()
        return name, (int(props.major), int(props.minor))

    def malloc(self, nbytes: int) -> int:
        return int(self._call("cudaMalloc", self._rt.cudaMalloc(nbytes)))

    def host_empty(self, count: int, dtype: np.dtype) -> np.ndarray:
        """A page-locked host array of ``count`` elements (fast, async copies)."""
        dtype = np.dtype(dtype)
        nbytes = max(1, count * dtype.itemsize)
        ptr = int(self._call("cudaMallocHost", self._rt.cudaMallocHost(nbytes)))
        raw = (ctypes.c_uint8 * nbytes).from_address(ptr)
        return np.frombuffer(raw, dtype=np.uint8)[: count * dtype.itemsize].view(dtype)

    def free(self, ptr: int) -> None:
        self._call("cudaFree", self._rt.cudaFree(ptr))

    def free_host(self, array: np.ndarray) -> None:
        self._call("cudaFreeHost", self._rt.cudaFreeHost(array.ctypes.data))

    def stream_create(self) -> int:
        return native_handle(self._call("cudaStreamCreate", self._rt.cudaStreamCreate()))

    def stream_destroy(self, stream: int) -> None:
        self._call("cudaStreamDestroy", self._rt.cudaStreamDestroy(stream))

    def memcpy_htod_async(self, dst: int, src: np.ndarray, stream: int) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call("cudaMemcpyAsync", self._rt.cudaMemcpyAsync(dst, src.ctypes.data, src.nbytes, kind, stream))

    def memcpy_dtoh_async(self, dst: np.ndarray, src: int, stream: int) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call("cudaMemcpyAsync", self._rt.cudaMemcpyAsync(dst.ctypes.data, src, dst.nbytes, kind, stream))

    def stream_synchronize(self, stream: int) -> None:
        self._call("cudaStreamSynchronize", self._rt.cudaStreamSynchronize(stream))


# --------------------------------------------------------------------------- engine facts


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of an engine; ``None`` marks a dynamic dimension."""

    name: str
    is_input: bool
    dtype: np.dtype
    shape: tuple
    #: (min, opt, max) shapes of optimisation profile 0, for dynamic inputs.
    profile: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None = None


def describe_engine(engine, trt) -> list[TensorSpec]:
    """The IO tensors of a deserialized engine, through the name-based API."""
    specs = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
        shape = tuple(int(d) for d in engine.get_tensor_shape(name))
        profile = None
        if is_input and any(d < 0 for d in shape):
            profile = tuple(tuple(int(d) for d in dims) for dims in engine.get_tensor_profile_shape(name, 0))
        trt_type = engine.get_tensor_dtype(name)
        try:
            dtype = np.dtype(trt.nptype(trt_type))
        except TypeError:  # BF16, FP8, INT4, FP4: TensorRT has them, numpy has not
            raise ModelFileError(
                f"engine tensor {name!r} has TensorRT type {getattr(trt_type, 'name', trt_type)}, which numpy cannot hold; "
                "export the model with float32 or float16 inputs and outputs"
            ) from None
        specs.append(
            TensorSpec(
                name=name,
                is_input=is_input,
                dtype=dtype,
                shape=tuple(Dynamic if d < 0 else d for d in shape),
                profile=profile,
            )
        )
    return specs


@dataclass(frozen=True)
class EnginePlan:
    """How to run an engine: tensor roles, batch range, buffers to allocate."""

    signature: Signature
    height: int
    width: int
    #: Shape of the buffer to allocate for each tensor (the largest batch).
    buffer_shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, np.dtype]

    @property
    def limits(self) -> BatchLimits:
        return self.signature.limits


def plan_engine(specs: list[TensorSpec], info: ModelInfo, source: str, size: tuple[int, int] | None = None) -> EnginePlan:
    """Check an engine against its metadata and work out its buffers.

    ``size`` (height, width) is the input size to run at; by default the
    model's own. Dynamic dimensions take their range from profile 0.
    """
    by_name = {s.name: s for s in specs}
    inputs = {s.name: s.shape for s in specs if s.is_input}
    outputs = {s.name: s.shape for s in specs if not s.is_input}
    signature = resolve_signature(inputs, outputs, info, source)
    height, width = size or (info.input_height, info.input_width)

    rgb = by_name[signature.rgb]
    limits = signature.limits
    camera = info.camera is not None
    for name in (signature.rgb, signature.depth):
        spec = by_name[name]
        if spec.profile is None:
            if Dynamic in spec.shape:
                raise ModelFileError(f"{source}: input {name!r} has dynamic dimensions but no optimisation profile")
            continue
        low, _, high = spec.profile
        for axis, value, what in () if camera else ((2, height, "height"), (3, width, "width")):
            if spec.shape[axis] is Dynamic and not low[axis] <= value <= high[axis]:
                raise ModelFileError(
                    f"{source}: its profile allows {what} {low[axis]}..{high[axis]}, not {value}; rebuild the engine"
                )
    if rgb.shape[0] is Dynamic:
        low, _, high = rgb.profile
        limits = BatchLimits(max(1, low[0]), high[0])
    signature = dataclasses.replace(signature, limits=limits)

    largest = limits.maximum
    if camera:
        height, width = info.camera.size
        rgb_shape = (largest, height, width, 3)
        depth_shape = (largest, height, width, 2) if signature.depth_bytes else (largest, height, width)
    else:
        rgb_shape, depth_shape = (largest, 3, height, width), (largest, 1, height, width)
    buffer_shapes = {signature.rgb: rgb_shape, signature.depth: depth_shape}
    for name in signature.outputs:
        buffer_shapes[name] = signature.output_shape(info, rgb_shape)
    dtypes = {name: by_name[name].dtype for name in buffer_shapes}
    if camera:
        check_camera_dtypes(dtypes, info, source, signature.depth_bytes)
    if info.output == "logits" and dtypes[signature.output].kind != "f":
        raise ModelFileError(f"{source}: logits output has dtype {dtypes[signature.output]}, expected a float type")
    return EnginePlan(signature, height, width, buffer_shapes, dtypes)


def engine_info(path: Path, trt_version: str, gpu_name: str, compute_capability: tuple[int, int]) -> ModelInfo:
    """The engine's metadata from its sidecar, refusing a TensorRT or GPU mismatch."""
    sidecar = read_sidecar(path)
    check_engine_compatible(sidecar, trt_version, gpu_name, compute_capability, engine=path)
    return sidecar.info


# --------------------------------------------------------------------------- backend


class TensorRTBackend:
    """Runs an acnet TensorRT engine; see the module docstring."""

    name = "tensorrt"

    def __init__(
        self,
        path: str | os.PathLike,
        device: str | Device | None = "cuda",
        *,
        input_size: tuple[int, int] | None = None,
        trt=None,
        cuda: CudaRuntime | None = None,
    ) -> None:
        self.path = Path(path)
        self.device = Device.parse(device, default="cuda")
        if not self.device.is_cuda:
            raise ConfigError(f"TensorRT engines run on a CUDA device, not {self.device}; use --device cuda")
        self._cuda = None  # set once there is something to free
        trt = trt if trt is not None else load_tensorrt()
        cuda = cuda if cuda is not None else CudaRuntime.load()
        cuda.set_device(self.device.index)
        self.gpu_name, self.compute_capability = cuda.device_info(self.device.index)
        self.trt_version = str(trt.__version__)
        self.info: ModelInfo = engine_info(self.path, self.trt_version, self.gpu_name, self.compute_capability)

        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self._engine is None:
            raise ModelFileError(
                f"TensorRT {self.trt_version} could not deserialize {self.path} (corrupt, or built by another TensorRT)"
            )
        self.plan = plan_engine(describe_engine(self._engine, trt), self.info, str(self.path), input_size)
        self.signature = self.plan.signature
        self.limits = self.plan.limits
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise BackendUnavailableError(f"TensorRT could not create an execution context on {self.gpu_name} (GPU memory?)")

        self._cuda = cuda
        self._host: dict[str, np.ndarray] = {}
        self._device: dict[str, int] = {}
        self._stream: int | None = None
        self._stream = cuda.stream_create()
        for name, shape in self.plan.buffer_shapes.items():
            count = math.prod(shape)
            dtype = self.plan.dtypes[name]
            self._host[name] = cuda.host_empty(count, dtype)
            self._device[name] = cuda.malloc(count * dtype.itemsize)
            self._context.set_tensor_address(name, self._device[name])
        self._input_shape: tuple | None = None

    def run(self, rgb: np.ndarray, depth: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        sig, cuda = self.signature, self._cuda
        cuda.set_device(self.device.index)  # this thread's current device (a microsecond; runs take milliseconds)
        n = rgb.shape[0]
        if not self.limits.minimum <= n <= self.limits.maximum:
            raise InputError(f"batch of {n} outside the engine's range {self.limits.minimum}..{self.limits.maximum}")
        if sig.depth_bytes:
            if depth.dtype != np.uint16:
                raise InputError(f"this camera-native engine takes uint16 depth, got {depth.dtype}")
            depth = np.ascontiguousarray(depth).view(np.uint8).reshape(*depth.shape, 2)  # the same bytes
        if self.info.camera is not None and rgb.dtype != self.plan.dtypes[sig.rgb]:
            raise InputError(f"this camera-native engine takes uint8 rgb, got {rgb.dtype}")
        if rgb.shape != self._input_shape:
            for name, array in ((sig.rgb, rgb), (sig.depth, depth)):
                if not self._context.set_input_shape(name, tuple(array.shape)):
                    raise InputError(f"the engine does not accept {name!r} of shape {tuple(array.shape)}")
            self._input_shape = rgb.shape
        for name, array in ((sig.rgb, rgb), (sig.depth, depth)):
            host = self._host[name][: array.size].reshape(array.shape)
            np.copyto(host, array, casting="same_kind")  # FP16 engine inputs: cast here
            cuda.memcpy_htod_async(self._device[name], host, self._stream)
        if not self._context.execute_async_v3(self._stream):
            raise BackendUnavailableError(f"TensorRT failed to run {self.path.name} (see its log above)")
        results = []
        for name in sig.outputs:
            out_shape = tuple(int(d) for d in self._context.get_tensor_shape(name))
            host_out = self._host[name][: math.prod(out_shape)]
            cuda.memcpy_dtoh_async(host_out, self._device[name], self._stream)
            results.append((host_out, out_shape))
        cuda.stream_synchronize(self._stream)
        # The pinned buffers are reused by the next run: hand back copies.
        out = [h.reshape(shape).astype(np.float32) if h.dtype == np.float16 else h.reshape(shape).copy() for h, shape in results]
        return out[0] if len(out) == 1 else tuple(out)

    def describe(self) -> str:
        camera = "" if self.info.camera is None else ", camera-native (uint8 buffers)"
        return (
            f"TensorRT {self.trt_version} on {self.device} ({self.gpu_name}), {self.limits}, "
            f"{self.info.precision}, {self.plan.height}x{self.plan.width}{camera}"
        )

    def close(self) -> None:
        cuda, self._cuda = self._cuda, None
        if cuda is None:
            return
        cuda.set_device(self.device.index)  # close may come from another thread (a pipeline's, or the collector)
        if self._stream is not None:
            cuda.stream_synchronize(self._stream)
        for ptr in self._device.values():
            cuda.free(ptr)
        for array in self._host.values():
            cuda.free_host(array)
        if self._stream is not None:
            cuda.stream_destroy(self._stream)
        self._host.clear()
        self._device.clear()
        self._context = None  # the context goes before its engine
        self._engine = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: CUDA may be gone already
            pass
