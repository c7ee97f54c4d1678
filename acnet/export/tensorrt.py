"""ONNX -> TensorRT engine, with a JSON sidecar that says where it can run.

The build uses TensorRT's Python API: builder, network, ``OnnxParser``,
builder config with a workspace limit, an optimisation profile for dynamic
inputs, an optional timing cache, then ``build_serialized_network``.

How FP16 is obtained depends on the TensorRT release, read from
``tensorrt.__version__`` (never guessed):

- TensorRT 10: an FP32 ONNX is built with ``BuilderFlag.FP16`` (weak typing);
  an FP16 ONNX from ``acnet export onnx --fp16`` is built as a strongly typed
  network, so the float32 parts it keeps stay float32.
- TensorRT 11: precision flags are gone and every network is strongly typed,
  so the engine is built from an FP16 ONNX, converted with
  :func:`acnet.export.fp16.convert_to_fp16` when given an FP32 one; the
  converted model is saved beside the engine (``ENGINE.fp16.onnx``) so the
  printed trtexec command builds the same engine.
- INT8: an ONNX with QuantizeLinear/DequantizeLinear nodes is built with
  explicit quantization, as NVIDIA documents it: strongly typed (TensorRT 10:
  ``NetworkDefinitionCreationFlag.STRONGLY_TYPED``), no precision flags (a
  strongly typed TensorRT 10 network refuses them).
- Camera-native models (``--io camera``) are always built strongly typed, so
  their heads run in the float32 the ONNX gives them (``BuilderFlag.FP16``
  would let TensorRT run them in FP16, where millimetres past 65504 overflow
  and class ids above 2048 round): ``--fp16`` converts the network's nodes
  only. Their uint16 depth input is given to TensorRT, which has no unsigned
  16-bit type, as its bytes (:func:`acnet.export.camera.depth_as_bytes`);
  the converted ONNX is saved beside the engine (``ENGINE.trt.onnx``, or
  ``ENGINE.fp16.onnx`` when also converted to FP16) for trtexec.

Those decisions are pure functions (:func:`plan_build`,
:func:`network_flags`, :func:`resolve_batch`) tested with a fake module;
``tensorrt`` itself is imported only when an engine is built.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shlex
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import click
from tqdm import tqdm

import acnet
from acnet._io import atomic_path, atomic_write_bytes, check_writable, output_error, sha256_file
from acnet._options import POSITIVE, FiniteFloat
from acnet._typed import int_in_range
from acnet.errors import BackendUnavailableError, ConfigError, ModelFileError, OutputError, first_line
from acnet.runtime.backends.trt import INSTALL_HINT, CudaRuntime, load_tensorrt
from acnet.runtime.metadata import ModelInfo
from acnet.runtime.sidecar import EngineSidecar, TensorShape, parse_version, sidecar_path, write_sidecar

log = logging.getLogger(__name__)

#: Oldest TensorRT this builder supports (name-based I/O, set_memory_pool_limit).
MIN_TRT_MAJOR = 10
#: First TensorRT without precision builder flags (always strongly typed).
STRONGLY_TYPED_MAJOR = 11
DEFAULT_WORKSPACE_GB = 2.0
#: Workspace limits that mean something: about 1 MiB (trtexec's unit) to 64 TiB (far beyond any GPU).
MIN_WORKSPACE_GB, MAX_WORKSPACE_GB = 0.001, 65536.0
#: Largest batch of a dynamic-batch engine unless --max-batch says otherwise.
DEFAULT_MAX_BATCH = 8


@dataclass(frozen=True)
class TrtBuildOptions:
    """How to build; batches default to the ONNX's fixed batch or 1..8 (opt 1) when dynamic."""

    fp16: bool = False
    workspace_gb: float = DEFAULT_WORKSPACE_GB
    min_batch: int | None = None
    opt_batch: int | None = None
    max_batch: int | None = None
    #: Read before the build (if present) and written back after it.
    timing_cache: Path | None = None

    def __post_init__(self) -> None:
        workspace = self.workspace_gb
        if isinstance(workspace, bool) or not isinstance(workspace, (int, float)) or \
                not MIN_WORKSPACE_GB <= workspace <= MAX_WORKSPACE_GB:  # NaN fails too
            raise ConfigError(f"--workspace-gb must be from {MIN_WORKSPACE_GB:g} to {MAX_WORKSPACE_GB:g} GB, "
                              f"got {workspace!r}")
        given = [(name, b) for name, b in (("--min-batch", self.min_batch), ("--opt-batch", self.opt_batch),
                                           ("--max-batch", self.max_batch)) if b is not None]
        for name, b in given:
            int_in_range(b, name)
        for (low_name, low), (high_name, high) in zip(given, given[1:]):
            if low > high:
                raise ConfigError(f"{low_name} {low} is above {high_name} {high}: need --min-batch <= --opt-batch <= --max-batch")


