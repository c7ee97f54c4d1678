"""Check an exported ONNX model against the PyTorch network it came from.

The check runs ONNX Runtime (CPU) and PyTorch on the same real-looking RGB-D
frame, preprocessed by the one shared :func:`acnet.runtime.preprocess.preprocess`,
and reports the largest and mean absolute logits error and the share of
pixels whose predicted class agrees. The result is printed by the CLI and
saved as JSON beside the model. An INT8 model's check adds the error of
each stage against its FP32 graph (:func:`stage_errors`).

``acnet bench`` imports this module for :func:`synthetic_frame` on a
runtime-only install, so torch, onnx (and :mod:`acnet.export.graph`, which
imports it) and onnxruntime are imported by the functions that use them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from acnet._io import atomic_write_text
from acnet.errors import ModelFileError, first_line
from acnet.runtime.metadata import ModelInfo
from acnet.runtime.postprocess import CLASS_ID_OFFSET, logits_to_class_ids, top_probability
from acnet.runtime.preprocess import preprocess, resize_bilinear_chw

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

#: Least share of pixels whose class must agree with PyTorch, per precision.
MIN_AGREEMENT = {"fp32": 0.999, "fp16": 0.995, "int8": 0.98}
#: Check frames per precision: INT8 errors vary more from frame to frame.
CHECK_FRAMES = {"int8": 4}


@dataclass(frozen=True)
class Verification:
    """How closely an exported model reproduces PyTorch on the same input."""

    max_abs_err: float
    mean_abs_err: float
    #: max_abs_err relative to the largest reference logit magnitude.
    rel_err: float
    #: Share of pixels whose argmax class equals PyTorch's.
    agreement: float
    min_agreement: float
    #: Distinct classes PyTorch predicts on the check input (a sanity figure:
    #: agreement on a one-class prediction would say little).
    reference_classes: int
    #: (batch, height, width) of the check input.
    input_shape: tuple[int, int, int]
    passed: bool
    #: INT8 only: per-stage error against the FP32 graph (:class:`StageError`, acnet.export.stages).
    stages: tuple = ()
    #: The frames compared, in words.
    check_data: str = "synthetic scenes"
    #: INT8 only: the FP32 graph before quantization against PyTorch, at the FP32
    #: gate. A wrong fold or rewrite fails here, where INT8's own error cannot hide it.
    fp32_graph: "Verification | None" = None
    #: Camera-native models: the heads against the numpy runtime (``acnet.export.camera.CameraCheck``); the fields
    #: above then describe the network without them.
    camera_heads: object | None = None

    def summary(self, backend: str = "ONNX Runtime") -> str:
        verdict = "passed" if self.passed else "FAILED"
        text = (
            f"{backend} vs PyTorch, batch {self.input_shape[0]} at {self.input_shape[1]}x{self.input_shape[2]}: "
            f"max |dlogits| {self.max_abs_err:.3g} (relative {self.rel_err:.2g}), mean {self.mean_abs_err:.3g}, "
            f"argmax agreement {100 * self.agreement:.3f}% (need {100 * self.min_agreement:.1f}%): {verdict}"
        )
        if self.fp32_graph is not None and not self.fp32_graph.passed:
            g = self.fp32_graph
            text += (f"; the FP32 graph before quantization already disagrees (max |dlogits| {g.max_abs_err:.3g}, "
                     f"agreement {100 * g.agreement:.3f}%, need {100 * g.min_agreement:.1f}%): the export, not the "
                     f"calibration, is wrong")
        if self.camera_heads is not None:
            text += "; " + self.camera_heads.summary()
        return text

    def stage_table(self) -> str:
        return stage_table(self.stages)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["stages"] = [s.to_dict() for s in self.stages]
        if self.fp32_graph is not None:
            d["fp32_graph"] = self.fp32_graph.to_dict()
        if self.camera_heads is not None:
            d["camera_heads"] = self.camera_heads.to_dict()
        return d


@dataclass(frozen=True)
class StageError:
    """How far one stage of the INT8 model is from FP32 on the same frames."""

    stage: str
    tensor: str
    #: RMS of the difference over RMS of the FP32 tensor.
    rel_rms: float
    max_abs: float
    #: Cosine similarity of the flattened tensors (1 = same direction).
    cosine: float

    def to_dict(self) -> dict:
        return asdict(self)


def stage_table(errors: Sequence[StageError]) -> str:
    """The per-stage errors as aligned text, shallowest first."""
    lines = ["stage        rel. RMS error   max |error|   cosine"]
    for e in errors:
        lines.append(f"{e.stage:<12} {100 * e.rel_rms:>13.2f}%   {e.max_abs:>11.4g}   {e.cosine:.5f}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- per-stage error of INT8 models


def stage_tensors(model: onnx.ModelProto) -> dict[str, str]:
    """Stage name -> tensor of the FP32 graph: fused features m0..m4, decoder stages, logits."""
    from acnet.export.graph import find_acm_fusions, node_scopes, producers  # see the module docstring

    graph = model.graph
    made_by = producers(graph)
    stages: dict[str, str] = {}
    for fusion in find_acm_fusions(model):
        node_name = fusion.residual_add or fusion.add
        node = next(n for n in graph.node if n.name == node_name)
        stages[f"m{fusion.stage}"] = node.output[0]
    # The last node of each decoder module writes its output.
    for module in ("decoder.deconv1", "decoder.deconv2", "decoder.deconv3", "decoder.deconv4", "decoder.final_conv"):
        last = None
        for node in graph.node:
            if module in node_scopes(node):
                last = node
        if last is not None:
            stages[module.split(".", 1)[1]] = last.output[0]
    if "logits" in made_by:
        stages["logits"] = "logits"
    return stages


def stage_errors(fp32: onnx.ModelProto, int8: onnx.ModelProto, feeds: Sequence[dict]) -> list[StageError]:
    """Per-stage error of ``int8`` against ``fp32``, marking the stage tensors as graph outputs."""
    from acnet.export.graph import with_outputs  # see the module docstring

    stages = stage_tensors(fp32)
    seen = _dequantized(int8)
    stages = {k: t for k, t in stages.items() if t in seen}
    names = list(stages.values())
    int8_names = [seen[t] for t in names]
    a = with_outputs(fp32, names).SerializeToString()
    b = with_outputs(int8, int8_names).SerializeToString()
    sums = {k: [0.0, 0.0, 0.0, 0.0, 0.0] for k in stages}  # diff², ref², dot, cand², max
    for feed in feeds:
        ref = dict(zip(names, run_onnx(a, feed, names)))
        got = dict(zip(names, run_onnx(b, feed, int8_names)))
        for k, t in stages.items():
            r, c = ref[t].astype(np.float64), got[t].astype(np.float64)
            s = sums[k]
            s[0] += float(((r - c) ** 2).sum())
            s[1] += float((r * r).sum())
            s[2] += float((r * c).sum())
            s[3] += float((c * c).sum())
            s[4] = max(s[4], float(np.abs(r - c).max()))
    out = []
    for k, t in stages.items():
        d2, r2, dot, c2, mx = sums[k]
        out.append(StageError(k, t, float(np.sqrt(d2 / r2)) if r2 else float("inf"), mx,
                              float(dot / np.sqrt(r2 * c2)) if r2 and c2 else 0.0))
    return out


def _dequantized(model: onnx.ModelProto) -> dict[str, str]:
    """Tensor -> what the next layers read of it: its Q -> DQ output when quantized, else itself.

    The quantizer may fold a ReLU into the Q/DQ pair that follows a
    convolution (uint8 clamps at the zero point), so the tensor itself can
    hold pre-activation values; the dequantized copy is the stage's value.
    """
    from acnet.export.graph import consumers  # see the module docstring

    read_by = consumers(model.graph)
    out = {o: o for n in model.graph.node for o in n.output}
    for name in list(out):
        for q in read_by.get(name, []):
            if q.op_type == "QuantizeLinear" and q.input[0] == name:
                dq = [d for d in read_by.get(q.output[0], []) if d.op_type == "DequantizeLinear"]
                if dq:
                    out[name] = dq[0].output[0]
    return out


def report_path(model_path: str | os.PathLike) -> Path:
    """``model.onnx`` -> ``model.verify.json``."""
    path = Path(model_path)
    return path.with_name(path.stem + ".verify.json")


def write_report(model_path: str | os.PathLike, verification: Verification, info: ModelInfo, extra: dict | None = None) -> Path:
    path = report_path(model_path)
    record = {"model": Path(model_path).name, "verification": verification.to_dict(), "model_info": info.to_dict()}
    record.update(extra or {})
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return path


# --------------------------------------------------------------------------- inputs


def synthetic_frame(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A real-looking indoor RGB-D frame: uint8 HxWx3 RGB and uint16 depth in mm.

    A floor and back wall in perspective, a few boxes closer to the camera,
    smooth shading and sensor noise, and some depth holes (0). It exercises
    the network like a photograph does (structured, correlated RGB and
    depth), unlike uniform noise whose logits are flat and whose argmax
    agreement would be meaningless.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    v = yy / max(height - 1, 1)
    u = xx / max(width - 1, 1)
    horizon = 0.45 + 0.1 * rng.random()
    floor = v > horizon
    # Depth in metres: wall at 4-5 m, floor approaching the camera.
    wall_depth = 4.0 + 1.0 * rng.random() + 0.5 * (u - 0.5)
    floor_depth = np.where(floor, 1.0 + (wall_depth - 1.0) * (1.0 - (v - horizon) / (1.0 - horizon)), wall_depth)
    depth = np.where(floor, floor_depth, wall_depth).astype(np.float32)
    wall_rgb = rng.uniform(120, 220, 3)
    floor_rgb = rng.uniform(40, 140, 3)
    shade = (0.75 + 0.25 * u)[..., None]
    rgb = np.where(floor[..., None], floor_rgb, wall_rgb) * shade
    for _ in range(4):
        h = rng.uniform(0.15, 0.4) * height
        w = rng.uniform(0.1, 0.3) * width
        top = rng.uniform(0.2, 0.9) * height - h / 2
        left = rng.uniform(0.0, 1.0) * width - w / 2
        box = (yy >= top) & (yy < top + h) & (xx >= left) & (xx < left + w)
        d = rng.uniform(1.0, 3.5)
        depth = np.where(box & (d < depth), d + 0.2 * (xx - left) / width, depth)
        colour = rng.uniform(0, 255, 3) * (0.8 + 0.2 * v[..., None])
        rgb = np.where(box[..., None] & (depth == np.minimum(depth, d + 0.2))[..., None], colour, rgb)
    rgb = rgb + rng.normal(0, 6, rgb.shape)
    depth = depth + rng.normal(0, 0.01, depth.shape).astype(np.float32)
    depth_mm = np.clip(depth * 1000.0, 0, 65535).astype(np.uint16)
    depth_mm[rng.random(depth_mm.shape) < 0.02] = 0  # Kinect-style holes
    return np.clip(rgb, 0, 255).astype(np.uint8), depth_mm


def check_inputs(info: ModelInfo, height: int, width: int, batch: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Normalised float32 inputs (N,3,H,W) and (N,1,H,W), one synthetic frame per batch item."""
    config = info.preprocess_config
    config = type(config)(height, width, config.normalization)
    rgbs, depths = [], []
    for i in range(batch):
        rgb, depth = preprocess(*synthetic_frame(height, width, seed + i), config)
        rgbs.append(rgb)
        depths.append(depth)
    return np.stack(rgbs), np.stack(depths)


