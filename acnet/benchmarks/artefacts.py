"""The files a benchmark runs, and the caches that make the missing ones.

``acnet bench`` and ``acnet parity`` take one network as whatever files the
user has (a checkpoint, an ONNX model, an engine, an AOTInductor package) and
make the rest once: an ONNX export of the checkpoint, an FP16 engine per GPU,
a package per device and precision, each cached under a name that says what
it was made from (:func:`default_cache_dir`). A model of another network than
the checkpoint is refused (:func:`check_same_network`): its speed-up or its
agreement would compare two different networks.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from acnet._io import sha256_file
from acnet.benchmarks.backends import AOTI_BACKENDS, backend_for_precision
from acnet.benchmarks.timing import Skip
from acnet.errors import AcnetError, CheckpointError, ConfigError, ModelFileError
from acnet.export.aoti import AotiExportOptions, compile_package, read_package_info
from acnet.export.tensorrt import TrtBuildOptions, build_engine, query_gpu
from acnet.runtime.backends import ENGINE_SUFFIXES, ONNX_SUFFIXES
from acnet.runtime.backends.base import Device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Artefacts:
    """The files one network is available as."""

    checkpoint: Path | None = None
    onnx: Path | None = None
    engine: Path | None = None
    aoti: Path | None = None
    int8_onnx: Path | None = None
    #: A camera-native ONNX model (``--io camera``) of the same network.
    camera_onnx: Path | None = None

    @property
    def description(self) -> dict:
        return {k: (str(v) if v else None) for k, v in (("checkpoint", self.checkpoint), ("onnx", self.onnx),
                                                       ("engine", self.engine), ("aoti", self.aoti),
                                                       ("int8_onnx", self.int8_onnx), ("camera_onnx", self.camera_onnx))}


def classify(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in ONNX_SUFFIXES:
        return "onnx"
    if suffix in ENGINE_SUFFIXES:
        return "engine"
    if suffix == ".pt2":
        return "aoti"
    return "checkpoint"


def resolve_artefacts(config) -> Artefacts:
    """Which checkpoint / ONNX / engine / package to use, from a config's ``model`` and its named files.

    Raises for missing files and for two files of one kind.
    """
    found = {"checkpoint": config.checkpoint, "onnx": config.onnx, "engine": config.engine, "aoti": config.aoti,
             "int8_onnx": config.int8_onnx, "camera_onnx": config.camera_onnx}
    kind = classify(config.model)
    if found[kind] is not None and Path(found[kind]) != config.model:
        raise ConfigError(f"two {kind} files given: {config.model} and {found[kind]}")
    found[kind] = config.model
    for kind_name, path in found.items():
        if path is not None and not path.is_file():
            error = CheckpointError if kind_name == "checkpoint" else ModelFileError
            raise error(f"{kind_name.replace('_', ' ')} {path} not found")
    return Artefacts(**found)


def check_same_network(path, info, reference) -> None:
    """Refuse a model of another network than the checkpoint's: comparing or timing the two would mean nothing.

    The network is its description (backbone, width, fusion, class count; ``reference`` is the checkpoint's
    ModelInfo), not the file's hash: a re-export of the same checkpoint is the same network. A field a model
    exported by an older acnet does not record is not compared. The input size is not either: a model may
    be exported at another size, and the reference then runs at that size.
    """
    differ = []
    for key, say in (("num_classes", "{} classes"), ("backbone", "backbone {}"), ("width", "width {:g}"),
                     ("fusion", "fusion {}")):
        mine, theirs = getattr(info, key, None), getattr(reference, key, None)
        if mine is not None and theirs is not None and mine != theirs:
            differ.append(f"{say.format(mine)}, the checkpoint {theirs:g}" if key == "width" else
                          f"{say.format(mine)}, the checkpoint {theirs}")
    if differ:
        raise ModelFileError(f"{path} has {' and '.join(differ)}: another network, so comparing the two means nothing")


#: The precision an option names; the model's metadata must say the same.
CLAIMED_PRECISION = {"--fp16-onnx": "fp16", "--int8-onnx": "int8"}


def check_precision(path, info, option: str | None) -> None:
    """Refuse a model given with ``option`` (--int8-onnx, --fp16-onnx) whose metadata says another precision:
    an FP32 model must not pass, or be timed, as an INT8 one."""
    claimed = CLAIMED_PRECISION.get(option or "")
    if claimed is not None and info.precision != claimed:
        raise ConfigError(f"{option} {path} is an {info.precision.upper()} model (its metadata says precision "
                          f"{info.precision!r}), not {claimed.upper()}; give it with "
                          f"{next((o for o, p in CLAIMED_PRECISION.items() if p == info.precision), '--onnx')}")


def utc_now() -> str:
    """When a report was made: UTC, ISO 8601, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "acnet" / "bench"


# --------------------------------------------------------------------------- the checkpoint


@dataclass(frozen=True)
class TorchModel:
    """A checkpoint's network, loaded: what the torch backends run."""

    model: object
    #: The network's ModelInfo at the size it is measured at.
    info: object
    #: GFLOPs of one frame at that size.
    gflops: float


