"""The backends ``acnet bench`` and ``acnet parity`` run, and how each is opened.

Polygraphy's line between runners and comparators: this module opens things
that run the network; :mod:`~acnet.benchmarks.torch_timer` and
:mod:`~acnet.benchmarks.runtime_timer` only time them, and
:mod:`~acnet.benchmarks.parity` only judges their answers.

- The runtime's own backends (ONNX Runtime, TensorRT, OpenVINO) are opened through
  :class:`acnet.runtime.Segmenter`, exactly as an application opens them
  (:func:`open_runtime`).
- PyTorch (:class:`TorchBackend`: eager FP32, TF32, FP16/bf16 autocast,
  ``torch.compile``) and AOTInductor packages (:class:`AotiBackend`) have no
  runtime backend of their own; they are given the runtime's
  :class:`~acnet.runtime.backends.Backend` shape here, so a Segmenter runs
  them with the runtime's pre- and postprocessing (:func:`segmenter_around`).

:data:`BENCH_BACKENDS` names every backend ``acnet bench`` measures: the
artefact it runs and how its timer is opened. A new backend is a runtime
backend module plus one entry here.

Torch variants are named ``torch[-tf32|-fp16|-bf16][-compile]``:

- ``torch``: eager FP32 in the default NCHW layout with TF32 off, the
  baseline every speed-up is quoted against;
- ``-tf32``: the same with cuDNN allowed to use TF32 (CUDA only; FP32
  storage, 10-bit-mantissa products on the matrix units);
- ``-fp16`` / ``-bf16``: autocast to that type with channels_last weights
  and inputs (FP16 needs CUDA);
- ``-compile``: ``torch.compile``; on CUDA with mode ``reduce-overhead``,
  which replays CUDA graphs, on CPU the default Inductor mode.

On CUDA every variant, the baseline included, runs with ``cudnn.benchmark``
on (cuDNN picks its fastest algorithm per shape during the warm-up), so a
speed-up measures precision, layout and compilation, not autotuning.

AOTInductor packages (``.pt2``, backends ``aoti`` and ``aoti-fp16``) need
libtorch; applications run them through the C library (``acnet/runtime/c``,
``segment --repeat`` measures that path). Here a package is loaded with
``torch._inductor.aoti_load_package``, which wraps the same libtorch
model-package loader the C library calls.

torch is imported by the classes that need it, never at import time, so
``acnet bench`` times ONNX models on a runtime-only install.
"""

from __future__ import annotations

import copy
import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from acnet.benchmarks.runtime_timer import RuntimeTimer
from acnet.benchmarks.timing import Skip, Timer
from acnet.benchmarks.torch_timer import TorchTimer, host_logits, host_tensor
from acnet.errors import BackendUnavailableError, ConfigError, ModelFileError
from acnet.export.aoti import read_package_batch_range, read_package_info
from acnet.runtime.backends.base import BatchLimits, Device
from acnet.runtime.backends.ort import choose_providers
from acnet.runtime.segmenter import Segmenter

PRECISIONS = ("fp32", "tf32", "fp16", "bf16")
#: Precisions that run under autocast (the others keep FP32 tensors).
AUTOCAST = ("fp16", "bf16")
#: AOTInductor backend name -> the precision of the package it runs.
AOTI_BACKENDS = {"aoti": "fp32", "aoti-fp16": "fp16"}
PACKAGE_SUFFIXES = (".pt2",)

#: OpenVINO's rows -> the precision its floating-point layers are asked to compute in (None: fp32).
OPENVINO_BACKENDS = {"openvino": None, "openvino-bf16": "bf16", "openvino-int8": None}

CPU_EP = "CPUExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
TRT_EP = "TensorrtExecutionProvider"


# --------------------------------------------------------------------------- PyTorch


def parse_variant(name: str) -> tuple[str, bool]:
    """``"torch-fp16-compile"`` -> ``("fp16", True)``."""
    parts = name.split("-")
    if parts[0] != "torch" or len(parts) > 3:
        raise ConfigError(f"unknown torch backend {name!r}")
    rest = parts[1:]
    compiled = bool(rest) and rest[-1] == "compile"
    if compiled:
        rest = rest[:-1]
    precision = rest[0] if rest else "fp32"
    if precision not in PRECISIONS or len(rest) > 1:
        raise ConfigError(f"unknown torch backend {name!r}; use torch[-tf32|-fp16|-bf16][-compile]")
    return precision, compiled


