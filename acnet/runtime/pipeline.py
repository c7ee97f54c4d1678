"""A pipelined runner: capture, preprocessing, inference and postprocessing overlap.

Each stage runs in its own thread and hands frames on through bounded
queues, so throughput approaches the slowest stage instead of the sum of
all of them (numpy and ONNX Runtime release the GIL while they compute)::

    from acnet.runtime import Pipeline, Segmenter, open_source

    with Segmenter("acnet.onnx") as seg, open_source("realsense:walk.db3") as source:
        pipeline = Pipeline(seg, source)
        for result in pipeline:
            result.labels          # HxW uint8 class ids, the same as seg.segment()
        print(pipeline.stats().summary())

Frames leave in the order they entered. Recordings, bags and stills wait for
the pipeline, so every frame is processed. A live camera does not wait: when
the first queue is full, ``drop`` decides (default for live sources
``"oldest"``: the stale frame waiting longest is discarded, so what is
processed is always the newest; ``"newest"`` discards the incoming frame
instead, keeping a steadier frame spacing; ``"none"`` never drops here and
leaves any dropping to the source, e.g. librealsense's own frame queue).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from acnet.errors import ConfigError
from acnet.runtime.segmenter import Segmenter
from acnet.runtime.sources import Frame, Source

STAGES = ("capture", "preprocess", "inference", "postprocess")
DROP_POLICIES = ("oldest", "newest", "none")
_END = object()


@dataclass
class Result:
    """One processed frame.

    ``times`` holds the seconds each stage spent on it ("capture" is how
    long the source took to hand it over: reading and decoding a recording,
    mostly waiting for the next frame from a camera); ``latency`` is
    end to end, from ``frame.received`` (the source handing the frame over)
    to this result reaching the reader; ``waited`` is the part of it spent in
    queues between stages.
    """

    frame: Frame
    labels: np.ndarray
    overlay: np.ndarray | None
    times: dict[str, float]
    latency: float
    waited: float


@dataclass
class _Job:
    frame: Frame
    times: dict[str, float] = field(default_factory=dict)
    left: float = 0.0  # when the last stage finished with it
    waited: float = 0.0
    inputs: tuple | None = None
    output: np.ndarray | None = None
    labels: np.ndarray | None = None
    overlay: np.ndarray | None = None


def _summary(values_s: list[float]) -> dict[str, float]:
    if not values_s:
        return {"median": float("nan"), "p90": float("nan"), "p99": float("nan"), "mean": float("nan")}
    ms = np.asarray(values_s) * 1000.0
    return {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)), "p99": float(np.percentile(ms, 99)),
            "mean": float(ms.mean())}


@dataclass
class PipelineStats:
    """Per-stage and end-to-end latency (ms: median, p90, p99, mean), throughput, drops."""

    frames: int
    dropped: int
    seconds: float
    stages: dict[str, dict[str, float]]
    end_to_end: dict[str, float]
    queue_wait: dict[str, float]
    unpaired: dict[str, int] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "frames": self.frames,
            "dropped": self.dropped,
            "seconds": self.seconds,
            "throughput_fps": self.fps,
            "stages_ms": self.stages,
            "end_to_end_ms": self.end_to_end,
            "queue_wait_ms": self.queue_wait,
            "unpaired": self.unpaired,
        }

    def summary(self) -> str:
        lines = [f"{self.frames} frame(s) in {self.seconds:.2f} s: {self.fps:.2f} frames/s, {self.dropped} dropped"]
        lines.append(f"{'stage':<12} {'median':>9} {'p90':>9} {'p99':>9}  (ms)")
        rows = [*self.stages.items(), ("queues", self.queue_wait), ("end to end", self.end_to_end)]
        for name, s in rows:
            lines.append(f"{name:<12} {s['median']:9.2f} {s['p90']:9.2f} {s['p99']:9.2f}")
        return "\n".join(lines)


class Pipeline:
    """Run ``segmenter`` over ``source`` with one thread per stage; iterate for :class:`Result`.

    Args:
        segmenter: an open :class:`~acnet.runtime.Segmenter`.
        source: any :class:`~acnet.runtime.sources.Source` (or iterable of
            :class:`~acnet.runtime.sources.Frame` with a ``live`` attribute).
        queue_size: frames each queue between stages holds.
        drop: "oldest", "newest" or "none"; default "oldest" for live
            sources and "none" (process every frame) for the others.
        overlay: also colour the labels over the image (in the
            postprocessing thread) with this alpha; None for labels only.
    """

    def __init__(self, segmenter: Segmenter, source: Source, *, queue_size: int = 2, drop: str | None = None,
                 overlay: float | None = None) -> None:
        self.live = bool(getattr(source, "live", False))
        drop = drop or ("oldest" if self.live else "none")
        if drop not in DROP_POLICIES:
            raise ConfigError(f"drop must be one of {', '.join(DROP_POLICIES)}, got {drop!r}")
        if int(queue_size) < 1:
            raise ConfigError(f"queue_size must be at least 1, got {queue_size}")
        if overlay is not None and not 0.0 <= float(overlay) <= 1.0:
            raise ConfigError(f"overlay alpha must lie in [0, 1], got {overlay}")
        self.segmenter, self.source, self.drop = segmenter, source, drop
        self.queue_size, self.alpha = int(queue_size), overlay
        self.dropped = 0
        self._times: dict[str, list[float]] = {s: [] for s in STAGES}
        self._latency: list[float] = []
        self._waited: list[float] = []
        self._started = self._finished = None
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._queues: list[queue.Queue] = []

    # ------------------------------------------------------------------ stages

    def _preprocess(self, job: _Job) -> None:
        f = job.frame
        job.inputs = self.segmenter.preprocess(f.rgb, f.depth, f.depth_scale)

    def _infer(self, job: _Job) -> None:
        job.output = self.segmenter.infer([job.inputs])[0]
        job.inputs = None

    def _postprocess(self, job: _Job) -> None:
        h, w = job.frame.rgb.shape[:2]
        job.labels = self.segmenter.postprocess(job.output, h, w)
        job.output = None
        if self.alpha is not None:
            job.overlay = self.segmenter.overlay(job.frame.rgb, job.labels, self.alpha)

    # ------------------------------------------------------------------ threads

    def _put(self, q: queue.Queue, item) -> bool:
        """Blocking put that gives up when the pipeline stops."""
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _capture(self, out: queue.Queue) -> None:
        try:
            frames = iter(self.source)
            while not self._stop.is_set():
                start = time.perf_counter()
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                job = _Job(frame)
                job.left = time.perf_counter()
                job.times["capture"] = job.left - start
                if self.drop == "none":
                    if not self._put(out, job):
                        return
                    continue
                try:
                    out.put_nowait(job)
                except queue.Full:
                    self.dropped += 1
                    if self.drop == "newest":
                        continue
                    try:
                        out.get_nowait()  # the oldest waiting frame
                    except queue.Empty:
                        pass
                    out.put_nowait(job)  # only this thread puts, so there is room now
        except BaseException as exc:  # reported to the reader
            self._error = exc
        self._put(out, _END)

    def _stage(self, name: str, work, inq: queue.Queue, out: queue.Queue) -> None:
        while True:
            job = inq.get()
            if job is _END or self._error is not None:
                self._put(out, _END)
                return
            start = time.perf_counter()
            job.waited += start - job.left
            try:
                work(job)
            except BaseException as exc:
                self._error = exc
                self._put(out, _END)
                return
            job.left = time.perf_counter()
            job.times[name] = job.left - start
            if not self._put(out, job):
                return

    def start(self) -> None:
        if self._threads:
            raise ConfigError("a Pipeline runs once; make a new one to run again")
        self._queues = [queue.Queue(self.queue_size) for _ in range(4)]
        q = self._queues
        specs = [("capture", self._capture, (q[0],))]
        for i, (name, work) in enumerate((("preprocess", self._preprocess), ("inference", self._infer), ("postprocess", self._postprocess))):
            specs.append((name, self._stage, (name, work, q[i], q[i + 1])))
        self._started = time.perf_counter()
        for name, target, args in specs:
            t = threading.Thread(target=target, args=args, name=f"acnet-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def __iter__(self) -> Iterator[Result]:
        self.start()
        out = self._queues[-1]
        try:
            while True:
                job = out.get()
                if job is _END:
                    break
                now = time.perf_counter()
                job.waited += now - job.left
                latency = now - job.frame.received
                for name, seconds in job.times.items():
                    self._times[name].append(seconds)
                self._latency.append(latency)
                self._waited.append(job.waited)
                self._finished = now
                yield Result(job.frame, job.labels, job.overlay, job.times, latency, job.waited)
            if self._error is not None:
                raise self._error
        finally:
            self.close()

    def close(self) -> None:
        """Stop the threads (a reader that breaks out of the loop ends up here)."""
        self._stop.set()
        for q in self._queues:  # unblock anyone waiting to put
            try:
                while True:
                    q.get_nowait()
            except queue.Empty:
                pass
        for q in self._queues:
            try:
                q.put_nowait(_END)
            except queue.Full:
                pass
        for t in self._threads:
            t.join(timeout=5)

    # ------------------------------------------------------------------ figures

    def stats(self) -> PipelineStats:
        frames = len(self._latency)
        seconds = (self._finished - self._started) if frames else 0.0
        unpaired = getattr(self.source, "unpaired", {}) or {}
        return PipelineStats(frames, self.dropped, seconds, {s: _summary(v) for s, v in self._times.items()},
                             _summary(self._latency), _summary(self._waited), dict(unpaired))
