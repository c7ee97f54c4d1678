"""Backends that run an exported network: ONNX Runtime, TensorRT and OpenVINO.

:func:`open_backend` picks one from the file (``.onnx`` -> ONNX Runtime,
``.engine``/``.plan`` -> TensorRT, OpenVINO IR ``.xml`` -> OpenVINO) or from
an explicit name (``openvino`` runs ``.onnx`` models too). Each backend
module imports its runtime library only when a model is opened.
"""

from __future__ import annotations

import os
from pathlib import Path

from acnet._io import file_problem
from acnet.errors import ConfigError, ModelFileError
from acnet.runtime.backends.base import Backend, BatchLimits, Device, Signature, resolve_signature
from acnet.runtime.backends.openvino import DEVICE_KINDS as OPENVINO_DEVICES, OpenVINOBackend
from acnet.runtime.backends.ort import OnnxRuntimeBackend
from acnet.runtime.backends.trt import TensorRTBackend

BACKENDS = ("auto", "onnxruntime", "tensorrt", "openvino")
ONNX_SUFFIXES = (".onnx",)
ENGINE_SUFFIXES = (".engine", ".plan")
#: OpenVINO IR (the ``.xml`` graph; its weights are the ``.bin`` beside it).
OPENVINO_SUFFIXES = (".xml",)

__all__ = ["BACKENDS", "Backend", "BatchLimits", "Device", "Signature", "choose_backend", "open_backend", "resolve_signature"]


def choose_backend(path: str | os.PathLike, backend: str = "auto") -> str:
    """The backend that runs ``path``: by its suffix when ``backend`` is "auto"."""
    if backend is not None and not isinstance(backend, str):
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    backend = (backend or "auto").lower()
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    suffix = Path(path).suffix.lower()
    if backend == "auto":
        if suffix in ONNX_SUFFIXES:
            return "onnxruntime"
        if suffix in ENGINE_SUFFIXES:
            return "tensorrt"
        if suffix in OPENVINO_SUFFIXES:
            return "openvino"
        if suffix in (".pt", ".pth", ".ckpt"):
            raise ModelFileError(
                f"{path} looks like a PyTorch checkpoint; the runtime runs exported models: "
                f"`acnet export onnx {path} -o model.onnx` first"
            )
        raise ModelFileError(
            f"cannot tell what kind of model {path} is from its suffix {suffix!r}: "
            f"expected .onnx, .engine/.plan or OpenVINO IR .xml, or pass the backend explicitly"
        )
    if backend == "tensorrt" and suffix in ONNX_SUFFIXES:
        raise ModelFileError(
            f"{path} is an ONNX model; the TensorRT backend runs engines built by `acnet export trt` "
            "(ONNX Runtime uses TensorRT itself on --device cuda when its TensorRT provider is installed)"
        )
    if backend != "openvino" and suffix in OPENVINO_SUFFIXES:
        raise ModelFileError(f"{path} is OpenVINO IR; run it with the openvino backend (--backend openvino)")
    if backend == "openvino" and suffix not in ONNX_SUFFIXES + OPENVINO_SUFFIXES:
        raise ModelFileError(f"the OpenVINO backend runs .onnx models and OpenVINO IR (.xml), not {Path(path).name}")
    return backend


def _model_path(path: object) -> Path:
    """``path`` as a Path to a regular file, or a ModelFileError saying why not (a symlink loop is not "missing")."""
    if not isinstance(path, (str, os.PathLike)):
        raise ModelFileError(f"model path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    problem = file_problem(path)
    if problem is not None:
        raise ModelFileError(f"model {path} {problem}")
    return path


def open_backend(
    path: str | os.PathLike,
    backend: str = "auto",
    device: str | Device | None = None,
    *,
    threads: int | None = None,
    providers: list | None = None,
    io_binding: bool | None = None,
    input_size: tuple[int, int] | None = None,
    precision: str | None = None,
) -> Backend:
    """Open ``path`` with the chosen backend; ``device`` defaults to cpu (ONNX, OpenVINO) or cuda:0 (engines).

    ``precision`` (OpenVINO only): ``fp32`` (default) or ``bf16`` on CPUs that have it.
    """
    path = _model_path(path)
    kind = choose_backend(path, backend)
    if precision is not None and kind != "openvino":
        raise ConfigError("precision only applies to the OpenVINO backend (--backend openvino)")
    if kind == "onnxruntime":
        return OnnxRuntimeBackend(path, Device.parse(device, "cpu"), threads=threads, providers=providers, io_binding=io_binding)
    if kind == "openvino":
        ignored = [name for name, value in (("providers", providers), ("io_binding", io_binding)) if value is not None]
        if ignored:
            raise ConfigError(f"{', '.join(ignored)} only apply to the ONNX Runtime backend")
        return OpenVINOBackend(path, Device.parse(device, "cpu", kinds=OPENVINO_DEVICES), threads=threads, precision=precision)
    ignored = [name for name, value in (("threads", threads), ("providers", providers), ("io_binding", io_binding)) if value is not None]
    if ignored:
        raise ConfigError(f"{', '.join(ignored)} do not apply to TensorRT engines")
    return TensorRTBackend(path, Device.parse(device, "cuda"), input_size=input_size)
