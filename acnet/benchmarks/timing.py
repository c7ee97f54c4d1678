"""How one backend is timed: the figures, what each means, and the loop.

A :class:`Timer` wraps one way of running the network (PyTorch eager, ONNX
Runtime, TensorRT, ...). The loop hands every timer the same frames, warms it
up (the first calls build kernels, plans, caches and CUDA graphs and are never
timed), then runs rounds in which every timer makes one timed raw call and one
timed end-to-end call. Load that comes and goes on a shared machine so hits
all backends and both figures alike, and ratios of medians from one run (the
speed-ups, the runtime's overhead) stay meaningful.

Two things keep the figures honest:

- Thread pools spin-wait after a call (ONNX Runtime's workers for about
  2^20 pauses, tens of milliseconds; libgomp's for GOMP_SPINCOUNT). On a
  small CPU the next backend would run against that spinning, which an
  application running one backend never sees, and whichever of its two calls
  came first would pay for it (it made PyTorch's latency 2.6x its own
  end-to-end time). Before each backend's turn the loop waits until no other
  thread of the process is runnable (:func:`settle`).
- The runtime's overhead is measured per call: the backend's run is timed
  inside each end-to-end call (:class:`TimedBackend`), and the overhead is
  that call's end-to-end time minus its own network time, never a difference
  of two medians, so it cannot come out negative.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from acnet.errors import ConfigError
from acnet.runtime.backends.base import BatchLimits
from acnet.runtime.preprocess import preprocess, resize_bilinear, resize_nearest

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
    "network_ms": "The backend's run (normalised host arrays to host logits) timed inside each end-to-end call",
    "overhead_ms": "The runtime's overhead per end-to-end call: that call's end-to-end time minus its own network "
                   "time (preprocessing, batching, logits resize, argmax); never negative",
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

    def end_to_end(self, frames: Frames) -> float:
        """Raw frames to HxW uint8 class-id maps, as an application does it.

        Returns the seconds the network (the backend's run, see
        :class:`TimedBackend`) took inside this call.
        """
        ...

    def close(self) -> None:
        ...


class Skip(Exception):
    """A backend or batch size cannot be measured here; the message says why."""


def check_batch(limits: BatchLimits, batch: int, noun: str = "model") -> None:
    """Raise :class:`Skip` when a ``noun`` ("model", "package") with these batch limits cannot run ``batch``."""
    if limits.fixed and batch != limits.minimum:
        raise Skip(f"the {noun} has a fixed batch of {limits.minimum}; export with --dynamic-batch to run batch {batch}")
    if batch < limits.minimum or (limits.maximum is not None and batch > limits.maximum):
        raise Skip(f"batch {batch} is outside the {noun}'s range ({limits})")


@dataclass
class Samples:
    """Raw samples of one backend at one batch size, in seconds."""

    compute: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    end_to_end: list[float] = field(default_factory=list)
    #: The network's share of each end-to-end call (same length as ``end_to_end``).
    network: list[float] = field(default_factory=list)
    #: Seconds spent in warm-up calls (compilation, autotuning, caches).
    warmup_s: float = 0.0
    #: Seconds waited before each of this timer's turns for other threads to go idle (:func:`settle`).
    settle_s: list[float] = field(default_factory=list)

    @property
    def overhead(self) -> list[float]:
        """Per end-to-end call: its time minus the network's time inside it (>= 0, checked when recorded)."""
        return [e - n for e, n in zip(self.end_to_end, self.network)]


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
    previous = active[-1] if active else None
    while active and (rounds < iters or time.perf_counter() - begin < duration_s):
        shift = rounds % len(active)
        for timer in active[shift:] + active[:shift]:
            samples = results[timer.name]
            # Another backend's thread pool may still be spinning; let it stop first.
            waited = settle() if timer is not previous else 0.0
            previous = timer
            try:
                call = timer.run(frames)
                t0 = time.perf_counter()
                network = timer.end_to_end(frames)
                e2e = time.perf_counter() - t0
            except Exception as exc:  # noqa: BLE001
                log.debug("%s failed", timer.name, exc_info=True)
                results[timer.name] = exc
                continue
            if not isinstance(network, (int, float)) or not 0.0 <= network <= e2e:
                results[timer.name] = RuntimeError(
                    f"{timer.name}: network time {network!r} s is not within its end-to-end call ({e2e:.6f} s)")
                continue
            samples.compute.append(call.compute_s)
            samples.latency.append(call.latency_s)
            samples.end_to_end.append(e2e)
            samples.network.append(float(network))
            samples.settle_s.append(waited)
            if progress is not None:
                progress.update(1)
        active = [t for t in active if isinstance(results[t.name], Samples)]
        rounds += 1
    return results


