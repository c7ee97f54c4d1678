"""``acnet parity``: does an exported model give the answers PyTorch gives?

The reference is the checkpoint's network in PyTorch FP32 (TF32 off on
CUDA). Every candidate (ONNX Runtime on an FP32 or FP16 ONNX model, a
TensorRT engine, an AOTInductor package, or PyTorch itself in TF32, FP16 or
bf16 autocast) runs through the runtime's :class:`~acnet.runtime.Segmenter`
as users run it, and the reference runs through the same Segmenter code around
PyTorch, so both see identical input tensors and identical postprocessing.

Per candidate, over the frames of a dataset:

- max and mean absolute logits error, at the model's input size;
- per-pixel argmax agreement of the class maps at each frame's own size;
- mIoU of the reference and of the candidate against the labels
  (:class:`acnet.training.metrics.ConfusionMatrix`, void ignored), and ΔmIoU.

An ``--argmax`` model returns class ids at its input size, which the runtime
resizes by nearest neighbour; its reference is PyTorch's argmax at the input
size resized the same way, so the check measures the export, not the choice
between resizing logits and resizing labels.

A candidate passes when agreement and |ΔmIoU| are within the thresholds of its
precision (FP32: ≥ 99.9 % and ≤ 0.05 points; FP16: ≥ 99.5 % and ≤ 0.2 points;
INT8: ≥ 98 % and ≤ 1 point).
bf16 (PyTorch's autocast, or an FP32/FP16 model in OpenVINO at bf16) and TF32
have no gate of their own unless one is given: they are judged by the FP16
gate (reduced-precision products, like FP16); an INT8 model keeps the INT8 gate.

A camera-native model (``--io camera``) is checked on the same raw frames as
its reference: each frame as that camera gives it (resized to the camera's
size when the data's frames differ, bilinear RGB rounded to uint8 and
nearest depth and labels; depth as uint16 in the model's units, or float32
metres). The reference takes that raw frame through the numpy runtime and
PyTorch (preprocessing, network, logits resized to the camera's size); the
model takes it as it is. Its labels are compared pixel by pixel with the
reference's, each differing pixel counted as a tie when the reference's
logits of both classes are within :data:`acnet.export.verify.TIE_TOLERANCE`
of each other, and its confidence with the reference's softmax. An FP32
camera-native model whose camera size is the network's must equal the
reference but for ties: ≥ 99.99 % agreement and no other difference
(:data:`CAMERA_GATE`); one that resizes is judged by the FP32 gate at the
camera's size, and FP16/INT8 ones by theirs; FP32 ones also need the
confidence within one level (of 255) on the gate's share of pixels.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from acnet.benchmarks.artefacts import cached_onnx_export, check_precision, check_same_network, default_cache_dir, utc_now
from acnet.benchmarks.backends import AotiBackend, TorchBackend, backend_for_precision, package_device, segmenter_around
from acnet.benchmarks.environment import collect_environment, load_average
from acnet.benchmarks.report import parity_markdown, parity_summary, parity_table
from acnet.benchmarks.timing import Skip, as_camera_frame
from acnet.errors import ConfigError, ModelFileError
from acnet.export.aoti import read_package_info
from acnet.runtime.postprocess import postprocess_logits
from acnet.runtime.preprocess import resize_nearest
from acnet.runtime.segmenter import Segmenter
from acnet.training.data.spec import open_dataset
from acnet.training.device import resolve_device
from acnet.training.metrics import ConfusionMatrix

log = logging.getLogger(__name__)

SCHEMA = "acnet.parity"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Gate:
    """Thresholds for one precision: agreement in percent, |ΔmIoU| in mIoU points."""

    min_agreement_pct: float
    max_delta_miou_points: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_agreement_pct <= 100.0:
            raise ConfigError(f"agreement threshold must be a percentage in [0, 100], got {self.min_agreement_pct}")
        if self.max_delta_miou_points < 0:
            raise ConfigError(f"ΔmIoU threshold must be non-negative, got {self.max_delta_miou_points}")

    def to_dict(self) -> dict:
        return {"min_agreement_pct": self.min_agreement_pct, "max_delta_miou_points": self.max_delta_miou_points}


#: Default gates per precision.
DEFAULT_GATES = {"fp32": Gate(99.9, 0.05), "fp16": Gate(99.5, 0.2), "int8": Gate(98.0, 1.0)}
#: Precisions judged by the FP16 gate when the gates name no gate of their own.
REDUCED_PRECISIONS = ("fp16", "bf16", "tf32")
#: FP32 camera-native models at the network's own size: the float model's labels but for argmax ties.
CAMERA_GATE = Gate(99.99, 0.05)


def gate_for(precision: str, gates: dict) -> Gate:
    """The gate of ``precision``: its own, else FP16's for reduced precisions, else its default, else FP32's."""
    if precision in gates:
        return gates[precision]
    if precision in REDUCED_PRECISIONS:
        return gates["fp16"]
    return DEFAULT_GATES.get(precision, gates["fp32"])


@dataclass(frozen=True)
class Candidate:
    """One artefact to check: a label for the report, its path and backend."""

    label: str
    path: Path
    #: Runtime backend name: "onnxruntime", "tensorrt" or "openvino"; "aoti" for an AOTInductor
    #: package; a torch bench variant ("torch-fp16", "torch-bf16", "torch-tf32") runs
    #: the checkpoint itself (``path`` is then the checkpoint).
    #: INT8 models are gated by the INT8 gate whatever option named them (the metadata says).
    backend: str = "auto"
    #: The command-line option that named it (--onnx, --fp16-onnx, --int8-onnx, ...): one that names a
    #: precision must be given a model of that precision (:func:`~acnet.benchmarks.artefacts.check_precision`).
    option: str | None = None
    #: OpenVINO only: the precision its floating-point layers compute in ("bf16": judged by the FP16 gate).
    precision: str | None = None

    @property
    def is_torch(self) -> bool:
        return self.backend.startswith("torch")


@dataclass(frozen=True)
class ParityConfig:
    checkpoint: Path
    #: Dataset spec (``acnet.training.data.spec``), e.g. "synthetic:8?size=120x160".
    data: str
    candidates: tuple[Candidate, ...] = ()
    split: str = "test"
    #: At most this many frames (the first ones).
    limit: int | None = None
    #: Device of the candidates; None: the runtime's default (cpu for ONNX, cuda for engines).
    device: str | None = None
    #: Device of the PyTorch reference.
    reference_device: str = "cpu"
    threads: int | None = None
    gates: dict = field(default_factory=lambda: dict(DEFAULT_GATES))
    #: Where an ONNX model exported because none was given is kept.
    cache_dir: Path | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "checkpoint", Path(self.checkpoint))
        object.__setattr__(self, "candidates", tuple(self.candidates))
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {self.limit}")
        labels = [c.label for c in self.candidates]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"candidate labels must be unique, got {labels}")
        for key in ("fp32", "fp16"):
            if key not in self.gates:
                raise ConfigError(f"no parity gate for {key}")


class _Accumulator:
    """Running sums for one candidate over many frames."""

    def __init__(self, num_classes: int) -> None:
        self.confusion = ConfusionMatrix(num_classes)
        self.max_abs = 0.0
        self.ref_scale = 0.0
        self.abs_sum = 0.0
        self.logit_count = 0
        self.agree = 0
        self.pixels = 0
        self.worst: tuple[float, str] | None = None
        self.finite = True
        self.labels = None  # camera-native models: acnet.export.verify.LabelComparison over all frames

    def add(self, name: str, ref_logits, logits, ref_labels: np.ndarray, labels: np.ndarray, truth: np.ndarray) -> None:
        if logits is not None and ref_logits is not None:
            if logits.shape != ref_logits.shape:
                raise ModelFileError(f"the model returns logits of shape {logits.shape}, PyTorch {ref_logits.shape}")
            if not np.isfinite(logits).all():
                self.finite = False
            diff = np.abs(logits.astype(np.float32) - ref_logits)
            self.max_abs = max(self.max_abs, float(np.nanmax(diff)) if diff.size else 0.0)
            self.ref_scale = max(self.ref_scale, float(np.abs(ref_logits).max()) if ref_logits.size else 0.0)
            self.abs_sum += float(np.nansum(diff, dtype=np.float64))
            self.logit_count += diff.size
        same = int(np.count_nonzero(labels == ref_labels))
        self.agree += same
        self.pixels += labels.size
        score = (same / labels.size, name)
        self.worst = score if self.worst is None else min(self.worst, score)
        self.confusion.update(labels, truth)

    def add_camera(self, name: str, ref_logits: np.ndarray, ref_labels: np.ndarray, labels: np.ndarray,
                   confidence: np.ndarray, truth: np.ndarray) -> None:
        """A camera-native model's frame: labels and confidence against the reference's logits (ties counted)."""
        from acnet.export.verify import compare_labels

        comparison = compare_labels(ref_logits, labels, confidence)
        self.labels = comparison if self.labels is None else self.labels.merge(comparison)
        self.add(name, None, None, ref_labels, labels, truth)


@dataclass(frozen=True)
class ParityResult:
    """How one candidate compares with the PyTorch reference."""

    label: str
    path: str
    backend: str
    precision: str
    gate: Gate
    frames: int
    max_abs_logits: float | None
    #: max_abs_logits over the largest |reference logit| (logit scales differ between models).
    max_rel_logits: float | None
    mean_abs_logits: float | None
    agreement_pct: float
    worst_frame: str
    worst_frame_agreement_pct: float
    miou_reference: float | None
    miou: float | None
    delta_miou_points: float | None
    passed: bool
    failures: tuple[str, ...]
    runtime: str = ""
    note: str = ""
    #: Camera-native models: "HxW uint16 (x 0.001 m)" etc.; empty for others.
    camera: str = ""
    #: Camera-native models: differing pixels that are argmax ties, and those that are not.
    ties: int | None = None
    other_differences: int | None = None
    #: Camera-native models: largest |confidence - the reference's| (levels of 1/255), share within one level.
    confidence_max_diff: int | None = None
    confidence_within_one_pct: float | None = None

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["gate"] = self.gate.to_dict()
        d["failures"] = list(self.failures)
        return d


def judge(agreement_pct: float, delta_points: float | None, gate: Gate, finite: bool = True) -> tuple[str, ...]:
    """Why a candidate fails ``gate`` (empty when it passes)."""
    failures = []
    if not finite:
        failures.append("logits contain NaN or infinity")
    if not agreement_pct >= gate.min_agreement_pct:
        failures.append(f"agreement {agreement_pct:.3f}% < {gate.min_agreement_pct}%")
    if delta_points is not None and not abs(delta_points) <= gate.max_delta_miou_points:
        failures.append(f"|ΔmIoU| {abs(delta_points):.3f} points > {gate.max_delta_miou_points}")
    return tuple(failures)


def _result(candidate: Candidate, runtime: str, precision: str, gate: Gate, acc: _Accumulator,
            ref: _Accumulator, frames: int, note: str, camera=None, exact: bool = False) -> ParityResult:
    ref_miou, miou = ref.confusion.miou(), acc.confusion.miou()
    has_miou = not (math.isnan(ref_miou) or math.isnan(miou))
    delta = 100.0 * (miou - ref_miou) if has_miou else None
    agreement = 100.0 * acc.agree / acc.pixels if acc.pixels else 0.0
    failures = judge(agreement, delta, gate, acc.finite)
    extra = {}
    if camera is not None and acc.labels is not None:
        c = acc.labels
        within = 100.0 * c.confidence_within_one / c.pixels if c.pixels else 0.0
        extra = dict(camera=_camera_text(camera), ties=c.ties, other_differences=c.other_differences,
                     confidence_max_diff=c.max_confidence_diff, confidence_within_one_pct=within)
        if exact and c.other_differences:
            failures += (f"{c.other_differences} pixel(s) differ from the float model's labels without an argmax tie",)
        if precision == "fp32" and not within >= gate.min_agreement_pct:
            failures += (f"confidence within one level on {within:.3f}% < {gate.min_agreement_pct}% of pixels",)
        what = (f"camera-native, {extra['camera']}: compared on raw camera frames through the numpy runtime; "
                f"{c.ties} tie(s), {c.other_differences} other difference(s); confidence within one level on "
                f"{within:.3f}% of pixels (max {c.max_confidence_diff})")
        note = (note + "; " if note else "") + what
    if not has_miou:
        note = (note + "; " if note else "") + "no labelled pixels: ΔmIoU not gated"
    return ParityResult(
        label=candidate.label,
        path=str(candidate.path),
        backend=candidate.backend,
        precision=precision,
        gate=gate,
        frames=frames,
        max_abs_logits=acc.max_abs if acc.logit_count else None,
        max_rel_logits=acc.max_abs / acc.ref_scale if acc.logit_count and acc.ref_scale > 0 else None,
        mean_abs_logits=acc.abs_sum / acc.logit_count if acc.logit_count else None,
        agreement_pct=agreement,
        worst_frame=acc.worst[1] if acc.worst else "",
        worst_frame_agreement_pct=100.0 * acc.worst[0] if acc.worst else 0.0,
        miou_reference=ref_miou if has_miou else None,
        miou=miou if has_miou else None,
        delta_miou_points=delta,
        passed=not failures,
        failures=failures,
        runtime=runtime,
        note=note,
        **extra,
    )


def _camera_text(camera) -> str:
    depth = f"uint16 depth x {camera.depth_scale:g} m" if camera.depth_dtype == "uint16" else "float32 depth (m)"
    return f"{camera.height}x{camera.width}, {depth}"


@dataclass(frozen=True)
class ParityReport:
    config: dict
    reference: dict
    data: dict
    environment: dict
    results: tuple[ParityResult, ...]
    created: str = ""

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "created": self.created,
            "passed": self.passed,
            "config": self.config,
            "reference": self.reference,
            "data": self.data,
            "environment": self.environment,
            "results": [r.to_dict() for r in self.results],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def table(self) -> str:
        return parity_table(self)

    def markdown(self) -> str:
        return parity_markdown(self)

    def summary(self) -> str:
        return parity_summary(self)


# --------------------------------------------------------------------------- open


@dataclass
class _Opened:
    """The candidates' segmenters and the reference's, all at one input size."""

    candidates: list
    segmenters: list
    reference: Segmenter | None = None
    height: int = 0
    width: int = 0
    #: Per candidate: what the report should say about where it came from ("" when nothing).
    notes: list = field(default_factory=list)

    def close(self) -> None:
        for seg in (*self.segmenters, self.reference):
            if seg is not None:
                seg.close()


def _open_candidate(candidate: Candidate, config: ParityConfig, batch_size: int = 1) -> Segmenter:
    if candidate.backend == "aoti":
        name = backend_for_precision(read_package_info(candidate.path).precision)
        device = config.device or package_device(candidate.path)
        return segmenter_around(_runnable(lambda: AotiBackend(name, candidate.path, device, config.threads), candidate),
                                batch_size)
    kwargs = {"threads": config.threads} if candidate.path.suffix.lower() in (".onnx", ".xml") else {}
    if candidate.precision is not None:
        kwargs["precision"] = candidate.precision
    return Segmenter(candidate.path, backend=candidate.backend, device=config.device, batch_size=batch_size, **kwargs)


def _runnable(make, candidate: Candidate):
    """``make()``, with a candidate that cannot run here reported as bad input naming it."""
    try:
        return make()
    except Skip as exc:
        raise ConfigError(f"{candidate.label} cannot run here: {exc}") from None


def open_all(config: ParityConfig, model, ckpt) -> _Opened:
    """Every candidate (an ONNX export of the checkpoint when none is given) and the PyTorch reference."""
    # Not at the top: imports onnx (the benchmarks import without it).
    from acnet.export.onnx import OnnxExportOptions, model_info

    checkpoint_network = model_info(ckpt, OnnxExportOptions(verify=False), ckpt.input_height, ckpt.input_width)
    candidates = list(config.candidates) or [Candidate("onnx", cached_onnx_export(
        config.checkpoint, ckpt.input_height, ckpt.input_width, config.cache_dir or default_cache_dir()), "onnxruntime")]
    opened = _Opened(candidates, [None] * len(candidates))
    try:
        for i, c in enumerate(candidates):
            if not c.is_torch:  # torch candidates open below, at the size the exported models run at
                opened.segmenters[i] = seg = _open_candidate(c, config)
                check_precision(c.path, seg.info, c.option)
                check_same_network(c.path, seg.info, checkpoint_network)
        # The reference runs at the size the candidates run at (all must agree).
        sizes = {seg.input_size for seg in opened.segmenters if seg is not None}
        if len(sizes) > 1:
            raise ConfigError(f"the models to check run at different input sizes: {sorted(sizes)}")
        opened.height, opened.width = sizes.pop() if sizes else (ckpt.input_height, ckpt.input_width)
        info = model_info(ckpt, OnnxExportOptions(dynamic_batch=True, verify=False), opened.height, opened.width)
        for i, c in enumerate(candidates):
            if c.is_torch:
                # Its own copy: the reference may run on another device, and .to() moves a module in place.
                variant = _runnable(lambda: TorchBackend(c.backend, copy.deepcopy(model), info, config.device or "cpu",
                                                         config.threads), c)
                variant.info = dataclasses.replace(info, precision=variant.precision)
                opened.segmenters[i] = segmenter_around(variant, 1)
        opened.reference = segmenter_around(TorchBackend("torch", model, info, config.reference_device, config.threads), 1)
    except BaseException:
        opened.close()
        raise
    for c, seg in zip(candidates, opened.segmenters):
        source = seg.info.source_sha256
        opened.notes.append("" if not source or source == ckpt.sha256 else
                            f"exported from another checkpoint (sha256 {source[:12]}…, this one {ckpt.sha256[:12]}…)")
        if opened.notes[-1]:
            log.warning("%s: %s", c.path, opened.notes[-1])
    return opened


# --------------------------------------------------------------------------- compare


@dataclass
class _Tally:
    """The reference's and every candidate's running sums over the frames."""

    reference: _Accumulator
    #: The reference of --argmax models: PyTorch's argmax at the input size, resized by nearest neighbour.
    label_reference: _Accumulator
    candidates: list
    #: The reference on each camera's raw frames (camera-native models), per CameraIO.
    cameras: dict = field(default_factory=dict)


def compare(opened: _Opened, dataset, count: int, progress: bool) -> _Tally:
    """Run the reference and every candidate on the first ``count`` frames, adding up how they differ."""
    classes = dataset.num_classes
    tally = _Tally(_Accumulator(classes), _Accumulator(classes), [_Accumulator(classes) for _ in opened.candidates])
    tally.cameras = {seg.info.camera: _Accumulator(classes) for seg in opened.segmenters if seg.camera_native}
    for index in tqdm(range(count), desc="parity", unit="frame", disable=None if progress else True, leave=False):
        frame = dataset[index]
        h, w = frame.size
        ref_logits = opened.reference.logits(frame.rgb, frame.depth)
        ref_labels = postprocess_logits(ref_logits, h, w)
        tally.reference.add(frame.name, None, None, ref_labels, ref_labels, frame.label)
        ref_nearest = None
        raw = {}
        for camera, camera_acc in tally.cameras.items():
            rgb, depth, truth = as_camera_frame(frame.rgb, frame.depth, frame.label, camera)
            logits = opened.reference.logits(rgb, depth, camera.depth_scale)
            camera_labels = postprocess_logits(logits, *camera.size)
            raw[camera] = (rgb, depth, truth, logits, camera_labels)
            camera_acc.add(frame.name, None, None, camera_labels, camera_labels, truth)
        for seg, acc in zip(opened.segmenters, tally.candidates):
            if seg.camera_native:
                rgb, depth, truth, logits, camera_labels = raw[seg.info.camera]
                labels, confidence = seg.segment_with_confidence(rgb, depth)
                acc.add_camera(frame.name, logits, camera_labels, labels, confidence, truth)
            elif seg.outputs_labels:
                if ref_nearest is None:
                    ref_nearest = resize_nearest(postprocess_logits(ref_logits, *ref_logits.shape[-2:]), h, w)
                    tally.label_reference.add(frame.name, None, None, ref_nearest, ref_nearest, frame.label)
                acc.add(frame.name, None, None, ref_nearest, seg.segment(frame.rgb, frame.depth), frame.label)
            else:
                logits = seg.logits(frame.rgb, frame.depth)
                acc.add(frame.name, ref_logits, logits, ref_labels, postprocess_logits(logits, h, w), frame.label)
    return tally


# --------------------------------------------------------------------------- judge


def judge_all(opened: _Opened, tally: _Tally, config: ParityConfig, count: int) -> list[ParityResult]:
    """Each candidate against the reference, by the gate of its precision."""
    results = []
    for c, seg, acc, note in zip(opened.candidates, opened.segmenters, tally.candidates, opened.notes):
        # What it computes in: an FP32 model run by OpenVINO at bf16 is judged as bf16.
        precision = getattr(seg.backend, "compute_precision", seg.info.precision)
        ref = tally.reference
        if seg.camera_native:
            camera = seg.info.camera
            exact = precision == "fp32" and camera.size == seg.input_size
            gate = config.gates.get("camera", CAMERA_GATE) if exact else gate_for(precision, config.gates)
            results.append(_result(c, seg.backend.describe(), precision, gate, acc, tally.cameras[camera], count, note,
                                   camera=camera, exact=exact))
            continue
        if seg.outputs_labels:
            ref = tally.label_reference
            note = (note + "; " if note else "") + ("class ids: compared with PyTorch's argmax at the input "
                                                    "size, resized by nearest neighbour as the runtime does")
        results.append(_result(c, seg.backend.describe(), precision, gate_for(precision, config.gates), acc, ref,
                               count, note))
    return results


# --------------------------------------------------------------------------- the run


def run_parity(config: ParityConfig) -> ParityReport:
    """Run the reference and every candidate over the dataset; see the module docstring."""
    from acnet.training.checkpoint import load_model  # not at the top: imports torch (acnet bench runs without it)

    try:
        resolve_device(config.reference_device)
    except ConfigError as exc:
        raise ConfigError(f"--reference-device: {exc}") from None
    load_at_start = load_average()
    model, ckpt = load_model(config.checkpoint)
    dataset = open_dataset(config.data, config.split)
    if dataset.num_classes != ckpt.model_config.num_classes:
        raise ConfigError(
            f"the checkpoint predicts {ckpt.model_config.num_classes} classes but {config.data} has {dataset.num_classes}"
        )
    count = len(dataset) if config.limit is None else min(config.limit, len(dataset))
    if count == 0:
        raise ConfigError(f"{config.data} ({config.split}) has no frames")

    opened = open_all(config, model, ckpt)
    try:
        tally = compare(opened, dataset, count, config.progress)
        results = judge_all(opened, tally, config, count)
        reference_details = opened.reference.backend.details()
    finally:
        opened.close()

    ref = tally.reference.confusion
    return ParityReport(
        config={
            "checkpoint": str(config.checkpoint),
            "data": config.data,
            "split": config.split,
            "limit": config.limit,
            "device": config.device,
            "reference_device": config.reference_device,
            "gates": {k: g.to_dict() for k, g in config.gates.items()},
        },
        reference={"checkpoint_sha256": ckpt.sha256, "backbone": ckpt.model_config.backbone,
                   "num_classes": ckpt.model_config.num_classes, "input_size": [opened.height, opened.width],
                   "miou": ref.miou() if ref.total else None, **reference_details},
        data={"spec": config.data, "split": config.split, "source": dataset.source, "frames": count,
              "labelled_pixels": ref.total},
        environment=collect_environment(load_at_start),
        results=tuple(results),
        created=utc_now(),
    )