# --------------------------------------------------------------------------- version-dependent decisions


@dataclass(frozen=True)
class BuildPlan:
    """What a given TensorRT release needs to build the requested precision."""

    trt_version: str
    precision: str  # "int8" | "fp16" | "fp32"
    #: Names in ``trt.NetworkDefinitionCreationFlag`` to set.
    network_flags: tuple[str, ...]
    #: Names in ``trt.BuilderFlag`` to set.
    builder_flags: tuple[str, ...]
    #: Convert the FP32 ONNX to FP16 before parsing (TensorRT 11).
    convert_to_fp16: bool
    #: How the precision is obtained, in words (recorded in the sidecar).
    fp16_source: str


def tensorrt_version(trt) -> str:
    """The imported TensorRT's version string; refuses to guess when it has none."""
    version = getattr(trt, "__version__", None)
    if not version or not isinstance(version, str):
        raise BackendUnavailableError("cannot tell which TensorRT is installed (tensorrt.__version__ is missing); reinstall it")
    parse_version(version)
    return version


def plan_build(trt_version: str, onnx_precision: str, want_fp16: bool, camera: bool = False) -> BuildPlan:
    """Decide network flags, builder flags and conversion for a TensorRT release.

    ``onnx_precision`` is "fp16" for a model from ``acnet export onnx --fp16``
    and "int8" for one carrying Q/DQ nodes. An FP16 model always gives an
    FP16 engine, with or without ``want_fp16``; a Q/DQ model takes its
    precision from its nodes only. A ``camera``-native model is built
    strongly typed on every release (its heads stay float32).
    """
    major = parse_version(trt_version)[0]
    if major < MIN_TRT_MAJOR:
        raise BackendUnavailableError(f"TensorRT {trt_version} is too old: acnet builds engines with TensorRT {MIN_TRT_MAJOR} or newer")
    check_precision_request(onnx_precision, want_fp16)
    if onnx_precision == "int8":
        flags = () if major >= STRONGLY_TYPED_MAJOR else ("STRONGLY_TYPED",)
        return BuildPlan(trt_version, "int8", flags, (), False, "Q/DQ ONNX (explicit quantization, strongly typed)")
    fp16_model = onnx_precision == "fp16"
    if major >= STRONGLY_TYPED_MAJOR:
        # Strong typing is always on: the ONNX's types are the engine's types.
        if fp16_model:
            return BuildPlan(trt_version, "fp16", (), (), False, "FP16 ONNX (strongly typed)")
        if want_fp16:
            heads = ", camera heads kept FP32" if camera else ""
            return BuildPlan(trt_version, "fp16", (), (), True, f"FP32 ONNX converted to FP16{heads} (strongly typed)")
        return BuildPlan(trt_version, "fp32", (), (), False, "none (FP32)")
    if fp16_model:
        # Keep the model's own types (its FP32 ReduceMean) instead of letting the builder choose.
        return BuildPlan(trt_version, "fp16", ("STRONGLY_TYPED",), (), False, "FP16 ONNX (strongly typed)")
    if want_fp16 and camera:
        return BuildPlan(trt_version, "fp16", ("STRONGLY_TYPED",), (), True,
                         "FP32 ONNX converted to FP16, camera heads kept FP32 (strongly typed)")
    if want_fp16:
        return BuildPlan(trt_version, "fp16", (), ("FP16",), False, "BuilderFlag.FP16")
    if camera:
        return BuildPlan(trt_version, "fp32", ("STRONGLY_TYPED",), (), False, "none (FP32, strongly typed)")
    return BuildPlan(trt_version, "fp32", (), (), False, "none (FP32)")


def check_precision_request(onnx_precision: str, want_fp16: bool) -> None:
    """Refuse ``--fp16`` for a quantized ONNX (any TensorRT release: its precision is the model's)."""
    if onnx_precision == "int8" and want_fp16:
        raise ConfigError(
            "the ONNX model is quantized (Q/DQ nodes): its precision comes from the model, which TensorRT builds "
            "strongly typed; drop --fp16"
        )