class TorchBackend:
    """A checkpoint's network in PyTorch, one variant, as a runtime backend.

    :meth:`forward` runs device tensors (what the timer times); :meth:`run`
    is the runtime's contract, normalised host arrays to host FP32 logits.
    """

    name = "torch"
    #: What the batch and size limits belong to, in reasons for skipping.
    noun = "model"

    def __init__(self, variant: str, model, info, device: str = "cpu", threads: int | None = None) -> None:
        """``model`` is the eval-mode FP32 network; variants that change it work on a copy."""
        import torch  # not at the top: the benchmarks import without torch

        self.torch = torch
        self.variant = variant
        self.precision, self.compiled = parse_variant(variant)
        self.device = Device.parse(device)
        self.torch_device = torch.device(str(self.device))
        self.info = info
        self.limits = BatchLimits()
        self.cuda = self.device.is_cuda
        if self.cuda and not torch.cuda.is_available():
            raise Skip("CUDA is not available to torch")
        if self.precision == "tf32" and not self.cuda:
            raise Skip("TF32 is a mode of NVIDIA GPUs' matrix units; on CPU use torch")
        if self.precision == "fp16" and not self.cuda:
            raise Skip("FP16 autocast needs CUDA; on CPU use torch-bf16")
        if self.precision == "bf16" and self.cuda and not torch.cuda.is_bf16_supported():
            raise Skip("this GPU has no bf16 support")
        if threads is not None and not self.cuda:
            torch.set_num_threads(int(threads))
        self.channels_last = self.precision in AUTOCAST
        if self.channels_last or self.compiled:
            model = copy.deepcopy(model)
        model = model.to(self.torch_device).eval()
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        #: cuDNN autotuning for every CUDA variant, set per call (a context, not a global switch).
        self.cudnn_benchmark = self.cuda
        self.model = model
        self._fn = self._build()

    def _build(self):
        torch = self.torch
        amp = self.precision in AUTOCAST
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision)
        model = self.model

        def forward(rgb, depth):
            with torch.autocast(self.device.kind, dtype=dtype, enabled=amp):
                # NCHW float32 logits, as the runtime's backends return them (a
                # channels_last output would make every later argmax stride badly).
                return model(rgb, depth).float().contiguous()

        if not self.compiled:
            return forward
        mode = "reduce-overhead" if self.cuda else None
        return torch.compile(forward, mode=mode, dynamic=False)

    def forward(self, rgb, depth):
        """Device tensors in, device logits out: the call the timer times."""
        torch = self.torch
        if self.compiled and self.cuda:
            torch.compiler.cudagraph_mark_step_begin()
        if self.channels_last:
            rgb = rgb.contiguous(memory_format=torch.channels_last)
            depth = depth.contiguous(memory_format=torch.channels_last)
        if not self.cuda:
            return self._fn(rgb, depth)
        # FP32 means FP32: no TF32 convolutions (PyTorch's default allows them).
        with torch.backends.cudnn.flags(enabled=True, benchmark=self.cudnn_benchmark, deterministic=False,
                                        allow_tf32=self.precision != "fp32"):
            return self._fn(rgb, depth)

    def run(self, rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Normalised host arrays -> host FP32 logits (the runtime's backend contract)."""
        torch = self.torch
        with torch.inference_mode():
            rgb, depth = host_tensor(torch, rgb).to(self.torch_device), host_tensor(torch, depth).to(self.torch_device)
            return host_logits(torch, self.forward(rgb, depth), self.torch_device)

    def details(self) -> dict:
        torch = self.torch
        d = {
            "framework": f"torch {torch.__version__}",
            "precision": self.precision,
            "device": str(self.device),
            "layout": "channels_last" if self.channels_last else "NCHW",
            "compiled": ("torch.compile mode=reduce-overhead (CUDA graphs)" if self.cuda else "torch.compile (Inductor, CPU)")
            if self.compiled else None,
        }
        if self.cuda:
            d["cudnn_benchmark"] = self.cudnn_benchmark
            d["cudnn_allow_tf32"] = self.precision != "fp32"
        return {**d, **self._where()}

    def _where(self) -> dict:
        """The GPU's name, or torch's CPU threads, for the report."""
        if self.cuda:
            return {"gpu": self.torch.cuda.get_device_name(self.torch_device)}
        return {"threads": self.torch.get_num_threads()}

    def describe(self) -> str:
        return f"{self.variant} on {self.device}"

    def close(self) -> None:
        self.model = self._fn = self.runner = None
        if self.cuda:
            self.torch.cuda.empty_cache()


# --------------------------------------------------------------------------- AOTInductor


def backend_for_precision(precision: str) -> str:
    """``"fp16"`` -> ``"aoti-fp16"``: the backend name that runs a package of that precision."""
    for name, p in AOTI_BACKENDS.items():
        if p == precision:
            return name
    raise ModelFileError(f"no AOTInductor backend runs {precision} packages")


def package_device(path: str | Path) -> str:
    """The device kind a package was compiled for (``"cpu"`` or ``"cuda"``), from its AOTI metadata."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith("_metadata.json") and "/aotinductor/" in name:
                    meta = json.loads(archive.read(name))
                    if isinstance(meta, dict) and meta.get("AOTI_DEVICE_KEY"):
                        return str(meta["AOTI_DEVICE_KEY"])
    except (zipfile.BadZipFile, json.JSONDecodeError, OSError) as exc:
        raise ModelFileError(f"{path} is not a readable AOTInductor package ({exc})") from None
    raise ModelFileError(f"{path} does not say which device it was compiled for (no AOTI_DEVICE_KEY)")


class AotiBackend(TorchBackend):
    """An AOTInductor package loaded from Python, as a runtime backend.

    The package takes the network's place in :class:`TorchBackend`'s
    :meth:`forward`; running, timing and the end-to-end path are the same.
    """

    name = "aoti"
    noun = "package"

    def __init__(self, variant: str, path: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        import torch  # not at the top: the benchmarks import without torch

        if variant not in AOTI_BACKENDS:
            raise ConfigError(f"unknown AOTInductor backend {variant!r}; use {' or '.join(AOTI_BACKENDS)}")
        self.torch = torch
        self.variant = variant
        self.path = Path(path)
        self.info = read_package_info(self.path)
        self.precision = self.info.precision
        self.compiled = self.channels_last = False
        if self.precision != AOTI_BACKENDS[variant]:
            raise ConfigError(f"{self.path} is a {self.precision} package; {variant} runs {AOTI_BACKENDS[variant]} packages")
        self.compiled_for = package_device(self.path)
        self.device = Device.parse(device)
        if self.compiled_for != self.device.kind:
            raise Skip(f"{self.path.name} was compiled for {self.compiled_for}, not {self.device.kind} "
                       f"(acnet export aoti --device {self.device.kind})")
        self.cuda = self.device.is_cuda
        if self.cuda and not torch.cuda.is_available():
            raise Skip("CUDA is not available to torch")
        if threads is not None and not self.cuda:
            torch.set_num_threads(int(threads))
        self.torch_device = torch.device(str(self.device))
        self.limits = BatchLimits(*read_package_batch_range(self.path))
        start = time.perf_counter()
        self.runner = torch._inductor.aoti_load_package(str(self.path), device_index=self.device.index if self.cuda else -1)
        self.load_s = time.perf_counter() - start

    def forward(self, rgb, depth):
        return self.runner(rgb, depth)

    def run(self, rgb: np.ndarray, depth: np.ndarray):
        """:meth:`TorchBackend.run`; a camera-native package's camera buffers in, (labels, confidence) out."""
        if self.info.camera is None:
            return super().run(rgb, depth)
        torch = self.torch
        with torch.inference_mode():
            outputs = self.runner(torch.from_numpy(rgb).to(self.torch_device), torch.from_numpy(depth).to(self.torch_device))
        return tuple(t.cpu().numpy() for t in outputs)

    def details(self) -> dict:
        return {
            "framework": f"torch {self.torch.__version__} AOTInductor",
            "runtime": "torch._inductor.aoti_load_package in the runtime's Segmenter "
                       "(the Python runtime has no .pt2 backend; the C library runs the same package)",
            "precision": self.precision,
            "device": str(self.device),
            "package": str(self.path),
            "batch": str(self.limits),
            "load_s": round(self.load_s, 3),
            **self._where(),
        }

    def describe(self) -> str:
        return f"AOTInductor {self.precision} package {self.path.name} on {self.device} ({self.limits})"


def segmenter_around(backend, batch_size: int) -> Segmenter:
    """A :class:`acnet.runtime.Segmenter` over an already open backend.

    PyTorch has no file for the Segmenter to open; every step around the
    network (preprocessing, batching, resizing, argmax) stays the runtime's.
    """
    return Segmenter.from_backend(backend, batch_size)


# --------------------------------------------------------------------------- the runtime's backends


def ort_providers(name: str, device: str) -> list | None:
    """ONNX Runtime's providers for the bench backend ``name``; None: the runtime's own choice (CPU)."""
    try:
        import onnxruntime as ort  # not at the top: only the ONNX Runtime rows need it
    except ImportError:
        raise Skip("onnxruntime is not installed (pip install onnxruntime)") from None
    dev = Device.parse(device)
    available = ort.get_available_providers()
    if name in ("onnxruntime", "onnxruntime-int8", "onnxruntime-camera"):
        if not dev.is_cuda:
            return None
        if CUDA_EP not in available:
            raise Skip(f"this onnxruntime has no CUDA provider (has {', '.join(available)}); install onnxruntime-gpu")
        # CUDA alone, so that TensorRT's provider is measured on its own row.
        return [(CUDA_EP, {"device_id": dev.index}), CPU_EP]
    if not dev.is_cuda:
        raise Skip("the TensorRT execution provider needs a CUDA device (--device cuda)")
    if TRT_EP not in available:
        raise Skip(f"this onnxruntime has no TensorRT provider (has {', '.join(available)})")
    return choose_providers(dev, available)  # TensorRT first, then CUDA and CPU for what it cannot run


def open_runtime(name: str, path: Path, device: str, threads: int | None, batch_size: int,
                 input_size: tuple[int, int] | None = None):
    """The runtime's backend for bench backend ``name``, opened as an application opens it (a Segmenter)."""
    kwargs: dict = {"batch_size": batch_size, "input_size": input_size}
    if name.startswith("onnxruntime"):
        kwargs.update(backend="onnxruntime", threads=threads, providers=ort_providers(name, device))
    elif name in OPENVINO_BACKENDS:
        if Device.parse(device).is_cuda:
            raise Skip("OpenVINO runs on the CPU (or an Intel GPU), not CUDA (--device cpu)")
        kwargs.update(backend="openvino", threads=threads, precision=OPENVINO_BACKENDS[name])
    else:
        if not device.startswith("cuda"):
            raise Skip("TensorRT engines run on a CUDA device (--device cuda)")
        kwargs.update(backend="tensorrt")
    try:
        return Segmenter(path, device=device, **kwargs).backend
    except BackendUnavailableError as exc:
        raise Skip(str(exc)) from None


# --------------------------------------------------------------------------- what acnet bench runs


@dataclass(frozen=True)
class Opening:
    """Where and how a bench backend runs (the same for every backend of a run)."""

    device: str = "cpu"
    threads: int | None = None
    #: The largest batch it will be given.
    batch_size: int = 1
    #: (height, width) to run at; None: the model's own.
    input_size: tuple[int, int] | None = None


def _open_torch(name: str, loaded, how: Opening) -> Timer:
    return TorchTimer(TorchBackend(name, loaded.model, loaded.info, how.device, how.threads))


def _open_aoti(name: str, path: Path, how: Opening) -> Timer:
    backend = AotiBackend(name, path, how.device, how.threads)
    if backend.info.camera is not None:
        backend.close()
        raise Skip("a camera-native package is timed from C (segment --repeat), which gives its model time apart")
    return TorchTimer(backend)


def _open_runtime(name: str, path: Path, how: Opening) -> Timer:
    backend = open_runtime(name, path, how.device, how.threads, how.batch_size, how.input_size)
    return RuntimeTimer(name, backend, how.batch_size, how.input_size)


@dataclass(frozen=True)
class BenchBackend:
    """One row of ``acnet bench``: the artefact it runs and how its timer is opened."""

    #: An :class:`acnet.benchmarks.artefacts.Artefacts` field: "checkpoint" (the loaded network), "onnx",
    #: "int8_onnx", "camera_onnx", "engine" or "aoti".
    artefact: str
    #: (name, the artefact, Opening) -> a timer; raises Skip when it cannot run here.
    open: Callable[[str, Any, Opening], Timer]


#: Every backend ``acnet bench`` measures, in the order of its help text.
BENCH_BACKENDS: dict[str, BenchBackend] = {
    **{name: BenchBackend("checkpoint", _open_torch) for name in (
        "torch", "torch-tf32", "torch-fp16", "torch-bf16", "torch-compile", "torch-fp16-compile", "torch-bf16-compile")},
    "onnxruntime": BenchBackend("onnx", _open_runtime),
    #: ONNX Runtime on the INT8 model given with ``--int8-onnx``, on its own row.
    "onnxruntime-int8": BenchBackend("int8_onnx", _open_runtime),
    #: ONNX Runtime on the camera-native model given with ``--camera-onnx``, on the raw frames.
    "onnxruntime-camera": BenchBackend("camera_onnx", _open_runtime),
    "onnxruntime-trt": BenchBackend("onnx", _open_runtime),
    #: OpenVINO on the FP32 ONNX model (fp32, or bf16 where the CPU has it) and on the INT8 one (``--int8-onnx``).
    "openvino": BenchBackend("onnx", _open_runtime),
    "openvino-bf16": BenchBackend("onnx", _open_runtime),
    "openvino-int8": BenchBackend("int8_onnx", _open_runtime),
    "tensorrt": BenchBackend("engine", _open_runtime),
    **{name: BenchBackend("aoti", _open_aoti) for name in AOTI_BACKENDS},
}
TORCH_BACKENDS = tuple(n for n, b in BENCH_BACKENDS.items() if b.artefact == "checkpoint")


def open_timer(name: str, artefact, how: Opening = Opening()) -> Timer:
    """The timer of bench backend ``name`` on ``artefact`` (a path, or the loaded checkpoint for torch)."""
    if name not in BENCH_BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; choose from {', '.join(BENCH_BACKENDS)}")
    return BENCH_BACKENDS[name].open(name, artefact, how)