# --------------------------------------------------------------------------- comparison


def compare_logits(
    reference: np.ndarray,
    candidate: np.ndarray,
    min_agreement: float,
) -> Verification:
    """Compare N,C,H,W logits from PyTorch (``reference``) and an export."""
    if reference.shape != candidate.shape:
        raise ModelFileError(f"exported model returns logits of shape {candidate.shape}, PyTorch {reference.shape}")
    reference = reference.astype(np.float32, copy=False)
    candidate = candidate.astype(np.float32, copy=False)
    diff = np.abs(reference - candidate)
    finite = bool(np.isfinite(candidate).all())
    max_abs = float(diff.max()) if finite else float("inf")
    scale = float(np.abs(reference).max()) or 1.0
    ref_labels = reference.argmax(axis=1)
    agreement = float((ref_labels == candidate.argmax(axis=1)).mean())
    return Verification(
        max_abs_err=max_abs,
        mean_abs_err=float(diff.mean()) if finite else float("inf"),
        rel_err=max_abs / scale,
        agreement=agreement,
        min_agreement=min_agreement,
        reference_classes=int(np.unique(ref_labels).size),
        input_shape=(int(reference.shape[0]), *(int(s) for s in reference.shape[2:])),
        passed=finite and agreement >= min_agreement,
    )


