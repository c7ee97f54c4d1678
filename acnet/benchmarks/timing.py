"""How one backend is timed: the figures, what each means, and the loop.

A :class:`Timer` wraps one way of running the network (PyTorch eager, ONNX
Runtime, TensorRT, ...). The loop hands every timer the same frames, warms it
up (the first calls build kernels, plans, caches and CUDA graphs and are never
timed), then alternates one timed raw call and one timed end-to-end call per
iteration, so slow drift on a shared machine affects both alike and their
ratio (the runtime's overhead) stays meaningful.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from acnet.errors import ConfigError

log = logging.getLogger(__name__)

#: Names of the figures, as in trtexec, and what they cover.
FIGURES = {
    "compute_ms": "GPU Compute Time: CUDA events around the network's execution only "
                  "(on CPU: wall time of the backend's run alone, inputs already prepared)",
    "latency_ms": "Latency: host-to-device copy + compute + device-to-host copy, from normalised host "
                  "arrays to host logits (on CPU there are no copies, so it is compute plus output handling)",
    "end_to_end_ms": "End-to-end: raw uint8 RGB + uint16 depth frames to class-id maps, including the "
                     "runtime's preprocessing (resize, normalise) and postprocessing (logits resize, argmax)",
    "throughput_ips": "Throughput: images per second of each end-to-end call (batch / end-to-end time), "
                      "serial calls, no pipelining",
}


@dataclass(frozen=True)
class Frames:
    """The same input for every backend: raw frames and their normalised batch."""

    #: N raw frames: uint8 HxWx3 RGB and uint16 HxW depth (millimetres).
    rgb: tuple[np.ndarray, ...]
    depth: tuple[np.ndarray, ...]
    #: The frames preprocessed by acnet.runtime.preprocess: (N,3,H,W), (N,1,H,W) float32.
    rgb_batch: np.ndarray
    depth_batch: np.ndarray

    @property
    def batch(self) -> int:
        return len(self.rgb)


@dataclass(frozen=True)
class Call:
    """One raw call: seconds of compute and of latency, and the output."""

    compute_s: float
    latency_s: float
    output: np.ndarray | None = None


class Timer(Protocol):
    """One way of running the network, prepared for one batch size at a time."""

    #: Backend name as given on the command line, e.g. "torch-fp16".
    name: str

    def details(self) -> dict:
        """Precision, device, providers and settings, for the report."""
        ...

    def prepare(self, frames: Frames) -> None:
        """Get ready for this batch (build, bind, compile). May raise ``Skip``."""
        ...

    def run(self, frames: Frames) -> Call:
        """One raw call on the normalised batch, timed inside."""
        ...

    def end_to_end(self, frames: Frames) -> list[np.ndarray]:
        """Raw frames to HxW uint8 class-id maps, as an application does it."""
        ...

    def close(self) -> None:
        ...


class Skip(Exception):
    """A backend or batch size cannot be measured here; the message says why."""


@dataclass
class Samples:
    """Raw samples of one backend at one batch size, in seconds."""

    compute: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    end_to_end: list[float] = field(default_factory=list)
    #: Seconds spent in warm-up calls (compilation, autotuning, caches).
    warmup_s: float = 0.0


def measure(timer: Timer, frames: Frames, warmup: int, iters: int, duration_s: float = 0.0,
            progress=None) -> Samples:
    """Warm ``timer`` up, then time at least ``iters`` iterations and ``duration_s`` seconds.

    Each iteration is one raw call and one end-to-end call. ``progress`` (a
    tqdm-like object) is advanced once per timed iteration.
    """
    if warmup < 1:
        raise ConfigError("warm-up must be at least 1 call: the first call is never timed")
    if iters < 1:
        raise ConfigError("need at least 1 timed iteration")
    samples = Samples()
    start = time.perf_counter()
    for _ in range(warmup):
        timer.run(frames)
        timer.end_to_end(frames)
    samples.warmup_s = time.perf_counter() - start
    begin = time.perf_counter()
    while len(samples.latency) < iters or time.perf_counter() - begin < duration_s:
        call = timer.run(frames)
        samples.compute.append(call.compute_s)
        samples.latency.append(call.latency_s)
        t0 = time.perf_counter()
        timer.end_to_end(frames)
        samples.end_to_end.append(time.perf_counter() - t0)
        if progress is not None:
            progress.update(1)
    log.debug("%s batch %d: %d timed iterations after %.1f s warm-up", timer.name, frames.batch,
              len(samples.latency), samples.warmup_s)
    return samples


def make_frames(rgb: Sequence[np.ndarray], depth: Sequence[np.ndarray], config) -> Frames:
    """Preprocess raw frames once with the runtime's preprocessing."""
    from acnet.runtime.preprocess import preprocess

    pairs = [preprocess(r, d, config) for r, d in zip(rgb, depth)]
    return Frames(
        rgb=tuple(rgb),
        depth=tuple(depth),
        rgb_batch=np.stack([p[0] for p in pairs]),
        depth_batch=np.stack([p[1] for p in pairs]),
    )