def check_distinct_paths(onnx_path: str | os.PathLike, engine_path: str | os.PathLike,
                         timing_cache: str | os.PathLike | None = None) -> None:
    """Refuse an engine or timing cache written over the ONNX model, or a cache that is the engine."""
    onnx_file, engine_file = Path(onnx_path).resolve(), Path(engine_path).resolve()
    if engine_file == onnx_file:
        raise ConfigError(f"-o/--output {engine_path} is the ONNX model itself: the engine would overwrite it")
    if timing_cache is not None and Path(timing_cache).resolve() in (onnx_file, engine_file):
        what = "the ONNX model" if Path(timing_cache).resolve() == onnx_file else "the engine (-o)"
        raise ConfigError(f"--timing-cache {timing_cache} is {what}: give the cache a file of its own")


def network_flags(trt, plan: BuildPlan) -> int:
    """The ``create_network`` bit mask for ``plan`` from the module's enum."""
    mask = 0
    for name in plan.network_flags:
        flag = getattr(trt.NetworkDefinitionCreationFlag, name, None)
        if flag is None:
            raise BackendUnavailableError(f"TensorRT {plan.trt_version} has no NetworkDefinitionCreationFlag.{name}")
        mask |= 1 << int(flag)
    return mask


def builder_flags(trt, plan: BuildPlan) -> list:
    flags = []
    for name in plan.builder_flags:
        flag = getattr(trt.BuilderFlag, name, None)
        if flag is None:
            raise BackendUnavailableError(f"TensorRT {plan.trt_version} has no BuilderFlag.{name}")
        flags.append(flag)
    return flags


def resolve_batch(fixed: int | None, min_batch: int | None, opt_batch: int | None, max_batch: int | None) -> tuple[int, int, int]:
    """(min, opt, max) batch of the profile.

    ``fixed`` is the ONNX's batch, or None when it is dynamic. A fixed-batch
    model takes only its own batch; a dynamic one defaults to 1..8, opt = min.
    """
    given = [b for b in (min_batch, opt_batch, max_batch) if b is not None]
    if any(b < 1 for b in given):
        raise ConfigError(f"batch sizes must be positive, got {given}")
    if fixed is not None:
        if any(b != fixed for b in given):
            raise ConfigError(
                f"the ONNX model has a fixed batch of {fixed}; export it with `acnet export onnx --dynamic-batch` "
                "to build an engine for a range of batch sizes"
            )
        return fixed, fixed, fixed
    lo = min_batch or 1
    hi = max_batch or max(DEFAULT_MAX_BATCH, lo, opt_batch or 0)
    opt = opt_batch or lo
    if not lo <= opt <= hi:
        raise ConfigError(f"need --min-batch <= --opt-batch <= --max-batch, got {lo}, {opt}, {hi}")
    return lo, opt, hi


# --------------------------------------------------------------------------- the ONNX side


@dataclass(frozen=True)
class OnnxSource:
    """An acnet ONNX model read for building."""

    path: Path
    proto: object  # onnx.ModelProto
    info: ModelInfo
    precision: str
    sha256: str
    #: name -> (dtype, shape) with str for symbolic dims.
    inputs: dict
    outputs: dict


def read_onnx(path: str | os.PathLike) -> OnnxSource:
    """Load and check an ONNX file exported by acnet (its metadata is required)."""
    try:
        import onnx  # acnet bench imports this module (cached engines) on a runtime-only install
    except ImportError:  # a runtime-only install building engines on a Jetson
        raise BackendUnavailableError("reading the ONNX model needs the onnx package: pip install onnx") from None
    from google.protobuf.message import DecodeError  # comes with onnx; see above

    from acnet.export.graph import io_signature, read_metadata

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"ONNX model {path} not found")
    try:
        proto = onnx.load(str(path))
    except (DecodeError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path} is not a readable ONNX model ({first_line(exc, 'corrupt')})") from None
    if not proto.graph.node:
        raise ModelFileError(f"{path} is not a readable ONNX model (no graph)")
    info = read_metadata(proto, source=str(path))
    sig = io_signature(proto)
    missing = {"rgb", "depth"} - set(sig["inputs"])
    if missing:
        raise ModelFileError(f"{path} lacks the inputs {sorted(missing)}; was it exported by `acnet export onnx`?")
    return OnnxSource(path, proto, info, onnx_precision(proto), sha256_file(path), sig["inputs"], sig["outputs"])


