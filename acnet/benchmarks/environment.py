"""Where a benchmark ran: CPU, GPU, driver, CUDA and library versions.

Every item is probed without failing: what is absent is recorded with the
reason (``{"value": None, "reason": "..."}``), so a report from a CPU-only
machine still says plainly that there was no GPU and no TensorRT.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import acnet
from acnet.errors import first_line

#: SIMD extensions that matter for FP32 throughput, widest first:
#: (cpuinfo flag, name, FP32 lanes per FMA instruction).
SIMD_LEVELS = (("avx512f", "AVX-512", 16), ("avx2", "AVX2", 8), ("avx", "AVX", 8), ("sse2", "SSE2", 4),
               ("asimd", "NEON", 4))
#: Flags worth recording for inference performance.
INTERESTING_FLAGS = ("fma", "avx", "avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
                     "avx512_fp16", "amx_bf16", "amx_int8", "amx_tile", "f16c", "neon", "asimd", "asimddp",
                     "asimdhp", "sve")
#: Flags that decide which int8 and bf16 kernels oneDNN (ONNX Runtime, OpenVINO) runs: recorded present or absent.
KERNEL_FLAGS = ("avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
#: Precisions a benchmark row can have, each with its own peak (see :meth:`CpuInfo.peaks`).
PEAK_PRECISIONS = ("fp32", "bf16", "fp16", "int8")


@dataclass(frozen=True)
class Item:
    """One probed fact: a value, or ``None`` with the reason it is missing."""

    value: str | None
    reason: str | None = None
    details: dict = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict:
        return {"value": self.value, "reason": self.reason, **self.details}


def missing(reason: str, **details) -> Item:
    return Item(None, reason, details)


@dataclass(frozen=True)
class CpuInfo:
    """The host CPU as /proc/cpuinfo describes it."""

    model: str
    logical_cpus: int
    usable_cpus: int
    flags: tuple[str, ...]
    nominal_mhz: float | None
    max_mhz: float | None
    #: vendor, family, model and stepping, e.g. "AuthenticAMD family 26 model 2 stepping 1".
    signature: str = ""

    @property
    def simd(self) -> tuple[str, int]:
        """Widest FP32 SIMD extension and its lanes, e.g. ``("AVX-512", 16)``."""
        for flag, name, lanes in SIMD_LEVELS:
            if flag in self.flags:
                return name, lanes
        return "scalar", 1

    def peak_gflops(self, clock_ghz: float | None = None, fma_units: int = 2, cores: int | None = None) -> "PeakEstimate | None":
        """FP32 peak: cores x clock x FMA units x lanes x 2 FLOPs per FMA.

        ``clock_ghz`` defaults to the highest clock the OS reports; in a VM
        that is often the nominal TSC clock, below the real boost clock, so
        pass the measured clock where known. ``fma_units`` (FMA pipes per
        core at full SIMD width) is not in /proc/cpuinfo: 2 for Zen 5 and
        Xeon Gold/Platinum, 1 for Zen 4's AVX-512 (double-pumped 256-bit).
        """
        clock = clock_ghz or ((self.max_mhz or self.nominal_mhz or 0.0) / 1000.0)
        if clock <= 0:
            return None
        cores = cores or self.usable_cpus
        name, lanes = self.simd
        gflops = cores * clock * fma_units * lanes * 2
        formula = (
            f"{cores} cores x {clock:.2f} GHz x {fma_units} FMA units x {lanes} FP32 lanes ({name})"
            f" x 2 FLOPs per FMA = {gflops:.0f} GFLOP/s"
        )
        return PeakEstimate(gflops, formula, clock, cores, fma_units, lanes)

    def peaks(self, clock_ghz: float | None = None, fma_units: int = 2, cores: int | None = None) -> dict:
        """The peak each precision's arithmetic can reach: ``{precision: PeakEstimate or None}``.

        - fp32: :meth:`peak_gflops`.
        - int8: VNNI's ``vpdpbusd`` (AVX-512 or AVX-VNNI) and arm64's ``sdot`` do
          4 int8 multiply-adds per 32-bit lane per instruction, so 4x the FP32
          lanes, on the same pipes as the FMAs; None without them.
        - bf16: AVX512-BF16's ``vdpbf16ps`` does 2 bf16 multiply-adds per 32-bit
          lane (2x FP32); without it bf16 is computed in FP32 and the FP32 peak applies.
        - fp16: AVX512-FP16 (32 half lanes per 512-bit FMA) and arm64's FP16
          arithmetic double the FP32 lanes; without them an FP16 model is
          computed in FP32 and the FP32 peak applies.

        AMX tiles (``amx_int8``/``amx_bf16``), which oneDNN and ONNX Runtime use
        where present, are far faster than these vector peaks; a note says so.
        """
        fp32 = self.peak_gflops(clock_ghz, fma_units, cores)
        if fp32 is None:
            return {p: None for p in PEAK_PRECISIONS}
        flags = set(self.flags)
        name, lanes = self.simd

        def vector(precision: str, lanes32: int, per_lane: int, what: str, unit: str = "GFLOP/s",
                   note: str = "") -> PeakEstimate:
            ops = fp32.cores * fp32.clock_ghz * fp32.fma_units * lanes32 * per_lane * 2
            formula = (f"{fp32.cores} cores x {fp32.clock_ghz:.2f} GHz x {fp32.fma_units} units x {lanes32} 32-bit "
                       f"lanes x {what} x 2 ops per multiply-add = {ops:.0f} {unit}")
            return PeakEstimate(ops, formula, fp32.clock_ghz, fp32.cores, fp32.fma_units, lanes32, precision, unit, note)

        out: dict = {"fp32": fp32}
        amx = "AMX tiles ({}), which oneDNN and ONNX Runtime use where present, are far faster: no bound for them"
        if "avx512_vnni" in flags and lanes == 16:
            out["int8"] = vector("int8", 16, 4, "4 int8 multiply-adds per lane (AVX-512 VNNI vpdpbusd)", "GOP/s")
        elif "avx_vnni" in flags and lanes >= 8:
            out["int8"] = vector("int8", 8, 4, "4 int8 multiply-adds per lane (AVX-VNNI vpdpbusd, 256-bit)", "GOP/s")
        elif "asimddp" in flags and name == "NEON":
            out["int8"] = vector("int8", 4, 4, "4 int8 multiply-adds per lane (NEON sdot)", "GOP/s")
        else:
            out["int8"] = None  # no int8 dot-product instruction: no single rate to quote
        if out["int8"] is not None and "amx_int8" in flags:
            out["int8"] = dataclasses.replace(out["int8"], note=amx.format("amx_int8"))
        if "avx512_bf16" in flags and lanes == 16:
            out["bf16"] = vector("bf16", 16, 2, "2 bf16 multiply-adds per lane (AVX512-BF16 vdpbf16ps)",
                                 note=amx.format("amx_bf16") if "amx_bf16" in flags else "")
        else:
            out["bf16"] = fp32.relabel("bf16", "no BF16 dot-product instructions: bf16 is computed in FP32, FP32 peak")
        if "avx512_fp16" in flags and lanes == 16:
            out["fp16"] = vector("fp16", 16, 2, "2 FP16 lanes per 32-bit lane (AVX512-FP16)")
        elif "asimdhp" in flags and name == "NEON":
            out["fp16"] = vector("fp16", 4, 2, "2 FP16 lanes per 32-bit lane (NEON FP16)")
        else:
            out["fp16"] = fp32.relabel("fp16", "no FP16 arithmetic: an FP16 model is computed in FP32, FP32 peak")
        return out

    def to_dict(self) -> dict:
        name, lanes = self.simd
        return {
            "model": self.model,
            "signature": self.signature,
            "logical_cpus": self.logical_cpus,
            "usable_cpus": self.usable_cpus,
            "simd": name,
            "fp32_lanes": lanes,
            "flags": [f for f in INTERESTING_FLAGS if f in self.flags],
            "kernel_flags": {f: f in self.flags for f in KERNEL_FLAGS},
            "nominal_mhz": self.nominal_mhz,
            "max_mhz": self.max_mhz,
        }


@dataclass(frozen=True)
class PeakEstimate:
    """A theoretical peak: ``gflops`` giga-operations per second (``unit``), and how it was computed."""

    gflops: float
    formula: str
    clock_ghz: float
    cores: int
    fma_units: int
    lanes: int
    precision: str = "fp32"
    unit: str = "GFLOP/s"
    note: str = ""

    def relabel(self, precision: str, note: str) -> "PeakEstimate":
        """The same peak, used for another precision (which runs at this one's rate)."""
        return dataclasses.replace(self, precision=precision, note=note)

    def to_dict(self) -> dict:
        return {"gflops": self.gflops, "formula": self.formula, "clock_ghz": self.clock_ghz, "cores": self.cores,
                "fma_units": self.fma_units, "fp32_lanes": self.lanes, "precision": self.precision,
                "unit": self.unit, "note": self.note}


def cpu_info(cpuinfo_text: str | None = None) -> CpuInfo:
    """Parse /proc/cpuinfo (or the given text); falls back to ``platform`` elsewhere."""
    if cpuinfo_text is None:
        try:
            cpuinfo_text = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo_text = ""
    fields: dict[str, str] = {}
    for line in cpuinfo_text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    model = fields.get("model name") or fields.get("Model") or platform.processor() or platform.machine()
    flags = tuple((fields.get("flags") or fields.get("Features") or "").split())
    nominal = _float(fields.get("cpu MHz"))
    max_mhz = None
    try:
        max_mhz = int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()) / 1000.0
    except (OSError, ValueError):
        pass
    logical = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = logical
    signature = " ".join(
        f"{label}{fields[key]}" for key, label in
        (("vendor_id", ""), ("cpu family", "family "), ("model", "model "), ("stepping", "stepping ")) if key in fields
    )
    return CpuInfo(model, logical, usable, flags, nominal, max_mhz, signature)


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def package_version(name: str, module: str | None = None, import_check: bool = False) -> Item:
    """Installed version of a distribution; optionally check that it imports."""
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return missing("not installed")
    if import_check:
        try:
            importlib.import_module(module or name)
        except Exception as exc:  # a broken native library raises anything
            return missing(f"installed ({version}) but fails to import: {first_line(exc)}")
    return Item(version)