#: Two classes tie at a pixel when the reference's logits of both differ by at most this share of the
#: pixel's largest |logit| (or of 1, if larger): a few hundred float32 roundings, where FP32 exports
#: differ from PyTorch by about 1e-5 of the logits' scale (README, parity tables).
TIE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class LabelComparison:
    """Class ids (and confidence) of a model against the reference's logits, pixel by pixel."""

    pixels: int
    equal: int
    #: Differing pixels where the reference's logits of both classes tie (:data:`TIE_TOLERANCE`).
    ties: int
    #: Differing pixels that are no tie.
    other_differences: int
    #: Largest |confidence - the reference's| in levels of 1/255 (-1: no confidence compared).
    max_confidence_diff: int = -1
    #: Pixels whose confidence is within one level of the reference's.
    confidence_within_one: int = 0

    @property
    def agreement(self) -> float:
        return self.equal / self.pixels if self.pixels else 0.0

    def merge(self, other: "LabelComparison") -> "LabelComparison":
        return LabelComparison(self.pixels + other.pixels, self.equal + other.equal, self.ties + other.ties,
                               self.other_differences + other.other_differences,
                               max(self.max_confidence_diff, other.max_confidence_diff),
                               self.confidence_within_one + other.confidence_within_one)


def compare_labels(logits: np.ndarray, labels: np.ndarray, confidence: np.ndarray | None = None,
                   tolerance: float = TIE_TOLERANCE) -> LabelComparison:
    """Compare H x W class ids (and confidence) with what the runtime makes of the reference's C x h x w logits.

    The reference's class ids and confidence at H x W are the runtime's
    (``postprocess_logits``, ``top_probability``). A differing pixel is a
    tie when the reference, its logits resized to H x W, scores the model's
    class within ``tolerance`` of its own (relative to the pixel's largest
    |logit|, at least 1).
    """
    height, width = labels.shape
    ref_logits = resize_bilinear_chw(logits, height, width)
    ref_labels = logits_to_class_ids(ref_logits)
    differ = labels != ref_labels
    ties = 0
    if differ.any():
        ys, xs = np.nonzero(differ)
        channels = labels[ys, xs].astype(np.int64) - CLASS_ID_OFFSET
        valid = (channels >= 0) & (channels < ref_logits.shape[0]) & (ref_labels[ys, xs] > 0)
        column = ref_logits[:, ys, xs].astype(np.float64)
        theirs = column[np.clip(channels, 0, ref_logits.shape[0] - 1), np.arange(ys.size)]
        best = np.nanmax(column, axis=0) if column.size else column
        scale = np.maximum(1.0, np.nanmax(np.abs(column), axis=0))
        ties = int(np.count_nonzero(valid & (best - theirs <= tolerance * scale)))
    different = int(np.count_nonzero(differ))
    max_diff, within = -1, 0
    if confidence is not None:
        diff = np.abs(confidence.astype(np.int16) - top_probability(logits, height, width).astype(np.int16))
        max_diff, within = int(diff.max()) if diff.size else 0, int(np.count_nonzero(diff <= 1))
    return LabelComparison(int(labels.size), int(labels.size) - different, ties, different - ties, max_diff, within)