#: ONNX operators of explicit quantization.
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


def onnx_precision(proto) -> str:
    """"int8" for a model with Q/DQ nodes, "fp16" for FP16 weights, else "fp32"."""
    import onnx  # acnet bench imports this module (cached engines) on a runtime-only install

    if any(node.op_type in QDQ_OPS for node in proto.graph.node):
        return "int8"
    if any(init.data_type == onnx.TensorProto.FLOAT16 for init in proto.graph.initializer):
        return "fp16"
    return "fp32"


def has_symbolic_inputs(source: OnnxSource) -> bool:
    """Whether any input dimension is symbolic: TensorRT then needs an optimisation profile."""
    return any(not (isinstance(d, int) and d > 0) for _, shape in source.inputs.values() for d in shape)


def profile_shapes(source: OnnxSource, batch: tuple[int, int, int]) -> tuple[dict[str, TensorShape], dict[str, TensorShape]]:
    """Input profiles and output shapes for ``batch`` (min, opt, max).

    A symbolic first dimension is the batch; symbolic ``height`` and
    ``width`` are fixed to the model's input size.
    """
    sizes = {"height": source.info.input_height, "width": source.info.input_width}

    def concrete(name: str, shape: tuple, b: int) -> tuple[int, ...]:
        dims = []
        for i, d in enumerate(shape):
            if isinstance(d, int) and d > 0:
                dims.append(d)
            elif i == 0:
                dims.append(b)
            elif d in sizes:
                dims.append(sizes[d])
            else:
                raise ModelFileError(f"{source.path}: tensor {name!r} has an unknown dimension {d!r}")
        return tuple(dims)

    def shapes(values: dict) -> dict[str, TensorShape]:
        return {
            name: TensorShape(_DTYPES.get(dtype, dtype), *(concrete(name, shape, b) for b in batch))
            for name, (dtype, shape) in values.items()
        }

    return shapes(source.inputs), shapes(source.outputs)


#: ONNX dtype names (as :func:`acnet.export.graph.io_signature` gives them) -> numpy's.
_DTYPES = {"float": "float32", "float16": "float16", "int32": "int32", "int64": "int64", "uint8": "uint8", "uint16": "uint16"}


def for_tensorrt(source: OnnxSource, fp16: bool = False) -> tuple[OnnxSource, bool]:
    """The model TensorRT parses: ``source`` converted as its build needs, and whether anything changed.

    ``fp16``: the network converted to FP16 (a camera-native model's heads
    stay float32). A camera-native model's uint16 depth becomes its bytes
    (:func:`acnet.export.camera.depth_as_bytes`).
    """
    proto = source.proto
    if fp16:
        from acnet.export.fp16 import convert_to_fp16

        keep = ()
        if source.info.camera is not None:
            from acnet.export.camera import head_node_names

            keep = head_node_names(proto)
        proto = convert_to_fp16(proto, keep_fp32_nodes=keep)
    if source.info.camera is not None:
        from acnet.export.camera import depth_as_bytes

        proto = depth_as_bytes(proto)
    if proto is source.proto:
        return source, False
    from acnet.export.graph import io_signature

    sig = io_signature(proto)
    return dataclasses.replace(source, proto=proto, inputs=sig["inputs"], outputs=sig["outputs"]), True


# --------------------------------------------------------------------------- GPU


@dataclass(frozen=True)
class GpuInfo:
    name: str
    compute_capability: str  # "major.minor"


def query_gpu(index: int = 0, cuda: CudaRuntime | None = None) -> GpuInfo:
    """Name and compute capability of CUDA device ``index`` (via cuda-python)."""
    cuda = cuda if cuda is not None else CudaRuntime.load()
    try:
        cuda.set_device(index)
        name, (major, minor) = cuda.device_info(index)
    except BackendUnavailableError as exc:
        raise BackendUnavailableError(f"no usable NVIDIA GPU ({exc}); TensorRT engines are built on the GPU they will run on") from None
    return GpuInfo(name, f"{major}.{minor}")


# --------------------------------------------------------------------------- building


