"""OpenVINO backend: an acnet model compiled by OpenVINO for an Intel/x86 CPU (or an Intel GPU).

It reads the ONNX models acnet exports (FP32, FP16, INT8 Q/DQ) through
OpenVINO's ONNX frontend, and OpenVINO IR (``.xml`` + ``.bin``, e.g. what
``openvino.save_model`` or NNCF writes from an acnet model). Each frontend is named explicitly:
``Core.read_model`` tries every frontend it has on a file it cannot parse,
and TensorFlow's prints to stderr from C++ on the way.

The model's ``acnet.*`` metadata is where ONNX Runtime finds it: OpenVINO's
ONNX frontend copies ``metadata_props`` into the model's ``rt_info`` under
``framework``, and IR saved from such a model keeps that section.

Precision. OpenVINO computes floating-point layers at its inference
precision hint. acnet always sets it: ``fp32`` unless ``bf16`` is asked for
(OpenVINO's own default is bf16 on CPUs with AMX and f16 on GPUs, which
would make the same model give other answers on another machine without
anyone asking). ``bf16`` is refused where the device lacks it, checked
against OpenVINO's own report of the device (``OPTIMIZATION_CAPABILITIES``
lists ``BF16`` on CPUs with AVX512-BF16 or AMX): OpenVINO itself silently
compiles f32 on the rest. The compiled model's hint is read back, so a
silent fallback can never pass for bf16. INT8 layers of a Q/DQ or NNCF
model run in INT8 whatever the hint.

``openvino`` is imported only when a model is opened; without it the
backend is one line saying which extra installs it.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from acnet._typed import positive_int
from acnet.errors import BackendUnavailableError, ConfigError, InputError, ModelFileError
from acnet.runtime.backends.base import BatchLimits, Device, Dynamic, check_camera_dtypes, check_camera_inputs, resolve_signature
from acnet.runtime.metadata import ModelInfo

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'acnet[openvino]'"
#: Model files OpenVINO reads here, by suffix, and the frontend that reads each.
FRONTENDS = {".onnx": "onnx", ".xml": "ir"}
#: acnet's precision names -> OpenVINO's inference precision hint, and the capability a device must list.
PRECISIONS = {"fp32": ("f32", "FP32"), "bf16": ("bf16", "BF16")}
DEFAULT_PRECISION = "fp32"
#: Devices OpenVINO runs here: the CPU and Intel GPUs (``gpu`` is OpenVINO's ``GPU``, ``gpu:1`` its ``GPU.1``).
DEVICE_KINDS = ("cpu", "gpu")


def load_openvino():
    """The ``openvino`` module, or a one-line error naming the extra that installs it."""
    try:
        import openvino
    except ImportError as exc:
        raise BackendUnavailableError(f"the OpenVINO backend needs the openvino package ({exc}); {INSTALL_HINT}") from None
    return openvino


def check_precision(precision: str | None) -> str:
    """``precision`` as one of :data:`PRECISIONS` (None: the default), or a ConfigError naming the choices."""
    if precision is None:
        return DEFAULT_PRECISION
    text = str(precision).strip().lower()
    if text not in PRECISIONS:
        raise ConfigError(f"unknown OpenVINO precision {precision!r}; use {' or '.join(PRECISIONS)}")
    return text


def device_name(device: Device) -> str:
    """acnet's device -> OpenVINO's device name: ``CPU``, ``GPU``, ``GPU.1``."""
    if device.kind == "cpu":
        return "CPU"
    return "GPU" if device.index == 0 else f"GPU.{device.index}"


def openvino_error(exc: BaseException) -> str:
    """The line of an OpenVINO exception that says what is wrong, without its source locations.

    OpenVINO's messages stack ``Exception from src/...cpp:84:`` and
    ``Check '...' failed at src/...:`` lines above the reason.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith(("Exception from ", "Check '", "FrontEnd API failed"))]
    text = (reasons or lines or [type(exc).__name__])[0]
    return text.rstrip(":")


