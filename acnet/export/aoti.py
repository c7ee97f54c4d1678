"""Checkpoint -> AOTInductor package (.pt2) for the C library, verified against PyTorch.

``torch._inductor.aoti_compile_and_package`` compiles the eval-mode network
ahead of time into a shared library inside a ``.pt2`` zip archive, which
libtorch's model-package loader runs without Python (acnet/runtime/c). The
package's own metadata (``aot_inductor.metadata``, a string map stored in
the archive) carries the :class:`ModelInfo` as JSON under
:data:`METADATA_KEY`, so the C library builds its preprocessing from the
package alone. :func:`read_package_info` reads it back without torch.

A CPU package holds machine code for the exporting machine's vector ISA
(recorded by inductor as ``AOTI_CPU_ISA``); the C library refuses to run it
on a CPU that lacks that ISA. A CUDA package holds kernels for the exporting
GPU's architecture.

With ``--io camera`` the package is camera-native, as an ONNX export with
the same option: the heads of :mod:`acnet.export.camera` around the network,
camera buffers in (uint8 RGB, uint16 or float32 depth), uint8 labels and
confidence out, so the C library hands a frame to it as it comes and runs
none of its own preprocessing.

Inductor's CPU ``freezing`` (weights as constants, folded and pre-packed for
oneDNN) miscompiles a ConvTranspose2d followed by a BatchNorm when the
transposed convolution has as many input as output channels: its
binary-folding pass scales the weight along dimension 0, which for a
transposed convolution is the *input* channel (torch 2.14; the checks in
``torch/_inductor/fx_passes/binary_folding.py`` never look at the
``transposed`` flag). ACNet's decoder has such pairs wherever a stage keeps
its width (``deconv4`` of the tiny model, 16 -> 16 channels), so a trained
model's package was wrong. :func:`fold_transposed_batchnorms` folds those
BatchNorms into the transposed convolutions before ``torch.export`` (exact,
with torch's own ``fuse_conv_bn_eval(transpose=True)``), which leaves
Inductor nothing to fold there and keeps freezing's speed.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import tempfile
import time
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import click

import acnet
from acnet import _json
from acnet._io import atomic_write_text, atomic_write_with, check_writable
from acnet._logging import quiet_loggers
from acnet._options import DEPTH_SCALE, CameraSize, DeviceName, InputSide
from acnet._typed import int_in_range
from acnet.errors import AcnetError, BackendUnavailableError, ConfigError, ModelFileError, ParityError, first_line
from acnet.export import verify as v
from acnet.runtime.backends.base import Device
from acnet.runtime.metadata import CAMERA_DEPTH_TYPES, SCHEMA, ModelInfo, parse_json
from acnet.runtime.sidecar import parse_version
from acnet.training.config import STRIDE, check_input_size

log = logging.getLogger(__name__)

#: Package metadata key holding ``json.dumps(ModelInfo.to_dict())``.
METADATA_KEY = "acnet.model_info"
#: Package metadata key holding the torch version that compiled it.
TORCH_VERSION_KEY = "acnet.torch_version"
#: Package metadata key holding the largest batch of a dynamic-batch package (absent: MAX_DYNAMIC_BATCH).
MAX_BATCH_KEY = "acnet.max_batch"
#: Upper bound of a dynamic batch dimension (as the ONNX export), unless ``--max-batch`` lowers it.
MAX_DYNAMIC_BATCH = 1024
#: Oldest torch with what this module calls: ``aoti_compile_and_package``
#: without example inputs (2.6, pytorch#140991), the ``aot_inductor.metadata``
#: config (2.5, pytorch#134865) and ``aoti_load_package(device_index=)``
#: (2.8, pytorch#152093). pyproject.toml states the same bound.
MIN_TORCH = (2, 8)


def check_torch_version(version: str) -> None:
    """Refuse a torch too old for AOTInductor packages as acnet makes them, in one line."""
    if parse_version(version)[:2] < MIN_TORCH:
        need = ".".join(map(str, MIN_TORCH))
        raise BackendUnavailableError(
            f"acnet export aoti needs torch>={need} (AOTInductor packages with metadata); this is torch {version}: "
            f"pip install 'torch>={need}'"
        )


@dataclass(frozen=True)
class AotiExportOptions:
    """How to compile; ``height``/``width`` default to the checkpoint's input size."""

    #: "cpu", "cuda" or "cuda:N": the package runs on this kind of device only.
    device: str = "cpu"
    #: FP16 weights and compute with FP32 inputs and outputs (CUDA only).
    fp16: bool = False
    height: int | None = None
    width: int | None = None
    #: Fixed batch size, or 0 for a dynamic batch (1..max_batch).
    #: The C library runs one frame at a time: it takes batch 1 or 0.
    batch: int = 1
    #: Largest batch of a dynamic-batch package. A smaller bound lets Inductor prove
    #: that every tensor's index fits 32 bits (at 480x640, 1024 frames do not), so
    #: its CUDA kernels keep 32-bit indexing.
    max_batch: int = MAX_DYNAMIC_BATCH
    #: Run the package and PyTorch on the same frame; refuse a disagreement.
    verify: bool = True
    #: "tensor" or "camera": camera buffers in, uint8 labels and confidence out (``acnet.export.camera``).
    io: str = "tensor"
    #: Camera-native packages: the camera's (height, width), its depth type and scale (as ``acnet export onnx``).
    camera_size: tuple[int, int] | None = None
    camera_depth: str = "uint16"
    depth_scale: float | None = None

    def __post_init__(self) -> None:
        device = Device.parse(self.device)  # ConfigError for anything but cpu/cuda/cuda:N
        object.__setattr__(self, "device", str(device))
        check_input_size(self.height or STRIDE, self.width or STRIDE)  # None: the checkpoint's
        object.__setattr__(self, "batch", int_in_range(self.batch, "batch", 0, MAX_DYNAMIC_BATCH,
                                                       f"0 (dynamic) or 1..{MAX_DYNAMIC_BATCH}"))
        object.__setattr__(self, "max_batch", int_in_range(self.max_batch, "max_batch", 2, MAX_DYNAMIC_BATCH,
                                                           f"2..{MAX_DYNAMIC_BATCH}"))
        if self.batch != 0 and self.max_batch != MAX_DYNAMIC_BATCH:
            raise ConfigError("--max-batch bounds a dynamic batch: give it with --dynamic-batch")
        if self.fp16 and not device.is_cuda:
            raise ConfigError("--fp16 needs --device cuda: inductor's CPU kernels run FP16 slower than FP32")
        self.onnx_like(STRIDE, STRIDE)  # the camera options, checked as an ONNX export checks them

    def onnx_like(self, height: int, width: int):
        """The ONNX export options describing the same model (its metadata is theirs)."""
        from acnet.export.onnx import OnnxExportOptions

        return OnnxExportOptions(height=height, width=width, batch=self.batch or 1, dynamic_batch=self.batch == 0,
                                 fp16=self.fp16, verify=False, io=self.io, camera_size=self.camera_size,
                                 camera_depth=self.camera_depth, depth_scale=self.depth_scale)


