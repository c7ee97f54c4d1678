"""``acnet bench``: latency and throughput of each backend on the same frames.

:func:`run_bench` resolves the artefacts (a checkpoint for PyTorch, an ONNX
model for ONNX Runtime, an engine for TensorRT; it exports the ONNX model
itself when only a checkpoint is given), builds one timer per backend, and
measures every batch size with the same input. A backend that cannot run here
(no CUDA, no TensorRT, no torch, a fixed-batch model) is reported as skipped
with its reason; the run goes on. When a device or backends were asked for
and every backend is skipped, there is no report to give: that is bad input,
one line with the reasons. An ONNX model, engine or package of another
network than the checkpoint is refused (parity's check), since its speed-up
would compare two different networks.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from acnet.benchmarks.artefacts import (Artefacts, TorchModel, cached_engine, cached_onnx_export, check_precision,
                                        check_same_network, default_cache_dir, load_torch_model, resolve_artefacts,
                                        resolve_packages, utc_now)
from acnet.benchmarks.backends import BENCH_BACKENDS, TORCH_BACKENDS, Opening, backend_for_precision, open_timer
from acnet.benchmarks import clock, peak
from acnet.benchmarks.environment import collect_environment, cpu_info, load_average
from acnet.benchmarks.report import bench_summary, bench_table
from acnet.benchmarks.stats import Stats, summarize, throughput
from acnet.benchmarks.timing import FIGURES, Samples, Skip, Timer, make_frames, measure_all
from acnet.errors import AcnetError, ConfigError, InputError, first_line
from acnet.export.aoti import read_package_info
from acnet.export.verify import synthetic_frame
from acnet.runtime.preprocess import PreprocessConfig
from acnet.training.config import check_input_size
from acnet.training.device import resolve_device

log = logging.getLogger(__name__)

SCHEMA = "acnet.bench"
SCHEMA_VERSION = 1

#: Every backend name (acnet.benchmarks.backends.BENCH_BACKENDS says what each runs).
BACKENDS = tuple(BENCH_BACKENDS)
#: What runs when no --backend is given.
DEFAULT_BACKENDS = {
    "cpu": ("torch", "onnxruntime"),
    "cuda": ("torch", "torch-fp16", "torch-fp16-compile", "onnxruntime", "tensorrt"),
}
#: The backend every speed-up is quoted against.
BASELINE = "torch"



@dataclass(frozen=True)
class BenchConfig:
    """What to measure. ``model`` is a checkpoint, an ``.onnx`` model or an engine."""

    model: Path
    #: Further artefacts of the same network (a checkpoint enables the torch backends).
    checkpoint: Path | None = None
    onnx: Path | None = None
    engine: Path | None = None
    #: AOTInductor package for the aoti / aoti-fp16 backend of its precision.
    aoti: Path | None = None
    #: An INT8 ONNX model of the same network, for the ``onnxruntime-int8`` backend.
    int8_onnx: Path | None = None
    #: A camera-native ONNX model (``--io camera``) of the same network, for ``onnxruntime-camera``.
    camera_onnx: Path | None = None
    #: Backend names (see ``BACKENDS``); empty: the defaults for the device.
    backends: tuple[str, ...] = ()
    batches: tuple[int, ...] = (1,)
    #: Input size; default: the model's.
    height: int | None = None
    width: int | None = None
    warmup: int = 3
    iters: int = 20
    #: Keep timing until at least this many seconds passed (after ``iters``), like trtexec --duration.
    duration_s: float = 0.0
    #: "cpu", "cuda", "cuda:N" or "auto" (CUDA when torch sees a GPU).
    device: str = "auto"
    #: CPU threads for torch and ONNX Runtime; None: their defaults.
    threads: int | None = None
    #: Where an ONNX model exported for the benchmark is kept between runs.
    cache_dir: Path | None = None
    seed: int = 0
    #: For the distance from the CPU's peak; None: measured (acnet.benchmarks.clock), else the clock the OS reports.
    cpu_clock_ghz: float | None = None
    fma_units: int = 2
    #: Show progress bars.
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", Path(self.model))
        for name in ("checkpoint", "onnx", "engine", "aoti", "int8_onnx", "camera_onnx", "cache_dir"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))
        object.__setattr__(self, "backends", tuple(self.backends))
        object.__setattr__(self, "batches", tuple(int(b) for b in self.batches))
        unknown = [b for b in self.backends if b not in BACKENDS]
        if unknown:
            raise ConfigError(f"unknown backend {unknown[0]!r}; choose from {', '.join(BACKENDS)}")
        if not self.batches or any(b < 1 for b in self.batches):
            raise ConfigError(f"batch sizes must be positive integers, got {self.batches}")
        if self.warmup < 1:
            raise ConfigError("--warmup must be at least 1: the first call is never timed")
        if self.iters < 1:
            raise ConfigError("--iters must be at least 1")
        if self.cpu_clock_ghz is not None and not 0.1 <= self.cpu_clock_ghz <= 10.0:
            raise ConfigError(f"--cpu-clock-ghz must be a clock in GHz (0.1 to 10), got {self.cpu_clock_ghz}")
        if self.fma_units < 1:
            raise ConfigError(f"--fma-units must be at least 1, got {self.fma_units}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {self.threads}")
        if (self.height is None) != (self.width is None):
            raise ConfigError("give both --height and --width, or neither")
        if self.height is not None:
            check_input_size(self.height, self.width)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


@dataclass(frozen=True)
class BenchResult:
    """One backend at one batch size: measured, skipped or failed."""

    backend: str
    batch: int
    #: "ok", "skipped" (cannot run here) or "error" (ran and failed).
    status: str
    reason: str | None = None
    details: dict = field(default_factory=dict)
    compute_ms: Stats | None = None
    latency_ms: Stats | None = None
    end_to_end_ms: Stats | None = None
    throughput_ips: Stats | None = None
    #: The network timed inside each end-to-end call, and each call's remainder (see timing.FIGURES).
    network_ms: Stats | None = None
    overhead_ms: Stats | None = None
    warmup_s: float | None = None
    #: Raw timed samples (ms), for plots and your own statistics.
    samples_ms: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def overhead(self) -> float | None:
        """The runtime's own cost: median per-call overhead over the median network time in the same calls.

        Both come from the same end-to-end calls, so it is never negative
        (reports written before it was measured per call have none).
        """
        if not self.ok or self.overhead_ms is None or self.network_ms is None or self.network_ms.median <= 0:
            return None
        return self.overhead_ms.median / self.network_ms.median

    def to_dict(self) -> dict:
        d = {"backend": self.backend, "batch": self.batch, "status": self.status, "reason": self.reason,
             "details": self.details}
        for name in FIGURES:
            stats = getattr(self, name)
            d[name] = None if stats is None else stats.to_dict()
        d["overhead"] = self.overhead
        d["warmup_s"] = self.warmup_s
        d["samples_ms"] = self.samples_ms
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "BenchResult":
        stats = {name: None if d.get(name) is None else Stats.from_dict(d[name]) for name in FIGURES}
        return cls(backend=d["backend"], batch=int(d["batch"]), status=d["status"], reason=d.get("reason"),
                   details=dict(d.get("details") or {}), warmup_s=d.get("warmup_s"),
                   samples_ms=dict(d.get("samples_ms") or {}), **stats)


def result_from_samples(backend: str, batch: int, samples: Samples, details: dict) -> BenchResult:
    ms = 1000.0
    per_call = len(samples.network) == len(samples.end_to_end) > 0
    return BenchResult(
        backend=backend,
        batch=batch,
        status="ok",
        details=details,
        compute_ms=summarize(samples.compute).scaled(ms),
        latency_ms=summarize(samples.latency).scaled(ms),
        end_to_end_ms=summarize(samples.end_to_end).scaled(ms),
        throughput_ips=throughput(batch, samples.end_to_end),
        network_ms=summarize(samples.network).scaled(ms) if per_call else None,
        overhead_ms=summarize(samples.overhead).scaled(ms) if per_call else None,
        warmup_s=samples.warmup_s,
        samples_ms={
            "compute_ms": [s * ms for s in samples.compute],
            "latency_ms": [s * ms for s in samples.latency],
            "end_to_end_ms": [s * ms for s in samples.end_to_end],
            "network_ms": [s * ms for s in samples.network],
            "overhead_ms": [s * ms for s in samples.overhead],
            "settle_ms": [s * ms for s in samples.settle_s],
        },
    )


@dataclass(frozen=True)
class BenchReport:
    """Everything one ``acnet bench`` run measured, and where."""

    config: dict
    model: dict
    environment: dict
    results: tuple[BenchResult, ...]
    created: str = ""
    #: GFLOPs of one frame at the measured size (None when unknown).
    gflops_per_frame: float | None = None
    #: The CPU's FP32 peak (environment.PeakEstimate.to_dict()), when known.
    cpu_peak: dict | None = None
    #: The peak of each precision ({"fp32"|"bf16"|"fp16"|"int8": PeakEstimate.to_dict() or None}).
    cpu_peaks: dict | None = None
    #: The clock the peaks use: {"ghz", "source": "measured" | "given" | "reported by the OS", ...}.
    cpu_clock: dict | None = None

    def result(self, backend: str, batch: int) -> BenchResult | None:
        return next((r for r in self.results if r.backend == backend and r.batch == batch), None)

    def speedups(self) -> list[dict]:
        """Each measured backend against the baseline at the same batch (ratios of medians)."""
        out = []
        for r in self.results:
            base = self.result(BASELINE, r.batch)
            if not r.ok or r.backend == BASELINE or base is None or not base.ok:
                continue
            out.append({
                "backend": r.backend,
                "batch": r.batch,
                "baseline": BASELINE,
                "compute": base.compute_ms.median / r.compute_ms.median,
                "latency": base.latency_ms.median / r.latency_ms.median,
                "end_to_end": base.end_to_end_ms.median / r.end_to_end_ms.median,
            })
        return out

    def peak_for(self, precision: str) -> dict | None:
        """The CPU peak a result of ``precision`` is measured against (None when unknown)."""
        if self.cpu_peaks is not None:
            return self.cpu_peaks.get(precision)
        return self.cpu_peak if precision == "fp32" else None  # a report from before per-precision peaks

    def efficiency(self) -> list[dict]:
        """Achieved operations per second of CPU results and their share of their precision's peak.

        Operations are the network's 2 x multiply-adds per frame whatever the
        precision; an FP32 row is compared with the FP32 peak, an INT8 row
        with the INT8 (VNNI) peak, bf16/fp16 rows with theirs (see
        ``environment.CpuInfo.peaks``; ``peak_precision`` says which).
        """
        if not self.gflops_per_frame:
            return []
        out = []
        for r in self.results:
            if not r.ok or str(r.details.get("device", "cpu")) != "cpu":
                continue
            precision = str(r.details.get("precision") or "fp32")
            peak = self.peak_for(precision)
            achieved = self.gflops_per_frame * r.batch / (r.compute_ms.median / 1000.0)
            top = peak["gflops"] if peak else None
            out.append({"backend": r.backend, "batch": r.batch, "precision": precision, "gflops_per_s": achieved,
                        "peak_precision": peak.get("precision", "fp32") if peak else None,
                        "peak_gflops_per_s": top, "fraction_of_peak": achieved / top if top else None})
        return out

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "created": self.created,
            "config": self.config,
            "model": self.model,
            "environment": self.environment,
            "figures": FIGURES,
            "gflops_per_frame": self.gflops_per_frame,
            "cpu_peak": self.cpu_peak,
            "cpu_peaks": self.cpu_peaks,
            "cpu_clock": self.cpu_clock,
            "results": [r.to_dict() for r in self.results],
            "speedups": self.speedups(),
            "efficiency": self.efficiency(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, d: dict) -> "BenchReport":
        if d.get("schema") != SCHEMA:
            raise InputError(f"not an acnet bench report (schema {d.get('schema')!r})")
        if int(d.get("schema_version", 0)) > SCHEMA_VERSION:
            raise InputError(f"bench report schema {d['schema_version']} is newer than this acnet; upgrade acnet")
        return cls(config=d["config"], model=d["model"], environment=d["environment"],
                   results=tuple(BenchResult.from_dict(r) for r in d["results"]), created=d.get("created", ""),
                   gflops_per_frame=d.get("gflops_per_frame"), cpu_peak=d.get("cpu_peak"),
                   cpu_peaks=d.get("cpu_peaks"), cpu_clock=d.get("cpu_clock"))

    def table(self) -> str:
        return bench_table(self)

    def summary(self) -> str:
        return bench_summary(self)


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Plan:
    """What one run measures: the device, the backends, and what each one runs or why it cannot."""

    device: str
    backends: tuple[str, ...]
    artefacts: Artefacts
    cache_dir: Path
    #: Per backend: its artefact (a path, or the loaded network for torch), or the Skip saying why there is none.
    sources: dict
    #: The checkpoint's network, which every other artefact must be (None without a checkpoint).
    torch_model: TorchModel | None
    height: int | None
    width: int | None
    #: An ONNX model exported from the checkpoint for this run.
    exported_onnx: Path | None

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")


def make_plan(config: BenchConfig) -> Plan:
    """Pick the backends and make every artefact they need (from the caches where they are)."""
    device = str(resolve_device(config.device, check=False))
    cuda = device.startswith("cuda")
    art = resolve_artefacts(config)
    backends = config.backends or _default_backends(art, cuda)
    height, width = config.height, config.width
    cache_dir = config.cache_dir or default_cache_dir()

    torch_model = None
    checkpoint: object = Skip("no torch backend asked for")
    if any(b in TORCH_BACKENDS for b in backends) or art.checkpoint is not None:
        try:
            checkpoint = torch_model = load_torch_model(art, height, width)
            height, width = torch_model.info.input_height, torch_model.info.input_width
        except Skip as exc:
            checkpoint = exc

    onnx, exported = art.onnx, None
    builds_engine = "tensorrt" in backends and art.engine is None and cuda
    if onnx is None and (builds_engine or any(BENCH_BACKENDS[b].artefact == "onnx" for b in backends)):
        if torch_model is not None:
            onnx = exported = cached_onnx_export(art.checkpoint, height, width, cache_dir)
        else:
            onnx = Skip("no ONNX model: give one (--onnx M.onnx) or a checkpoint to export it from")

    engine = art.engine
    if engine is None and "tensorrt" in backends:
        if not cuda:
            engine = Skip("TensorRT engines run on a CUDA device (--device cuda)")
        elif isinstance(onnx, Skip):
            engine = Skip(f"no engine given (--engine M.engine) and none can be built: {onnx}")
        else:
            try:
                engine = cached_engine(onnx, config.batches, cache_dir, device)
            except AcnetError as exc:
                engine = Skip(str(exc))

    files = {
        "checkpoint": checkpoint,
        "onnx": onnx,
        "int8_onnx": art.int8_onnx or Skip("no INT8 model: give one with --int8-onnx M.onnx (acnet export onnx --int8)"),
        "camera_onnx": art.camera_onnx or Skip("no camera-native model: give one with --camera-onnx M.onnx "
                                               "(acnet export onnx --io camera)"),
        "engine": engine,
    }
    packages = resolve_packages(backends, art.aoti, art.checkpoint if torch_model is not None else None,
                                height, width, device, cache_dir)
    sources = {name: packages[name] if name in packages else files[BENCH_BACKENDS[name].artefact] for name in backends}
    return Plan(device, tuple(backends), art, cache_dir, sources, torch_model, height, width, exported)


def _default_backends(art: Artefacts, cuda: bool) -> tuple[str, ...]:
    """The device's defaults, and a row for each artefact given that they leave out."""
    backends = DEFAULT_BACKENDS["cuda" if cuda else "cpu"]
    if art.engine is not None and "tensorrt" not in backends:
        backends = (*backends, "tensorrt")  # an engine was given: measure it, or say why not
    if art.aoti is not None:
        backends = (*backends, backend_for_precision(read_package_info(art.aoti).precision))  # likewise a package
    if art.int8_onnx is not None:
        backends = (*backends, "onnxruntime-int8")
    if art.camera_onnx is not None:
        backends = (*backends, "onnxruntime-camera")
    return backends