def _dims(partial_shape) -> tuple:
    """An OpenVINO partial shape -> ints and None (dynamic)."""
    return tuple(int(d.get_length()) if d.is_static else Dynamic for d in partial_shape)


def _name(port) -> str:
    names = port.get_names()
    for wanted in ("rgb", "depth", "logits", "labels"):
        if wanted in names:
            return wanted
    return port.get_any_name()


def read_model(path: Path):
    """Read ``path`` with the frontend its suffix names; a ModelFileError saying why it cannot be read."""
    from openvino.frontend import FrontEndManager

    kind = FRONTENDS.get(path.suffix.lower())
    if kind is None:
        raise ModelFileError(f"OpenVINO runs .onnx models or OpenVINO IR (.xml with its .bin), not {path.name}")
    if path.stat().st_size == 0:  # an empty protobuf is a valid, empty ONNX model to OpenVINO
        raise ModelFileError(f"{path} is not a usable model: the file is empty")
    if kind == "ir" and not path.with_suffix(".bin").is_file():
        raise ModelFileError(f"{path} is OpenVINO IR but its weights {path.with_suffix('.bin').name} are not beside it")
    try:
        frontend = FrontEndManager().load_by_framework(kind)
        return frontend.convert(frontend.load(str(path)))
    except Exception as exc:  # OpenVINO raises GeneralFailure, RuntimeError, OpConversionFailure ...
        raise ModelFileError(f"{path} is not a usable {'ONNX' if kind == 'onnx' else 'OpenVINO IR'} model: "
                             f"{openvino_error(exc)}") from None


def model_props(model) -> dict[str, str]:
    """The ``acnet.*`` metadata of an OpenVINO model (its ``rt_info['framework']``) as strings."""
    info = model.get_rt_info()
    if "framework" not in info.keys():
        return {}
    section = info["framework"]
    return {key: section[key].astype(str) for key in section.keys()}


