"""``Segmenter``: RGB-D frames in, class-id maps out, on ONNX Runtime, TensorRT or OpenVINO.

Everything the model needs to know about its input (size, normalisation,
depth unit, class names) comes from the model file's own metadata, and the
preprocessing is :mod:`acnet.runtime.preprocess`, the same code training's
eval transform runs. So a frame becomes the same tensor here as there.
"""

from __future__ import annotations

import logging
import os
from typing import Iterable, Sequence

import numpy as np

from acnet.errors import ClosedError, ConfigError, InputError
from acnet.runtime.backends import Backend, open_backend
from acnet.runtime.colorize import colorize as colorize_labels
from acnet.runtime.colorize import overlay as overlay_labels
from acnet.runtime.metadata import ModelInfo
from acnet._typed import positive_int
from acnet.runtime.postprocess import postprocess_logits, top_probability
from acnet.runtime.preprocess import PreprocessConfig, preprocess, resize_nearest

log = logging.getLogger(__name__)

#: Frames per run for models with an unbounded dynamic batch.
DEFAULT_BATCH = 8

Frame = tuple[np.ndarray, np.ndarray]


class Segmenter:
    """Semantic segmentation with an exported ACNet.

    Args:
        path: ``.onnx`` model (ONNX Runtime, or OpenVINO with ``backend="openvino"``),
            ``.engine``/``.plan`` (TensorRT, with the JSON sidecar ``acnet export trt``
            writes) or OpenVINO IR ``.xml`` (``openvino.save_model`` of an acnet model keeps its metadata).
        backend: "auto" (by suffix), "onnxruntime", "tensorrt" or "openvino".
        device: "cpu", "cuda" or "cuda:N" ("gpu"/"gpu:N", an Intel GPU, for OpenVINO);
            default cpu for ONNX and OpenVINO, cuda:0 for engines.
        threads: ONNX Runtime intra-op threads, OpenVINO inference threads (default: theirs).
        precision: OpenVINO's compute precision for floating-point layers: "fp32"
            (default) or "bf16" on CPUs with AVX512-BF16 or AMX (refused elsewhere).
        providers: ONNX Runtime execution providers, overriding the choice by device.
        io_binding: ONNX Runtime IO binding (default: on for CUDA).
        batch_size: frames per run in :meth:`segment_batch` for models with
            a dynamic batch (a fixed-batch model always runs its own batch).
        input_size: (height, width) to run a model exported with a dynamic
            height and width at; default the size in its metadata.

    The session or engine is opened once and reused; use the object as a
    context manager, or call :meth:`close`, to free it early.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        backend: str = "auto",
        device: str | None = None,
        *,
        threads: int | None = None,
        providers: list | None = None,
        io_binding: bool | None = None,
        batch_size: int | None = None,
        input_size: tuple[int, int] | None = None,
        precision: str | None = None,
    ) -> None:
        opened = open_backend(
            path, backend, device, threads=threads, providers=providers, io_binding=io_binding, input_size=input_size,
            precision=precision,
        )
        try:
            self._attach(opened, batch_size, input_size)
        except BaseException:
            opened.close()
            raise
        log.info("opened %s: %s", path, self.backend.describe())

    @classmethod
    def from_backend(cls, backend: Backend, batch_size: int | None = None, input_size: tuple[int, int] | None = None) -> "Segmenter":
        """A Segmenter around an already open :class:`~acnet.runtime.backends.Backend`.

        For backends that do not come from a file (a benchmark's PyTorch
        reference, say): every step around the network stays the runtime's.
        """
        seg = cls.__new__(cls)
        seg._attach(backend, batch_size, input_size)
        return seg

    def _attach(self, backend: Backend, batch_size: int | None, input_size: tuple[int, int] | None) -> None:
        if batch_size is not None:
            batch_size = positive_int(batch_size, "batch_size")
        self.closed = False
        self.backend = backend
        self.info: ModelInfo = backend.info
        height, width = self._input_size(input_size)
        self.config = PreprocessConfig(height, width, self.info.normalization)
        self.batch_size = backend.limits.chunk_size(batch_size or DEFAULT_BATCH)

    def _input_size(self, size: tuple[int, int] | None) -> tuple[int, int]:
        nominal = (self.info.input_height, self.info.input_width)
        if size is None:
            return nominal
        try:
            h, w = (positive_int(v, "input_size") for v in size)
        except (TypeError, ValueError):  # not a pair of positive integers (ConfigError is a ValueError too)
            raise ConfigError(f"input size must be (height, width), positive multiples of 32, got {size!r}") from None
        if (h, w) == nominal:
            return nominal
        if not self.info.dynamic_hw:
            raise ConfigError(f"this model takes {nominal[0]}x{nominal[1]} inputs only (exported without --dynamic-hw)")
        if h % 32 or w % 32:
            raise ConfigError(f"input size must be positive multiples of 32, got {h}x{w}")
        return h, w

    # ------------------------------------------------------------------ facts

    @property
    def class_names(self) -> tuple[str, ...]:
        """Name of class id k (1..C) is ``class_names[k - 1]``; id 0 is void."""
        return self.info.class_names

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) the network runs at."""
        return self.config.height, self.config.width

    @property
    def outputs_labels(self) -> bool:
        """True for models exported with ``--argmax`` (class ids, no logits)."""
        return self.info.output == "labels"

    def __repr__(self) -> str:
        return f"Segmenter({self.backend.describe()}, {self.num_classes} classes, input {self.input_size[0]}x{self.input_size[1]})"

    # ------------------------------------------------------------------ inference

    def preprocess(self, rgb: np.ndarray, depth: np.ndarray, depth_scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The network's input for one frame: (3,H,W) and (1,H,W) float32 at :attr:`input_size`."""
        return preprocess(rgb, depth, self.config, depth_scale)

    def logits(self, rgb: np.ndarray, depth: np.ndarray, depth_scale: float | None = None) -> np.ndarray:
        """(C,H,W) float32 logits at the model's input size (:attr:`input_size`), not the frame's.

        Channel k is class id k + 1. Not available for ``--argmax`` models.
        """
        if self.outputs_labels:
            raise ConfigError(
                "this model was exported with --argmax and outputs class ids only; "
                "use segment(), or export without --argmax for logits"
            )
        return self.infer([self.preprocess(rgb, depth, depth_scale)])[0]

    def segment(self, rgb: np.ndarray, depth: np.ndarray, depth_scale: float | None = None) -> np.ndarray:
        """HxW uint8 class ids at the frame's own size (0 void, k = class_names[k - 1]).

        ``rgb`` is HxWx3 uint8; ``depth`` is HxW uint16 (millimetres unless
        ``depth_scale`` says metres per unit) or float32 metres. Logits are
        resized bilinearly to the frame's size before the argmax, as
        evaluation does; an ``--argmax`` model's labels are resized nearest.
        """
        return self.segment_batch([(rgb, depth)], depth_scale)[0]

    def segment_batch(self, frames: Iterable[Frame], depth_scale: float | None = None) -> list[np.ndarray]:
        """:meth:`segment` for many (rgb, depth) frames, run in batches the model takes.

        Frames may differ in size. A fixed-batch model runs its own batch
        (the last one padded); a dynamic one :attr:`batch_size` at a time.
        """
        self._check_open()
        frames = _frame_list(frames)
        results: list[np.ndarray] = []
        for start in range(0, len(frames), self.batch_size):
            chunk = frames[start : start + self.batch_size]
            sizes = [_frame_size(i + start, rgb) for i, (rgb, _) in enumerate(chunk)]
            inputs = []
            for i, (rgb, depth) in enumerate(chunk):
                try:
                    inputs.append(self.preprocess(rgb, depth, depth_scale))
                except InputError as exc:
                    if len(frames) == 1:
                        raise
                    raise InputError(f"frame {start + i}: {exc}") from None
            outputs = self.infer(inputs)
            for out, (h, w) in zip(outputs, sizes):
                results.append(self.postprocess(out, h, w))
        return results

    # The three steps of segment(), public so a pipeline can run them in separate threads:
    # preprocess() -> infer() -> postprocess() gives exactly segment()'s labels.

    def postprocess(self, out: np.ndarray, height: int, width: int) -> np.ndarray:
        """One frame's network output (from :meth:`infer`) -> HxW uint8 class ids at ``height`` x ``width``."""
        if not self.outputs_labels:
            return postprocess_logits(out, height, width)
        labels = resize_nearest(out, height, width)
        return labels.astype(np.uint8)

    def confidence(self, out: np.ndarray, height: int, width: int) -> np.ndarray:
        """One frame's network output (from :meth:`infer`) -> HxW uint8 top class probability x 255.

        Beside :meth:`postprocess`'s labels (what a ROS consumer's optional
        confidence image holds). Needs logits: an ``--argmax`` model has none.
        """
        if self.outputs_labels:
            raise ConfigError("this model was exported with --argmax and outputs class ids only, no confidence; "
                              "export without --argmax for a confidence image")
        return top_probability(out, height, width)

    def infer(self, inputs: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Run the network on :meth:`preprocess` outputs (padded to the model's batch); one output per input."""
        self._check_open()
        n = len(inputs)
        size = self.backend.limits.run_size(n)
        if size == 1:
            rgb, depth = inputs[0][0][None], inputs[0][1][None]  # views, no copy
        else:
            h, w = self.input_size
            rgb = np.zeros((size, 3, h, w), np.float32)
            depth = np.zeros((size, 1, h, w), np.float32)
            for i, (r, d) in enumerate(inputs):
                rgb[i], depth[i] = r, d
        return self.backend.run(rgb, depth)[:n]

    # ------------------------------------------------------------------ pictures

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """HxW class ids -> HxWx3 uint8 colours (void black)."""
        return colorize_labels(labels)

    def overlay(self, rgb: np.ndarray, labels: np.ndarray, alpha: float = 0.5) -> np.ndarray:
        """Class colours blended over the image, class borders outlined."""
        return overlay_labels(rgb, labels, alpha)

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Free the session or engine; the Segmenter cannot run after this (closing twice is harmless)."""
        if not self.closed:
            self.closed = True
            self.backend.close()

    def _check_open(self) -> None:
        if self.closed:
            model = getattr(self.backend, "path", None)
            raise ClosedError(f"this Segmenter{f' of {model}' if model else ''} is closed (close() was called); "
                              "open a new one to segment")

    def __enter__(self) -> "Segmenter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _frame_list(frames: object) -> list:
    """``frames`` as a list of (rgb, depth) pairs, or an InputError saying what was given instead."""
    if isinstance(frames, np.ndarray) or not isinstance(frames, Iterable):
        raise InputError(f"segment_batch takes a list of (rgb, depth) pairs, got {_describe(frames)}")
    frames = list(frames)
    if len(frames) == 2 and all(isinstance(f, np.ndarray) for f in frames):
        raise InputError("segment_batch takes a list of (rgb, depth) pairs, got one pair of arrays; "
                         "use segment(rgb, depth) or segment_batch([(rgb, depth)])")
    for i, frame in enumerate(frames):
        if not isinstance(frame, (tuple, list)) or len(frame) != 2:
            raise InputError(f"frame {i}: expected an (rgb, depth) pair, got {_describe(frame)}")
    return frames


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} items"
    return type(value).__name__


def _frame_size(index: int, rgb: object) -> tuple[int, int]:
    shape = getattr(rgb, "shape", None)
    if shape is None or len(shape) < 2:
        raise InputError(f"frame {index}: rgb must be an HxWx3 numpy array, got {type(rgb).__name__}")
    return int(shape[0]), int(shape[1])