# --------------------------------------------------------------------------- open


@dataclass
class Opened:
    """The timers of one run, all open at once so that batches are measured round-robin."""

    #: (name, timer, its details) in the plan's order.
    timers: list = field(default_factory=list)
    #: Rows of the backends that could not start.
    results: list = field(default_factory=list)
    #: The network's ModelInfo and the size every backend gets.
    info: object = None
    height: int | None = None
    width: int | None = None

    def close(self) -> None:
        for _, timer, _ in self.timers:
            timer.close()


def open_timers(plan: Plan, config: BenchConfig) -> Opened:
    """Open every backend the plan can run; the others get a skipped (or error) row with the reason."""
    checkpoint = plan.torch_model
    opened = Opened(info=checkpoint.info if checkpoint else None, height=plan.height, width=plan.width)
    try:
        for name in plan.backends:
            source = plan.sources[name]
            size = None if opened.height is None else (opened.height, opened.width)
            try:
                if isinstance(source, Skip):
                    raise source
                timer = open_timer(name, source, Opening(plan.device, config.threads, max(config.batches), size))
            except Skip as exc:
                opened.results += _rows(name, config.batches, str(exc))
                continue
            except AcnetError:
                raise  # bad input (a foreign model, a size it cannot take): exit 2, not a backend failure
            except Exception as exc:  # noqa: BLE001 - one broken backend must not end the run
                log.debug("%s could not start", name, exc_info=True)
                opened.results += _rows(name, config.batches, reason(exc), status="error")
                continue
            opened.timers.append((name, timer, timer.details()))
            if BENCH_BACKENDS[name].artefact == "int8_onnx":
                check_precision(source, timer.info, "--int8-onnx")  # an FP32 model timed as INT8 would mislead
            if checkpoint is not None and isinstance(source, Path):
                check_same_network(source, timer.info, checkpoint.info)  # else its speed-up means nothing
            if opened.info is None:
                opened.info = timer.info
                opened.height = opened.height or timer.info.input_height
                opened.width = opened.width or timer.info.input_width
    except BaseException:
        opened.close()
        raise
    return opened