def _tensorrt_item() -> Item:
    # The wheel may be named tensorrt, tensorrt-cu12 or tensorrt-cu13.
    for dist in ("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt_lean"):
        item = package_version(dist, module="tensorrt", import_check=True)
        if item.available or item.reason != "not installed":
            return item
    return missing("not installed (pip install 'acnet[tensorrt-cu12]' or 'acnet[tensorrt-cu13]' on a machine with an NVIDIA GPU)")


def _onnxruntime_item() -> Item:
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        item = package_version(dist)
        if item.available:
            try:
                import onnxruntime as ort  # probed, not needed: the report says what is installed

                return Item(ort.__version__, details={"distribution": dist, "providers": ort.get_available_providers()})
            except Exception as exc:
                return missing(f"installed but fails to import: {exc}")
    return missing("not installed")


def _torch_items() -> tuple[Item, Item, Item]:
    """(torch, cuda, gpu) as torch sees them."""
    try:
        import torch  # probed, not needed: the report says what is installed
    except Exception as exc:
        reason = "torch not installed" if isinstance(exc, ImportError) else f"torch fails to import: {exc}"
        return missing(reason), missing(reason), missing(reason)
    torch_item = Item(torch.__version__, details={"threads": torch.get_num_threads()})
    build_cuda = torch.version.cuda
    if not torch.cuda.is_available():
        why = "no CUDA device visible to torch" if build_cuda else "torch was built without CUDA"
        return torch_item, missing(why, torch_build_cuda=build_cuda), missing(why)
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    index = torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    gpu = Item(
        props.name,
        details={
            "index": index,
            "count": torch.cuda.device_count(),
            "compute_capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1),
            "multiprocessors": props.multi_processor_count,
        },
    )
    return torch_item, Item(build_cuda, details={"source": "torch build", "cudnn": cudnn}), gpu


