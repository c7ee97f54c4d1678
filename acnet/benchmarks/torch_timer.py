"""PyTorch as a benchmark backend: eager FP32, TF32, FP16/bf16 autocast, torch.compile.

Variants are named ``torch[-tf32|-fp16|-bf16][-compile]``:

- ``torch``: eager FP32 in the default NCHW layout with PyTorch's default
  settings and TF32 off, the baseline every speed-up is quoted against;
- ``-tf32``: the same with cuDNN allowed to use TF32 (CUDA only; FP32
  storage, 10-bit-mantissa products on the matrix units);
- ``-fp16`` / ``-bf16``: autocast to that type with channels_last weights
  and inputs, and ``cudnn.benchmark`` on CUDA (FP16 needs CUDA);
- ``-compile``: ``torch.compile``; on CUDA with mode ``reduce-overhead``,
  which replays CUDA graphs, on CPU the default Inductor mode.

On CUDA, compute time comes from CUDA events recorded on the stream right
before and after the network (the copies run before the first event and after
the second), latency from the host clock around copy-in, network and copy-out.
"""

from __future__ import annotations

import copy
import time

import numpy as np

from acnet.benchmarks.timing import Call, Frames, Skip, TimedBackend
from acnet.errors import ConfigError

PRECISIONS = ("fp32", "tf32", "fp16", "bf16")
#: Precisions that run under autocast (the others keep FP32 tensors).
AUTOCAST = ("fp16", "bf16")


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


class TorchTimer:
    """Runs a checkpoint's network with PyTorch on CPU or CUDA."""

    def __init__(self, name: str, model, info, device: str = "cpu", threads: int | None = None) -> None:
        """``model`` is the eval-mode FP32 network; variants that change it work on a copy."""
        import torch

        self.torch = torch
        self.name = name
        self.precision, self.compiled = parse_variant(name)
        self.device = torch.device(device)
        self.info = info
        self.cuda = self.device.type == "cuda"
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
        model = model.to(self.device).eval()
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        #: cuDNN autotuning, set per call (a context, not a global switch).
        self.cudnn_benchmark = self.cuda and (self.precision in AUTOCAST or self.compiled)
        self.model = model
        self._fn = self._build()
        self._inputs = None
        self._segmenter = self._network = None

    def _build(self):
        torch = self.torch
        amp = self.precision in AUTOCAST
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision)
        model = self.model

        def forward(rgb, depth):
            with torch.autocast(self.device.type, dtype=dtype, enabled=amp):
                # NCHW float32 logits, as the runtime's backends return them (a
                # channels_last output would make every later argmax stride badly).
                return model(rgb, depth).float().contiguous()

        if not self.compiled:
            return forward
        mode = "reduce-overhead" if self.cuda else None
        return torch.compile(forward, mode=mode, dynamic=False)

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
            d["gpu"] = torch.cuda.get_device_name(self.device)
        else:
            d["threads"] = torch.get_num_threads()
        return d

    def prepare(self, frames: Frames) -> None:
        torch = self.torch
        # Made in inference mode like the end-to-end path's tensors, so a compiled
        # graph's guards accept both and it compiles once.
        with torch.inference_mode():
            rgb = _tensor(torch, frames.rgb_batch)
            depth = _tensor(torch, frames.depth_batch)
            if self.cuda:
                rgb, depth = rgb.pin_memory(), depth.pin_memory()
        if self.cuda:
            self._events = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
        self._inputs = (rgb, depth)
        # The end-to-end path runs this batch in one call, like the runtime's Segmenter would,
        # through the same _forward (eager or compiled) as the raw call.
        self._network = TimedBackend(TorchBackend(self))
        self._segmenter = segmenter_around(self._network, frames.batch)

    def _forward(self, rgb, depth):
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

    def run(self, frames: Frames) -> Call:
        torch = self.torch
        rgb, depth = self._inputs
        with torch.inference_mode():
            if not self.cuda:
                t0 = time.perf_counter()
                out = self._forward(rgb, depth)
                t1 = time.perf_counter()
                host = out.numpy()
                return Call(t1 - t0, time.perf_counter() - t0, host)
            start, end = self._events
            t0 = time.perf_counter()
            rgb_d = rgb.to(self.device, non_blocking=True)
            depth_d = depth.to(self.device, non_blocking=True)
            start.record()
            out = self._forward(rgb_d, depth_d)
            end.record()
            host = out.cpu()  # synchronises
            latency = time.perf_counter() - t0
            end.synchronize()
            return Call(start.elapsed_time(end) / 1000.0, latency, host.numpy())

    def end_to_end(self, frames: Frames) -> float:
        self._network.take()
        self._segmenter.segment_batch(zip(frames.rgb, frames.depth))
        return self._network.take()

    def host_run(self, rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Normalised host arrays -> host FP32 logits, untimed (the runtime's backend contract)."""
        torch = self.torch
        with torch.inference_mode():
            rgb, depth = _tensor(torch, rgb).to(self.device), _tensor(torch, depth).to(self.device)
            return self._forward(rgb, depth).cpu().numpy()

    def close(self) -> None:
        self._inputs = None
        self._segmenter = self._network = None
        self.model = None
        self._fn = None
        if self.cuda:
            self.torch.cuda.empty_cache()


def _tensor(torch, array: np.ndarray):
    """A zero-copy tensor with canonical strides (numpy's ``x[None]`` has stride 0 on the new axis,
    which a compiled graph's guards would treat as a new input and recompile for)."""
    t = torch.from_numpy(np.ascontiguousarray(array))
    return t.reshape(-1).view(t.shape)


class TorchBackend:
    """A :class:`TorchTimer` seen as a runtime backend (``acnet.runtime.backends.Backend``)."""

    name = "torch"

    def __init__(self, timer: TorchTimer) -> None:
        from acnet.runtime.backends.base import BatchLimits, Device

        self.timer = timer
        self.info = timer.info
        self.device = Device.parse(str(timer.device))
        self.limits = BatchLimits()

    def run(self, rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
        return self.timer.host_run(rgb, depth)

    def describe(self) -> str:
        return f"{self.timer.name} on {self.device}"

    def close(self) -> None:
        pass


def segmenter_around(backend, batch_size: int):
    """A :class:`acnet.runtime.Segmenter` over an already open backend.

    PyTorch has no file for the Segmenter to open; every step around the
    network (preprocessing, batching, resizing, argmax) stays the runtime's.
    """
    from acnet.runtime.segmenter import Segmenter

    return Segmenter.from_backend(backend, batch_size)