def parser_error_message(parser, proto, source: str) -> str:
    """One line naming the first node the ONNX parser failed on (all are logged)."""
    lines = []
    nodes = proto.graph.node
    for i in range(int(parser.num_errors)):
        error = parser.get_error(i)
        index = int(error.node()) if hasattr(error, "node") else -1
        name = _text(error, "node_name")
        op = _text(error, "node_operator")
        if 0 <= index < len(nodes):
            name = name or nodes[index].name
            op = op or nodes[index].op_type
        where = f"node {index} {name!r} ({op})" if index >= 0 else "the graph"
        lines.append(f"{where}: {_text(error, 'desc') or 'unknown error'}")
    for line in lines:
        log.error("ONNX parser: %s", line)
    if not lines:
        return f"TensorRT cannot parse {source} (no details reported)"
    more = f" (and {len(lines) - 1} more errors; -v prints them all)" if len(lines) > 1 else ""
    return f"TensorRT cannot parse {source}: {lines[0]}{more}"


def _text(obj, method: str) -> str:
    fn = getattr(obj, method, None)
    try:
        value = fn() if callable(fn) else fn
    except Exception:  # an older binding without the accessor
        return ""
    return value.decode() if isinstance(value, bytes) else str(value or "")


def progress_monitor(trt):
    """A tqdm view of the builder's phases, or None where TensorRT has no IProgressMonitor."""
    base = getattr(trt, "IProgressMonitor", None)
    if base is None:
        return None
    class Monitor(base):
        # TensorRT calls these from its own threads.
        def __init__(self) -> None:
            base.__init__(self)
            self._bars: dict[str, tqdm] = {}
            self._lock = threading.Lock()

        def phase_start(self, phase_name, parent_phase, num_steps):
            with self._lock:
                self._bars[phase_name] = tqdm(total=num_steps, desc=phase_name, position=len(self._bars), leave=False, disable=None)

        def step_complete(self, phase_name, step):
            with self._lock:
                bar = self._bars.get(phase_name)
                if bar is not None:
                    bar.update(max(0, step + 1 - bar.n))
            return True  # False would cancel the build

        def phase_finish(self, phase_name):
            with self._lock:
                bar = self._bars.pop(phase_name, None)
                if bar is not None:
                    bar.close()

    return Monitor()


@dataclass(frozen=True)
class TrtBuildReport:
    engine: Path
    sidecar_path: Path
    sidecar: EngineSidecar
    seconds: float
    #: The equivalent trtexec command; empty for an engine built by hand.
    trtexec: str = ""

    def summary(self) -> str:
        s = self.sidecar
        lo, opt, hi = s.batch_range
        batch = str(lo) if lo == hi else f"{lo}..{hi} (opt {opt})"
        lines = [
            f"{'wrote' if self.trtexec else 'described'} {self.engine} ({s.precision}, TensorRT {s.tensorrt_version} "
            f"on {s.gpu_name} (compute {s.compute_capability}), batch {batch}, {s.engine_size / 2**20:.1f} MiB) "
            f"in {self.seconds:.0f} s",
            f"sidecar: {self.sidecar_path}",
        ]
        if self.trtexec:
            lines.append(f"trtexec equivalent: {self.trtexec}")
        return "\n".join(lines)


def trtexec_command(onnx_path: str, engine_path: str, plan: BuildPlan, inputs: dict[str, TensorShape], workspace_gb: float,
                    timing_cache: str | None = None, dynamic: bool | None = None) -> str:
    """The ``trtexec`` command line that builds the same engine by hand.

    ``dynamic`` says the ONNX has symbolic input dimensions (then the shapes
    are given even when min = max); by default, when the profile is a range.
    """
    args = ["trtexec", f"--onnx={onnx_path}", f"--saveEngine={engine_path}"]
    if "FP16" in plan.builder_flags:
        args.append("--fp16")
    if "STRONGLY_TYPED" in plan.network_flags:
        args.append("--stronglyTyped")
    if dynamic is None:
        dynamic = any(s.min != s.max for s in inputs.values())
    if dynamic:
        for key, attr in (("--minShapes", "min"), ("--optShapes", "opt"), ("--maxShapes", "max")):
            shapes = ",".join(f"{name}:{'x'.join(map(str, getattr(s, attr)))}" for name, s in inputs.items())
            args.append(f"{key}={shapes}")
    args.append(f"--memPoolSize=workspace:{int(workspace_gb * 1024)}M")
    if timing_cache:
        args.append(f"--timingCacheFile={timing_cache}")
    return " ".join(shlex.quote(a) for a in args)