def _rows(backend: str, batches, reason: str, status: str = "skipped") -> list[BenchResult]:
    return [BenchResult(backend, b, status, reason) for b in batches]


# --------------------------------------------------------------------------- measure


def measure(opened: Opened, config: BenchConfig) -> list[BenchResult]:
    """Every open timer at every batch size, on the same frames, round-robin (timing.measure_all)."""
    if not opened.timers:
        return []
    results = []
    total = len(opened.timers) * len(config.batches) * config.iters
    with tqdm(total=total, desc="bench", unit="call", disable=None if config.progress else True, leave=False) as bar:
        for batch in config.batches:
            bar.set_description(f"batch {batch}")
            frames = _frames(opened.info, opened.height, opened.width, batch, config.seed)
            ready: list[tuple[str, Timer, dict]] = []
            for name, timer, details in opened.timers:
                try:
                    timer.prepare(frames)
                    ready.append((name, timer, details))
                except Skip as exc:
                    results.append(BenchResult(name, batch, "skipped", str(exc), details))
                except Exception as exc:  # noqa: BLE001
                    log.debug("%s batch %d failed", name, batch, exc_info=True)
                    results.append(BenchResult(name, batch, "error", reason(exc), details))
            measured = measure_all([t for _, t, _ in ready], frames, config.warmup, config.iters,
                                   config.duration_s, bar) if ready else {}
            for name, _, details in ready:
                outcome = measured[name]
                if isinstance(outcome, Samples):
                    results.append(result_from_samples(name, batch, outcome, details))
                else:
                    status = "skipped" if isinstance(outcome, Skip) else "error"
                    results.append(BenchResult(name, batch, status, reason(outcome), details))
    return results