class OpenVINOBackend:
    """Runs an acnet ``.onnx`` model or OpenVINO IR with OpenVINO on one device."""

    name = "openvino"

    def __init__(
        self,
        path: str | os.PathLike,
        device: str | Device | None = "cpu",
        *,
        threads: int | None = None,
        precision: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.device = Device.parse(device, "cpu", kinds=DEVICE_KINDS)
        self.precision = check_precision(precision)
        if threads is not None:
            threads = positive_int(threads, "threads")
        ov = load_openvino()
        self.openvino_version = ov.get_version().split("-")[0]
        self.core = core = ov.Core()
        target = device_name(self.device)
        self._check_device(core, target)
        model = read_model(self.path)

        self.info: ModelInfo = ModelInfo.from_props(model_props(model), source=str(self.path))
        inputs = {_name(p): _dims(p.get_partial_shape()) for p in model.inputs}
        outputs = {_name(p): _dims(p.get_partial_shape()) for p in model.outputs}
        self.signature = resolve_signature(inputs, outputs, self.info, str(self.path))
        self.limits: BatchLimits = self.signature.limits
        types = {_name(p): p.get_element_type().to_dtype() for p in model.inputs}
        self._input_dtype = {n: np.dtype(types[n]) for n in (self.signature.rgb, self.signature.depth)}
        if self.info.camera is not None:  # uint8 RGB and raw depth in, uint8 labels and confidence out
            out_types = {_name(p): p.get_element_type().to_dtype() for p in model.outputs}
            check_camera_dtypes({**self._input_dtype, **out_types}, self.info, str(self.path))

        hint, capability = PRECISIONS[self.precision]
        #: What OpenVINO says the device computes in (CPU: FP32, INT8, and BF16 with AVX512-BF16 or AMX).
        self.capabilities = [str(c) for c in core.get_property(target, "OPTIMIZATION_CAPABILITIES") if c != "EXPORT_IMPORT"]
        self._check_capability(core, target, capability)
        config = {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY"}
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            self.compiled = core.compile_model(model, target, config)
        except Exception as exc:
            raise ModelFileError(f"OpenVINO cannot compile {self.path} for {target}: {openvino_error(exc)}") from None
        compiled_hint = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        if compiled_hint != hint:  # OpenVINO falls back to f32 silently
            raise BackendUnavailableError(
                f"OpenVINO compiled {self.path.name} for {target} at {compiled_hint}, not {self.precision} as asked; "
                f"use --precision fp32")
        self.threads = int(self.compiled.get_property("INFERENCE_NUM_THREADS"))
        self.execution_devices = list(self.compiled.get_property("EXECUTION_DEVICES"))
        self._request = self.compiled.create_infer_request()
        self._lock = threading.Lock()  # one infer request: one run at a time (a pipeline runs from its threads)

    # ------------------------------------------------------------------ checks

    def _check_device(self, core, target: str) -> None:
        """The device is one OpenVINO sees here (an Intel GPU needs its driver and OpenCL)."""
        available = list(core.available_devices)
        if target == "CPU" or target in available or (target == "GPU" and "GPU.0" in available):
            return
        raise BackendUnavailableError(
            f"OpenVINO sees no {target} here (it sees {', '.join(available) or 'no device'}): device {self.device} is an "
            f"Intel GPU, which needs Intel's GPU driver and OpenCL runtime; use --device cpu")

    def _check_capability(self, core, target: str, capability: str) -> None:
        """``bf16`` only where OpenVINO says the device computes in it (it would compile f32 silently)."""
        if self.precision == DEFAULT_PRECISION or capability in self.capabilities:
            return
        capabilities = self.capabilities
        name = str(core.get_property(target, "FULL_DEVICE_NAME")).strip()
        needs = "a CPU with AVX512-BF16 or AMX" if target == "CPU" else "a device with BF16 arithmetic"
        raise BackendUnavailableError(
            f"{self.precision} needs {needs}; OpenVINO reports that this {target} ({name}) computes in "
            f"{', '.join(capabilities) or 'nothing it names'} only: use --precision fp32 (or an INT8 model for speed)")

    # ------------------------------------------------------------------ running

    def run(self, rgb: np.ndarray, depth: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        sig = self.signature
        if self.info.camera is not None:
            check_camera_inputs(rgb, depth, self._input_dtype[sig.rgb], self._input_dtype[sig.depth])
        feeds = {
            sig.rgb: np.ascontiguousarray(rgb, dtype=self._input_dtype[sig.rgb]),
            sig.depth: np.ascontiguousarray(depth, dtype=self._input_dtype[sig.depth]),
        }
        with self._lock:  # the output is copied out of the request's buffer (share_outputs=False)
            try:
                result = self._request.infer(feeds, share_inputs=True, share_outputs=False)
            except RuntimeError as exc:  # shapes the model does not take
                raise InputError(f"OpenVINO cannot run {self.path.name} on rgb {rgb.shape} and depth {depth.shape}: "
                                 f"{openvino_error(exc)}") from None
        if self.info.camera is not None:  # (labels, confidence), copied out of the request: the caller's own
            return tuple(result[self.compiled.output(name)] for name in sig.outputs)
        out = result[self.compiled.output(sig.output)]
        return out.astype(np.float32, copy=False) if out.dtype == np.float16 else out

    # ------------------------------------------------------------------ facts

    @property
    def compute_precision(self) -> str:
        """What the model computes in here: bf16 where asked (an INT8 model's quantized layers stay int8)."""
        if self.precision == "bf16" and self.info.precision != "int8":
            return "bf16"
        return self.info.precision

    def details(self) -> dict:
        """What a benchmark records about this run: versions, the compiled precision, threads, devices."""
        return {"framework": f"openvino {self.openvino_version}",
                "inference_precision_hint": self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
                "threads": self.threads, "execution_devices": self.execution_devices,
                "device_capabilities": self.capabilities}

    def describe(self) -> str:
        return (f"openvino {self.openvino_version} on {self.device} ({', '.join(self.execution_devices)}, "
                f"{self.precision}, {self.threads} threads), {self.limits}")

    def close(self) -> None:
        self._request = None
        self.compiled = None
