"""Checkpoint -> ONNX: eval-mode graph, fused ACM, metadata, verified against PyTorch.

The graph comes from the ``torch.export``-based exporter (``dynamo=True``):
it folds BatchNorm into every convolution (transposed ones too), leaves no
Identity or training-only nodes, and emits each ACM as
``x * Sigmoid(Conv1x1(ReduceMean(x, [2, 3])))``, so TensorRT and ONNX Runtime
fuse the attention into one pointwise chain. The legacy TorchScript exporter
is faster (0.4 s against 4 s for the test model) but deprecated, and leaves
123 Identity nodes and unfolded BatchNormalization after transposed convs.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import onnx

from acnet._options import DEPTH_SCALE, POSITIVE, CameraSize, FiniteFloat, InputSide

import acnet
from acnet._io import atomic_write_bytes, check_writable
from acnet._logging import quiet_loggers
from acnet._typed import int_in_range
from acnet.errors import CheckpointError, ConfigError, ModelFileError, ParityError, first_line
from acnet.export.int8 import (DEFAULT_EXCLUDE, DEFAULT_FRAMES, DEFAULT_METHOD, DEFAULT_MIN_AGREEMENT, METHODS, TARGETS,
                               Int8Options)
from acnet.export.verify import Verification
from acnet.runtime.metadata import CAMERA_DEPTH_TYPES, CameraIO, ModelInfo
from acnet.training.config import STRIDE, check_input_size
from acnet.export import graph as g, int8 as q, verify as v
from acnet.export.graph import EXPORTER_LOGGERS
from acnet.export.deconv import rewrite_transposed_convs
from acnet.export.fp16 import convert_to_fp16

log = logging.getLogger(__name__)

#: Opset 18 is the lowest the torch.export-based exporter writes natively
#: (for 17 it tries a version converter, which fails on this graph's
#: ReduceMean) and is parsed by every TensorRT 10.x and 11.x and by
#: ONNX Runtime >= 1.14.
DEFAULT_OPSET = 18
MIN_OPSET = 18
#: Upper bounds of dynamic dimensions (TensorRT profiles set the real range).
MAX_DYNAMIC_BATCH = 1024
MAX_DYNAMIC_SIDE = 8192
#: Protobuf cannot hold a single file beyond 2 GiB.
_PROTOBUF_LIMIT = 2**31 - 1
#: What a model takes and returns: normalised float tensors and logits (or class ids), or camera buffers.
IO_KINDS = ("tensor", "camera")
#: Metres per unit of uint16 camera depth unless told otherwise: millimetres.
DEFAULT_CAMERA_DEPTH_SCALE = 0.001


@dataclass(frozen=True)
class OnnxExportOptions:
    """How to export; ``height``/``width`` default to the checkpoint's input size."""

    height: int | None = None
    width: int | None = None
    #: Fixed batch size of the graph (ignored when ``dynamic_batch``).
    batch: int = 1
    dynamic_batch: bool = False
    #: Height and width become symbolic (multiples of 32 at run time).
    dynamic_hw: bool = False
    #: Output ``labels`` (N,H,W) int32 class ids instead of ``logits``.
    argmax: bool = False
    #: FP16 weights and compute, FP32 inputs and outputs (for TensorRT 11).
    fp16: bool = False
    #: INT8 with Q/DQ nodes, calibrated as these options say (see ``acnet.export.int8``).
    int8: Int8Options | None = None
    opset: int = DEFAULT_OPSET
    #: Compare with PyTorch in ONNX Runtime and refuse a model that disagrees.
    verify: bool = True
    #: Stride-2 ConvTranspose -> Conv to 4C channels + DepthToSpace (acnet.export.deconv; exact to rounding).
    #: None chooses by measurement (benchmarks/results/README.md): on for INT8 with the ``cpu`` target,
    #: where ONNX Runtime has no quantized ConvTranspose and the rewrite makes the decoder run in INT8
    #: (1.2x faster overall); off otherwise, as in FP32 the DepthToSpace costs what the NCHWc Conv saves.
    rewrite_deconv: bool | None = None
    #: "tensor" (normalised float inputs, logits) or "camera" (camera buffers in, uint8 labels and confidence
    #: out, every step between inside the graph: ``acnet.export.camera``).
    io: str = "tensor"
    #: Camera-native models: (height, width) of the camera's frames; None: the network's input size.
    camera_size: tuple[int, int] | None = None
    #: Camera-native models: "uint16" depth (units of ``depth_scale`` metres) or "float32" metres.
    camera_depth: str = "uint16"
    #: Camera-native models with uint16 depth: metres per unit; None: millimetres (0.001).
    depth_scale: float | None = None

    @property
    def camera_native(self) -> bool:
        return self.io == "camera"

    def camera(self, height: int, width: int) -> CameraIO | None:
        """The camera I/O of a model whose network runs at ``height`` x ``width`` (None for ``io="tensor"``)."""
        if not self.camera_native:
            return None
        size = self.camera_size or (height, width)
        scale = 1.0 if self.camera_depth == "float32" else self.depth_scale or DEFAULT_CAMERA_DEPTH_SCALE
        try:
            return CameraIO(*size, self.camera_depth, scale)
        except ModelFileError as exc:  # a bad option, not a bad file
            raise ConfigError(str(exc)) from None

    @property
    def rewrites_deconv(self) -> bool:
        """Whether this export rewrites the transposed convolutions (``rewrite_deconv`` resolved)."""
        if self.rewrite_deconv is not None:
            return self.rewrite_deconv
        return self.int8 is not None and self.int8.target == "cpu"

    def __post_init__(self) -> None:
        check_input_size(*(STRIDE if v is None else v for v in (self.height, self.width)))  # None: the checkpoint's
        object.__setattr__(self, "batch", int_in_range(self.batch, "batch"))
        if self.dynamic_batch and self.batch != 1:
            raise ConfigError("give either a fixed batch size or a dynamic batch, not both")
        if self.fp16 and self.int8 is not None:
            raise ConfigError("--int8 and --fp16 cannot be combined: choose one precision")
        self._check_io()
        newest = onnx.defs.onnx_opset_version()
        if not MIN_OPSET <= self.opset <= newest:
            raise ConfigError(f"opset must be between {MIN_OPSET} and {newest}, got {self.opset}")

    def _check_io(self) -> None:
        if self.io not in IO_KINDS:
            raise ConfigError(f"io must be one of {', '.join(IO_KINDS)}, got {self.io!r}")
        if self.camera_depth not in CAMERA_DEPTH_TYPES:
            raise ConfigError(f"camera depth must be one of {', '.join(CAMERA_DEPTH_TYPES)}, got {self.camera_depth!r}")
        if not self.camera_native:
            given = [name for name, value in (("--camera-size", self.camera_size), ("--depth-scale", self.depth_scale))
                     if value is not None] + (["--camera-depth"] if self.camera_depth != "uint16" else [])
            if given:
                verb = "applies" if len(given) == 1 else "apply"
                raise ConfigError(f"{', '.join(given)} {verb} only to camera-native models (--io camera)")
            return
        if self.argmax:
            raise ConfigError("--argmax and --io camera cannot be combined: a camera-native model already outputs "
                              "uint8 labels (and confidence)")
        if self.dynamic_hw:
            raise ConfigError("--dynamic-hw and --io camera cannot be combined: a camera-native model takes frames "
                              "of one camera size (--camera-size)")
        if self.camera_depth == "float32" and self.depth_scale is not None:
            raise ConfigError("--depth-scale applies to uint16 camera depth; float32 camera depth is metres")
        if self.camera_size is not None and (not isinstance(self.camera_size, tuple) or len(self.camera_size) != 2):
            raise ConfigError(f"camera size must be (height, width), got {self.camera_size!r}")
        self.camera(STRIDE, STRIDE)


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_onnx` wrote and how well it matches PyTorch."""

    output: Path
    info: ModelInfo
    #: None when verification was skipped (``verify=False``).
    max_abs_err: float | None
    mean_abs_err: float | None
    agreement: float | None
    passed: bool | None
    verification: Verification | None
    report_path: Path | None
    seconds: float
    size_bytes: int

    def summary(self) -> str:
        lines = [
            f"wrote {self.output} ({self.info.precision}, {self.info.output}, "
            f"{_shape_text(self.info)}, {self.size_bytes / 2**20:.1f} MiB) in {self.seconds:.1f} s"
        ]
        if self.info.camera is not None:
            lines.append(self.info.camera.describe())
        if self.info.quantization is not None:
            q = self.info.quantization
            lines.append(f"INT8 for {q['target']}: {q['activations']} activations, {q['weights']} weights; "
                         f"{q['calibration_method']} calibration on {q['calibration_frames']} frames of {q['calibration_data']}; "
                         f"in floating point: {', '.join(q['exclude']) or 'nothing'}")
        if self.verification is not None:
            if self.info.quantization is not None:  # held out from calibration (acnet.export.int8.check_frames)
                lines.append(f"verified on {self.verification.check_data}")
            graph = self.verification.fp32_graph
            if graph is not None:
                lines.append(f"FP32 graph before quantization vs PyTorch: max |dlogits| {graph.max_abs_err:.3g}, "
                             f"agreement {100 * graph.agreement:.3f}% (need {100 * graph.min_agreement:.1f}%)")
            if self.verification.stages:
                lines.append("per-stage error against the FP32 graph:")
                lines.append(self.verification.stage_table())
            lines.append(self.verification.summary())
            lines.append(f"report: {self.report_path}")
        else:
            lines.append("not verified (--no-verify)")
        return "\n".join(lines)


def _shape_text(info: ModelInfo) -> str:
    batch = "N" if info.batch == 0 else str(info.batch)
    hw = "HxW (dynamic)" if info.dynamic_hw else f"{info.input_height}x{info.input_width}"
    return f"batch {batch}, {hw}"


def model_info(checkpoint_info, options: OnnxExportOptions, height: int, width: int) -> ModelInfo:
    """The metadata an export from ``checkpoint_info`` with ``options`` carries."""
    config = checkpoint_info.model_config
    camera = options.camera(height, width)
    return ModelInfo(
        acnet_version=acnet.__version__,
        backbone=config.backbone,
        num_classes=config.num_classes,
        class_names=tuple(checkpoint_info.class_names),
        input_height=height,
        input_width=width,
        normalization=checkpoint_info.normalization,
        fusion=config.fusion,
        output="labels" if options.argmax or camera is not None else "logits",
        precision="int8" if options.int8 is not None else "fp16" if options.fp16 else "fp32",
        batch=0 if options.dynamic_batch else options.batch,
        dynamic_hw=options.dynamic_hw,
        source_sha256=checkpoint_info.sha256,
        width=float(config.width),
        camera=camera,
    )


def trace_to_onnx(model, height: int, width: int, options: OnnxExportOptions):
    """The eval-mode network as an FP32 ``onnx.ModelProto`` with a ``logits`` output.

    Dynamic dimensions are named ``batch``, ``height`` and ``width``.
    """
    import torch  # `acnet export onnx --help` and its option checks load without torch
    from torch.export import Dim

    batch = 2 if options.dynamic_batch else options.batch
    rgb = torch.zeros(batch, 3, height, width)
    depth = torch.zeros(batch, 1, height, width)
    dims: dict[int, object] = {}
    if options.dynamic_batch:
        dims[0] = Dim("batch", min=1, max=MAX_DYNAMIC_BATCH)
    if options.dynamic_hw:
        # H and W are 32 * k: the network needs multiples of its stride.
        dims[2] = 32 * Dim("h32", min=1, max=MAX_DYNAMIC_SIDE // 32)
        dims[3] = 32 * Dim("w32", min=1, max=MAX_DYNAMIC_SIDE // 32)
    dynamic_shapes = {"rgb": dict(dims), "depth": dict(dims)} if dims else None
    with warnings.catch_warnings(), quiet_loggers(*EXPORTER_LOGGERS), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                model.eval(),
                (rgb, depth),
                None,
                dynamo=True,
                opset_version=options.opset,
                input_names=["rgb", "depth"],
                output_names=["logits"],
                dynamic_shapes=dynamic_shapes,
                optimize=True,
                external_data=False,
                verbose=False,
            )
        except Exception as exc:  # the exporter raises many internal types
            raise ModelFileError(f"torch.onnx.export failed: {first_line(exc)}") from exc
    proto = program.model_proto
    _rename_dims(proto, {"32*h32": "height", "32*w32": "width"})
    return proto


def _rename_dims(proto, names: dict[str, str]) -> None:
    for value in (*proto.graph.input, *proto.graph.output, *proto.graph.value_info):
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in names:
                dim.dim_param = names[dim.dim_param]


def export_onnx(checkpoint: str | os.PathLike, output: str | os.PathLike, options: OnnxExportOptions | None = None,
                progress: bool = False) -> ExportReport:
    """Export a checkpoint to ONNX, check it, verify it against PyTorch, write it atomically.

    Raises :class:`CheckpointError` for a bad checkpoint, :class:`ConfigError`
    for a bad size or an unwritable output, :class:`ParityError` when ONNX
    Runtime disagrees with PyTorch (unless ``options.verify`` is False).
    Nothing is written unless every check passes.
    """
    start = time.perf_counter()
    options = options or OnnxExportOptions()
    output = check_writable(output, checkpoint)  # before torch is imported: a bad path fails at once
    if options.int8 is not None and options.int8.target == "nncf":
        q.load_nncf()  # a missing NNCF fails at once, not after the trace


    from acnet.training.checkpoint import load_model  # imports torch; see trace_to_onnx

    try:
        model, ckpt = load_model(checkpoint)
    except CheckpointError as exc:
        if options.camera_native and "normali" in str(exc):
            raise CheckpointError(f"{exc}; --io camera puts the checkpoint's normalisation into the graph, "
                                  "so it cannot export a checkpoint without one") from None
        raise
    height = ckpt.input_height if options.height is None else options.height
    width = ckpt.input_width if options.width is None else options.width
    check_input_size(height, width)
    info = model_info(ckpt, options, height, width)

    if options.int8 is not None:  # bad calibration data or names fail before the slow part
        exclude = q.resolve_exclude(model, options.int8.all_exclude)
        frames = q.calibration_frames(options.int8.calib_data, options.int8.calib_frames, info.preprocess_config)
        if not options.dynamic_batch and options.batch > 1:  # a fixed batch takes N frames a call
            frames = [tuple(np.repeat(x, options.batch, axis=0) for x in f) for f in frames]
    log.info("exporting %s (%s, %d classes) at %dx%d", Path(checkpoint).name, ckpt.model_config.backbone, info.num_classes, height, width)
    proto = trace_to_onnx(model, height, width, options)
    if options.rewrites_deconv:
        log.info("rewrote %d transposed convolutions as Conv + DepthToSpace", rewrite_transposed_convs(proto))
    fp32_proto = None
    if options.int8 is not None:
        fp32_proto = proto
        proto = onnx.ModelProto()
        proto.CopyFrom(fp32_proto)
        log.debug("wrote %d ACM means as GlobalAveragePool for quantization", g.spatial_means_as_global_pools(proto))
        excluded = q.nodes_to_exclude(proto, exclude)
        proto = q.quantize(proto, frames, options.int8, progress=progress, exclude_nodes=excluded)
        info = info.with_(quantization=q.quantization_record(options.int8, len(frames), options.int8.calib_data, len(excluded)))
    if options.fp16:
        proto = convert_to_fp16(proto)
    if options.argmax:
        g.add_argmax_head(proto)
    network = None
    if options.camera_native:
        from acnet.export.camera import attach_heads

        network = check_onnx(proto)  # the network alone: verified against PyTorch below
        proto = attach_heads(network, info, options.opset)
        log.info("%s", info.camera.describe())
    g.set_metadata(proto, info)
    proto.producer_name = "acnet"
    proto.producer_version = acnet.__version__
    proto.doc_string = f"ACNet {ckpt.model_config.backbone} RGB-D segmentation, exported by acnet {acnet.__version__}"
    proto = check_onnx(proto)
    data = proto.SerializeToString()
    if len(data) > _PROTOBUF_LIMIT:
        raise ModelFileError(f"the model is {len(data) / 2**30:.1f} GiB, above ONNX's 2 GiB single-file limit")

    verification = None
    if options.verify:
        check = g.with_outputs(proto, ["logits"]).SerializeToString() if options.argmax else data
        if network is not None:
            check = network.SerializeToString()
        batch = 2 if options.dynamic_batch else options.batch
        feeds, check_data = None, None
        if options.int8 is not None:  # frames held out from calibration (synthetic scenes when there are none)
            feeds, check_data = q.check_frames(options.int8.calib_data, options.int8.calib_frames, info.preprocess_config)
            if feeds is not None and not options.dynamic_batch and options.batch > 1:
                feeds = [{k: np.repeat(x, options.batch, axis=0) for k, x in f.items()} for f in feeds]
        verification = v.verify_onnx(check, model, info, height, width, batch, fp32_model=fp32_proto,
                                     min_agreement=None if options.int8 is None else options.int8.min_agreement,
                                     feeds=feeds, check_data=check_data)
        if network is not None:
            import dataclasses

            from acnet.export.camera import check_heads

            heads = check_heads(data, check, info, batch)
            verification = dataclasses.replace(verification, camera_heads=heads, passed=verification.passed and heads.passed)
        if not verification.passed:
            where = ""
            if verification.stages:  # what a user needs to see which part to keep in floating point
                path = v.write_report(output, verification, info, {"opset": options.opset, "checkpoint": str(checkpoint)})
                where = f"per-stage errors in {path}; "
            frames = "" if check_data is None else f" (verified on {check_data})"
            raise ParityError(f"{verification.summary()}{frames}; not writing {output} ({where}use --no-verify to keep it anyway)")

    atomic_write_bytes(output, data)
    report = v.report_path(output)
    if verification is not None:
        v.write_report(output, verification, info, {"opset": options.opset, "checkpoint": str(checkpoint)})
    elif report.exists():
        report.unlink()  # a stale report would vouch for a model it never saw
    return ExportReport(
        output=output,
        info=info,
        max_abs_err=None if verification is None else verification.max_abs_err,
        mean_abs_err=None if verification is None else verification.mean_abs_err,
        agreement=None if verification is None else verification.agreement,
        passed=None if verification is None else verification.passed,
        verification=verification,
        report_path=report if verification is not None else None,
        seconds=time.perf_counter() - start,
        size_bytes=len(data),
    )


def check_onnx(proto):
    """``onnx.checker`` plus strict shape inference; returns the model with inferred shapes."""
    try:
        onnx.checker.check_model(proto)
        return onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ModelFileError(f"exported model fails the ONNX checker: {first_line(exc)}") from None


@click.command("onnx")
@click.argument("checkpoint", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Where to write the .onnx file.")
@click.option("--height", type=InputSide(STRIDE), help=f"Input height (multiple of {STRIDE}); default: the checkpoint's.")
@click.option("--width", type=InputSide(STRIDE), help=f"Input width (multiple of {STRIDE}); default: the checkpoint's.")
@click.option("--batch", type=POSITIVE, default=None, help="Fixed batch size (default 1).")
@click.option("--dynamic-batch", is_flag=True, help="Symbolic batch dimension.")
@click.option("--dynamic-hw", is_flag=True, help="Symbolic height and width (multiples of 32).")
@click.option("--argmax", is_flag=True, help="Output int32 class ids `labels` (N,H,W) instead of `logits`.")
@click.option("--io", "io", type=click.Choice(IO_KINDS), default="tensor", show_default=True,
              help="tensor: normalised float inputs, logits out. camera: camera buffers in (uint8 RGB (N,H,W,3), "
                   "uint16 or float32 depth (N,H,W)), uint8 labels and confidence out, with resizing, normalisation "
                   "and the depth scale in the graph.")
@click.option("--camera-size", type=CameraSize(), default=None, metavar="HxW",
              help="--io camera: the camera's frame size (default: the network's input size); frames are resized "
                   "to the network in the graph and the labels back.")
@click.option("--camera-depth", type=click.Choice(CAMERA_DEPTH_TYPES), default="uint16", show_default=True,
              help="--io camera: uint16 depth in units of --depth-scale, or float32 metres (e.g. ROS 32FC1).")
@click.option("--depth-scale", type=DEPTH_SCALE, default=None,
              help=f"--io camera, uint16 depth: metres per unit (default {DEFAULT_CAMERA_DEPTH_SCALE:g}, millimetres).")
@click.option("--fp16", is_flag=True, help="FP16 weights and compute, FP32 inputs/outputs (for TensorRT 11).")
@click.option("--int8", is_flag=True, help="INT8 with Q/DQ nodes, calibrated on --calib-data.")
@click.option("--calib-data", help="INT8: dataset spec of the calibration frames (its train split unless the spec names one); "
                                   "verified on frames held out from calibration: another split of it (test, or train "
                                   "for a test calibration), else its unused frames, else synthetic scenes.")
@click.option("--calib-frames", type=POSITIVE, default=DEFAULT_FRAMES, show_default=True, help="INT8: calibration frames, spread over the data.")
@click.option("--calib-method", type=click.Choice(METHODS), default=None,
              help=f"INT8: how ONNX Runtime's quantizer chooses activation ranges [default: {DEFAULT_METHOD}; "
                   f"--int8-target nncf: NNCF's own].")
@click.option("--int8-target", type=click.Choice(TARGETS), default="cpu", show_default=True,
              help="INT8: cpu (uint8 activations; fastest in ONNX Runtime, and in OpenVINO as fast as NNCF's INT8 and "
                   "closer to FP32), "
                   "tensorrt (symmetric int8, TensorRT's Q/DQ placement) or nncf (Intel NNCF's quantization with its "
                   "defaults; needs acnet[nncf]).")
@click.option("--int8-exclude", "int8_exclude", multiple=True, metavar="NAME",
              help=f"INT8: keep this module (e.g. decoder.deconv4, acm_rgb) in floating point (repeatable; "
                   f"always kept: {', '.join(DEFAULT_EXCLUDE)}).")
@click.option("--int8-agreement", type=FiniteFloat(0.0, 100.0), default=100 * DEFAULT_MIN_AGREEMENT, show_default=True,
              help="INT8: least per-pixel agreement (%) with PyTorch for the export to pass verification.")
@click.option("--opset", type=int, default=DEFAULT_OPSET, show_default=True, help="ONNX opset.")
@click.option("--verify/--no-verify", default=True, show_default=True, help="Compare with PyTorch in ONNX Runtime.")
@click.option("--rewrite-deconv/--keep-deconv", default=None,
              help="Write stride-2 transposed convolutions as Conv + DepthToSpace (exact to rounding). "
                   "Default: on for --int8 --int8-target cpu (the decoder then runs in INT8: faster in "
                   "ONNX Runtime, measured), off otherwise (not faster in FP32).")
def onnx_command(checkpoint, output, height, width, batch, dynamic_batch, dynamic_hw, argmax, io, camera_size, camera_depth,
                 depth_scale, fp16, int8, calib_data, calib_frames, calib_method, int8_target, int8_exclude, int8_agreement,
                 opset, verify, rewrite_deconv):
    """Export CHECKPOINT to ONNX, verified against PyTorch."""
    if batch is not None and dynamic_batch:
        raise ConfigError("give either --batch or --dynamic-batch, not both")
    int8_options = None
    if int8:
        if fp16:
            raise ConfigError("--int8 and --fp16 cannot be combined: choose one precision")
        if calib_data is None:
            raise ConfigError("--int8 needs calibration frames: --calib-data SPEC (e.g. folder:DIR or synthetic:64)")
        int8_options = Int8Options(calib_data=calib_data, calib_frames=calib_frames, target=int8_target,
                                   method=calib_method, exclude=int8_exclude, min_agreement=int8_agreement / 100)
    elif calib_data is not None or int8_exclude:
        raise ConfigError("--calib-data and --int8-exclude only apply with --int8")
    options = OnnxExportOptions(
        height=height,
        width=width,
        batch=1 if batch is None else batch,
        dynamic_batch=dynamic_batch,
        dynamic_hw=dynamic_hw,
        argmax=argmax,
        fp16=fp16,
        int8=int8_options,
        opset=opset,
        verify=verify,
        rewrite_deconv=rewrite_deconv,
        io=io,
        camera_size=camera_size,
        camera_depth=camera_depth,
        depth_scale=depth_scale,
    )
    report = export_onnx(checkpoint, output, options, progress=int8)
    click.echo(report.summary())