@dataclass(frozen=True)
class AotiExport:
    """What :func:`compile_package` wrote and how well it matches PyTorch."""

    output: Path
    info: ModelInfo
    device: str
    #: None when verification was skipped.
    verification: object | None  # acnet.export.verify.Verification
    report_path: Path | None
    seconds: float
    size_bytes: int
    #: Largest batch it takes (its own batch when fixed).
    max_batch: int = 1

    def summary(self) -> str:
        info = self.info
        batch = f"dynamic batch 1..{self.max_batch}" if info.batch == 0 else f"batch {info.batch}"
        lines = [
            f"wrote {self.output} (AOTInductor, {self.device}, {info.precision}, {batch}, "
            f"{info.input_height}x{info.input_width}, {self.size_bytes / 2**20:.1f} MiB) in {self.seconds:.1f} s"
        ]
        v = self.verification
        if info.camera is not None:
            lines.append(info.camera.describe())
        if v is None:
            lines.append("not verified (--no-verify)")
        elif info.camera is not None:
            lines.append(v.summary())
            lines.append(f"report: {self.report_path}")
        else:
            verdict = "passed" if v.passed else "FAILED"
            lines.append(
                f"AOTInductor vs PyTorch, batch {v.input_shape[0]} at {v.input_shape[1]}x{v.input_shape[2]}: "
                f"max |dlogits| {v.max_abs_err:.3g} (relative {v.rel_err:.2g}), "
                f"argmax agreement {100 * v.agreement:.3f}% (need {100 * v.min_agreement:.1f}%): {verdict}"
            )
            lines.append(f"report: {self.report_path}")
        return "\n".join(lines)