def _nvidia_smi() -> tuple[Item, dict]:
    """Driver version and what nvidia-smi says about GPU 0."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return missing("nvidia-smi not found (no NVIDIA driver)"), {}
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,driver_version,memory.total,compute_cap", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout.strip().splitlines()
        banner = subprocess.run([exe], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return missing(f"nvidia-smi failed: {exc}"), {}
    if not out:
        return missing("nvidia-smi lists no GPU"), {}
    parts = [p.strip() for p in out[0].split(",")]
    info = dict(zip(("name", "driver", "memory", "compute_cap"), parts))
    match = re.search(r"CUDA Version:\s*([\d.]+)", banner)
    if match:
        info["driver_cuda"] = match.group(1)
    return Item(info.get("driver"), details={"driver_cuda": info.get("driver_cuda")}), info


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def collect_environment(load_at_start: list[float] | None = None) -> dict:
    """The environment record every benchmark and parity report carries.

    ``load_at_start`` is :func:`load_average` taken when the measurement
    began; with the load at the end it shows whether other work shared the
    CPU (timings are unreliable when the load exceeds the usable CPUs).
    """
    cpu = cpu_info()
    torch_item, cuda_item, gpu_item = _torch_items()
    driver_item, smi = _nvidia_smi()
    if not gpu_item.available and smi.get("name"):
        gpu_item = Item(smi["name"], details={"compute_capability": smi.get("compute_cap"), "memory": smi.get("memory"),
                                              "note": f"seen by nvidia-smi; torch: {gpu_item.reason}"})
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "cpu": cpu.to_dict(),
        "gpu": gpu_item.to_dict(),
        "driver": driver_item.to_dict(),
        "cuda": cuda_item.to_dict(),
        "packages": {
            "acnet": Item(acnet.__version__).to_dict(),
            "numpy": Item(np.__version__).to_dict(),
            "torch": torch_item.to_dict(),
            "onnxruntime": _onnxruntime_item().to_dict(),
            "onnx": package_version("onnx").to_dict(),
            "tensorrt": _tensorrt_item().to_dict(),
            # From the installed metadata, not imported (NNCF's import is slow and starts its telemetry).
            "openvino": package_version("openvino").to_dict(),
            "nncf": package_version("nncf").to_dict(),
        },
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if os.environ.get(k)},
        "load_average": {"start": load_at_start, "end": load_average()},
    }


def environment_lines(env: dict, timings: bool = True) -> list[str]:
    """A few human lines for the head of a table; ``timings``: warn when load made them unreliable."""
    cpu = env["cpu"]

    def show(item: dict) -> str:
        return str(item["value"]) if item.get("value") is not None else f"none ({item.get('reason')})"

    pk = env["packages"]
    load = env.get("load_average") or {}
    start, end = load.get("start"), load.get("end")
    load_line = []
    if start or end:
        busy = timings and max(v[0] for v in (start, end) if v) > cpu["usable_cpus"]
        load_line = [f"load average (1 min) at start {start[0] if start else '?'}, at end {end[0] if end else '?'}"
                     + (" -- ABOVE the CPU count: other work shared the CPUs (timings unreliable)" if busy else "")]
    return [
        f"CPU: {cpu['model']} ({cpu['usable_cpus']} usable of {cpu['logical_cpus']} logical CPUs, {cpu['simd']})",
        f"GPU: {show(env['gpu'])}; driver: {show(env['driver'])}; CUDA: {show(env['cuda'])}",
        "versions: " + ", ".join(f"{name} {show(pk[name])}" for name in ("acnet", "torch", "onnxruntime", "tensorrt", "openvino")
                                 if name in pk),
    ] + load_line
