"""A pipelined runner: capture, preprocessing, inference and postprocessing overlap.

Frames move through the four steps in order, each step taking one frame at
a time, so up to four frames are in work at once and throughput approaches
the slowest step instead of the sum of all of them (numpy and ONNX Runtime
release the GIL while they compute)::

    from acnet.runtime import Pipeline, Segmenter, open_source

    with Segmenter("acnet.onnx") as seg, open_source("realsense:walk.db3") as source:
        pipeline = Pipeline(seg, source)
        for result in pipeline:
            result.labels          # HxW uint8 class ids, the same as seg.segment()
        print(pipeline.stats().summary())

A worker thread carries each frame through all the steps, waiting at a step
only while the frame before it is still there (as in TBB's pipelines).
Handing every frame from one thread to the next between steps would wake a
sleeping thread at each hand-off, and on a busy machine each wake-up waits
for a core: that latency is what a frame saves here. The number of workers
bounds the frames in flight.

Frames leave in the order they entered. Recordings, bags and stills wait for
the pipeline (a free worker reads the next frame), so every frame is
processed. A live camera does not wait: a capture thread reads it into a
bounded queue, and when that queue is full, ``drop`` decides (default for
live sources ``"oldest"``: the stale frame waiting longest is discarded, so
what is processed is always the newest; ``"newest"`` discards the incoming
frame instead, keeping a steadier frame spacing; ``"none"`` never drops here
and leaves any dropping to the source, e.g. librealsense's own frame queue).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from acnet._typed import is_finite_number, positive_int
from acnet.errors import ConfigError
from acnet.runtime.segmenter import Segmenter
from acnet.runtime.sources import Frame, Source

log = logging.getLogger(__name__)

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
    to this result reaching the reader; ``waited`` is the part of it spent
    waiting between stages (for the frame ahead to leave a stage, for the reader).
    ``confidence`` is the top class's probability x 255 (HxW uint8) when the
    pipeline was asked for it.
    """

    frame: Frame
    labels: np.ndarray
    overlay: np.ndarray | None
    times: dict[str, float]
    latency: float
    waited: float
    confidence: np.ndarray | None = None


@dataclass
class _Job:
    frame: Frame
    times: dict[str, float] = field(default_factory=dict)
    left: float = 0.0  # when the last stage finished with it
    waited: float = 0.0
    inputs: tuple | None = None
    output: np.ndarray | None = None
    labels: np.ndarray | None = None
    confidence: np.ndarray | None = None
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


class _Turns:
    """Admits frames to one step in ticket order: ticket t once ticket t - 1 has left.

    Only the worker whose turn it is gets woken (one event per waiting
    ticket), not every worker waiting at the step: each needless wake-up is
    a thread that must get a core and the GIL only to sleep again.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next = 0
        self.waiting: dict[int, threading.Event] = {}

    def wait(self, ticket: int, abandoned) -> bool:
        """Block until it is ``ticket``'s turn; False when ``abandoned(ticket)`` comes true first."""
        while True:
            with self.lock:
                if self.next == ticket:
                    self.waiting.pop(ticket, None)
                    return True
                if abandoned(ticket):
                    self.waiting.pop(ticket, None)
                    return False
                event = self.waiting.setdefault(ticket, threading.Event())
            event.wait()
            event.clear()

    def done(self) -> None:
        with self.lock:
            self.next += 1
            event = self.waiting.get(self.next)
        if event is not None:
            event.set()

    def wake(self) -> None:
        """Wake every waiter to look again (the pipeline stops, or ends before some tickets)."""
        with self.lock:
            events = list(self.waiting.values())
        for event in events:
            event.set()