def package_info(checkpoint_info, options: AotiExportOptions, height: int, width: int) -> ModelInfo:
    """The metadata a package compiled from ``checkpoint_info`` carries.

    The same as an ONNX export with the same precision, batch and I/O: logits
    (or camera-native labels and confidence) out, fixed height and width.
    """
    from acnet.export.onnx import model_info  # imports onnx: acnet bench reads packages without it

    return model_info(checkpoint_info, options.onnx_like(height, width), height, width)


def _fp16_with_fp32_io(model):
    """The network in FP16, taking and returning FP32 tensors (what ModelInfo promises)."""
    import torch  # acnet bench reads packages (read_package_info) without torch

    class HalfPrecision(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner.half()

        def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
            return self.inner(rgb.half(), depth.half()).float()

    return HalfPrecision(model)


def compile_package(
    checkpoint: str | os.PathLike,
    output: str | os.PathLike,
    options: AotiExportOptions = AotiExportOptions(),
) -> AotiExport:
    """Compile a checkpoint into an AOTInductor package, verify it, write it atomically.

    Raises :class:`CheckpointError` for a bad checkpoint, :class:`ConfigError`
    for a bad size or output path, :class:`BackendUnavailableError` when the
    requested CUDA device is missing and :class:`ParityError` when the package
    disagrees with PyTorch (unless ``options.verify`` is False). Nothing is
    written unless every check passes.
    """
    import torch  # acnet bench reads packages (read_package_info) without torch

    from acnet.training.checkpoint import load_model

    check_torch_version(torch.__version__)
    start = time.perf_counter()
    output = check_writable(output, checkpoint)
    if output.suffix != ".pt2":
        raise ConfigError(f"an AOTInductor package must be named *.pt2, got {output.name}")
    device = Device.parse(options.device)
    if device.is_cuda:
        if not torch.cuda.is_available():
            raise BackendUnavailableError("--device cuda needs a CUDA GPU visible to torch; none is available here")
        if device.index >= torch.cuda.device_count():
            raise BackendUnavailableError(f"{device} requested but torch sees {torch.cuda.device_count()} GPU(s)")

    model, ckpt = load_model(checkpoint)  # FP32 on the CPU: also the verification reference
    height = options.height or ckpt.input_height
    width = options.width or ckpt.input_width
    check_input_size(height, width)
    info = package_info(ckpt, options, height, width)

    target = fold_transposed_batchnorms(copy.deepcopy(model)).to(str(device))
    if options.fp16:
        target = _fp16_with_fp32_io(target)
    batch = 2 if options.batch == 0 else options.batch
    if info.camera is not None:
        from acnet.export.camera import CameraModel, example_inputs

        target = CameraModel(target, info).to(str(device))
        example = tuple(t.to(str(device)) for t in example_inputs(info, batch))
    else:
        example = (torch.zeros(batch, 3, height, width, device=str(device)), torch.zeros(batch, 1, height, width, device=str(device)))
    target.eval()
    dynamic_shapes = batch_dynamic_shapes(options)

    log.info("exporting %s (%s, %d classes) at %dx%d for %s", Path(checkpoint).name, ckpt.model_config.backbone, info.num_classes, height, width, device)
    with torch.no_grad():
        try:
            program = torch.export.export(target, example, dynamic_shapes=dynamic_shapes)
        except Exception as exc:  # torch.export raises many internal types
            raise ModelFileError(f"torch.export failed: {first_line(exc)}") from exc

    metadata = package_metadata(info, options, torch.__version__)
    # Compiled in the temporary folder, not beside the output: when the output's disk fills, torch's zip
    # writer aborts the whole process (its destructor throws c10::Error); a Python copy fails cleanly.
    with tempfile.TemporaryDirectory(prefix="acnet-aoti-") as work:
        compiled = Path(work) / "model.pt2"
        log.info("compiling with AOTInductor (a minute or more on a CPU)")
        try:
            # torch.utils.cpp_extension warns "No CUDA runtime is found" on import, also for a CPU package.
            quiet = ("torch.utils.cpp_extension",) if not device.is_cuda else ()
            with torch.no_grad(), quiet_loggers(*quiet, level=logging.ERROR):  # freezing applies only with autograd off
                torch._inductor.aoti_compile_and_package(
                    program,
                    package_path=str(compiled),
                    inductor_configs=_inductor_configs(device, metadata),
                )
        except Exception as exc:
            raise ModelFileError(f"AOTInductor compilation failed: {first_line(exc)}") from exc

        verification = None
        if options.verify and info.camera is not None:
            from acnet.export.camera import check_package

            verification = check_package(compiled, model, info, device, batch)
            if not verification.passed:
                raise ParityError(f"{verification.summary()}; not writing {output} (use --no-verify to keep it anyway)")
        elif options.verify:
            verification = _verify(compiled, model, info, device, batch, v)
            if not verification.passed:
                raise ParityError(
                    f"AOTInductor package disagrees with PyTorch: max |dlogits| {verification.max_abs_err:.3g}, "
                    f"agreement {100 * verification.agreement:.3f}% (need {100 * verification.min_agreement:.1f}%); "
                    f"not writing {output} (use --no-verify to keep it anyway)"
                )
        size = compiled.stat().st_size
        atomic_write_with(output, lambda tmp: shutil.copyfile(compiled, tmp))

    report = report_path(output)
    if verification is not None:
        record = {
            "model": output.name,
            "backend": "aoti",
            "device": str(device),
            "checkpoint": str(checkpoint),
            "verification": verification.to_dict(),
            "model_info": info.to_dict(),
        }
        atomic_write_text(report, json.dumps(record, indent=2) + "\n")
    elif report.exists():
        report.unlink()  # a stale report would vouch for a package it never saw
    return AotiExport(
        output=output,
        info=info,
        device=str(device),
        verification=verification,
        report_path=report if verification is not None else None,
        seconds=time.perf_counter() - start,
        size_bytes=size,
        max_batch=options.max_batch if options.batch == 0 else options.batch,
    )


def batch_dynamic_shapes(options: AotiExportOptions):
    """``torch.export``'s dynamic shapes of (rgb, depth): batch 1..max_batch, or None for a fixed batch."""
    import torch

    if options.batch != 0:
        return None
    dim = torch.export.Dim("batch", min=1, max=options.max_batch)
    return ({0: dim}, {0: dim})


def package_metadata(info: ModelInfo, options: AotiExportOptions, torch_version: str) -> dict[str, str]:
    """The string map a package carries: its ModelInfo, the torch that compiled it, a dynamic batch's bound."""
    metadata = {METADATA_KEY: json.dumps(info.to_dict()), TORCH_VERSION_KEY: torch_version.split("+")[0]}
    if options.batch == 0:
        metadata[MAX_BATCH_KEY] = str(options.max_batch)
    return metadata


def fold_transposed_batchnorms(model):
    """Fold every BatchNorm that follows a ConvTranspose2d into it, in place; returns ``model``.

    The eval-mode network computes the same function (to float rounding), but
    no ConvTranspose2d+BatchNorm pair is left for Inductor's freezing to fold
    along the wrong axis (see the module docstring). Only the decoder's
    transposed residual blocks hold such pairs.
    """
    from torch import nn  # acnet bench reads packages (read_package_info) without torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    from acnet.training.model.decoder import TransBasicBlock

    model.eval()
    for block in model.modules():
        if not isinstance(block, TransBasicBlock) or block.upsample is None:
            continue
        block.conv2 = fuse_conv_bn_eval(block.conv2, block.bn2, transpose=True)
        block.bn2 = nn.Identity()
        conv, bn = block.upsample
        block.upsample = fuse_conv_bn_eval(conv, bn, transpose=True)
    return model


def _inductor_configs(device: Device, metadata: dict[str, str]) -> dict:
    """Inductor settings of the compile: the metadata, and freezing on the CPU.

    Freezing treats the weights as constants (folded and pre-packed for
    oneDNN); on the tiny test model it makes CPU inference about 35% faster.
    """
    configs: dict = {"aot_inductor.metadata": metadata}
    if not device.is_cuda:
        configs["freezing"] = True
    return configs


def report_path(package: str | os.PathLike) -> Path:
    """``model.pt2`` -> ``model.aoti.verify.json`` (beside ``model.verify.json`` of an ONNX export)."""
    path = Path(package)
    return path.with_name(path.stem + ".aoti.verify.json")


def export_aoti(
    checkpoint: str | os.PathLike,
    output: str | os.PathLike,
    options: AotiExportOptions = AotiExportOptions(),
) -> Path:
    """Compile ``checkpoint`` into the AOTInductor package ``output`` (see :func:`compile_package`)."""
    return compile_package(checkpoint, output, options).output


def _verify(package: Path, reference_model, info: ModelInfo, device: Device, batch: int, v):
    """Run the package and the FP32 PyTorch model on the same synthetic frames."""
    import torch  # acnet bench reads packages (read_package_info) without torch

    rgb, depth = v.check_inputs(info, info.input_height, info.input_width, batch)
    with torch.inference_mode():
        reference = reference_model(torch.from_numpy(rgb), torch.from_numpy(depth)).float().numpy()
        try:
            runner = torch._inductor.aoti_load_package(str(package), device_index=device.index if device.is_cuda else -1)
            candidate = runner(torch.from_numpy(rgb).to(str(device)), torch.from_numpy(depth).to(str(device)))
        except Exception as exc:
            raise ModelFileError(f"the compiled package does not run: {first_line(exc)}") from exc
    candidate = candidate.float().cpu().numpy()
    result = v.compare_logits(reference, candidate, v.MIN_AGREEMENT.get(info.precision, v.MIN_AGREEMENT["fp32"]))
    log.debug("AOTInductor vs PyTorch: %s", result)
    return result


#: What zipfile and zlib raise for a corrupt or unusual archive (each seen while fuzzing read_package_info).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError, EOFError, OSError,
               ValueError, RuntimeError, OverflowError, struct.error)