def _frames(info, height: int, width: int, count: int, seed: int):
    """``count`` synthetic raw frames at ``height`` x ``width``, preprocessed once for every backend."""
    raw = [synthetic_frame(height, width, seed + i) for i in range(count)]
    return make_frames([r for r, _ in raw], [d for _, d in raw], PreprocessConfig(height, width, info.normalization))


# --------------------------------------------------------------------------- report


def make_report(config: BenchConfig, plan: Plan, opened: Opened, results: list[BenchResult],
                load_at_start: dict) -> BenchReport:
    """The report: rows in the order asked for, the CPU's clock and peaks, the model and the environment."""
    order = {name: i for i, name in enumerate(plan.backends)}
    results = sorted(results, key=lambda r: (order.get(r.backend, len(order)), r.batch))
    if (config.backends or config.device != "auto") and all(r.status == "skipped" for r in results):
        raise _nothing_measured(plan.device, results)  # what was asked for explicitly cannot run here
    core_clock = None if plan.cuda else cpu_clock(config, plan.cache_dir)
    peaks = None if plan.cuda else cpu_peaks(config, core_clock, plan.cache_dir)
    info, height, width = opened.info, opened.height, opened.width
    model = {
        **plan.artefacts.description,
        "exported_onnx": str(plan.exported_onnx) if plan.exported_onnx else None,
        "height": height,
        "width": width,
        "description": _describe(info, height, width),
        "info": info.to_dict() if info is not None else None,
    }
    return BenchReport(
        config={**config.to_dict(), "device": plan.device, "backends": list(plan.backends)},
        model=model,
        environment=collect_environment(load_at_start),
        results=tuple(results),
        created=utc_now(),
        gflops_per_frame=plan.torch_model.gflops if plan.torch_model else None,
        cpu_peak=peaks["fp32"].to_dict() if peaks and peaks["fp32"] else None,
        cpu_peaks={k: v.to_dict() if v else None for k, v in peaks.items()} if peaks else None,
        cpu_clock=core_clock,
    )


