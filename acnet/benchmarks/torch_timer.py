"""Times a PyTorch network or an AOTInductor package (:mod:`acnet.benchmarks.backends`).

On CUDA, compute time comes from CUDA events recorded on the stream right
before and after the network (the copies run before the first event and after
the second), latency from the host clock around copy-in, network and copy-out.
Inputs are copied from pinned memory and the logits into pinned memory, as an
application that cares about latency does: a pageable copy of 480x640 FP32
logits (49 MB at 40 classes) is staged by the driver and costs milliseconds.
On CPU, compute is the network's call and latency adds the copy of its output
to numpy. The end-to-end figure runs the runtime's
:class:`~acnet.runtime.Segmenter` around the same backend, its run timed
inside each call (:class:`~acnet.benchmarks.timing.TimedBackend`).
"""

from __future__ import annotations

import time

import numpy as np

from acnet.benchmarks.timing import Call, Frames, Skip, TimedBackend, check_batch
from acnet.runtime.segmenter import Segmenter


class TorchTimer:
    """Times :meth:`TorchBackend.forward <acnet.benchmarks.backends.TorchBackend.forward>` (or a package's)."""

    def __init__(self, backend) -> None:
        import torch  # not at the top: the benchmarks import without torch

        self.torch = torch
        self.backend = backend
        self.name = backend.variant
        self.info = backend.info
        self.precision = backend.precision
        self._inputs = self._events = None
        self._segmenter = self._network = None

    def details(self) -> dict:
        return self.backend.details()

    def prepare(self, frames: Frames) -> None:
        torch, backend = self.torch, self.backend
        check_batch(backend.limits, frames.batch, backend.noun)
        height, width = frames.rgb_batch.shape[2:]
        if (height, width) != (self.info.input_height, self.info.input_width):
            raise Skip(f"the {backend.noun} runs {self.info.input_height}x{self.info.input_width} inputs, "
                       f"not {height}x{width}")
        # Made in inference mode like the end-to-end path's tensors, so a compiled
        # graph's guards accept both and it compiles once.
        with torch.inference_mode():
            rgb = host_tensor(torch, frames.rgb_batch)
            depth = host_tensor(torch, frames.depth_batch)
            if backend.cuda:
                rgb, depth = rgb.pin_memory(), depth.pin_memory()
        if backend.cuda:
            self._events = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
        self._inputs = (rgb, depth)
        # The end-to-end path runs this batch in one call, like the runtime's Segmenter would,
        # through the same forward (eager, compiled or the package) as the raw call, timed inside.
        self._network = TimedBackend(backend)
        self._segmenter = Segmenter.from_backend(self._network, frames.batch)

    def run(self, frames: Frames) -> Call:
        torch, backend = self.torch, self.backend
        rgb, depth = self._inputs
        with torch.inference_mode():
            if not backend.cuda:
                t0 = time.perf_counter()
                out = backend.forward(rgb, depth)
                t1 = time.perf_counter()
                host = out.numpy()
                return Call(t1 - t0, time.perf_counter() - t0, host)
            start, end = self._events
            t0 = time.perf_counter()
            rgb_d = rgb.to(backend.torch_device, non_blocking=True)
            depth_d = depth.to(backend.torch_device, non_blocking=True)
            start.record()
            out = backend.forward(rgb_d, depth_d)
            end.record()
            host = host_logits(torch, out, backend.torch_device)
            latency = time.perf_counter() - t0
            end.synchronize()
            return Call(start.elapsed_time(end) / 1000.0, latency, host)

    def end_to_end(self, frames: Frames) -> float:
        self._network.take()
        self._segmenter.segment_batch(zip(frames.rgb, frames.depth))
        return self._network.take()

    def close(self) -> None:
        self._inputs = None
        self._segmenter = self._network = None
        self.backend.close()


def host_logits(torch, out, device) -> np.ndarray:
    """Logits on the host: a CUDA tensor copied into pinned memory (returns when the copy is done).

    A new pinned tensor per call, from torch's caching host allocator (after
    the first call of a shape, taking one is a free-list lookup), so outputs
    of successive calls never share memory.
    """
    if out.device.type != "cuda":
        return out.numpy()
    host = torch.empty(out.shape, dtype=out.dtype, pin_memory=True)
    host.copy_(out, non_blocking=True)
    torch.cuda.current_stream(device).synchronize()
    return host.numpy()


def host_tensor(torch, array: np.ndarray):
    """A zero-copy tensor with canonical strides (numpy's ``x[None]`` has stride 0 on the new axis,
    which a compiled graph's guards would treat as a new input and recompile for)."""
    t = torch.from_numpy(np.ascontiguousarray(array))
    return t.reshape(-1).view(t.shape)