def read_package_info(path: str | os.PathLike) -> ModelInfo:
    """The :class:`ModelInfo` inside an acnet ``.pt2`` package, read without torch.

    The package is untrusted: a corrupt archive, an oversized or malformed
    metadata file or bad metadata is one :class:`ModelFileError`.
    """
    return _acnet_metadata(Path(path))[0]


def read_package_batch_range(path: str | os.PathLike) -> tuple[int, int]:
    """(smallest, largest) batch an acnet ``.pt2`` package takes, read without torch.

    A dynamic-batch package made before ``--max-batch`` existed takes 1..MAX_DYNAMIC_BATCH.
    """
    info, metadata = _acnet_metadata(Path(path))
    if info.batch != 0:
        return info.batch, info.batch
    value = metadata.get(MAX_BATCH_KEY, str(MAX_DYNAMIC_BATCH))
    try:
        largest = int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else 0
    except ValueError:  # more digits than int() takes
        largest = 0
    if not 1 <= largest <= MAX_DYNAMIC_BATCH:
        raise ModelFileError(f"{path}: {MAX_BATCH_KEY} is {str(value)[:40]!r}, not a batch size 1..{MAX_DYNAMIC_BATCH}")
    return 1, largest


def _acnet_metadata(path: Path) -> tuple[ModelInfo, dict]:
    """The package's model description and the metadata map that holds acnet's keys."""
    if not path.is_file():
        raise ModelFileError(f"package {path} not found")
    limit = SCHEMA["x-acnet-limits"]["max_bytes"]
    try:
        with zipfile.ZipFile(path) as archive:
            for item in archive.infolist():
                name = item.filename
                if not (name.endswith("_metadata.json") and "/aotinductor/" in name):
                    continue
                with archive.open(item) as member:
                    data = member.read(limit + 1)  # however large the entry claims or inflates to
                try:
                    meta = parse_json(data)
                    text = meta.get(METADATA_KEY) if isinstance(meta, dict) else None
                    if text is None:
                        continue
                    if not isinstance(text, str):
                        raise ModelFileError(f"'{METADATA_KEY}' is not a JSON string")
                    record = parse_json(text)
                except ModelFileError as exc:
                    raise ModelFileError(f"{path} has unreadable acnet metadata in {_json.display_name(name)} ({exc})") from None
                return ModelInfo.from_dict(record, source=str(path)), meta
    except AcnetError:
        raise
    except _ZIP_ERRORS as exc:
        raise ModelFileError(f"{path} is not a readable AOTInductor package ({first_line(exc)})") from None
    raise ModelFileError(f"{path} carries no acnet metadata; export it with `acnet export aoti`")