class _Failure:
    """What the capture thread queues when the source raised."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Pipeline:
    """Run ``segmenter`` over ``source``, the steps overlapping; iterate for :class:`Result`.

    Args:
        segmenter: an open :class:`~acnet.runtime.Segmenter`.
        source: any :class:`~acnet.runtime.sources.Source` (or iterable of
            :class:`~acnet.runtime.sources.Frame` with a ``live`` attribute).
        queue_size: frames that may wait between steps beyond one per step:
            the live capture queue's and the results queue's size, and the
            workers beyond the four steps.
        drop: "oldest", "newest" or "none"; default "oldest" for live
            sources and "none" (process every frame) for the others.
        overlay: also colour the labels over the image (in the
            postprocessing step) with this alpha; None for labels only.
        confidence: also give each pixel's top class probability x 255
            (:meth:`Segmenter.confidence`), in the postprocessing step.
        history: how many of the latest frames the figures of :meth:`stats`
            cover (counts cover all); None for every frame. A long-running
            reader (a ROS node) sets it so memory stays flat.
    """

    def __init__(self, segmenter: Segmenter, source: Source, *, queue_size: int = 2, drop: str | None = None,
                 overlay: float | None = None, confidence: bool = False, history: int | None = None) -> None:
        self.live = bool(getattr(source, "live", False))
        drop = drop or ("oldest" if self.live else "none")
        if drop not in DROP_POLICIES:
            raise ConfigError(f"drop must be one of {', '.join(DROP_POLICIES)}, got {drop!r}")
        queue_size = positive_int(queue_size, "queue_size")
        if overlay is not None and not (is_finite_number(overlay) and 0.0 <= overlay <= 1.0):
            raise ConfigError(f"overlay alpha must be a number in [0, 1], got {overlay!r}")
        steps = ("preprocess", "infer", "postprocess") + (("overlay",) if overlay is not None else ())
        missing = [step for step in steps if not callable(getattr(segmenter, step, None))]
        if missing:
            raise ConfigError(f"segmenter must be an open acnet.runtime.Segmenter, got {segmenter!r}")
        if isinstance(source, (str, bytes)) or not callable(getattr(source, "__iter__", None)):
            raise ConfigError(f"source must be a Source (acnet.runtime.open_source) or an iterable of Frame, got {source!r}")
        self.segmenter, self.source, self.drop = segmenter, source, drop
        if history is not None and int(history) < 1:
            raise ConfigError(f"history must be at least 1 frame, got {history}")
        self.queue_size, self.alpha, self.confidence = int(queue_size), overlay, bool(confidence)
        self.dropped = 0
        self._count = 0
        self._record = threading.Lock()  # stats() may be read from another thread while frames come out
        self._times: dict[str, deque[float]] = {s: deque(maxlen=history) for s in STAGES}
        self._latency: deque[float] = deque(maxlen=history)
        self._waited: deque[float] = deque(maxlen=history)
        self._started = self._finished = None
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._queues: list[queue.Queue | None] = []  # the live capture queue (or None), the results
        self._steps = (("preprocess", self._preprocess), ("inference", self._infer), ("postprocess", self._postprocess))
        self._turns = [_Turns() for _ in self._steps]
        self._take = threading.Lock()  # the capture step: one worker takes the next frame and its ticket
        self._tickets = 0
        self._mark = threading.Lock()
        self._last: int | None = None  # the first ticket that found the end or an error: later ones are abandoned
        self._frames: Iterator | None = None

    # ------------------------------------------------------------------ steps

    def _preprocess(self, job: _Job) -> None:
        f = job.frame
        job.inputs = self.segmenter.preprocess(f.rgb, f.depth, f.depth_scale)

    def _infer(self, job: _Job) -> None:
        job.output = self.segmenter.infer([job.inputs])[0]
        job.inputs = None

    def _postprocess(self, job: _Job) -> None:
        h, w = job.frame.rgb.shape[:2]
        job.labels = self.segmenter.postprocess(job.output, h, w)
        if self.confidence:
            job.confidence = self.segmenter.confidence(job.output, h, w)
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

    def _abandoned(self, ticket: int) -> bool:
        return self._stop.is_set() or (self._last is not None and ticket > self._last)

    def _capture_live(self, out: queue.Queue) -> None:
        """A live source's own thread: it never waits for the pipeline; full queue -> ``drop``."""
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
        except BaseException as exc:  # reported to the reader, after the frames before it
            self._put(out, _Failure(exc))
            return
        self._put(out, _END)

    def _next(self) -> tuple[int, object]:
        """The capture step: (ticket, job, _END or a _Failure), taken in order by one worker at a time."""
        with self._take:
            ticket = self._tickets
            if self._last is not None or self._stop.is_set():
                return ticket, _END
            self._tickets += 1
            if self._queues[0] is not None:  # a live source's capture thread reads ahead
                while True:
                    try:
                        item = self._queues[0].get(timeout=0.1)
                        break
                    except queue.Empty:
                        if self._stop.is_set():
                            return ticket, _END
            else:
                start = time.perf_counter()
                try:
                    frame = next(self._frames)
                except StopIteration:
                    item = _END
                except BaseException as exc:
                    item = _Failure(exc)
                else:
                    item = _Job(frame)
                    item.left = time.perf_counter()
                    item.times["capture"] = item.left - start
        if not isinstance(item, _Job):
            self._end_at(ticket)
        return ticket, item

    def _end_at(self, ticket: int) -> None:
        """No frame from ``ticket`` on: the frames before it still come out, later workers stop."""
        with self._mark:
            if self._last is None or ticket < self._last:
                self._last = ticket
        for turns in self._turns:
            turns.wake()

    def _work(self) -> None:
        out = self._queues[-1]
        try:
            while not self._stop.is_set():
                ticket, job = self._next()
                if not isinstance(job, _Job):
                    self._finish(ticket, job.exc if isinstance(job, _Failure) else None)
                    return
                for (name, work), turns in zip(self._steps, self._turns):
                    if not turns.wait(ticket, self._abandoned):
                        return
                    start = time.perf_counter()
                    job.waited += start - job.left
                    try:
                        work(job)
                    except BaseException as exc:
                        self._end_at(ticket)
                        self._finish(ticket, exc)
                        return
                    job.left = time.perf_counter()
                    job.times[name] = job.left - start
                    if turns is self._turns[-1] and not self._put(out, job):  # leave in order
                        return
                    turns.done()
        except BaseException as exc:  # not from a step: still the reader's to see
            self._end_at(-1)
            self._error = exc
            self._put(out, _END)

    def _finish(self, ticket: int, error: BaseException | None) -> None:
        """At the end (or an error) found by ``ticket``: after every frame before it, tell the reader."""
        if self._turns[-1].wait(ticket, self._abandoned):  # False if an earlier ticket ended it
            self._error = error
            self._put(self._queues[-1], _END)

    def start(self) -> None:
        if self._threads:
            raise ConfigError("a Pipeline runs once; make a new one to run again")
        live = self.live and self.drop != "none"
        self._queues = [queue.Queue(self.queue_size) if live else None, queue.Queue(self.queue_size)]
        self._started = time.perf_counter()
        if live:
            self._threads.append(threading.Thread(target=self._capture_live, args=(self._queues[0],),
                                                  name="acnet-capture", daemon=True))
        else:
            self._frames = iter(self.source)
        workers = len(STAGES) + self.queue_size - 1
        self._threads += [threading.Thread(target=self._work, name=f"acnet-worker-{i}", daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()

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
                with self._record:
                    for name, seconds in job.times.items():
                        self._times[name].append(seconds)
                    self._latency.append(latency)
                    self._waited.append(job.waited)
                    self._count += 1
                    self._finished = now
                yield Result(job.frame, job.labels, job.overlay, job.times, latency, job.waited, job.confidence)
            if self._error is not None:
                raise self._error
        finally:
            self.close()
            if self.dropped and self._error is None:  # by design (a live source outran us), but never silently
                log.warning("%d frame(s) were dropped (drop=%r): the pipeline fell behind %s; %d were processed",
                            self.dropped, self.drop, getattr(self.source, "spec", "") or "the source", len(self._latency))

    def close(self) -> None:
        """Stop the threads (a reader that breaks out of the loop ends up here)."""
        self._stop.set()
        for turns in self._turns:
            turns.wake()
        for q in self._queues:  # unblock anyone waiting to put
            if q is None:
                continue
            try:
                while True:
                    q.get_nowait()
            except queue.Empty:
                pass
        for t in self._threads:
            t.join(timeout=5)

    # ------------------------------------------------------------------ figures

    def stats(self) -> PipelineStats:
        with self._record:
            frames = self._count
            seconds = (self._finished - self._started) if frames else 0.0
            times = {s: list(v) for s, v in self._times.items()}
            latency, waited = list(self._latency), list(self._waited)
        unpaired = getattr(self.source, "unpaired", {}) or {}
        return PipelineStats(frames, self.dropped, seconds, {s: _summary(v) for s, v in times.items()},
                             _summary(latency), _summary(waited), dict(unpaired))
