"""ONNX Runtime backend: one session, created once, on CPU or CUDA.

Providers follow the device: CPU; on ``cuda:N`` the TensorRT execution
provider first when this onnxruntime has it, then CUDA, then CPU for the odd
unsupported node. Graph optimisation is at ``ORT_ENABLE_ALL``. On CUDA the
inputs and outputs are bound once per batch size (IO binding), so a run copies
each frame to the GPU once and the logits back once.

A camera-native model's uint8 and uint16 buffers go in as they are (ONNX
Runtime reads numpy arrays in place on the CPU). With IO binding on CUDA
they are staged in page-locked host buffers (ONNX Runtime's host-accessible
memory of the CUDA device), bound once per batch size, from which the
copies to the GPU and of the uint8 labels and confidence back are DMA
transfers; where this onnxruntime offers no such memory, the caller's
arrays are bound as they are and ONNX Runtime copies them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from acnet._typed import positive_int
from acnet.errors import BackendUnavailableError, ConfigError, ModelFileError, first_line
from acnet.runtime.backends.base import BatchLimits, Device, Dynamic, check_camera_dtypes, check_camera_inputs, resolve_signature
from acnet.runtime.metadata import ModelInfo

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"

_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
}


def default_trt_cache_dir() -> Path:
    """Where the TensorRT execution provider keeps the engines it builds."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "acnet" / "ort-tensorrt"


