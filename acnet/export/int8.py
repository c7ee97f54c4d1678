"""FP32 ONNX -> INT8 ONNX with Q/DQ nodes, calibrated on RGB-D frames.

The quantizer is ONNX Runtime's (``quantize_static``, QDQ format) for the
``cpu`` and ``tensorrt`` targets and NNCF's for ``nncf``; what differs
between targets is the kind of INT8 and where Q/DQ goes:

- ``cpu``: what ONNX Runtime runs fastest on x86 (VNNI/AVX-512) and arm64:
  uint8 activations (asymmetric), int8 per-channel weights, every operator
  ONNX Runtime has a quantized kernel for, so consecutive layers stay in
  INT8. (Symmetric int8 activations ran ResNet-50 2.4x slower here.)
  OpenVINO runs the same file (each Q/DQ pair becomes its FakeQuantize),
  and it is the best INT8 for OpenVINO too, measured against NNCF's
  (benchmarks/cpu_int8_peers.py): as fast, and closer to FP32.
- ``tensorrt``: what TensorRT's explicit quantization expects (NVIDIA,
  "Explicit Quantization", Q/DQ layer-placement recommendations): symmetric
  int8 with zero point 0 for activations and weights, per-channel weights,
  Q/DQ on the inputs of the weighted operators only (Conv, ConvTranspose),
  outputs and biases left in floating point so TensorRT fuses bias, ReLU and the residual Add
  into the convolution, and one shared Q/DQ pair per tensor, so the residual
  input of each skip connection is quantized too (the block input feeds the
  first convolution and the Add). Engines are built from it by
  ``acnet export trt`` (TensorRT 10 and 11 detect the QuantizeLinear nodes).
- ``nncf``: Intel's quantizer for OpenVINO: NNCF's post-training
  quantization (``nncf.quantize`` on the ONNX graph, its defaults: the
  performance preset, symmetric int8/uint8 activations, int8 per-channel
  weights, placement by its CPU hardware configuration, fast bias
  correction), fed acnet's calibration frames, with acnet's exclusions as its
  ignored scope. The result is ONNX with Q/DQ nodes like the others. Kept
  for comparison and for users who standardise on NNCF: on a trained model it
  agreed less with FP32 than ``cpu`` did, in OpenVINO, at the same speed.

Calibration frames come from any dataset spec and go through the runtime's
:func:`~acnet.runtime.preprocess.preprocess`, so the ranges are those of the
tensors the deployed model will see. Parts of the network can stay in
floating point (:data:`DEFAULT_EXCLUDE`, ``--int8-exclude``); which ones,
and the per-stage error that decided it, is in :func:`acnet.export.stages.stage_errors`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import onnx
from tqdm.auto import tqdm

from acnet._logging import quiet_loggers
from acnet._typed import int_in_range
from acnet.errors import BackendUnavailableError, ConfigError, DataError, ModelFileError, first_line
from acnet.export.graph import node_scopes
from acnet.export.verify import CHECK_FRAMES, MIN_AGREEMENT
from acnet.runtime.preprocess import preprocess
from acnet.training.data.spec import DatasetSpec, open_dataset

log = logging.getLogger(__name__)

TARGETS = ("cpu", "tensorrt", "nncf")
#: ONNX Runtime's calibration methods (targets cpu and tensorrt).
METHODS = ("minmax", "entropy", "percentile")
#: The nncf target's ranges are NNCF's own choice (its min/max statistics and bias correction).
NNCF_METHOD = "nncf"
NNCF_HINT = "pip install 'acnet[nncf]'"
#: Chosen by measurement on trained models (see docs/export.md, INT8):
#: min-max on 32 frames was as accurate as entropy and percentile calibration
#: within noise, and calibrates several times faster (no histograms).
DEFAULT_METHOD = "minmax"
DEFAULT_FRAMES = 32
#: The split calibration reads unless the spec names one: calibrate on
#: training data, verify on other data.
DEFAULT_SPLIT = "train"
#: Kept in floating point by default (module names of the PyTorch network,
#: as ``model.named_modules()`` lists them). The logits layer reads 64
#: decoder channels into the class scores; quantizing it cost the most
#: agreement per FLOP in the per-stage measurement, for 0.1 % of the work.
DEFAULT_EXCLUDE: tuple[str, ...] = ("decoder.final_deconv",)

#: Export verification gate (share of pixels agreeing with PyTorch FP32); see docs/export.md, INT8.
DEFAULT_MIN_AGREEMENT = MIN_AGREEMENT["int8"]

#: Weighted operators; TensorRT quantizes their inputs.
_WEIGHTED = ("Conv", "ConvTranspose")


@dataclass(frozen=True)
class Int8Options:
    """How to quantize: calibration data, frame count, method, target and exclusions."""

    #: Dataset spec of the calibration frames (``synthetic…``, ``folder:…``, ``nyuv2-mat:…``).
    calib_data: str
    calib_frames: int = DEFAULT_FRAMES
    target: str = "cpu"
    #: One of :data:`METHODS` for ONNX Runtime's targets (default :data:`DEFAULT_METHOD`); NNCF's own for nncf.
    method: str | None = None
    #: Further parts to keep in floating point: module names of the PyTorch
    #: network (``decoder.deconv1``, ``acm_rgb``, ``rgb.layer1``).
    exclude: tuple[str, ...] = ()
    #: Keep :data:`DEFAULT_EXCLUDE` in floating point too.
    default_exclude: bool = True
    #: Least argmax agreement with PyTorch for export verification to pass.
    min_agreement: float = DEFAULT_MIN_AGREEMENT

    def __post_init__(self) -> None:
        object.__setattr__(self, "exclude", tuple(self.exclude))
        if not str(self.calib_data).strip():
            raise ConfigError("--calib-data is empty; give a dataset spec, e.g. folder:DIR or synthetic:64")
        object.__setattr__(self, "calib_frames", int_in_range(self.calib_frames, "--calib-frames"))
        if self.target not in TARGETS:
            raise ConfigError(f"--int8-target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        if not 0.0 <= self.min_agreement <= 1.0:
            raise ConfigError(f"--int8-agreement must be a percentage in [0, 100], got {100 * self.min_agreement:g}")
        if self.method is None:
            object.__setattr__(self, "method", NNCF_METHOD if self.target == "nncf" else DEFAULT_METHOD)
        if self.target == "nncf" and self.method != NNCF_METHOD:
            raise ConfigError(f"--calib-method {self.method} is ONNX Runtime's; --int8-target nncf calibrates "
                              f"with NNCF, which chooses the ranges itself: leave --calib-method out")
        if self.target != "nncf" and self.method not in METHODS:
            raise ConfigError(f"--calib-method must be one of {', '.join(METHODS)}, got {self.method!r}")

    @property
    def all_exclude(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*(DEFAULT_EXCLUDE if self.default_exclude else ()), *self.exclude)))


# --------------------------------------------------------------------------- calibration frames


def calibration_frames(spec: str, count: int, preprocess_config, split: str = DEFAULT_SPLIT,
                       avoid: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Up to ``count`` frames of ``spec``, evenly spread over it, preprocessed for the network.

    Returns (1,3,H,W) and (1,1,H,W) float32 pairs made by the runtime's
    :func:`~acnet.runtime.preprocess.preprocess`. ``avoid``: only the
    frames a calibration on ``avoid`` frames of the same split did not read
    (held-out verification frames; none when it read them all).
    """
    dataset = open_dataset(spec, split)
    total = len(dataset)
    if total == 0:
        raise ConfigError(f"calibration data {spec} has no frames")
    picks = np.unique(np.linspace(0, total - 1, min(count, total)).round().astype(int))
    if avoid:
        used = set(np.linspace(0, total - 1, min(avoid, total)).round().astype(int).tolist())
        rest = [i for i in range(total) if i not in used]
        picks = np.asarray(rest[:: max(1, len(rest) // count)][:count], dtype=int)  # empty when none is left
    elif len(picks) < count:
        log.warning("calibration data %s has %d frames, fewer than the %d asked for", spec, total, count)
    frames, blank = [], 0
    for index in picks:
        frame = dataset[int(index)]
        blank += _is_blank(frame.rgb, frame.depth)
        rgb, depth = preprocess(frame.rgb, frame.depth, preprocess_config)
        frames.append((rgb[None], depth[None]))
    if not avoid and frames and blank == len(frames):
        # Ranges from frames without content quantize every real frame wrongly, and a gate on a few
        # check frames does not always notice (a random network's logits barely move): refuse them here.
        raise DataError(f"calibration data {spec}: all {len(frames)} frames read are blank (one colour, flat depth); "
                        f"calibrate on frames like those the model will see")
    return frames


def _is_blank(rgb: np.ndarray, depth: np.ndarray) -> bool:
    """One colour over the whole image and one depth value (a covered lens, a camera that sent nothing)."""
    flat = rgb.reshape(-1, rgb.shape[-1]) if rgb.ndim == 3 else rgb.reshape(-1, 1)
    return bool((flat == flat[:1]).all() and (depth == depth.flat[0]).all())


class _Reader:
    """ONNX Runtime's CalibrationDataReader over preprocessed frames (a plain iterator)."""

    def __init__(self, frames: Sequence[tuple[np.ndarray, np.ndarray]], progress=None) -> None:
        self.frames = list(frames)
        self.progress = progress
        self.rewind()

    def get_next(self) -> dict | None:
        if self._next >= self._end:
            return None
        rgb, depth = self.frames[self._next]
        self._next += 1
        if self.progress is not None:
            self.progress.update(1)
        return {"rgb": rgb, "depth": depth}

    def rewind(self) -> None:
        self._next = 0
        self._end = len(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    def set_range(self, start_index: int, end_index: int) -> None:
        """Serve frames ``start_index:end_index`` (ONNX Runtime's strided min-max calibration)."""
        self._next, self._end = start_index, min(end_index, len(self.frames))


# --------------------------------------------------------------------------- exclusions


def resolve_exclude(torch_model, names: Iterable[str]) -> tuple[str | tuple[str, ...], ...]:
    """Check module names against the PyTorch network; pair a convolution with the BatchNorm folded into it.

    The exporter folds ``rgb.bn1`` into ``rgb.conv1`` and names the result
    after the BatchNorm, so excluding ``rgb.conv1`` means excluding both: such
    a name becomes the pair ``("rgb.conv1", "rgb.bn1")``, which
    :func:`nodes_to_exclude` matches when either name does.
    Raises :class:`ConfigError` naming the first unknown name.
    """
    from torch import nn  # `acnet export onnx --help` and its option checks load without torch

    modules = list(torch_model.named_modules())
    index = {name: k for k, (name, _) in enumerate(modules)}
    out: list[str] = []
    for name in names:
        name = name.strip()
        if name not in index:
            tops = sorted({n.split(".")[0] for n, _ in modules if n})
            raise ConfigError(f"--int8-exclude {name!r} matches no part of the network; give module names such as "
                              f"decoder.deconv4, acm_rgb.2 or rgb.layer1 (top level: {', '.join(tops)})")
        module = modules[index[name]][1]
        following = modules[index[name] + 1] if index[name] + 1 < len(modules) else None
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and following and isinstance(following[1], nn.BatchNorm2d):
            out.append((name, following[0]))
        else:
            out.append(name)
    return tuple(dict.fromkeys(out))


def nodes_to_exclude(model: onnx.ModelProto, names: Iterable[str | tuple[str, ...]]) -> list[str]:
    """ONNX node names that belong to the modules ``names`` (see :func:`resolve_exclude`).

    A module name matches itself and everything inside it (``acm_rgb`` is
    every RGB ACM); a tuple of names (a convolution and its folded
    BatchNorm) matches what any of them matches. A name that matches
    nothing is a :class:`ConfigError`.
    """
    found: list[str] = []
    node_names = {n.name for n in model.graph.node}
    scopes = {n.name: node_scopes(n) for n in model.graph.node}
    for entry in names:
        alternatives = [entry] if isinstance(entry, str) else list(entry)
        name = alternatives[0].strip()
        hits = []
        for alt in (a.strip() for a in alternatives):
            if alt in node_names:
                hits.append(alt)
            else:
                hits.extend(n for n, s in scopes.items() if any(x == alt or x.startswith(alt + ".") for x in s))
        if not hits:
            known = sorted({s[1] if len(s) > 1 else s[0] for s in scopes.values() if s})
            raise ConfigError(
                f"--int8-exclude {name!r} matches no part of the network; use module names such as "
                f"{', '.join(known[:8])} (or node names)"
            )
        found.extend(hits)
    return list(dict.fromkeys(found))


# --------------------------------------------------------------------------- quantizing


def _method(name: str):
    from onnxruntime.quantization import CalibrationMethod  # ONNX Runtime's quantizer: only --int8 loads it

    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}[name]


def quantize(model: onnx.ModelProto, frames: Sequence[tuple[np.ndarray, np.ndarray]], options: Int8Options,
             progress: bool = False, exclude_nodes: Sequence[str] | None = None) -> onnx.ModelProto:
    """Calibrate ``model`` (FP32, output ``logits``) on ``frames`` and return it with Q/DQ nodes.

    ``exclude_nodes`` (ONNX node names) stay in floating point; default: the
    nodes of ``options.all_exclude``.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static  # ONNX Runtime's quantizer: only --int8 loads it
    if not frames:
        raise ConfigError("the calibration set is empty")
    exclude = list(nodes_to_exclude(model, options.all_exclude) if exclude_nodes is None else exclude_nodes)
    if options.target == "nncf":
        return quantize_nncf(model, frames, exclude, progress)
    if options.target == "tensorrt":
        settings = dict(
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=list(_WEIGHTED),
            # Biases stay float: TensorRT quantizes them itself (QAT exports look the same).
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                           "QDQKeepRemovableActivations": True, "QuantizeBias": False,
                           "OpTypesToExcludeOutputQuantization": list(_WEIGHTED)},
        )
    else:
        settings = dict(
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=None,  # every op with a quantized kernel
            extra_options={"WeightSymmetric": True},
        )
    if options.method == "minmax":  # ranges merge exactly: hold one frame's activations in memory, not all
        settings["extra_options"]["CalibStridedMinMax"] = 1
    if options.method == "percentile":
        settings["extra_options"]["CalibPercentile"] = 99.99
    with tempfile.TemporaryDirectory(prefix="acnet-int8-") as tmp, \
            tqdm(total=len(frames), desc="calibrating", unit="frame", disable=None if progress else True, leave=False) as bar:
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, source)
        try:
            with _quiet_root():  # ORT logs advice on the root logger
                quantize_static(
                    str(source), str(target), _Reader(frames, bar),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    reduce_range=False,
                    nodes_to_exclude=exclude,
                    calibrate_method=_method(options.method),
                    **settings,
                )
        except (ValueError, RuntimeError, onnx.checker.ValidationError) as exc:
            raise ModelFileError(f"INT8 quantization failed: {first_line(exc)}") from exc
        quantized = onnx.load(target)
    log.debug("INT8 (%s): %d Q/DQ nodes, %d nodes kept in floating point", options.target,
              sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in quantized.graph.node), len(exclude))
    return quantized


def load_nncf():
    """The ``nncf`` module, imported without its usage telemetry; a one-line error naming the extra without it.

    NNCF sends usage statistics to Google Analytics unless told not to
    (``NNCF_CI`` is its own switch for that, read when it is first imported);
    an export never phones home.
    """
    os.environ.setdefault("NNCF_CI", "1")
    with _quiet_nncf():
        try:
            import nncf
        except ImportError as exc:
            raise BackendUnavailableError(f"--int8-target nncf quantizes with NNCF, which is not installed ({exc}); "
                                          f"{NNCF_HINT}") from None
    return nncf


@contextlib.contextmanager
def _quiet_nncf():
    """NNCF's INFO lines and rich progress bars go to stdout; torch, which it imports, warns about CUDA_HOME."""
    with contextlib.redirect_stdout(io.StringIO()), quiet_loggers("nncf", "torch.utils.cpp_extension", level=logging.ERROR):
        yield


def quantize_nncf(model: onnx.ModelProto, frames: Sequence[tuple[np.ndarray, np.ndarray]], exclude_nodes: Sequence[str],
                  progress: bool = False) -> onnx.ModelProto:
    """NNCF's post-training quantization of ``model`` with its defaults, on ``frames``, ``exclude_nodes`` left in float.

    The vendor's quantizer, not a re-write of it: ``nncf.quantize`` on the ONNX
    graph (its ONNX backend) with every frame as its calibration subset.
    """
    nncf = load_nncf()
    with tqdm(desc="calibrating (NNCF)", unit="frame", disable=None if progress else True, leave=False) as bar:
        def feed(frame: tuple[np.ndarray, np.ndarray]) -> dict:
            bar.update(1)  # NNCF reads the frames more than once (statistics, then bias correction)
            return {"rgb": frame[0], "depth": frame[1]}

        scope = nncf.IgnoredScope(names=list(exclude_nodes))
        try:
            with _quiet_nncf():
                quantized = nncf.quantize(model, nncf.Dataset(list(frames), feed), subset_size=len(frames),
                                          ignored_scope=scope)
        except Exception as exc:  # NNCF raises its own classes, and whatever ONNX Runtime raises inside it
            raise ModelFileError(f"NNCF quantization failed: {first_line(exc)}") from exc
    log.debug("INT8 (nncf, NNCF %s): %d Q/DQ nodes, %d nodes kept in floating point", nncf.__version__,
              sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in quantized.graph.node), len(exclude_nodes))
    return quantized


@contextlib.contextmanager
def _quiet_root():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantization_record(options: Int8Options, frames: int, source: str, excluded_nodes: int) -> dict:
    """What the model's metadata says about its INT8 (``ModelInfo.quantization``)."""
    activations = {"tensorrt": "int8 symmetric", "nncf": "int8/uint8 symmetric (NNCF performance preset)"}
    return {
        "target": options.target,
        "activations": activations.get(options.target, "uint8 asymmetric"),
        "weights": "int8 symmetric per-channel",
        "calibration_data": source,
        "calibration_frames": frames,
        "calibration_method": options.method,
        "exclude": list(options.all_exclude),
        "excluded_nodes": excluded_nodes,
    }


def heldout_split(split: str) -> str | None:
    """The split to verify on when calibration read ``split``: another one, never overlapping it."""
    if split == "all":  # NYUDv2's every frame: no other split is held out
        return None
    return "train" if split == "test" else "test"


def check_frames(spec: str, calib_frames: int, preprocess_config, count: int = CHECK_FRAMES["int8"]) -> tuple[list[dict] | None, str]:
    """Frames to verify an INT8 export on, held out from calibration, and where they came from.

    Verification must not see the frames calibration saw: a calibration on
    bad frames (all zeros, one repeated image) fits those very frames and
    would pass. The first of these that has frames is used:

    1. another split of the same data: ``test``, or ``train`` when calibration read ``test``;
    2. frames of the calibration's split that calibration did not read;
    3. none (returns None): the synthetic check scenes every other export verifies on.

    In-distribution frames come first, because a trained network's INT8
    error on frames unlike its data says little.
    """
    parsed = DatasetSpec.parse(spec)
    split = parsed.options.get("split", DEFAULT_SPLIT)
    other = heldout_split(split)
    if other is not None:
        try:
            frames = calibration_frames(parsed.with_split(other), count, preprocess_config, split=other)
        except (ConfigError, DataError):  # no such split, or an empty one
            frames = []
        if frames:
            return _feeds(frames), f"{len(frames)} frames of the {other} split of {spec} (calibration read {split})"
    frames = calibration_frames(spec, count, preprocess_config, avoid=calib_frames)
    if frames:
        return _feeds(frames), f"{len(frames)} frames of the {split} split of {spec} that calibration did not read"
    log.warning("%s has no frames held out from calibration (no %s split, and calibration read every %s frame): "
                "verifying on synthetic scenes", spec, other or "other", split)
    return None, f"{count} synthetic scenes: no frames of {spec} are held out from calibration"


def _feeds(frames) -> list[dict]:
    return [{"rgb": r, "depth": d} for r, d in frames]
