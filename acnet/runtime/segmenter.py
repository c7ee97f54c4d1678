"""``Segmenter``: RGB-D frames in, class-id maps out, on ONNX Runtime, TensorRT or OpenVINO.

Everything the model needs to know about its input (size, normalisation,
depth unit, class names) comes from the model file's own metadata, and the
preprocessing is :mod:`acnet.runtime.preprocess`, the same code training's
eval transform runs. So a frame becomes the same tensor here as there.

A camera-native model (``acnet export onnx --io camera``) does all of that in
its graph: the Segmenter checks each frame against the camera the model was
exported for and hands the caller's arrays to the backend as they are.
"""

from __future__ import annotations

import logging
import math
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
from acnet.runtime.preprocess import MAX_DEPTH_M, PreprocessConfig, check_depth_scale, preprocess, resize_nearest

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
        """True for models exported with ``--argmax`` or ``--io camera`` (class ids, no logits)."""
        return self.info.output == "labels"

    @property
    def camera_native(self) -> bool:
        """True for models exported with ``--io camera``: camera buffers in, labels and confidence out."""
        return self.info.camera is not None

    @property
    def camera_size(self) -> tuple[int, int] | None:
        """(height, width) of the frames a camera-native model takes; None for other models (any size)."""
        return None if self.info.camera is None else self.info.camera.size

    def __repr__(self) -> str:
        camera = "" if self.camera_size is None else f", camera {self.camera_size[0]}x{self.camera_size[1]}"
        return f"Segmenter({self.backend.describe()}, {self.num_classes} classes, input {self.input_size[0]}x{self.input_size[1]}{camera})"

    # ------------------------------------------------------------------ inference

    def preprocess(self, rgb: np.ndarray, depth: np.ndarray, depth_scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The network's input for one frame: (3,H,W) and (1,H,W) float32 at :attr:`input_size`.

        A camera-native model's input is the frame itself: checked against
        its camera (:func:`check_camera_frame`) and returned as it is.
        """
        if self.info.camera is not None:
            return check_camera_frame(rgb, depth, self.info, depth_scale)
        return preprocess(rgb, depth, self.config, depth_scale)

    def logits(self, rgb: np.ndarray, depth: np.ndarray, depth_scale: float | None = None) -> np.ndarray:
        """(C,H,W) float32 logits at the model's input size (:attr:`input_size`), not the frame's.

        Channel k is class id k + 1. Not available for ``--argmax`` and camera-native models.
        """
        if self.camera_native:
            raise ConfigError("this model was exported with --io camera and outputs labels and confidence only; "
                              "use segment() or segment_with_confidence(), or export with --io tensor for logits")
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

    def segment_with_confidence(self, rgb: np.ndarray, depth: np.ndarray,
                                depth_scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(labels, confidence): :meth:`segment`'s class ids and :meth:`confidence` at the frame's size."""
        h, w = _frame_size(0, rgb)
        if self.outputs_labels and not self.camera_native:
            self.confidence(None, h, w)  # refuses: no logits
        out = self.infer([self._checked(0, 1, rgb, depth, depth_scale)])[0]
        return self.postprocess(out, h, w), self.confidence(out, h, w)

    def _checked(self, index: int, count: int, rgb, depth, depth_scale):
        """:meth:`preprocess`, with the frame's index in the message when there are several."""
        try:
            return self.preprocess(rgb, depth, depth_scale)
        except InputError as exc:
            if count == 1:
                raise
            raise InputError(f"frame {index}: {exc}") from None

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
            inputs = [self._checked(start + i, len(frames), rgb, depth, depth_scale) for i, (rgb, depth) in enumerate(chunk)]
            outputs = self.infer(inputs)
            for out, (h, w) in zip(outputs, sizes):
                results.append(self.postprocess(out, h, w))
        return results

    # The three steps of segment(), public so a pipeline can run them in separate threads:
    # preprocess() -> infer() -> postprocess() gives exactly segment()'s labels.

    def postprocess(self, out, height: int, width: int) -> np.ndarray:
        """One frame's network output (from :meth:`infer`) -> HxW uint8 class ids at ``height`` x ``width``.

        A camera-native model's output is (labels, confidence) at the camera's size: its labels, as they are.
        """
        if self.camera_native:
            self._check_camera_size(height, width)
            return out[0]
        if not self.outputs_labels:
            return postprocess_logits(out, height, width)
        labels = resize_nearest(out, height, width)
        return labels.astype(np.uint8)

    def confidence(self, out, height: int, width: int) -> np.ndarray:
        """One frame's network output (from :meth:`infer`) -> HxW uint8 top class probability x 255.

        Beside :meth:`postprocess`'s labels (what a ROS consumer's optional
        confidence image holds). Needs logits: an ``--argmax`` model has none.
        A camera-native model computes it in its graph, by the same formula
        (``top_probability``): its output's confidence, as it is.
        """
        if self.camera_native:
            self._check_camera_size(height, width)
            return out[1]
        if self.outputs_labels:
            raise ConfigError("this model was exported with --argmax and outputs class ids only, no confidence; "
                              "export without --argmax for a confidence image")
        return top_probability(out, height, width)

    def infer(self, inputs: Sequence[tuple[np.ndarray, np.ndarray]]):
        """Run the network on :meth:`preprocess` outputs (padded to the model's batch); one output per input.

        A camera-native model gives one (labels, confidence) pair per input.
        """
        self._check_open()
        n = len(inputs)
        size = self.backend.limits.run_size(n)
        if size == 1:
            rgb, depth = inputs[0][0][None], inputs[0][1][None]  # views, no copy
        else:
            rgb = np.zeros((size, *inputs[0][0].shape), inputs[0][0].dtype)
            depth = np.zeros((size, *inputs[0][1].shape), inputs[0][1].dtype)
            for i, (r, d) in enumerate(inputs):
                rgb[i], depth[i] = r, d
        out = self.backend.run(rgb, depth)
        if self.camera_native:
            labels, confidence = out
            return [(labels[i], confidence[i]) for i in range(n)]
        return out[:n]

    def _check_camera_size(self, height: int, width: int) -> None:
        if (height, width) != self.camera_size:
            ch, cw = self.camera_size
            raise InputError(f"this camera-native model returns {ch}x{cw} labels (exported with --camera-size "
                             f"{ch}x{cw}), not {height}x{width}")

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


def check_camera_frame(rgb: object, depth: object, info: ModelInfo,
                       depth_scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A frame for a camera-native model, checked and returned as it is (no copy unless it is not contiguous).

    ``rgb`` must be HxWx3 uint8 and ``depth`` HxW (or HxWx1) of the model's
    depth type, both at its camera size. uint16 depth is in the model's
    units: a ``depth_scale`` given must be the one it was exported with.
    float32 depth is metres and is checked for NaN, negative and
    out-of-range values (one pass); uint16 needs no check.
    """
    camera = info.camera
    h, w = camera.size
    export = f"export with `acnet export onnx --io camera --camera-size {{}}`"
    if not isinstance(rgb, np.ndarray):
        raise InputError(f"rgb must be a numpy array, got {type(rgb).__name__}")
    if not isinstance(depth, np.ndarray):
        raise InputError(f"depth must be a numpy array, got {type(depth).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(f"rgb must be HxWx3 (interleaved R, G, B) for this camera-native model, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise InputError(f"rgb must be uint8 for this camera-native model, got {rgb.dtype}")
    if rgb.shape[:2] != (h, w):
        raise InputError(f"this camera-native model takes {h}x{w} frames, got a {rgb.shape[0]}x{rgb.shape[1]} frame; "
                         + export.format(f"{rgb.shape[0]}x{rgb.shape[1]}") + " for that camera")
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[:, :, 0]
    if depth.ndim != 2:
        raise InputError(f"depth must be HxW for this camera-native model, got shape {depth.shape}")
    if depth.shape != (h, w):
        raise InputError(f"rgb is {h}x{w} but depth is {depth.shape[0]}x{depth.shape[1]}")
    want = np.dtype(np.uint16 if camera.depth_dtype == "uint16" else np.float32)
    if depth.dtype != want:
        if want == np.float32 and depth.dtype == np.uint16:
            raise InputError("depth is uint16 but this camera-native model takes float32 metres (exported with "
                             "--camera-depth float32); give metres, or export with --camera-depth uint16 for raw depth")
        if want == np.uint16 and depth.dtype.kind == "f":
            raise InputError(f"depth is {depth.dtype} but this camera-native model takes uint16 depth in units of "
                             f"{camera.depth_scale:g} m; give the camera's raw depth, or export with --camera-depth "
                             "float32 for metres")
        raise InputError(f"depth must be {want} for this camera-native model, got {depth.dtype}")
    if depth_scale is not None:
        scale = check_depth_scale(depth_scale)
        if not math.isclose(scale, camera.depth_scale, rel_tol=1e-6):
            raise InputError(f"depth comes in units of {scale:g} m but this camera-native model was exported for "
                             f"{camera.depth_scale:g} m per unit; export it with --depth-scale {scale:g}")
    if want == np.float32 and depth.size:
        low, high = float(depth.min()), float(depth.max())
        if not (low >= 0 and high <= MAX_DEPTH_M):  # NaN fails both
            if not (np.isfinite(low) and np.isfinite(high)):
                raise InputError("depth contains NaN or infinite values; use 0 for missing readings")
            if low < 0:
                raise InputError("depth contains negative values; use 0 for missing readings")
            raise InputError(f"depth reaches {high:.3g} m, beyond any sensor's range ({MAX_DEPTH_M:g} m); "
                             "check the depth unit (this model takes metres)")
    return np.ascontiguousarray(rgb), np.ascontiguousarray(depth)


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