@click.command("aoti")
@click.argument("checkpoint", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Where to write the .pt2 package.")
@click.option("--device", type=DeviceName(), default="cpu", show_default=True, help="cpu, cuda or cuda:N: the package runs there only.")
@click.option("--fp16", is_flag=True, help="FP16 weights and compute, FP32 inputs/outputs (CUDA only).")
@click.option("--height", type=InputSide(STRIDE), help=f"Input height (multiple of {STRIDE}); default: the checkpoint's.")
@click.option("--width", type=InputSide(STRIDE), help=f"Input width (multiple of {STRIDE}); default: the checkpoint's.")
@click.option("--batch", type=click.IntRange(1, MAX_DYNAMIC_BATCH), default=None, help="Fixed batch size (default 1; the C library runs batch 1).")
@click.option("--dynamic-batch", is_flag=True, help=f"Symbolic batch dimension (1..{MAX_DYNAMIC_BATCH}, or --max-batch).")
@click.option("--max-batch", type=click.IntRange(2, MAX_DYNAMIC_BATCH), default=None,
              help="Largest batch of a --dynamic-batch package; a small bound keeps CUDA kernels on 32-bit indexing.")
@click.option("--io", "io", type=click.Choice(("tensor", "camera")), default="tensor", show_default=True,
              help="camera: camera buffers in, uint8 labels and confidence out, as `acnet export onnx --io camera` "
                   "(the C library then runs none of its own preprocessing).")
@click.option("--camera-size", type=CameraSize(), default=None, metavar="HxW", help="--io camera: the camera's frame size.")
@click.option("--camera-depth", type=click.Choice(CAMERA_DEPTH_TYPES), default="uint16", show_default=True,
              help="--io camera: uint16 depth in units of --depth-scale, or float32 metres.")
@click.option("--depth-scale", type=DEPTH_SCALE, default=None, help="--io camera, uint16 depth: metres per unit (default 0.001).")
@click.option("--verify/--no-verify", default=True, show_default=True, help="Compare the package with PyTorch.")
def aoti_command(checkpoint, output, device, fp16, height, width, batch, dynamic_batch, max_batch, io, camera_size,
                 camera_depth, depth_scale, verify):
    """Compile CHECKPOINT into an AOTInductor package for the C library (acnet capi)."""
    if batch is not None and dynamic_batch:
        raise ConfigError("give either --batch or --dynamic-batch, not both")
    if max_batch is not None and not dynamic_batch:
        raise ConfigError("--max-batch bounds a dynamic batch: give it with --dynamic-batch")
    if output.suffix != ".pt2":
        raise ConfigError(f"-o/--output: an AOTInductor package must be named *.pt2, got {output.name}")
    options = AotiExportOptions(
        device=device, fp16=fp16, height=height, width=width, batch=0 if dynamic_batch else (batch or 1),
        max_batch=max_batch or MAX_DYNAMIC_BATCH, verify=verify,
        io=io, camera_size=camera_size, camera_depth=camera_depth, depth_scale=depth_scale,
    )
    click.echo(compile_package(checkpoint, output, options).summary())