def build_engine(
    onnx_path: str | os.PathLike,
    engine_path: str | os.PathLike,
    options: TrtBuildOptions = TrtBuildOptions(),
    *,
    trt=None,
    gpu: GpuInfo | None = None,
) -> TrtBuildReport:
    """Build a TensorRT engine from an acnet ONNX model and write it with its sidecar.

    ``trt`` and ``gpu`` are for tests (a fake module and device); by default
    TensorRT is imported and the GPU queried. Raises
    :class:`BackendUnavailableError` without TensorRT or a GPU,
    :class:`ModelFileError` when parsing or building fails.
    """
    start = time.perf_counter()
    check_distinct_paths(onnx_path, engine_path, options.timing_cache)
    engine_path = check_writable(engine_path)
    if options.timing_cache is not None:
        check_writable(options.timing_cache)
    source = read_onnx(onnx_path)
    check_precision_request(source.precision, options.fp16)  # before TensorRT: the answer does not depend on it
    fixed = source.inputs["rgb"][1][0]
    batch = resolve_batch(fixed if isinstance(fixed, int) and fixed > 0 else None, options.min_batch, options.opt_batch, options.max_batch)

    trt = trt if trt is not None else load_tensorrt()
    version = tensorrt_version(trt)
    camera = source.info.camera is not None
    plan = plan_build(version, source.precision, options.fp16, camera=camera)
    gpu = gpu if gpu is not None else query_gpu()
    log.info("TensorRT %s on %s (compute %s): %s engine, FP16 from %s", version, gpu.name, gpu.compute_capability, plan.precision, plan.fp16_source)

    if plan.convert_to_fp16:
        log.info("TensorRT %s networks are strongly typed: converting %s to FP16 first", version, source.path.name)
    original = source
    source, converted = for_tensorrt(source, plan.convert_to_fp16)
    built_from = source.path  # the ONNX TensorRT parses: what trtexec must be given
    if converted:
        built_from = converted_onnx_path(engine_path, plan.convert_to_fp16)
    proto = source.proto
    inputs, outputs = profile_shapes(source, batch)
    data = proto.SerializeToString()
    dynamic = has_symbolic_inputs(source)

    logger = trt.Logger(trt.Logger.WARNING)
    try:
        builder = trt.Builder(logger)
    except Exception as exc:  # no driver, no device
        raise BackendUnavailableError(f"TensorRT cannot create a builder on this machine ({exc}); {INSTALL_HINT}") from None
    network = builder.create_network(network_flags(trt, plan))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(data, str(source.path)):
        raise ModelFileError(parser_error_message(parser, proto, str(source.path)))

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options.workspace_gb * 2**30))
    for flag in builder_flags(trt, plan):
        config.set_flag(flag)
    if dynamic:  # symbolic dimensions need a profile even when min = max
        profile = builder.create_optimization_profile()
        for name, shape in inputs.items():
            profile.set_shape(name, shape.min, shape.opt, shape.max)
        if config.add_optimization_profile(profile) < 0:
            raise ModelFileError(f"TensorRT {version} refused the optimisation profile {_profile_text(inputs)} for {source.path.name}")
    cache_path = options.timing_cache
    cache_loaded = False
    if cache_path is not None:
        cache_loaded = _attach_timing_cache(config, cache_path, version)

    monitor = progress_monitor(trt)
    if monitor is not None:
        config.progress_monitor = monitor  # must outlive the build
    log.info("building the engine; TensorRT times its kernels, which takes minutes for ACNet-ResNet50")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelFileError(f"TensorRT {version} failed to build an engine from {source.path} (see its log above)")
    engine_bytes = bytes(memoryview(serialized))

    # The cache first: its failure leaves the previous engine alone. The
    # engine is renamed into place only once its sidecar is written.
    if cache_path is not None:
        atomic_write_bytes(cache_path, bytes(memoryview(config.get_timing_cache().serialize())))
    if converted:
        atomic_write_bytes(built_from, data)
    build = {
        "fp16_source": plan.fp16_source,
        "network_flags": list(plan.network_flags),
        "builder_flags": list(plan.builder_flags),
        "workspace_gb": options.workspace_gb,
        "timing_cache": str(cache_path) if cache_path else None,
        "timing_cache_loaded": cache_loaded,
    }
    if converted:
        build["built_from_onnx"] = built_from.name
    if camera and source.inputs["depth"][0] != original.inputs["depth"][0]:
        build["depth_input"] = "uint16 depth as its bytes: uint8 (N, H, W, 2), recombined in the graph"
    sidecar = _engine_sidecar(original, version, gpu, plan.precision, inputs, outputs, engine_bytes, build)
    sidecar_file = write_engine(engine_path, engine_bytes, sidecar)
    return TrtBuildReport(
        engine=engine_path,
        sidecar_path=sidecar_file,
        sidecar=sidecar,
        seconds=time.perf_counter() - start,
        trtexec=trtexec_command(str(built_from), str(engine_path), plan, inputs, options.workspace_gb,
                                str(cache_path) if cache_path else None, dynamic=dynamic),
    )