def cpu_peaks(config: BenchConfig, core_clock: dict, cache_dir: Path) -> dict:
    """The peak of each precision: measured by the loops of :mod:`acnet.benchmarks.peak` (FMA, VNNI, AVX512-BF16)
    where the CPU has them and the clock was measured too; the formula (cores x clock x pipes x lanes) for the
    rest, and wherever --cpu-clock-ghz was given."""
    info = cpu_info()
    formula = info.peaks(core_clock["ghz"], config.fma_units)
    if core_clock.get("source") != "measured" or formula.get("fp32") is None:
        return formula
    return peak.with_measured(formula, peak.measure_peaks(info.flags, cache_dir))


def cpu_clock(config: BenchConfig, cache_dir: Path) -> dict:
    """The core clock for the CPU peaks: given, measured, or (failing both) the OS's, said to be a lower bound."""
    info = cpu_info()
    reported = (info.max_mhz or info.nominal_mhz or 0.0) / 1000.0 or None
    if config.cpu_clock_ghz is not None:
        return {"ghz": config.cpu_clock_ghz, "source": "given (--cpu-clock-ghz)", "os_reported_ghz": reported}
    try:
        measured = clock.measure_clock(cache_dir)
    except clock.ClockUnavailable as exc:
        log.info("clock not measured: %s", exc)
        return {"ghz": reported, "source": "reported by the OS", "os_reported_ghz": reported,
                "note": f"not measured ({exc}); the OS often reports the base clock, so the peak is a lower bound "
                        "and the share of peak an upper bound"}
    return {"ghz": measured.ghz, "source": "measured", "os_reported_ghz": reported, "measurement": measured.to_dict()}