class TimedBackend:
    """A runtime backend whose ``run`` also adds up its own wall time.

    A Segmenter built around it (``Segmenter.from_backend``) runs exactly as
    usual; :meth:`take` then says how much of an end-to-end call was the
    network, so the overhead is measured within the same call.
    """

    def __init__(self, backend) -> None:
        self.backend = backend
        self.seconds = 0.0

    def __getattr__(self, name: str):
        return getattr(self.backend, name)

    def run(self, rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return self.backend.run(rgb, depth)
        finally:
            self.seconds += time.perf_counter() - t0

    def take(self) -> float:
        """Seconds spent in ``run`` since the last ``take``."""
        seconds, self.seconds = self.seconds, 0.0
        return seconds


#: How long :func:`settle` waits at most (a thread that never sleeps would otherwise stall the loop).
SETTLE_MAX_S = 0.5


def settle(max_s: float = SETTLE_MAX_S, poll_s: float = 0.0005) -> float:
    """Wait until no other thread of this process is runnable; returns the seconds waited.

    Thread pools spin after their work is done (ONNX Runtime's workers, libgomp's
    OpenMP threads, BLAS pools), so right after one backend returns, its threads
    still occupy cores. Linux shows every thread's state in ``/proc/self/task``;
    a spinning thread is runnable (``R``) even while the scheduler has it off the
    CPU, so this does not depend on the machine's load. Two polls in a row must
    see no runnable thread. Elsewhere it falls back to the process's CPU time
    over a short window.
    """
    start = time.perf_counter()
    quiet = 0
    while time.perf_counter() - start < max_s:
        busy = _others_runnable()
        if busy is None:
            return _settle_by_cpu_time(max_s, start)
        quiet = 0 if busy else quiet + 1
        if quiet >= 2:
            break
        time.sleep(poll_s)
    else:
        log.debug("other threads still runnable after %.2f s; timing anyway", max_s)
    return time.perf_counter() - start


def _others_runnable() -> bool | None:
    """True when a thread other than the caller is running or runnable; None without /proc."""
    me = threading.get_native_id()
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return None
    for tid in tids:
        if tid == str(me):
            continue
        try:
            with open(f"/proc/self/task/{tid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # the thread has just exited
        # "tid (comm) S ...": the state follows the last ')' (comm may contain anything).
        state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
        if state == b"R":
            return True
    return False


def _settle_by_cpu_time(max_s: float, start: float, window_s: float = 0.002) -> float:
    """No /proc: wait until the process burns under 10 % of a core over a short window."""
    while time.perf_counter() - start < max_s:
        cpu0 = time.process_time()
        time.sleep(window_s)
        if time.process_time() - cpu0 < 0.1 * window_s:
            break
    return time.perf_counter() - start


def make_frames(rgb: Sequence[np.ndarray], depth: Sequence[np.ndarray], config) -> Frames:
    """Preprocess raw frames once with the runtime's preprocessing."""
    pairs = [preprocess(r, d, config) for r, d in zip(rgb, depth)]
    return Frames(
        rgb=tuple(rgb),
        depth=tuple(depth),
        rgb_batch=np.stack([p[0] for p in pairs]),
        depth_batch=np.stack([p[1] for p in pairs]),
    )


def as_camera_frame(rgb: np.ndarray, depth_m: np.ndarray, label: np.ndarray, camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dataset frame as ``camera`` would give it: (uint8 RGB, raw depth, labels) at its size.

    A frame of another size is resized first (bilinear RGB rounded to uint8,
    nearest-exact depth and labels, the runtime's resizing); depth becomes
    uint16 in the camera's units (rounded, clipped to 0..65535) or stays
    float32 metres.
    """
    h, w = camera.size
    if rgb.shape[:2] != (h, w):
        rgb = np.clip(np.rint(resize_bilinear(rgb, h, w)), 0, 255).astype(np.uint8)
        depth_m, label = resize_nearest(depth_m, h, w), resize_nearest(label, h, w)
    if camera.depth_dtype == "uint16":
        depth = np.clip(np.rint(depth_m.astype(np.float64) / camera.depth_scale), 0, 65535).astype(np.uint16)
    else:
        depth = depth_m.astype(np.float32, copy=False)
    return np.ascontiguousarray(rgb), np.ascontiguousarray(depth), label