def converted_onnx_path(engine_path: str | os.PathLike, fp16: bool = True) -> Path:
    """``model.engine`` -> ``model.engine.fp16.onnx``: the converted ONNX an engine was built from.

    FP16 conversion (TensorRT 11, camera-native models) gives ``.fp16.onnx``;
    a camera-native model's depth bytes alone ``.trt.onnx``.
    """
    path = Path(engine_path)
    return path.with_name(path.name + (".fp16.onnx" if fp16 else ".trt.onnx"))


def _profile_text(inputs: dict[str, TensorShape]) -> str:
    return ", ".join(f"{n} {'x'.join(map(str, s.min))}..{'x'.join(map(str, s.max))}" for n, s in inputs.items())


def _attach_timing_cache(config, cache_path: Path, version: str) -> bool:
    """Give the builder the cache in ``cache_path``; True if TensorRT took it.

    A cache TensorRT refuses (corrupt, or from another TensorRT or GPU) is
    reported and replaced by a fresh one, which the build fills and which is
    written back over the refused file.
    """
    cached = cache_path.read_bytes() if cache_path.is_file() else b""
    if cached:
        cache = config.create_timing_cache(cached)
        if cache is None:
            log.warning("timing cache %s is corrupt or not a TensorRT timing cache: building without it and replacing it", cache_path)
        elif not config.set_timing_cache(cache, False):
            log.warning(
                "TensorRT %s refused the timing cache %s (made by another TensorRT version or on another GPU): "
                "building without it and replacing it", version, cache_path,
            )
        else:
            log.info("timing cache %s (%d bytes)", cache_path, len(cached))
            return True
    if not config.set_timing_cache(config.create_timing_cache(b""), False):
        raise BackendUnavailableError(f"TensorRT {version} refused a new timing cache")
    log.info("timing cache %s (new)", cache_path)
    return False


def write_engine(engine_path: Path, engine_bytes: bytes, sidecar: EngineSidecar) -> Path:
    """Write the engine and its sidecar so that no engine is ever left without its sidecar.

    The engine goes to a temporary file, the sidecar is written, then the
    engine is renamed into place; if anything fails, neither is left new.
    """
    written = None
    try:
        with atomic_path(engine_path) as tmp:
            tmp.write_bytes(engine_bytes)
            written = write_sidecar(engine_path, sidecar)
    except OSError as exc:
        if written is not None:
            written.unlink(missing_ok=True)  # describes an engine that is not there
        if isinstance(exc, OutputError):
            raise
        raise output_error(engine_path, exc) from None
    return written


def _engine_sidecar(source: OnnxSource, version: str, gpu: GpuInfo, precision: str, inputs, outputs, engine_bytes: bytes, build: dict) -> EngineSidecar:
    lo, hi = inputs["rgb"].min[0], inputs["rgb"].max[0]
    return EngineSidecar(
        tensorrt_version=version,
        gpu_name=gpu.name,
        compute_capability=gpu.compute_capability,
        precision=precision,
        inputs=inputs,
        outputs=outputs,
        source_onnx=source.path.name,
        source_onnx_sha256=source.sha256,
        info=source.info.with_(precision=precision, batch=lo if lo == hi else 0, dynamic_hw=False),
        engine_size=len(engine_bytes),
        engine_sha256=hashlib.sha256(engine_bytes).hexdigest(),
        acnet_version=acnet.__version__,
        build=build,
    )


