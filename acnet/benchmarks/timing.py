"""How one backend is timed: the figures, what each means, and the loop.

A :class:`Timer` wraps one way of running the network (PyTorch eager, ONNX
Runtime, TensorRT, ...). The loop hands every timer the same frames, warms it
up (the first calls build kernels, plans, caches and CUDA graphs and are never
timed), then runs rounds in which every timer makes one timed raw call and one
timed end-to-end call. Load that comes and goes on a shared machine so hits
all backends and both figures alike, and ratios of medians from one run (the
speed-ups, the runtime's overhead) stay meaningful.
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
    """One timer alone; see :func:`measure_all`. Raises what the timer raises."""
    (result,) = measure_all([timer], frames, warmup, iters, duration_s, progress).values()
    if isinstance(result, BaseException):
        raise result
    return result


def measure_all(timers: Sequence[Timer], frames: Frames, warmup: int, iters: int, duration_s: float = 0.0,
                progress=None) -> dict[str, "Samples | Exception"]:
    """Warm every timer up, then time at least ``iters`` rounds and ``duration_s`` seconds.

    A round gives each timer one raw call and one end-to-end call, starting
    with a different timer each round. Interleaving matters on a shared
    machine: load that comes and goes hits every backend alike, so ratios of
    medians from one run stay fair. A timer that raises is dropped and its
    exception returned in its place. ``progress`` (tqdm-like) is advanced
    once per timed call pair.
    """
    if warmup < 1:
        raise ConfigError("warm-up must be at least 1 call: the first call is never timed")
    if iters < 1:
        raise ConfigError("need at least 1 timed iteration")
    results: dict[str, Samples | Exception] = {}
    active = []
    for timer in timers:
        samples = Samples()
        start = time.perf_counter()
        try:
            for _ in range(warmup):
                timer.run(frames)
                timer.end_to_end(frames)
        except Exception as exc:  # noqa: BLE001 - reported per backend
            log.debug("%s failed during warm-up", timer.name, exc_info=True)
            results[timer.name] = exc
            continue
        samples.warmup_s = time.perf_counter() - start
        results[timer.name] = samples
        active.append(timer)
    begin = time.perf_counter()
    rounds = 0
    while active and (rounds < iters or time.perf_counter() - begin < duration_s):
        shift = rounds % len(active)
        for timer in active[shift:] + active[:shift]:
            samples = results[timer.name]
            try:
                call = timer.run(frames)
                t0 = time.perf_counter()
                timer.end_to_end(frames)
                e2e = time.perf_counter() - t0
            except Exception as exc:  # noqa: BLE001
                log.debug("%s failed", timer.name, exc_info=True)
                results[timer.name] = exc
                continue
            samples.compute.append(call.compute_s)
            samples.latency.append(call.latency_s)
            samples.end_to_end.append(e2e)
            if progress is not None:
                progress.update(1)
        active = [t for t in active if isinstance(results[t.name], Samples)]
        rounds += 1
    return results


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