def reason(exc: BaseException) -> str:
    """One line: the message of an acnet error, else the exception's type and first line."""
    text = first_line(exc, "")
    return text if isinstance(exc, (AcnetError, Skip)) else f"{type(exc).__name__}: {text}".rstrip(": ")


def _nothing_measured(device: str, results: list[BenchResult]) -> ConfigError:
    """One line with every backend's reason for being skipped (backends with the same reason together)."""
    reasons: dict[str, list[str]] = {}
    for r in results:
        names = reasons.setdefault(r.reason or "skipped", [])
        if r.backend not in names:
            names.append(r.backend)
    return ConfigError(f"nothing to measure on {device}: "
                       + "; ".join(f"{', '.join(names)}: {reason}" for reason, names in reasons.items()))


def _describe(info, height, width) -> str:
    if info is None:
        return "model could not be opened"
    return f"ACNet {info.backbone}, {info.num_classes} classes, {height}x{width}"


# --------------------------------------------------------------------------- the run


def run_bench(config: BenchConfig) -> BenchReport:
    """Measure every requested backend at every batch size; see the module docstring."""
    load_at_start = load_average()
    plan = make_plan(config)
    opened = open_timers(plan, config)
    try:
        results = opened.results + measure(opened, config)
    finally:
        opened.close()
    return make_report(config, plan, opened, results, load_at_start)


__all__ = ["BenchConfig", "BenchReport", "BenchResult", "run_bench", "BACKENDS", "DEFAULT_BACKENDS"]