def describe_engine_file(
    onnx_path: str | os.PathLike,
    engine_path: str | os.PathLike,
    fp16: bool = False,
    *,
    trt=None,
    gpu: GpuInfo | None = None,
) -> TrtBuildReport:
    """Write the sidecar of an engine built by hand (``trtexec``) from ``onnx_path``.

    The engine is deserialized here, which proves it fits this TensorRT and
    GPU, and its optimisation profile is read from it. TensorRT does not
    record whether ``--fp16`` was used: say so with ``fp16`` (an FP16 ONNX
    implies it).
    """
    start = time.perf_counter()
    check_distinct_paths(onnx_path, engine_path)
    engine_path = Path(engine_path)
    if not engine_path.is_file():
        raise ModelFileError(f"engine {engine_path} not found")
    original = read_onnx(onnx_path)
    check_precision_request(original.precision, fp16)
    source, _ = for_tensorrt(original)  # a camera-native model's depth is its bytes in the engine
    trt = trt if trt is not None else load_tensorrt()
    version = tensorrt_version(trt)
    gpu = gpu if gpu is not None else query_gpu()
    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(engine_path.read_bytes())
    if engine is None:
        raise ModelFileError(
            f"TensorRT {version} cannot load {engine_path}: it is corrupt or was built with another TensorRT or for another GPU"
        )
    profile = {}
    for name in ("rgb", "depth"):
        shape = tuple(int(d) for d in engine.get_tensor_shape(name))
        if -1 in shape:
            shape = tuple(tuple(int(d) for d in s) for s in engine.get_tensor_profile_shape(name, 0))
        else:
            shape = (shape, shape, shape)
        profile[name] = shape
    batch = tuple(s[0] for s in profile["rgb"])
    inputs, outputs = profile_shapes(source, batch)
    for name, (lo, opt, hi) in profile.items():
        if (inputs[name].min, inputs[name].opt, inputs[name].max) != (lo, opt, hi):
            raise ModelFileError(f"{engine_path} takes {name} shapes {lo}..{hi}, which do not fit {source.path.name}")
    precision = source.precision if source.precision != "fp32" else ("fp16" if fp16 else "fp32")
    sidecar = _engine_sidecar(original, version, gpu, precision, inputs, outputs, engine_path.read_bytes(), {"fp16_source": "built by hand (trtexec)"})
    return TrtBuildReport(engine_path, write_sidecar(engine_path, sidecar), sidecar, time.perf_counter() - start)


@click.command("trt")
@click.argument("onnx_model", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False), help="Where to write the engine.")
@click.option("--fp16", is_flag=True, help="FP16 engine (TensorRT 10: BuilderFlag.FP16; 11: via an FP16 ONNX).")
@click.option("--workspace-gb", type=FiniteFloat(MIN_WORKSPACE_GB, MAX_WORKSPACE_GB), default=DEFAULT_WORKSPACE_GB,
              show_default=True, help="Builder workspace limit.")
@click.option("--min-batch", type=POSITIVE, help="Smallest batch (dynamic-batch models).")
@click.option("--opt-batch", type=POSITIVE, help="Batch TensorRT tunes for (default: the min).")
@click.option("--max-batch", type=POSITIVE, help=f"Largest batch (default {DEFAULT_MAX_BATCH}).")
@click.option("--timing-cache", type=click.Path(path_type=Path, dir_okay=False), help="Reuse and update this timing cache file.")
@click.option("--sidecar-only", is_flag=True, help="Do not build: write the sidecar of an engine built by hand at -o (e.g. by trtexec).")
@click.pass_context
def trt_command(ctx, onnx_model, output, fp16, workspace_gb, min_batch, opt_batch, max_batch, timing_cache, sidecar_only):
    """Build a TensorRT engine from ONNX_MODEL (on the GPU it will run on).

    Beside the engine goes ENGINE.json: TensorRT version, GPU, precision,
    profile and model metadata, which the runtime checks before loading.
    """
    if sidecar_only:
        for name in ("workspace_gb", "min_batch", "opt_batch", "max_batch", "timing_cache"):
            if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
                option = "--" + name.replace("_", "-")
                raise ConfigError(f"{option} has no effect with --sidecar-only: the engine was built by hand "
                                  "(its profile is read from it)")
        report = describe_engine_file(onnx_model, output, fp16)
    else:
        options = TrtBuildOptions(fp16, workspace_gb, min_batch, opt_batch, max_batch, timing_cache)
        report = build_engine(onnx_model, output, options)
    click.echo(report.summary())