def choose_providers(device: Device, available: list[str], trt_cache_dir: str | os.PathLike | None = None) -> list:
    """Execution providers for ``device``, best first, from those installed.

    Raises :class:`BackendUnavailableError` when a GPU is asked for but this
    onnxruntime has no CUDA provider (the CPU-only wheel).
    """
    if not device.is_cuda:
        return [CPU]
    if CUDA not in available and TENSORRT not in available:
        raise BackendUnavailableError(
            f"device {device} asked for, but this onnxruntime has no CUDA provider "
            f"(has {', '.join(available)}); install onnxruntime-gpu or use --device cpu"
        )
    chosen: list = []
    if TENSORRT in available:
        cache = Path(trt_cache_dir) if trt_cache_dir else default_trt_cache_dir()
        chosen.append(
            (TENSORRT, {"device_id": device.index, "trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache)})
        )
    if CUDA in available:
        chosen.append((CUDA, {"device_id": device.index}))
    return [*chosen, CPU]


def _provider_name(provider) -> str:
    return provider[0] if isinstance(provider, tuple) else str(provider)


def _dims(shape) -> tuple:
    """ONNX Runtime shape (ints, symbolic names or None) -> ints and None."""
    return tuple(d if isinstance(d, int) and d >= 0 else Dynamic for d in shape)


class OnnxRuntimeBackend:
    """Runs an acnet ``.onnx`` model with ONNX Runtime."""

    name = "onnxruntime"

    def __init__(
        self,
        path: str | os.PathLike,
        device: str | Device | None = "cpu",
        *,
        threads: int | None = None,
        providers: list | None = None,
        io_binding: bool | None = None,
    ) -> None:
        import onnxruntime as ort  # loaded when a model is opened: TensorRT-only apps never pay for it

        self._ort = ort
        self.path = Path(path)
        self.device = Device.parse(device)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only; we report problems ourselves
        if threads is not None:
            options.intra_op_num_threads = positive_int(threads, "threads")
        if providers is None:
            providers = choose_providers(self.device, ort.get_available_providers())
        self.session, opened_with = self._open(providers, options)
        self.providers = self.session.get_providers()
        self._check_providers(opened_with)

        props = self.session.get_modelmeta().custom_metadata_map
        self.info: ModelInfo = ModelInfo.from_props(props, source=str(self.path))
        inputs = {i.name: _dims(i.shape) for i in self.session.get_inputs()}
        outputs = {o.name: _dims(o.shape) for o in self.session.get_outputs()}
        self.signature = resolve_signature(inputs, outputs, self.info, str(self.path))
        self.limits: BatchLimits = self.signature.limits
        types = {i.name: i.type for i in self.session.get_inputs()}
        self._input_dtype = {n: _NUMPY_TYPES.get(types[n], np.float32) for n in (self.signature.rgb, self.signature.depth)}
        out_types = {o.name: _NUMPY_TYPES.get(o.type, np.float32) for o in self.session.get_outputs()}
        self._output_dtype = out_types[self.signature.output]
        if self.info.camera is not None:
            check_camera_dtypes({**self._input_dtype, **out_types}, self.info, str(self.path))
        self.io_binding = self.device.is_cuda if io_binding is None else bool(io_binding)
        self._bindings: dict[tuple, tuple] = {}
        #: Camera-native models with IO binding on CUDA: page-locked host memory (None: not offered here).
        self._pinned = self._pinned_memory() if self.info.camera is not None and self.io_binding else None

    def _open(self, providers: list, options):
        """(session, providers it was opened with): ``providers``, or without TensorRT when that provider fails.

        onnxruntime's own fallback retries with CUDA and CPU only and no
        options, so it would lose the device id (and it prints to stdout):
        it is turned off and done here instead.
        """
        ort = self._ort
        for name, opts in (p for p in providers if isinstance(p, tuple)):
            cache = opts.get("trt_engine_cache_path") if name == TENSORRT else None
            if cache:
                try:  # the provider creates only the last folder of the path
                    Path(cache).mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise ConfigError(f"cannot create the TensorRT engine cache folder {cache}: {exc.strerror or exc}") from None
        try:
            return ort.InferenceSession(str(self.path), sess_options=options, providers=providers, enable_fallback=0), providers
        except Exception as exc:  # onnxruntime raises its own classes for every kind of bad file
            first = exc
        rest = [p for p in providers if _provider_name(p) != TENSORRT]
        if len(rest) < len(providers) and any(_provider_name(p) != CPU for p in rest):
            try:
                session = ort.InferenceSession(str(self.path), sess_options=options, providers=rest, enable_fallback=0)
            except Exception:  # the model itself is the problem: report the first error
                pass
            else:
                log.warning("onnxruntime's TensorRT provider failed on %s (%s); running without it", self.device, first_line(first))
                return session, rest
        raise ModelFileError(f"{self.path} is not a usable ONNX model: {first_line(first)}") from None

    def _check_providers(self, providers: list) -> None:
        """The providers asked for are the providers in use, on the device asked for; say so when not."""
        wanted = [_provider_name(p) for p in providers]
        in_use = self.providers
        if self.device.is_cuda and not any(p in in_use for p in (CUDA, TENSORRT)):
            raise BackendUnavailableError(
                f"onnxruntime could not start {' or '.join(p for p in wanted if p != CPU)} on {self.device} "
                "(CUDA or cuDNN libraries missing?); use --device cpu"
            )
        missing = [p for p in wanted if p not in in_use]
        if missing:
            log.warning("onnxruntime is not using %s on %s (it runs %s)", ", ".join(missing), self.device, ", ".join(in_use))
        if self.device.is_cuda:
            options = self.session.get_provider_options()
            for name in (TENSORRT, CUDA):
                device_id = options.get(name, {}).get("device_id")
                if name in in_use and device_id is not None and str(device_id) != str(self.device.index):
                    raise BackendUnavailableError(
                        f"onnxruntime runs {name} on cuda:{device_id}, not {self.device} as asked; check CUDA_VISIBLE_DEVICES"
                    )

    # ------------------------------------------------------------------ running

    def run(self, rgb: np.ndarray, depth: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        if self.info.camera is not None:
            return self._run_camera(rgb, depth)
        rgb = rgb.astype(self._input_dtype[self.signature.rgb], copy=False)
        depth = depth.astype(self._input_dtype[self.signature.depth], copy=False)
        if self.io_binding:
            out = self._run_bound(rgb, depth)
        else:
            feeds = {self.signature.rgb: rgb, self.signature.depth: depth}
            out = self.session.run([self.signature.output], feeds)[0]
        return out.astype(np.float32, copy=False) if out.dtype == np.float16 else out

    def _run_bound(self, rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Run with inputs and output pre-allocated on the device, one set per input shape."""
        key = rgb.shape
        if key not in self._bindings:
            ort = self._ort
            where = ("cuda", self.device.index) if self.device.is_cuda else ("cpu", 0)
            binding = self.session.io_binding()
            rgb_v = ort.OrtValue.ortvalue_from_shape_and_type(rgb.shape, rgb.dtype, *where)
            depth_v = ort.OrtValue.ortvalue_from_shape_and_type(depth.shape, depth.dtype, *where)
            out_shape = self.signature.output_shape(self.info, rgb.shape)
            out_v = ort.OrtValue.ortvalue_from_shape_and_type(out_shape, self._output_dtype, *where)
            binding.bind_ortvalue_input(self.signature.rgb, rgb_v)
            binding.bind_ortvalue_input(self.signature.depth, depth_v)
            binding.bind_ortvalue_output(self.signature.output, out_v)
            self._bindings[key] = (binding, rgb_v, depth_v, out_v)
        binding, rgb_v, depth_v, out_v = self._bindings[key]
        rgb_v.update_inplace(np.ascontiguousarray(rgb))
        depth_v.update_inplace(np.ascontiguousarray(depth))
        self.session.run_with_iobinding(binding)
        return out_v.numpy()

    # ------------------------------------------------------------------ camera-native models

    def _pinned_memory(self):
        """The CUDA device's page-locked host memory for OrtValues, or None where this onnxruntime offers none."""
        if not self.device.is_cuda:
            return None
        ort = self._ort
        try:
            devices = [d for d in ort.get_ep_devices() if d.ep_name == CUDA]
            if len(devices) <= self.device.index:
                return None
            return devices[self.device.index].memory_info(ort.OrtDeviceMemoryType.HOST_ACCESSIBLE)
        except Exception as exc:  # noqa: BLE001 - older onnxruntime: no EP devices, no memory info
            log.info("no page-locked host memory from onnxruntime on %s (%s): binding the caller's arrays", self.device, first_line(exc))
            return None

    def _run_camera(self, rgb: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Camera buffers in as they are; (labels, confidence) out, owned by the caller."""
        sig = self.signature
        check_camera_inputs(rgb, depth, self._input_dtype[sig.rgb], self._input_dtype[sig.depth])
        if not self.io_binding:
            labels, confidence = self.session.run(list(sig.outputs), {sig.rgb: rgb, sig.depth: depth})
            return labels, confidence
        key = ("camera", rgb.shape)
        ort = self._ort
        if key not in self._bindings:
            binding = self.session.io_binding()
            out_shape = sig.output_shape(self.info, rgb.shape)

            def host(shape, dtype):
                if self._pinned is not None:
                    return ort.OrtValue.ortvalue_from_shape_and_type(shape, dtype, memory_info=self._pinned)
                return ort.OrtValue.ortvalue_from_shape_and_type(shape, dtype, "cpu", 0)

            inputs = {n: host(a.shape, a.dtype) for n, a in ((sig.rgb, rgb), (sig.depth, depth))} if self._pinned is not None else {}
            outputs = {n: host(out_shape, np.uint8) for n in sig.outputs}
            for name, value in inputs.items():
                binding.bind_ortvalue_input(name, value)
            for name, value in outputs.items():
                binding.bind_ortvalue_output(name, value)
            views = {n: v.numpy() for n, v in {**inputs, **outputs}.items()}  # host memory: views, not copies
            self._bindings[key] = (binding, inputs, outputs, views)
        binding, inputs, outputs, views = self._bindings[key]
        if inputs:  # page-locked staging: the one copy an asynchronous transfer needs
            np.copyto(views[sig.rgb], rgb)
            np.copyto(views[sig.depth], depth)
        else:
            binding.bind_cpu_input(sig.rgb, np.ascontiguousarray(rgb))
            binding.bind_cpu_input(sig.depth, np.ascontiguousarray(depth))
        self.session.run_with_iobinding(binding)
        return views[sig.output].copy(), views[sig.confidence].copy()  # the bound buffers are reused

    # ------------------------------------------------------------------ facts

    def describe(self) -> str:
        binding = ", IO binding" if self.io_binding else ""
        if self.info.camera is not None and self.io_binding and self.device.is_cuda:
            binding += ", page-locked buffers" if self._pinned is not None else ", pageable buffers"
        return f"onnxruntime on {self.device} ({', '.join(self.providers)}{binding}), {self.limits}"

    def close(self) -> None:
        self._bindings.clear()
        self.session = None