def run_onnx(model: bytes | str | os.PathLike, feeds: dict[str, np.ndarray], outputs: list[str] | None = None) -> list[np.ndarray]:
    """Run a model (serialised bytes or path) in ONNX Runtime on CPU."""
    import onnxruntime as ort  # see the module docstring

    options = ort.SessionOptions()
    options.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    try:
        session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
        raise ModelFileError(f"ONNX Runtime cannot load the exported model: {first_line(exc)}") from None
    return session.run(outputs, feeds)


def verify_onnx(
    model_bytes: bytes,
    torch_model,
    info: ModelInfo,
    height: int,
    width: int,
    batch: int = 1,
    logits_name: str = "logits",
    fp32_model=None,
    min_agreement: float | None = None,
    feeds: list[dict] | None = None,
    check_data: str | None = None,
) -> Verification:
    """Run ``model_bytes`` in ONNX Runtime and ``torch_model`` (FP32, CPU) on the same frame.

    ``logits_name`` must be a graph output; export makes a copy of an argmax
    model with its logits exposed, so the very graph being written is checked.
    With ``fp32_model`` (the ONNX graph before INT8 quantization) that graph is
    checked against PyTorch at the FP32 gate too (the result fails if it does),
    and the result carries the per-stage error of ``model_bytes`` against it. ``feeds``
    replaces the synthetic check frames (INT8 verifies on frames of its data
    held out from calibration), and ``check_data`` says what they are.
    """
    import torch  # see the module docstring

    synthetic = feeds is None
    if synthetic:
        feeds = []
        for k in range(CHECK_FRAMES.get(info.precision, 1)):
            rgb, depth = check_inputs(info, height, width, batch, seed=k * batch)
            feeds.append({"rgb": rgb, "depth": depth})
    references, candidates = [], []
    for feed in feeds:
        with torch.inference_mode():
            references.append(torch_model(torch.from_numpy(feed["rgb"]), torch.from_numpy(feed["depth"])).float().numpy())
        candidates.append(run_onnx(model_bytes, feed, [logits_name])[0])
    if min_agreement is None:
        min_agreement = MIN_AGREEMENT.get(info.precision, MIN_AGREEMENT["fp32"])
    result = compare_logits(np.concatenate(references), np.concatenate(candidates), min_agreement)
    if check_data is None:
        check_data = f"{len(feeds)} synthetic scenes" if synthetic else f"{len(feeds)} given frames"
    result = dataclasses.replace(result, check_data=check_data)
    if fp32_model is not None:
        import onnx  # see the module docstring


        fp32_bytes = fp32_model.SerializeToString()
        graph = compare_logits(np.concatenate(references), np.concatenate([run_onnx(fp32_bytes, f, [logits_name])[0] for f in feeds]),
                               MIN_AGREEMENT["fp32"])
        graph = dataclasses.replace(graph, check_data=check_data)
        stages = stage_errors(fp32_model, onnx.load_from_string(model_bytes), feeds)
        result = dataclasses.replace(result, stages=tuple(stages), fp32_graph=graph, passed=result.passed and graph.passed)
    log.debug(result.summary())
    return result