def load_torch_model(art: Artefacts, height: int | None, width: int | None) -> TorchModel:
    """The checkpoint's network at ``height`` x ``width`` (default: its own size), or raise Skip."""
    if art.checkpoint is None:
        raise Skip("needs the checkpoint: the model given is an ONNX model or engine (add --checkpoint CKPT)")
    try:
        import torch  # noqa: F401 - not at the top: ONNX models are timed on a runtime-only install
    except ImportError:
        raise Skip("torch is not installed (pip install 'acnet[train]')") from None
    # Not at the top: these import torch and onnx.
    from acnet.export.onnx import OnnxExportOptions, model_info
    from acnet.training.checkpoint import load_model
    from acnet.training.summary import summarize

    model, ckpt = load_model(art.checkpoint)
    h, w = height or ckpt.input_height, width or ckpt.input_width
    info = model_info(ckpt, OnnxExportOptions(dynamic_batch=True, verify=False), h, w)
    gflops = 2 * summarize(ckpt.model_config, h, w).total_macs / 1e9
    return TorchModel(model, info, gflops)


# --------------------------------------------------------------------------- caches


def cached_onnx_export(checkpoint: Path, height: int, width: int, cache_dir: Path) -> Path:
    """An FP32 dynamic-batch ONNX model of ``checkpoint``, exported once and cached by content hash."""
    from acnet.export.onnx import OnnxExportOptions, export_onnx  # not at the top: imports onnx

    digest = sha256_file(checkpoint)[:16]
    options = OnnxExportOptions(height=height, width=width, dynamic_batch=True, verify=False)
    graph = "-d2s" if options.rewrites_deconv else ""  # the decoder's graph differs with the deconv rewrite
    path = cache_dir / f"{checkpoint.stem}-{digest}-{height}x{width}-dynbatch{graph}.onnx"
    if path.is_file():
        log.info("using cached ONNX export %s", path)
        return path
    log.info("exporting %s to %s for onnxruntime", checkpoint, path)
    # Parity is acnet parity's job; the benchmark only needs the graph.
    export_onnx(checkpoint, path, options)
    return path


def cached_engine(onnx_path: Path, batches: tuple[int, ...], cache_dir: Path, device: str = "cuda") -> Path:
    """An FP16 TensorRT engine for ``onnx_path`` covering ``batches``, built once per GPU and cached.

    The runtime checks the engine's sidecar (TensorRT version, GPU) when it
    opens it, so a cached engine from another machine is refused, not run.
    """
    gpu = query_gpu(Device.parse(device).index)
    slug = "".join(c if c.isalnum() else "-" for c in str(getattr(gpu, "name", "gpu"))).strip("-").lower()
    low, high = min(batches), max(batches)
    path = cache_dir / f"{onnx_path.stem}-fp16-b{low}-{high}-{slug}.engine"
    if path.is_file():
        log.info("using cached engine %s", path)
        return path
    log.info("building an FP16 TensorRT engine %s (minutes)", path)
    build_engine(onnx_path, path, TrtBuildOptions(fp16=True, min_batch=low, opt_batch=low, max_batch=high), gpu=gpu)
    return path


def cached_package(checkpoint: Path, height: int, width: int, precision: str, device: str, cache_dir: Path) -> Path:
    """A dynamic-batch package of ``checkpoint`` for this device and precision, compiled once and cached.

    The name carries the checkpoint's hash, the size, the precision, the
    device (the GPU's name for CUDA: kernels are compiled for its
    architecture) and the torch version that compiled it.
    """
    import torch  # not at the top: ONNX models are timed on a runtime-only install

    dev = Device.parse(device)
    where = "cpu"
    if dev.is_cuda:
        if not torch.cuda.is_available():
            raise Skip("CUDA is not available to torch")
        where = "".join(c if c.isalnum() else "-" for c in torch.cuda.get_device_name(dev.index)).strip("-").lower()
    version = torch.__version__.split("+")[0]
    digest = sha256_file(checkpoint)[:16]
    path = cache_dir / f"{checkpoint.stem}-{digest}-{height}x{width}-{precision}-dynbatch-{where}-torch{version}.pt2"
    if path.is_file():
        log.info("using cached AOTInductor package %s", path)
        return path
    log.info("compiling an AOTInductor package %s (a minute or more)", path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    options = AotiExportOptions(device=str(dev), fp16=precision == "fp16", height=height, width=width, batch=0)
    return compile_package(checkpoint, path, options).output


def resolve_packages(backends, given: Path | None, checkpoint: Path | None, height: int | None, width: int | None,
                     device: str, cache_dir: Path) -> dict:
    """For each requested AOTI backend: the package to run, or the :class:`Skip` saying why none.

    A package given with ``--aoti`` serves the backend of its precision; the
    others are compiled from the checkpoint (dynamic batch) and cached.
    """
    wanted = [b for b in backends if b in AOTI_BACKENDS]
    out: dict = {}
    given_for = None
    if given is not None and wanted:
        given_for = backend_for_precision(read_package_info(given).precision)
    cuda = device.startswith("cuda")
    for name in wanted:
        if name == given_for:
            out[name] = given
        elif AOTI_BACKENDS[name] == "fp16" and not cuda:
            out[name] = Skip("FP16 AOTInductor packages are compiled for CUDA only (--device cuda)")
        elif checkpoint is None:
            out[name] = Skip(f"no {AOTI_BACKENDS[name]} package given (--aoti M.pt2) and no checkpoint to compile one from")
        elif height is None or width is None:
            out[name] = Skip("the input size is unknown: the checkpoint could not be read")
        else:
            try:
                out[name] = cached_package(checkpoint, height, width, AOTI_BACKENDS[name], device, cache_dir)
            except Skip as exc:
                out[name] = exc
            except AcnetError as exc:  # as for engines: the run goes on without this backend
                out[name] = Skip(f"could not compile a package: {exc}")
    return out
