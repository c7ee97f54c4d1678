"""What every backend provides, and the logic they share without a GPU.

A backend runs one exported network: it takes normalised ``rgb`` (N,3,H,W)
and ``depth`` (N,1,H,W) float32 batches at the model's input size and returns
its output, logits (N,C,H,W) float32 or labels (N,H,W) int32. Everything
around it (preprocessing, resizing, argmax, batching) lives in
:class:`acnet.runtime.Segmenter`, so backends stay small and alike.

A camera-native model (``ModelInfo.camera``) has all of that inside: it
takes the camera's buffers, ``rgb`` uint8 (N,H,W,3) and ``depth`` (N,H,W)
uint16 or float32 at the camera's size, and returns the pair ``(labels,
confidence)``, both uint8 (N,H,W). A TensorRT engine takes uint16 depth as
its bytes, uint8 (N,H,W,2) (``Signature.depth_bytes``): the same memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from acnet.errors import ConfigError, InputError, ModelFileError
from acnet.runtime.metadata import ModelInfo

#: A dimension that is only known at run time.
Dynamic = None
Shape = tuple  # of int or None


@dataclass(frozen=True)
class Device:
    """``cpu``, ``cuda`` or ``cuda:N``; for OpenVINO, ``gpu`` or ``gpu:N`` (an Intel GPU) instead of CUDA."""

    kind: str = "cpu"
    index: int = 0

    @classmethod
    def parse(cls, text: str | "Device" | None, default: str = "cpu", kinds: tuple[str, ...] = ("cpu", "cuda")) -> "Device":
        """``text`` as a Device of one of ``kinds``; a ConfigError naming the choices otherwise."""
        choices = ", ".join(k if k == "cpu" else f"{k} or {k}:N" for k in kinds)
        if isinstance(text, Device):
            if text.kind not in kinds:
                raise ConfigError(f"device {text} is not available to this backend; use {choices}")
            return text
        spec = (default if text is None else str(text)).strip().lower()
        match = re.fullmatch(r"([a-z]+)(?::(\d+))?", spec)
        if not match or match.group(1) not in kinds or (match.group(1) == "cpu" and match.group(2) is not None):
            raise ConfigError(f"unknown device {text!r}; use {choices}")
        return cls(match.group(1), int(match.group(2) or 0))

    @property
    def is_cuda(self) -> bool:
        return self.kind == "cuda"

    def __str__(self) -> str:
        return "cpu" if self.kind == "cpu" else f"{self.kind}:{self.index}"


@dataclass(frozen=True)
class BatchLimits:
    """Batch sizes a model accepts: ``minimum..maximum`` (None: no upper bound)."""

    minimum: int = 1
    maximum: int | None = None

    @property
    def fixed(self) -> bool:
        return self.maximum == self.minimum

    def chunk_size(self, preferred: int) -> int:
        """How many frames to send per run: the model's own batch when fixed."""
        if self.fixed:
            return self.minimum
        size = max(preferred, self.minimum)
        return size if self.maximum is None else min(size, self.maximum)

    def run_size(self, frames: int) -> int:
        """Batch to run for ``frames`` frames (padding up to the minimum)."""
        return max(frames, self.minimum)

    def __str__(self) -> str:
        if self.fixed:
            return f"fixed batch {self.minimum}"
        upper = "any" if self.maximum is None else str(self.maximum)
        return f"dynamic batch {self.minimum}..{upper}"


@dataclass(frozen=True)
class Signature:
    """Which tensor is which, and the batch sizes the model takes."""

    rgb: str
    depth: str
    output: str
    limits: BatchLimits
    #: Camera-native models: the second output, uint8 confidence (None otherwise).
    confidence: str | None = None
    #: Camera-native models: the uint16 depth input is read as its bytes, uint8 (N,H,W,2).
    depth_bytes: bool = False

    @property
    def outputs(self) -> tuple[str, ...]:
        """Every output a run returns, in order."""
        return (self.output,) if self.confidence is None else (self.output, self.confidence)

    def output_shape(self, info: ModelInfo, rgb_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Output shape for an ``rgb`` input of shape (N,3,H,W) (camera-native: (N,H,W,3)); the same for each output."""
        if info.camera is not None:
            return tuple(rgb_shape[:3])
        n, _, h, w = rgb_shape
        return (n, info.num_classes, h, w) if info.output == "logits" else (n, h, w)


def resolve_signature(inputs: dict[str, Shape], outputs: dict[str, Shape], info: ModelInfo, source: str) -> Signature:
    """Match a model's inputs and outputs to what its metadata says it is.

    Inputs are found by name (``rgb``, ``depth``) or else by channel count;
    static dimensions must agree with the metadata (input size, class count).
    Dynamic dimensions are ``None``. Raises :class:`ModelFileError` naming
    the first disagreement.
    """
    if info.output not in ("logits", "labels"):
        raise ModelFileError(f"{source}: unknown output kind {info.output!r} in its metadata")
    if info.depth_unit != "m":
        raise ModelFileError(f"{source}: depth unit {info.depth_unit!r} is not supported (metres expected)")
    if info.camera is not None:
        return _camera_signature(inputs, outputs, info, source)
    described = ", ".join(f"{n}{_fmt(s)}" for n, s in inputs.items())
    if len(inputs) != 2 or any(len(s) != 4 for s in inputs.values()):
        raise ModelFileError(f"{source} is not an RGB-D segmentation model: inputs {described}")
    if set(inputs) == {"rgb", "depth"}:
        rgb, depth = "rgb", "depth"
    else:
        by_channels = {s[1]: n for n, s in inputs.items()}
        if set(by_channels) != {3, 1}:
            raise ModelFileError(f"{source}: cannot tell the RGB input from the depth input among {described}")
        rgb, depth = by_channels[3], by_channels[1]
    for name, channels in ((rgb, 3), (depth, 1)):
        n, c, h, w = inputs[name]
        if c not in (channels, Dynamic):
            raise ModelFileError(f"{source}: input {name!r} has {c} channels, expected {channels}")
        for dim, want, what in ((h, info.input_height, "height"), (w, info.input_width, "width")):
            if dim not in (want, Dynamic):
                raise ModelFileError(f"{source}: input {name!r} has {what} {dim} but its metadata says {want}")
    if inputs[rgb][0] != inputs[depth][0]:
        raise ModelFileError(f"{source}: inputs disagree on the batch size: {described}")

    output = info.output if info.output in outputs else (next(iter(outputs)) if len(outputs) == 1 else None)
    if output is None:
        raise ModelFileError(f"{source}: no {info.output!r} output among {', '.join(outputs)}")
    shape = outputs[output]
    rank = 4 if info.output == "logits" else 3
    if len(shape) != rank:
        raise ModelFileError(f"{source}: output {output!r} has shape {_fmt(shape)}, expected rank {rank} {info.output}")
    if info.output == "logits" and shape[1] not in (info.num_classes, Dynamic):
        raise ModelFileError(
            f"{source}: output {output!r} has {shape[1]} classes but its metadata lists {info.num_classes} class names"
        )

    batch = inputs[rgb][0]
    limits = BatchLimits() if batch is Dynamic else BatchLimits(int(batch), int(batch))
    if batch is not Dynamic and info.batch not in (0, batch):
        raise ModelFileError(f"{source}: batch dimension is {batch} but its metadata says {info.batch}")
    return Signature(rgb=rgb, depth=depth, output=output, limits=limits)


def _camera_signature(inputs: dict[str, Shape], outputs: dict[str, Shape], info: ModelInfo, source: str) -> Signature:
    """:func:`resolve_signature` of a camera-native model: the tensors are named, their sizes the camera's."""
    h, w = info.camera.size
    described = ", ".join(f"{n}{_fmt(s)}" for n, s in inputs.items())
    if set(inputs) != {"rgb", "depth"}:
        raise ModelFileError(f"{source} is not a camera-native acnet model (inputs rgb, depth): inputs {described}")

    def fits(shape: Shape, want: tuple) -> bool:
        return len(shape) == len(want) and all(d in (v, Dynamic) for d, v in zip(shape[1:], want[1:]))

    if not fits(inputs["rgb"], (None, h, w, 3)):
        raise ModelFileError(f"{source}: input 'rgb' has shape {_fmt(inputs['rgb'])}, but its metadata says a "
                             f"{h}x{w} camera: (N, {h}, {w}, 3)")
    depth_bytes = info.camera.depth_dtype == "uint16" and len(inputs["depth"]) == 4
    if not fits(inputs["depth"], (None, h, w, 2) if depth_bytes else (None, h, w)):
        raise ModelFileError(f"{source}: input 'depth' has shape {_fmt(inputs['depth'])}, but its metadata says a "
                             f"{h}x{w} camera: (N, {h}, {w})")
    if inputs["rgb"][0] != inputs["depth"][0]:
        raise ModelFileError(f"{source}: inputs disagree on the batch size: {described}")
    for name in ("labels", "confidence"):
        if name not in outputs:
            raise ModelFileError(f"{source}: no {name!r} output among {', '.join(outputs)}")
        if not fits(outputs[name], (None, h, w)):
            raise ModelFileError(f"{source}: output {name!r} has shape {_fmt(outputs[name])}, expected (N, {h}, {w})")
    batch = inputs["rgb"][0]
    if batch is not Dynamic and info.batch not in (0, batch):
        raise ModelFileError(f"{source}: batch dimension is {batch} but its metadata says {info.batch}")
    limits = BatchLimits() if batch is Dynamic else BatchLimits(int(batch), int(batch))
    return Signature("rgb", "depth", "labels", limits, confidence="confidence", depth_bytes=depth_bytes)


def camera_dtypes(info: ModelInfo, depth_bytes: bool = False) -> dict[str, np.dtype]:
    """numpy dtypes of a camera-native model's tensors, by its metadata: what a backend must find in the model."""
    depth = np.uint8 if depth_bytes else (np.uint16 if info.camera.depth_dtype == "uint16" else np.float32)
    return {"rgb": np.dtype(np.uint8), "depth": np.dtype(depth), "labels": np.dtype(np.uint8),
            "confidence": np.dtype(np.uint8)}


def check_camera_dtypes(found: dict[str, np.dtype], info: ModelInfo, source: str, depth_bytes: bool = False) -> None:
    """Refuse a camera-native model whose tensor types are not those its metadata implies."""
    for name, want in camera_dtypes(info, depth_bytes).items():
        if name in found and np.dtype(found[name]) != want:
            raise ModelFileError(f"{source}: {name!r} is {np.dtype(found[name])}, but a camera-native model with "
                                 f"{info.camera.depth_dtype} depth takes and returns {want} there")


def check_camera_inputs(rgb: np.ndarray, depth: np.ndarray, rgb_dtype, depth_dtype) -> None:
    """Camera buffers go to the model as they are: a frame of another dtype is refused, never cast."""
    if rgb.dtype != rgb_dtype or depth.dtype != depth_dtype:
        raise InputError(f"this camera-native model takes rgb {np.dtype(rgb_dtype)} and depth {np.dtype(depth_dtype)}, "
                         f"got {rgb.dtype} and {depth.dtype}")


def _fmt(shape: Shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


@runtime_checkable
class Backend(Protocol):
    """One exported network, ready to run batches."""

    #: "onnxruntime", "tensorrt" or "openvino".
    name: str
    info: ModelInfo
    device: Device
    limits: BatchLimits

    def run(self, rgb: np.ndarray, depth: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """(N,3,H,W) and (N,1,H,W) float32 -> logits (N,C,H,W) float32 or labels (N,H,W) int32.

        Camera-native models: camera buffers -> (labels, confidence), uint8 (N,H,W) arrays the caller owns.
        """
        ...

    def describe(self) -> str:
        """One line for logs: backend, device, providers or engine facts."""
        ...

    def close(self) -> None:
        ...
