#!/usr/bin/env python3
"""The GPU run: every CUDA path of acnet measured in one call (see README.md beside this file).

    benchmarks/gpu/run.sh [options]                        # on the GPU machine: install, then `run`
    python3 benchmarks/gpu/gpu_run.py run --device cpu ... # the dry run (tests/test_gpu_run.py)
    python3 benchmarks/gpu/gpu_run.py report A.json [B.json] --json C.json --markdown C.md

``run`` does the issue's steps in an order that fits the time: first the
environment and the two ceilings and a trained-looking checkpoint; then, side
by side because none of them is timed, the CUDA tests, the AOTInductor export,
the C library build and a torch.compile pass that fills Inductor's caches;
then, one at a time and alone on the machine, everything that is timed (bench,
training throughput, the C example, parity, the compiled bench). Each step has
a time budget and runs in its own process: one that fails or runs out of time
is recorded and the run goes on. Results land under ``--out`` as at most four
files (the device machine returns eight at most): gpu-run.json (everything),
gpu-run.md, gpu-run.log and bench.png. A short table is printed last.

Only the standard library is imported at the top, so ``check-imports`` runs
before acnet is installed; the helpers (``env``, ``make-checkpoint``,
``capi-check``) import torch and acnet and run as subprocesses of ``run``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # helpers import acnet from this checkout even before it is installed
    sys.path.insert(0, str(REPO))

SCHEMA = "acnet.gpu-run"
SCHEMA_VERSION = 1
#: What the device machine sends back: at most 8 files (this run writes 4).
OUT_FILES = ("gpu-run.json", "gpu-run.md", "gpu-run.log", "bench.png")
#: Default folder of the real frames inside the checkout (ignored by git; carried to the device).
DEFAULT_FRAMES = REPO / ".gpu-frames" / "nyuv2-samples"

#: Python packages the run needs (import name, distribution) and what for.
REQUIRED = (
    ("numpy", "numpy"), ("PIL", "pillow"), ("click", "click"), ("tqdm", "tqdm"), ("yaml", "pyyaml"),
    ("torch", "torch"), ("torchvision", "torchvision"), ("onnx", "onnx"), ("pytest", "pytest"),
    ("setuptools", "setuptools"),
)
OPTIONAL = (
    ("matplotlib", "matplotlib", "bench.png"), ("pytest_timeout", "pytest-timeout", "a per-test time limit"),
    ("onnxruntime", "onnxruntime", "acnet's runtime import"), ("h5py", "h5py", "nyuv2-mat datasets"),
)
TOOLS = (("cmake", "acnet capi build"), ("c++", "AOTInductor and the C library"), ("nvidia-smi", "driver and clocks"))

STEPS = ("env", "checkpoint", "tests", "export", "capi-build", "compile-warm", "bench", "train", "capi", "parity",
         "bench-compile")
#: Seconds each step may take at most (the whole run's budget cuts them further).
BUDGETS = {"env": 90, "checkpoint": 120, "tests": 240, "export": 300, "capi-build": 180, "compile-warm": 300,
           "bench": 180, "train": 150, "capi": 120, "parity": 120, "bench-compile": 200}
#: Steps that need others' artefacts (added to --only, or reused when already made in --work).
NEEDS = {"export": ("checkpoint",), "compile-warm": ("checkpoint",), "bench": ("checkpoint", "export"),
         "capi": ("checkpoint", "export", "capi-build"), "parity": ("checkpoint", "export"),
         "bench-compile": ("checkpoint",)}
PARALLEL = ("tests", "export", "capi-build", "compile-warm")
TIMED = ("bench", "train", "capi", "parity", "bench-compile")
#: Seconds kept back at the end for the report.
REPORT_RESERVE = 15
STATUS_OK = ("ok", "reused")


# =========================================================================== small helpers


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def csv(text: str) -> list[str]:
    return [t.strip() for t in str(text).split(",") if t.strip()]


def _setuptools_builds_wheels() -> bool:
    """setuptools 70.1 and newer build wheels (and editable installs) without the wheel package."""
    import importlib.metadata

    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return False
    parts = [int(p) for p in re.findall(r"\d+", version)[:2]] + [0]
    return tuple(parts[:2]) >= (70, 1)


def missing_imports(install: bool = False) -> tuple[list[str], list[str]]:
    """(required, optional) that are missing, each as 'distribution (import name)[: what for]'.

    ``install``: also what ``pip install --no-build-isolation -e .`` needs.
    """
    required = [f"{dist} (import {mod})" for mod, dist in REQUIRED if importlib.util.find_spec(mod) is None]
    if install and importlib.util.find_spec("wheel") is None and not _setuptools_builds_wheels():
        required.append("wheel (import wheel; setuptools older than 70.1 needs it for the editable install)")
    optional = [f"{dist} (import {mod}): {why}" for mod, dist, why in OPTIONAL if importlib.util.find_spec(mod) is None]
    optional += [f"{tool} on PATH: {why}" for tool, why in TOOLS if shutil.which(tool) is None]
    return required, optional


def cmd_check_imports(args) -> int:
    required, optional = missing_imports(args.install)
    for line in optional:
        print(f"gpu_run: warning: missing {line}", flush=True)
    if required:
        print(f"gpu_run: error: {sys.executable} cannot import {', '.join(required)}; the GPU run installs acnet "
              "with --no-deps and downloads nothing, so carry these as wheels (see benchmarks/gpu/README.md)",
              file=sys.stderr)
        return 2
    print(f"gpu_run: {sys.executable} has every package the run needs")
    return 0


def write_json(path: Path, data) -> None:
    """Atomically: a temporary file beside it, then rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def median(values):
    return statistics.median(values) if values else None


# =========================================================================== helpers run as subprocesses


def _sync(torch, device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_ms(torch, device, fn, warmup: int, iters: int) -> list[float]:
    """Milliseconds of each of ``iters`` calls after ``warmup``: CUDA events on a GPU, the host clock on CPU."""
    for _ in range(warmup):
        fn()
    _sync(torch, device)
    out = []
    for _ in range(iters):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            out.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            out.append(1000 * (time.perf_counter() - t0))
    return out


def measure_ceilings(device_name: str, matmul_n: int, copy_mib: int, warmup: int = 3, iters: int = 10) -> dict:
    """The two ceilings METHOD.md asks for, on random data, each result checked.

    A bf16 n x n x n matrix product (2 n^3 operations) and a device-to-device
    copy (bytes read plus bytes written). Outputs are poisoned with NaN first
    and checked afterwards: every element written, and right.
    """
    import torch

    device = torch.device(device_name)
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(matmul_n, matmul_n, device=device, dtype=torch.bfloat16, generator=gen)
    b = torch.randn(matmul_n, matmul_n, device=device, dtype=torch.bfloat16, generator=gen)
    c = torch.full((matmul_n, matmul_n), float("nan"), device=device, dtype=torch.bfloat16)
    ms = _time_ms(torch, device, lambda: torch.matmul(a, b, out=c), warmup, iters)
    rows = min(64, matmul_n)
    ref = a[:rows].double() @ b.double()
    rel = float((c[:rows].double() - ref).norm() / ref.norm())
    written = bool(torch.isfinite(c).all())
    matmul = {"n": matmul_n, "dtype": "bfloat16", "ms": ms, "median_ms": median(ms),
              "tflops": 2 * matmul_n**3 / (median(ms) / 1000) / 1e12, "relative_error_vs_float64": rel,
              "all_written": written, "passed": written and rel < 2e-2}

    count = copy_mib * 2**20 // 4
    src = torch.randn(count, device=device, generator=gen)
    dst = torch.full((count,), float("nan"), device=device)
    ms = _time_ms(torch, device, lambda: dst.copy_(src), warmup, iters)
    equal = bool(torch.equal(dst, src))
    nbytes = 2 * count * 4
    copy = {"mib": copy_mib, "bytes_moved": nbytes, "ms": ms, "median_ms": median(ms),
            "gb_per_s": nbytes / (median(ms) / 1000) / 1e9, "passed": equal}
    return {"device": str(device), "matmul_bf16": matmul, "copy": copy}


def nvidia_smi() -> dict:
    """The card as nvidia-smi reports it (clocks read, never set)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {"available": False, "reason": "nvidia-smi not found (no NVIDIA driver)"}
    fields = ("name", "driver_version", "memory.total", "clocks.sm", "clocks.mem", "clocks.max.sm", "clocks.max.mem",
              "power.draw", "power.limit", "temperature.gpu", "pstate", "compute_mode")
    out = {"available": True}
    try:
        q = subprocess.run([exe, f"--query-gpu={','.join(fields)}", "--format=csv,noheader"], capture_output=True,
                           text=True, timeout=30)
        values = [v.strip() for v in q.stdout.strip().splitlines()[0].split(",")] if q.stdout.strip() else []
        out["query"] = dict(zip(fields, values))
        banner = subprocess.run([exe], capture_output=True, text=True, timeout=30).stdout
        out["banner"] = banner
        match = re.search(r"CUDA Version:\s*([\d.]+)", banner)
        out["driver_cuda"] = match.group(1) if match else None
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        out["error"] = str(exc)
    return out


def cmd_env(args) -> int:
    """Environment, clocks and the two ceilings, as JSON on stdout's last line and in --json."""
    import torch

    from acnet.benchmarks.environment import collect_environment, load_average

    load = load_average()
    cuda = args.device.startswith("cuda")
    record = {"nvidia_smi_before": nvidia_smi(), "device": args.device}
    if cuda and not torch.cuda.is_available():
        record["error"] = f"--device {args.device}: no CUDA GPU visible to torch {torch.__version__} (use --device cpu for a dry run)"
    else:
        record["ceilings"] = measure_ceilings(args.device, args.matmul_n, args.copy_mib)
        record["nvidia_smi_after"] = nvidia_smi() if cuda else None
        if cuda:
            p = torch.cuda.get_device_properties(torch.device(args.device))
            record["gpu_properties"] = {"name": p.name, "multiprocessors": p.multi_processor_count,
                                        "memory_gib": round(p.total_memory / 2**30, 1),
                                        "compute_capability": f"{p.major}.{p.minor}",
                                        "l2_mib": round(getattr(p, "L2_cache_size", 0) / 2**20, 1)}
    record["environment"] = collect_environment(load)
    record["cpu_count"] = os.cpu_count()
    write_json(Path(args.json), record)
    print(json.dumps({k: v for k, v in record.items() if k in ("ceilings", "gpu_properties", "error")}, default=str))
    return 2 if "error" in record else 0


def _frames_dataset(frames: Path | None):
    """The folder dataset of real frames, or None when the folder is absent."""
    if frames is None or not (frames / "test").is_dir():
        return None
    from acnet.training.data.spec import open_dataset

    return open_dataset(f"folder:{frames}", "test")


def cmd_make_checkpoint(args) -> int:
    """A trained-looking checkpoint (tests/support/trained.py) with the frames' classes, at the run's input size."""
    sys.path.insert(0, str(REPO / "tests"))
    from support.trained import trained_looking_model  # the network every exactness test uses

    from acnet.runtime.preprocess import Normalization
    from acnet.training.checkpoint import make_record, save_checkpoint
    from acnet.training.config import ModelConfig
    from acnet.training.data.resources import class_names

    dataset = _frames_dataset(Path(args.frames) if args.frames else None)
    names = list(dataset.class_names) if dataset is not None else list(class_names("nyuv2_40"))
    norm = dataset.normalization if dataset is not None else Normalization()
    config = ModelConfig(args.backbone, len(names), width=args.width_mult)
    model = trained_looking_model(config, seed=args.seed)
    save_checkpoint(args.output, make_record(model, config, names, norm, (args.height, args.width)))
    print(json.dumps({"checkpoint": args.output, "backbone": args.backbone, "width": args.width_mult,
                      "classes": len(names), "input_size": [args.height, args.width],
                      "class_names_from": "frames" if dataset is not None else "NYUv2 40 (no frames)"}))
    return 0


def _c_frames(frames: Path | None, count: int, size: tuple[int, int]):
    """``count`` (name, rgb, depth) frames: the first and last real ones, or synthetic ones when there are none.

    Depth is uint16 millimetres, what the C example reads from a 16-bit PGM (datasets hand out
    float32 metres; the PNGs hold whole millimetres, so the round trip is exact).
    """
    import numpy as np

    dataset = _frames_dataset(frames)
    if dataset is not None and len(dataset):
        picks = sorted({0, len(dataset) - 1})[:count]
        millimetres = lambda metres: np.round(metres * 1000.0).astype(np.uint16)  # noqa: E731
        return [(dataset[i].name, dataset[i].rgb, millimetres(dataset[i].depth)) for i in picks], "real"
    from acnet.export.verify import synthetic_frame

    return [(f"synthetic{i}", *synthetic_frame(*size, seed=i)) for i in range(count)], "synthetic"


def cmd_capi_check(args) -> int:
    """The C example on frames with --repeat, its labels against the Python runtime's on the same package."""
    sys.path.insert(0, str(REPO / "tests"))
    from support.capi_artifacts import read_pgm8, write_pgm16, write_ppm  # the netpbm files the C tests use

    from acnet.benchmarks.backends import AotiBackend, backend_for_precision, segmenter_around
    from acnet.benchmarks.timing import make_frames
    from acnet.benchmarks.torch_timer import TorchTimer
    from acnet.export.aoti import read_package_info

    info = read_package_info(args.package)
    frames, kind = _c_frames(Path(args.frames) if args.frames else None, 2, (info.input_height, info.input_width))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    segment = Path(args.build) / "segment"
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}  # the library's rpath must be enough

    timer = TorchTimer(AotiBackend(backend_for_precision(info.precision), args.package, args.device))
    seg = segmenter_around(timer.backend, 1)
    results = []
    for name, rgb, depth in frames:
        rgb_path, depth_path = write_ppm(work / f"{name}.ppm", rgb), write_pgm16(work / f"{name}.pgm", depth)
        labels_path = work / f"{name}_labels.pgm"
        command = [str(segment), "--device", args.device, "--repeat", str(args.repeat), str(args.package),
                   str(rgb_path), str(depth_path), str(labels_path)]
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.timeout)
        record = {"frame": name, "size": list(rgb.shape[:2]), "command": shlex.join(command),
                  "returncode": proc.returncode, "stdout": proc.stdout[-2000:], "stderr": proc.stderr[-2000:]}
        match = re.search(r"median ([\d.]+) ms over (\d+) runs? \(min ([\d.]+), max ([\d.]+)\)", proc.stdout)
        if proc.returncode != 0 or not match:
            record["status"] = "failed"
            results.append(record)
            continue
        record.update(c_median_ms=float(match.group(1)), c_runs=int(match.group(2)), c_min_ms=float(match.group(3)),
                      c_max_ms=float(match.group(4)))
        c_labels = read_pgm8(labels_path)
        py_labels = seg.segment(rgb, depth)
        record["agreement_pct"] = 100.0 * float((c_labels == py_labels).mean())
        record["differing_pixels"] = int((c_labels != py_labels).sum())

        # The package's own latency from Python at batch 1, and the runtime's end-to-end, right after the C runs.
        batch = make_frames([rgb], [depth], seg.config)
        timer.prepare(batch)
        compute, latency, e2e = [], [], []
        for i in range(args.warmup + args.repeat):
            call = timer.run(batch)
            t0 = time.perf_counter()
            seg.segment(rgb, depth)
            t1 = time.perf_counter()
            if i >= args.warmup:
                compute.append(1000 * call.compute_s)
                latency.append(1000 * call.latency_s)
                e2e.append(1000 * (t1 - t0))
        record.update(package_compute_ms=median(compute), package_latency_ms=median(latency),
                      python_end_to_end_ms=median(e2e))
        record["c_over_package_latency"] = record["c_median_ms"] / record["package_latency_ms"] - 1.0
        record["status"] = "ok"
        results.append(record)
    timer.close()
    ok = [r for r in results if r["status"] == "ok"]
    summary = {
        "package": str(args.package), "precision": info.precision, "device": args.device, "frames": kind,
        "repeat": args.repeat, "results": results,
        "agreement_pct": min((r["agreement_pct"] for r in ok), default=None),
        "c_over_package_latency": max((r["c_over_package_latency"] for r in ok), default=None),
    }
    write_json(Path(args.json), summary)
    print(json.dumps({k: summary[k] for k in ("agreement_pct", "c_over_package_latency", "frames")}))
    return 0 if ok and len(ok) == len(results) else 1


# =========================================================================== the run


class Step:
    """One step: its command, what it printed, how it ended and what it measured."""

    def __init__(self, name: str, title: str) -> None:
        self.name, self.title = name, title
        self.status = "not-run"
        self.reason = None
        self.command = None
        self.returncode = None
        self.seconds = None
        self.budget_s = None
        self.result = None
        self.log_tail = ""
        self.started = None

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("name", "title", "status", "reason", "command", "returncode",
                                                "seconds", "budget_s", "result", "log_tail")}


class Runner:
    def __init__(self, args) -> None:
        self.args = args
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.budget
        self.out = Path(args.out)
        self.work = Path(args.work)
        self.logs = self.work / "logs"
        for d in (self.out, self.work, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        self.log_path = self.out / "gpu-run.log"
        self.log_path.write_text(f"acnet GPU run, {utc_now()}\n$ {shlex.join(sys.argv)}\n")
        self.cuda = args.device.startswith("cuda")
        self.steps: dict[str, Step] = {}
        self.selected = self._select(args.only, args.skip)
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path,
                    "TORCHINDUCTOR_CACHE_DIR": str(self.work / "inductor-cache"),
                    "TRITON_CACHE_DIR": str(self.work / "triton-cache"),
                    "TORCHINDUCTOR_FX_GRAPH_CACHE": "1", "TORCHINDUCTOR_AUTOGRAD_CACHE": "1"}
        self.frames = Path(args.frames) if args.frames else None
        tag = f"{args.backbone}-w{args.width_mult:g}-{args.height}x{args.width}-seed{args.seed}"
        self.checkpoint = Path(args.checkpoint) if args.checkpoint else self.work / f"acnet-{tag}.pt"
        precision = "fp16" if self.cuda else "fp32"
        self.package = Path(args.aoti_package) if args.aoti_package else self.work / f"acnet-{tag}-{precision}-{args.device.split(':')[0]}-dynbatch.pt2"
        self.capi_dir = Path(args.capi_build) if args.capi_build else self.work / "capi-build"

    # ------------------------------------------------------------------ selection and time

    @staticmethod
    def _select(only: str | None, skip: str | None) -> list[str]:
        chosen = csv(only) if only else list(STEPS)
        unknown = [s for s in chosen + csv(skip or "") if s not in STEPS]
        if unknown:
            raise SystemExit(f"gpu_run: error: unknown step {unknown[0]!r}; steps are {', '.join(STEPS)}")
        wanted = set(chosen) | {"env"}
        for name in list(wanted):
            wanted |= set(NEEDS.get(name, ()))
        wanted -= set(csv(skip or "")) - {"env"}
        return [s for s in STEPS if s in wanted]

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def step(self, name: str, title: str) -> Step:
        return self.steps.setdefault(name, Step(name, title))

    def say(self, text: str) -> None:
        line = f"[{time.monotonic() - self.t0:6.1f}s] {text}"
        print(line, flush=True)
        with self.log_path.open("a") as f:
            f.write(line + "\n")

    # ------------------------------------------------------------------ processes

    def start(self, step: Step, command: list[str], budget: float, cwd: Path | None = None, keep: float = 0.0):
        """Start ``command`` for ``step`` in its own process group; None when there is no time for it.

        ``keep``: seconds of the run's budget to leave for the steps after this one.
        """
        budget = min(budget, self.remaining() - REPORT_RESERVE - keep)
        step.command = shlex.join(command)
        if budget < 5:
            step.status, step.reason = "not-run", "out of time (the run's --budget was spent)"
            self.say(f"{step.name}: not run, out of time")
            return None
        step.budget_s = round(budget, 1)
        step.started = time.monotonic()
        log = (self.logs / f"{step.name}.log").open("w")
        self.say(f"{step.name}: {step.title} (budget {budget:.0f} s)\n    $ {step.command}")
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=str(cwd or REPO), env=self.env,
                                start_new_session=True)
        proc._acnet = (step, log, step.started + budget)  # type: ignore[attr-defined]
        return proc

    def wait(self, procs: list) -> None:
        """Wait for every process, killing each at its own deadline."""
        procs = [p for p in procs if p is not None]
        while procs:
            for p in list(procs):
                step, log, until = p._acnet
                if p.poll() is None and time.monotonic() < until:
                    continue
                timed_out = p.poll() is None
                if timed_out:
                    _kill(p)
                log.close()
                self._finish(step, p.returncode, timed_out)
                procs.remove(p)
            time.sleep(0.2)

    def run_one(self, step: Step, command: list[str], budget: float, cwd: Path | None = None) -> None:
        self.wait([self.start(step, command, budget, cwd)])

    def _finish(self, step: Step, returncode: int, timed_out: bool) -> None:
        step.seconds = round(time.monotonic() - step.started, 1)
        step.returncode = returncode
        text = (self.logs / f"{step.name}.log").read_text(errors="replace")
        step.log_tail = text[-3000:]
        with self.log_path.open("a") as f:
            f.write(f"\n===== {step.name}: {step.command}\n{text[-200_000:]}\n===== {step.name}: "
                    f"exit {returncode} after {step.seconds} s{' (TIMED OUT)' if timed_out else ''}\n")
        if timed_out:
            step.status, step.reason = "timeout", f"killed after its budget of {step.budget_s} s"
        else:
            step.status = "ok" if returncode == 0 else "failed"
            if returncode != 0:
                step.reason = _last_error(text) or f"exit {returncode}"
        self.say(f"{step.name}: {step.status} in {step.seconds} s" + (f" ({step.reason})" if step.reason else ""))

    # ------------------------------------------------------------------ commands

    def py(self, *args: str) -> list[str]:
        return [sys.executable, *args]

    def acnet(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "acnet.cli", *args]

    def helper(self, *args: str) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), *args]

    def size_args(self) -> list[str]:
        return ["--height", str(self.args.height), "--width", str(self.args.width)]

    # ------------------------------------------------------------------ the steps

    def run(self) -> int:
        a = self.args
        self.say(f"acnet GPU run on {a.device}: steps {', '.join(self.selected)}; budget {a.budget:.0f} s")
        env = self.step("env", "environment, clocks and the two ceilings (bf16 matmul, device copy)")
        self.run_one(env, self.helper("env", "--device", a.device, "--matmul-n", str(a.matmul_n),
                                      "--copy-mib", str(a.copy_mib), "--json", str(self.work / "env.json")),
                     BUDGETS["env"])
        env.result = _load(self.work / "env.json")
        if env.result and env.result.get("error"):
            env.status, env.reason = "failed", env.result["error"]
            self.say(f"gpu_run: error: {env.reason}")
            return self.finish(2)

        if "checkpoint" in self.selected:
            self.make_checkpoint()
        ready = self.steps.get("checkpoint") is None or self.steps["checkpoint"].status in STATUS_OK

        # Side by side: nothing here is timed. They end in time to leave the timed steps --timed-reserve seconds.
        keep = a.timed_reserve if any(n in self.selected for n in TIMED) else 0.0
        procs = []
        for name, starter in (("tests", self.start_tests), ("export", self.start_export),
                              ("capi-build", self.start_capi_build), ("compile-warm", self.start_compile_warm)):
            if name in self.selected:
                procs.append(starter(ready, keep))
        self.wait([p for p in procs if p is not None])
        self.collect_parallel()

        # One at a time: everything timed.
        for name, fn in (("bench", self.bench), ("train", self.train), ("capi", self.capi), ("parity", self.parity),
                         ("bench-compile", self.bench_compile)):
            if name in self.selected:
                fn(ready)
        code = 0 if all(s.status in STATUS_OK for s in self.steps.values()) else 1
        return self.finish(code)

    def make_checkpoint(self) -> None:
        a = self.args
        s = self.step("checkpoint", f"trained-looking ACNet-{a.backbone} (width {a.width_mult:g}) at {a.height}x{a.width}")
        if self.checkpoint.is_file():
            s.status, s.reason, s.command = "reused", f"{self.checkpoint} exists", None
            self.say(f"checkpoint: reusing {self.checkpoint}")
            return
        frames = ["--frames", str(self.frames)] if self.frames else []
        self.run_one(s, self.helper("make-checkpoint", "--output", str(self.checkpoint), "--backbone", a.backbone,
                                    "--width-mult", str(a.width_mult), "--seed", str(a.seed), *self.size_args(), *frames),
                     BUDGETS["checkpoint"])
        s.result = _last_json_line(s.log_tail)

    def _needs_checkpoint(self, step: Step, ready: bool) -> bool:
        if not ready:
            step.status, step.reason = "not-run", "no checkpoint (its step failed)"
            self.say(f"{step.name}: not run, no checkpoint")
        return ready

    def start_tests(self, ready: bool, keep: float):
        s = self.step("tests", "the suite's CUDA-marked tests (pytest -m cuda)")
        extra = ["--timeout", str(self.args.test_timeout)] if importlib.util.find_spec("pytest_timeout") else []
        # One process (-p no:xdist, also where pytest-xdist is missing): one GPU, and steps run beside it.
        return self.start(s, self.py("-m", "pytest", *shlex.split(self.args.tests_args), "-q", "-rfEs",
                                     "-p", "no:cacheprovider", "-p", "no:xdist", "--junitxml", str(self.work / "tests.xml"),
                                     *extra),
                          BUDGETS["tests"], keep=keep)

    def start_export(self, ready: bool, keep: float):
        s = self.step("export", "acnet export aoti" + (" --device cuda --fp16 --dynamic-batch" if self.cuda else " (CPU)"))
        if self.package.is_file():
            s.status, s.reason = "reused", f"{self.package} exists"
            self.say(f"export: reusing {self.package}")
            return None
        if not self._needs_checkpoint(s, ready):
            return None
        device = ["--device", self.args.device] + (["--fp16"] if self.cuda else [])
        return self.start(s, self.acnet("export", "aoti", str(self.checkpoint), "-o", str(self.package), *device,
                                        "--dynamic-batch", *self.size_args()), BUDGETS["export"], keep=keep)

    def start_capi_build(self, ready: bool, keep: float):
        s = self.step("capi-build", "acnet capi build (AOTInductor backend)")
        if (self.capi_dir / "libacnet.so").is_file() and (self.capi_dir / "segment").is_file():
            s.status, s.reason = "reused", f"{self.capi_dir} holds libacnet.so and segment"
            self.say(f"capi-build: reusing {self.capi_dir}")
            return None
        return self.start(s, self.acnet("capi", "build", "--build-dir", str(self.capi_dir), "--aoti", "on",
                                        "--tensorrt", "off"), BUDGETS["capi-build"], keep=keep)

    def start_compile_warm(self, ready: bool, keep: float):
        s = self.step("compile-warm", "torch.compile once per batch to fill Inductor's caches (untimed)")
        backends = csv(self.args.compile_backends)
        if not backends:
            s.status, s.reason = "not-run", "no --compile-backends"
            return None
        if not self._needs_checkpoint(s, ready):
            return None
        return self.start(s, self.acnet("bench", str(self.checkpoint), *_each("-b", backends), "--batch",
                                        ",".join(map(str, self.batches)), "--warmup", "1", "--iters", "1",
                                        "--device", self.args.device, *self.size_args(), "--cache-dir",
                                        str(self.work / "cache"), "--json", str(self.work / "compile-warm.json"),
                                        "--no-progress"), BUDGETS["compile-warm"], keep=keep)

    @property
    def batches(self) -> list[int]:
        return [int(b) for b in csv(self.args.batches)]

    def collect_parallel(self) -> None:
        t = self.steps.get("tests")
        if t is not None and t.status not in ("not-run",):
            t.result = parse_junit(self.work / "tests.xml")
            if t.result and t.status == "failed" and t.result.get("failed", 0) + t.result.get("errors", 0) == 0:
                t.reason = t.reason or "pytest exited non-zero"
        e = self.steps.get("export")
        if e is not None and e.status in STATUS_OK:
            report = self.package.with_name(self.package.stem + ".aoti.verify.json")
            e.result = {"package": str(self.package), "size_mib": round(self.package.stat().st_size / 2**20, 1),
                        "verification": (_load(report) or {}).get("verification")}
        w = self.steps.get("compile-warm")
        if w is not None and w.status != "not-run":
            report = _load(self.work / "compile-warm.json")
            if report:
                w.result = {"warmup_s": {f"{r['backend']} b{r['batch']}": r.get("warmup_s") for r in report["results"]},
                            "status": {f"{r['backend']} b{r['batch']}": r["status"] for r in report["results"]}}

    def _package_ready(self) -> bool:
        e = self.steps.get("export")
        return self.package.is_file() and (e is None or e.status in STATUS_OK)

    def bench(self, ready: bool) -> None:
        s = self.step("bench", "acnet bench: eager FP32/TF32, FP16/BF16 autocast, AOTInductor package")
        if not self._needs_checkpoint(s, ready):
            return
        backends = csv(self.args.eager_backends)
        extra = []
        aoti = [b for b in backends if b.startswith("aoti")]
        if aoti and self._package_ready():
            extra = ["--aoti", str(self.package)]
        elif aoti:
            backends = [b for b in backends if not b.startswith("aoti")]
            s.reason = "no AOTInductor package (the export failed or was not run): its rows are missing"
        self.run_one(s, self.acnet("bench", str(self.checkpoint), *_each("-b", backends), *extra, "--batch",
                                   ",".join(map(str, self.batches)), "--warmup", str(self.args.warmup), "--iters",
                                   str(self.args.iters), "--device", self.args.device, *self.size_args(),
                                   "--cache-dir", str(self.work / "cache"), "--json", str(self.work / "bench.json"),
                                   "--markdown", str(self.work / "bench.md"), "--plot", str(self.out / "bench.png"),
                                   "--no-progress"), BUDGETS["bench"])
        s.result = _load(self.work / "bench.json")
        _partial(s)

    def train(self, ready: bool) -> None:
        a = self.args
        s = self.step("train", f"training throughput ({a.train_precisions}) at {a.height}x{a.width}, batch {a.train_batch}")
        self.run_one(s, self.py("-m", "acnet.benchmarks.throughput", "--backbone", a.backbone, "--width-mult",
                                str(a.width_mult), *self.size_args(), "--batch-size", str(a.train_batch),
                                "--precisions", a.train_precisions, "--warmup", str(a.train_warmup), "--steps",
                                str(a.train_steps), "--device", a.device, "--json", str(self.work / "train.json")),
                     BUDGETS["train"], cwd=self.work)
        s.result = _load(self.work / "train.json")

    def capi(self, ready: bool) -> None:
        s = self.step("capi", "the C example on two frames with --repeat, labels against the Python runtime")
        if not self._needs_checkpoint(s, ready):
            return
        build = self.steps.get("capi-build")
        if not self._package_ready() or (build is not None and build.status not in STATUS_OK):
            s.status, s.reason = "not-run", "needs the package and the C library (a step before failed)"
            self.say(f"capi: not run ({s.reason})")
            return
        frames = ["--frames", str(self.frames)] if self.frames else []
        self.run_one(s, self.helper("capi-check", "--build", str(self.capi_dir), "--package", str(self.package),
                                    "--device", self.args.device, "--repeat", str(self.args.repeat), "--warmup", "3",
                                    "--work", str(self.work / "capi-frames"), "--json", str(self.work / "capi.json"),
                                    *frames), BUDGETS["capi"])
        s.result = _load(self.work / "capi.json")

    def parity(self, ready: bool) -> None:
        s = self.step("parity", "acnet parity against FP32 on the real frames, with the gates")
        if not self._needs_checkpoint(s, ready):
            return
        dataset_ok = self.frames is not None and (self.frames / "test").is_dir()
        if not dataset_ok:
            s.status = "not-run"
            s.reason = (f"no frames at {self.frames}: copy ../shared/data/nyuv2-samples into the checkout's "
                        ".gpu-frames/ and name it in carry (benchmarks/gpu/README.md)")
            self.say(f"parity: not run ({s.reason})")
            return
        candidates = _each("--torch", csv(self.args.parity_torch))
        if self._package_ready():
            candidates += ["--aoti", str(self.package)]
        self.run_one(s, self.acnet("parity", str(self.checkpoint), "--data", f"folder:{self.frames}", *candidates,
                                   "--device", self.args.device, "--reference-device", self.args.device,
                                   "--json", str(self.work / "parity.json"), "--report", str(self.work / "parity.md"),
                                   "--no-progress"), BUDGETS["parity"])
        s.result = _load(self.work / "parity.json")
        if s.status == "failed" and s.returncode == 1 and s.result:
            s.status, s.reason = "partial", "a candidate is outside its parity gate (see the parity table)"

    def bench_compile(self, ready: bool) -> None:
        backends = csv(self.args.compile_backends)
        s = self.step("bench-compile", f"acnet bench: {', '.join(backends) or '(none)'} against eager FP32, one run per batch")
        if not backends:
            s.status, s.reason = "not-run", "no --compile-backends"
            return
        if not self._needs_checkpoint(s, ready):
            return
        runs, statuses, seconds, commands = {}, [], 0.0, []
        for batch in self.batches:
            sub = Step(f"bench-compile-b{batch}", f"batch {batch}")
            path = self.work / f"bench-compile-b{batch}.json"
            self.run_one(sub, self.acnet("bench", str(self.checkpoint), "-b", "torch", *_each("-b", backends),
                                         "--batch", str(batch), "--warmup", str(self.args.warmup), "--iters",
                                         str(self.args.iters), "--device", self.args.device, *self.size_args(),
                                         "--cache-dir", str(self.work / "cache"), "--json", str(path),
                                         "--no-progress"), BUDGETS["bench-compile"] / len(self.batches) * 1.5)
            runs[str(batch)] = {"status": sub.status, "reason": sub.reason, "seconds": sub.seconds,
                                "command": sub.command, "report": _load(path), "log_tail": sub.log_tail}
            statuses.append(sub.status)
            seconds += sub.seconds or 0
            commands.append(sub.command)
        s.command = "; ".join(commands)
        s.result = {"runs": runs}
        s.seconds = round(seconds, 1)
        s.status = "ok" if all(st == "ok" for st in statuses) else ("partial" if "ok" in statuses else statuses[0])
        bad = [f"batch {b}: {r['status']} ({r['reason']})" for b, r in runs.items() if r["status"] != "ok"]
        s.reason = "; ".join(bad) or None

    # ------------------------------------------------------------------ the end

    def finish(self, code: int) -> int:
        for name in self.selected:
            self.step(name, name)
        report = build_report(self.args, [self.steps[n] for n in STEPS if n in self.steps],
                              time.monotonic() - self.t0, self.work)
        write_json(self.out / "gpu-run.json", report)
        write_text(self.out / "gpu-run.md", markdown(report, self.work))
        table = short_table(report)
        with self.log_path.open("a") as f:
            f.write("\n" + table + "\n")
        extra = sorted(p.name for p in self.out.iterdir() if p.name not in OUT_FILES and not p.name.startswith("."))
        print("\n" + table)
        print(f"\nfiles: {', '.join(p for p in OUT_FILES if (self.out / p).exists())} in {self.out}"
              + (f" (and {', '.join(extra)}: not this run's)" if extra else ""))
        return code


def _each(flag: str, values) -> list[str]:
    return [x for v in values for x in (flag, v)]


def _kill(proc) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def _load(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _last_json_line(text: str):
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    return None


def _last_error(text: str) -> str | None:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith(("acnet: error:", "gpu_run: error:")) or re.match(r"^\w+(Error|Exception): ", line):
            return line[:300]
    return lines[-1][:300] if lines else None


def _partial(step: Step) -> None:
    """A bench that measured some backends but not others: 'partial', naming what failed."""
    if step.status == "failed" and step.returncode == 1 and step.result:
        failed = sorted({r["backend"] for r in step.result["results"] if r["status"] == "error"})
        step.status, step.reason = "partial", f"failed backends: {', '.join(failed)}"


def parse_junit(path: Path) -> dict | None:
    """Counts and failures of a pytest junit XML."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {"tests": 0, "failed": 0, "errors": 0, "skipped": 0}
    problems, skipped = [], {}
    for suite in suites:
        for case in suite.iter("testcase"):
            counts["tests"] += 1
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            for kind, key in (("failure", "failed"), ("error", "errors")):
                node = case.find(kind)
                if node is not None:
                    counts[key] += 1
                    problems.append({"test": name, "kind": key, "message": (node.get("message") or "")[:500]})
            node = case.find("skipped")
            if node is not None:
                counts["skipped"] += 1
                reason = (node.get("message") or "")[:200]
                skipped[reason] = skipped.get(reason, 0) + 1
    counts["passed"] = counts["tests"] - counts["failed"] - counts["errors"] - counts["skipped"]
    return {**counts, "problems": problems, "skip_reasons": skipped}


# =========================================================================== the report


def _bench_reports(steps: dict) -> list[tuple[str, dict]]:
    """Every bench report of the run, named: the eager one and one per compiled batch."""
    out = []
    b = steps.get("bench")
    if b and b.get("result"):
        out.append(("bench", b["result"]))
    c = steps.get("bench-compile")
    for batch, run in ((c or {}).get("result") or {}).get("runs", {}).items():
        if run.get("report"):
            out.append((f"bench-compile b{batch}", run["report"]))
    return out


def bench_rows(steps: dict) -> list[dict]:
    """One row per measured backend and batch, with its speed-ups against eager FP32 of the same run."""
    rows = []
    for run, report in _bench_reports(steps):
        speed = {(s["backend"], s["batch"]): s for s in report.get("speedups", [])}
        for r in report["results"]:
            if r["status"] != "ok":
                continue
            if r["backend"] == "torch" and any(x["backend"] == "torch" and x["batch"] == r["batch"] for x in rows):
                continue  # the compiled runs' own baseline; the eager run's is shown
            s = speed.get((r["backend"], r["batch"]), {})
            compute, latency, e2e = (r[k]["median"] for k in ("compute_ms", "latency_ms", "end_to_end_ms"))
            rows.append({"run": run, "backend": r["backend"], "precision": r["details"].get("precision"), "batch": r["batch"],
                         "compute_ms": compute, "latency_ms": latency, "end_to_end_ms": e2e,
                         "compute_ips": 1000 * r["batch"] / compute, "end_to_end_ips": r["throughput_ips"]["median"],
                         "speedup_compute": s.get("compute", 1.0 if r["backend"] == "torch" else None),
                         "speedup_latency": s.get("latency", 1.0 if r["backend"] == "torch" else None),
                         "warmup_s": r.get("warmup_s")})
    return rows


def bench_problems(steps: dict) -> list[str]:
    out = []
    for _, report in _bench_reports(steps):
        for r in report["results"]:
            if r["status"] != "ok":
                out.append(f"{r['backend']} batch {r['batch']}: {r['status']}: {r['reason']}")
    return sorted(set(out))


def targets(steps: dict) -> list[dict]:
    """The issue's targets on the H200, each with what was measured and whether it was met (None: not measured)."""
    rows = bench_rows(steps)
    out = []
    b1 = [r for r in rows if r["batch"] == 1 and r["speedup_compute"]]
    best = max(b1, key=lambda r: r["speedup_compute"], default=None)
    out.append({"target": "best path >= 5x eager FP32 at batch 1 (compute)",
                "measured": None if best is None else f"{best['backend']}: {best['speedup_compute']:.2f}x "
                                                      f"(latency {best['speedup_latency']:.2f}x)",
                "met": None if best is None else best["speedup_compute"] >= 5})
    fastest = min((r for r in rows if r["batch"] == 1), key=lambda r: r["compute_ms"], default=None)
    out.append({"target": "<= 2.5 ms per 480x640 frame at batch 1 (compute)",
                "measured": None if fastest is None else f"{fastest['backend']}: {fastest['compute_ms']:.2f} ms compute, "
                                                         f"{fastest['latency_ms']:.2f} ms latency, {fastest['end_to_end_ms']:.2f} ms end-to-end",
                "met": None if fastest is None else fastest["compute_ms"] <= 2.5})
    b8 = max((r for r in rows if r["batch"] == 8), key=lambda r: r["compute_ips"], default=None)
    out.append({"target": ">= 1,000 images/s at batch 8 (compute)",
                "measured": None if b8 is None else f"{b8['backend']}: {b8['compute_ips']:.0f} images/s compute, "
                                                    f"{b8['end_to_end_ips']:.0f} end-to-end",
                "met": None if b8 is None else b8["compute_ips"] >= 1000})
    parity = (steps.get("parity") or {}).get("result")
    if parity:
        reduced = [r for r in parity["results"] if r["precision"] in ("fp16", "bf16")]
        text = "; ".join(f"{r['label']} ({r['precision']}) {r['agreement_pct']:.3f}%, ΔmIoU "
                         f"{_fmt(r['delta_miou_points'], '+.3f')}: {'pass' if r['passed'] else 'FAIL'}" for r in reduced)
        out.append({"target": "FP16 and BF16 pass the FP16 parity gate on the real frames", "measured": text or None,
                    "met": all(r["passed"] for r in reduced) if reduced else None})
    else:
        out.append({"target": "FP16 and BF16 pass the FP16 parity gate on the real frames", "measured": None, "met": None})
    train = ((steps.get("train") or {}).get("result") or {}).get("results", {})
    amp = {k: v["speedup_vs_fp32"] for k, v in train.items() if k != "fp32" and "speedup_vs_fp32" in v}
    out.append({"target": "AMP training >= 2x FP32 in images/s",
                "measured": ", ".join(f"{k} {v:.2f}x" for k, v in amp.items()) or None,
                "met": (max(amp.values()) >= 2) if amp else None})
    capi = (steps.get("capi") or {}).get("result") or {}
    agree = capi.get("agreement_pct")
    out.append({"target": "C library's AOTI CUDA path agrees 100% with the Python runtime",
                "measured": None if agree is None else f"{agree:.3f}% (worst of {len(capi.get('results', []))} frames)",
                "met": None if agree is None else agree == 100.0})
    over = capi.get("c_over_package_latency")
    out.append({"target": "C library adds <= 5% to the package's own latency",
                "measured": None if over is None else f"{100 * over:+.1f}% (C end-to-end median vs the package's latency from Python)",
                "met": None if over is None else over <= 0.05})
    return out


def _item(item: dict) -> str:
    """An environment item: its value, or 'none (why)'."""
    return str(item["value"]) if item.get("value") is not None else f"none ({item.get('reason')})"


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def build_report(args, steps: list, wall_s: float, work: Path | None = None) -> dict:
    by_name = {s.name: s.to_dict() for s in steps}
    env = (by_name.get("env") or {}).get("result") or {}
    report = {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "created": utc_now(),
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"},
        "git_commit": _git_commit(), "budget_s": getattr(args, "budget", None), "wall_s": round(wall_s, 1),
        "steps": list(by_name.values()),
        "environment": env.get("environment"),
    }
    report["targets"] = targets(by_name)
    report["bench_rows"] = bench_rows(by_name)
    report["markdown"] = {name: (work / f"{name}.md").read_text() for name in ("bench", "parity")
                          if work is not None and (work / f"{name}.md").is_file()}
    return report


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _steps(report: dict) -> dict:
    return {s["name"]: s for s in report["steps"]}


def key_figure(step: dict) -> str:
    """The one line that matters for each step."""
    r = step.get("result") or {}
    name = step["name"]
    try:
        if name == "env" and r.get("ceilings"):
            c = r["ceilings"]
            q = ((r.get("nvidia_smi_after") or {}).get("query") or {})
            gpu = (r.get("gpu_properties") or {}).get("name") or r["environment"]["gpu"].get("value") or "no GPU"
            torch_v = r["environment"]["packages"]["torch"]["value"]
            return (f"{gpu}, torch {torch_v}, CUDA {_item(r['environment']['cuda'])}, driver "
                    f"{_item(r['environment']['driver'])}; bf16 matmul {c['matmul_bf16']['tflops']:.1f} TFLOP/s, "
                    f"copy {c['copy']['gb_per_s']:.0f} GB/s" + (f"; SM clock {q.get('clocks.sm')}" if q else ""))
        if name == "tests" and r:
            return f"{r['passed']} passed, {r['failed']} failed, {r['errors']} errors, {r['skipped']} skipped"
        if name == "export" and r:
            v = r.get("verification") or {}
            return f"{r['size_mib']} MiB; verify agreement {100 * v.get('agreement', float('nan')):.3f}%" if v else f"{r['size_mib']} MiB"
        if name == "compile-warm" and r:
            return ", ".join(f"{k} {_fmt(v, '.0f')} s" for k, v in r["warmup_s"].items())
        if name == "bench" and r:
            ok = [x for x in r["results"] if x["status"] == "ok"]
            return f"{len(ok)} of {len(r['results'])} backend x batch measured"
        if name == "train" and r:
            return ", ".join(f"{k} {v['images_per_s']['median']:.1f} img/s" if v.get("status") == "ok" else f"{k} {v['status']}"
                             for k, v in r["results"].items())
        if name == "capi" and r and r.get("agreement_pct") is not None:
            medians = ", ".join(f"{x['c_median_ms']:.2f}" for x in r["results"] if x["status"] == "ok")
            return (f"C median {medians} ms; agreement {r['agreement_pct']:.3f}%; "
                    f"C vs package latency {100 * r['c_over_package_latency']:+.1f}%")
        if name == "parity" and r:
            return "; ".join(f"{x['label']} {x['agreement_pct']:.2f}% {'pass' if x['passed'] else 'FAIL'}" for x in r["results"])
        if name == "bench-compile" and r:
            return "; ".join(f"b{b} {run['status']}" for b, run in r["runs"].items())
        if name == "checkpoint" and r:
            return f"{r['classes']} classes ({r['class_names_from']})"
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return "(result unreadable)"
    return ""


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]


def short_table(report: dict) -> str:
    """What to read first: steps, bench medians, targets (the device tool shows the end of the output)."""
    steps = _steps(report)
    lines = [f"acnet GPU run: {report['wall_s']} s of a {report['budget_s']} s budget; {report['created']}", ""]
    lines += _table(["step", "status", "s", "key figure / reason"],
                    [[s["name"], s["status"], _fmt(s["seconds"], ".0f"),
                      (key_figure(s) or "") + (f"  [{s['reason']}]" if s.get("reason") else "")]
                     for s in report["steps"]])
    rows = report.get("bench_rows") or []
    if rows:
        lines += ["", "medians; speed-up = eager FP32 (TF32 off) compute / this compute, same run; img/s = batch / compute"]
        lines += _table(["backend", "b", "compute ms", "latency ms", "e2e ms", "img/s", "e2e img/s", "speed-up"],
                        [[r["backend"], str(r["batch"]), f"{r['compute_ms']:.2f}", f"{r['latency_ms']:.2f}",
                          f"{r['end_to_end_ms']:.2f}", f"{r['compute_ips']:.0f}", f"{r['end_to_end_ips']:.0f}",
                          _fmt(r["speedup_compute"], ".2f") + "x"] for r in rows])
    problems = bench_problems(steps)
    if problems:
        lines += ["", "not measured: " + "; ".join(problems)[:1500]]
    lines += [""] + _table(["target", "measured", "met"],
                           [[t["target"], t["measured"] or "-", {True: "yes", False: "NO", None: "-"}[t["met"]]]
                            for t in report["targets"]])
    return "\n".join(lines)


def markdown(report: dict, work: Path | None = None) -> str:
    steps = _steps(report)
    env = report.get("environment") or {}
    lines = ["# acnet GPU run", "", f"- created {report['created']}, {report['wall_s']} s of a {report['budget_s']} s budget",
             f"- command: `{report['command']}`", f"- commit: {report.get('git_commit') or 'unknown (no git there)'}"]
    if env:
        from_env = [f"CPU: {env['cpu']['model']} ({env['cpu']['usable_cpus']} usable CPUs)",
                    f"GPU: {_item(env['gpu'])}; driver {_item(env['driver'])}; CUDA {_item(env['cuda'])}",
                    f"torch {env['packages']['torch']['value']}, numpy {env['packages']['numpy']['value']}, "
                    f"load average {env.get('load_average')}"]
        lines += [f"- {x}" for x in from_env]
    lines += ["", "## Steps", "", "| step | status | seconds | budget | key figure | reason |", "|---|---|---|---|---|---|"]
    for s in report["steps"]:
        lines.append(f"| {s['name']} | {s['status']} | {_fmt(s['seconds'], '.1f')} | {_fmt(s['budget_s'], '.0f')} | "
                     f"{key_figure(s).replace('|', '/')} | {(s.get('reason') or '').replace('|', '/')} |")
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for t in report["targets"]:
        lines.append(f"| {t['target']} | {t['measured'] or '-'} | {({True: 'yes', False: 'NO', None: '-'})[t['met']]} |")
    rows = report.get("bench_rows") or []
    if rows:
        lines += ["", "## Inference (medians)", "",
                  "Compute: CUDA events around the network; latency: host arrays in, host logits out; end-to-end: "
                  "raw frames to class ids through the runtime's Segmenter. Speed-up: eager FP32 (TF32 off) compute "
                  "over this compute in the same run.", "",
                  "| run | backend | precision | batch | compute ms | latency ms | end-to-end ms | images/s (compute) | "
                  "images/s (end-to-end) | speed-up | warm-up s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['run']} | {r['backend']} | {r['precision']} | {r['batch']} | {r['compute_ms']:.3f} | {r['latency_ms']:.3f} | "
                         f"{r['end_to_end_ms']:.3f} | {r['compute_ips']:.1f} | {r['end_to_end_ips']:.1f} | "
                         f"{_fmt(r['speedup_compute'], '.2f')}x | {_fmt(r['warmup_s'], '.1f')} |")
    problems = bench_problems(steps)
    if problems:
        lines += ["", "Not measured:", ""] + [f"- {p}" for p in problems]
    env_step = (steps.get("env") or {}).get("result") or {}
    if env_step.get("ceilings"):
        c = env_step["ceilings"]
        lines += ["", "## Ceilings", "",
                  f"- bf16 {c['matmul_bf16']['n']}³ matrix product: {c['matmul_bf16']['tflops']:.1f} TFLOP/s "
                  f"(median of {len(c['matmul_bf16']['ms'])}, relative error vs float64 {c['matmul_bf16']['relative_error_vs_float64']:.1e}, "
                  f"checked: {c['matmul_bf16']['passed']})",
                  f"- device copy of {c['copy']['mib']} MiB: {c['copy']['gb_per_s']:.0f} GB/s counting read + write "
                  f"(checked: {c['copy']['passed']})"]
    train = (steps.get("train") or {}).get("result")
    if train:
        lines += ["", "## Training throughput", "", "| precision | status | images/s | ms/step | vs fp32 | autocast | TF32 convs |",
                  "|---|---|---|---|---|---|---|"]
        for k, v in train["results"].items():
            if v.get("status") != "ok":
                lines.append(f"| {k} | {v.get('status')}: {v.get('reason')} | | | | | |")
                continue
            lines.append(f"| {k} | ok | {v['images_per_s']['median']:.2f} | {1000 * v['step_seconds']['median']:.1f} | "
                         f"{_fmt(v.get('speedup_vs_fp32'), '.2f')}x | {v.get('autocast')} | {v.get('cudnn_allow_tf32')} |")
    capi = (steps.get("capi") or {}).get("result")
    if capi:
        lines += ["", "## C library (AOTInductor package)", "",
                  "| frame | C median ms (min-max) | package latency ms (Python) | package compute ms | Python end-to-end ms | "
                  "C vs package latency | agreement |", "|---|---|---|---|---|---|---|"]
        for r in capi["results"]:
            if r["status"] != "ok":
                lines.append(f"| {r['frame']} | failed: {r['stderr'][-200:].strip()} | | | | | |")
                continue
            lines.append(f"| {r['frame']} | {r['c_median_ms']:.2f} ({r['c_min_ms']:.2f}-{r['c_max_ms']:.2f}) | "
                         f"{r['package_latency_ms']:.2f} | {r['package_compute_ms']:.2f} | {r['python_end_to_end_ms']:.2f} | "
                         f"{100 * r['c_over_package_latency']:+.1f}% | {r['agreement_pct']:.3f}% |")
    tests = (steps.get("tests") or {}).get("result")
    if tests:
        lines += ["", "## CUDA tests", "", f"{tests['passed']} passed, {tests['failed']} failed, {tests['errors']} errors, "
                  f"{tests['skipped']} skipped"]
        lines += [f"- {p['kind']}: `{p['test']}`: {p['message']}" for p in tests["problems"]]
        lines += [f"- skipped {n}x: {reason}" for reason, n in tests["skip_reasons"].items()]
    for name, text in (report.get("markdown") or {}).items():
        lines += ["", f"## acnet {name} (full table)", "", text.replace("\n# ", "\n### ").lstrip("# ").strip()]
    return "\n".join(lines) + "\n"


def cmd_report(args) -> int:
    """Merge gpu-run JSONs (later steps replace earlier ones of the same name) and write them again."""
    reports = [_load(Path(p)) for p in args.reports]
    if any(r is None or r.get("schema") != SCHEMA for r in reports):
        print("gpu_run: error: every input must be a gpu-run.json", file=sys.stderr)
        return 2
    merged = dict(reports[0])
    steps = {s["name"]: s for s in reports[0]["steps"]}
    for r in reports[1:]:
        for s in r["steps"]:
            if s["status"] != "not-run" or s["name"] not in steps:
                steps[s["name"]] = s
        merged["markdown"] = {**merged.get("markdown", {}), **r.get("markdown", {})}
    merged["steps"] = [steps[n] for n in STEPS if n in steps]
    merged["command"] = " && ".join(r["command"] for r in reports)
    merged["wall_s"] = round(sum(r["wall_s"] for r in reports), 1)
    merged["targets"] = targets(steps)
    merged["bench_rows"] = bench_rows(steps)
    merged["merged_from"] = [r["created"] for r in reports]
    if args.json:
        write_json(Path(args.json), merged)
    if args.markdown:
        write_text(Path(args.markdown), markdown(merged))
    print(short_table(merged))
    return 0


# =========================================================================== command line


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gpu_run.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check-imports", help="say which packages the run needs and this python lacks")
    c.add_argument("--install", action="store_true", help="also what the editable install needs")
    c.set_defaults(func=cmd_check_imports)

    r = sub.add_parser("run", help="every step (see README.md)", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.add_argument("--device", default="cuda", help="cuda (the GPU run) or cpu (the dry run)")
    r.add_argument("--out", default=os.environ.get("OUT") or "gpu-run-out", help="where the 4 result files go ($OUT there)")
    r.add_argument("--work", default="/tmp/acnet-gpu-run", help="checkpoint, package, build, caches (kept for a rerun)")
    r.add_argument("--frames", default=str(DEFAULT_FRAMES), help="prepared folder of real frames (ROOT/test/{rgb,depth,semantic_40})")
    r.add_argument("--budget", type=float, default=480, help="seconds for the whole run; steps get what is left")
    r.add_argument("--timed-reserve", type=float, default=240,
                   help="seconds the side-by-side untimed steps leave for the timed ones (they are cut at that point)")
    r.add_argument("--only", help=f"comma-separated steps to run (their prerequisites are added or reused): {','.join(STEPS)}")
    r.add_argument("--skip", help="comma-separated steps to leave out")
    r.add_argument("--backbone", default="resnet50")
    r.add_argument("--width-mult", type=float, default=1.0)
    r.add_argument("--height", type=int, default=480)
    r.add_argument("--width", type=int, default=640)
    r.add_argument("--seed", type=int, default=0, help="seed of the trained-looking checkpoint")
    r.add_argument("--batches", default="1,8")
    r.add_argument("--warmup", type=int, default=3)
    r.add_argument("--iters", type=int, default=20)
    r.add_argument("--eager-backends", default=None, help="default cuda: torch,torch-tf32,torch-fp16,torch-bf16,aoti-fp16; "
                                                         "cpu: torch,torch-tf32,torch-bf16,aoti")
    r.add_argument("--compile-backends", default=None, help="default cuda: torch-fp16-compile; cpu: none "
                                                           "(Inductor's CPU compile takes minutes)")
    r.add_argument("--parity-torch", default=None, help="default cuda: torch-fp16,torch-bf16; cpu: torch-bf16")
    r.add_argument("--train-batch", type=int, default=4)
    r.add_argument("--train-precisions", default=None, help="default cuda: fp32,bf16,fp16; cpu: fp32,bf16")
    r.add_argument("--train-warmup", type=int, default=3)
    r.add_argument("--train-steps", type=int, default=10)
    r.add_argument("--repeat", type=int, default=100, help="--repeat of the C example per frame")
    r.add_argument("--matmul-n", type=int, default=None, help="ceiling matrix size (default cuda 8192, cpu 256)")
    r.add_argument("--copy-mib", type=int, default=None, help="ceiling copy size (default cuda 2048, cpu 16)")
    r.add_argument("--tests-args", default="-m cuda tests", help="what pytest runs in the tests step")
    r.add_argument("--test-timeout", type=int, default=150, help="seconds per test (pytest-timeout)")
    r.add_argument("--checkpoint", help="use this checkpoint instead of making one (skips that step)")
    r.add_argument("--aoti-package", help="use this package instead of exporting one (skips that step)")
    r.add_argument("--capi-build", help="use this built C library folder instead of building one")
    r.set_defaults(func=cmd_run)

    e = sub.add_parser("env", help="(run's helper) environment, clocks and ceilings")
    e.add_argument("--device", default="cuda")
    e.add_argument("--matmul-n", type=int, default=8192)
    e.add_argument("--copy-mib", type=int, default=2048)
    e.add_argument("--json", required=True)
    e.set_defaults(func=cmd_env)

    k = sub.add_parser("make-checkpoint", help="(run's helper) a trained-looking checkpoint")
    k.add_argument("--output", required=True)
    k.add_argument("--backbone", default="resnet50")
    k.add_argument("--width-mult", type=float, default=1.0)
    k.add_argument("--height", type=int, default=480)
    k.add_argument("--width", type=int, default=640)
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--frames")
    k.set_defaults(func=cmd_make_checkpoint)

    x = sub.add_parser("capi-check", help="(run's helper) the C example against the Python runtime")
    x.add_argument("--build", required=True)
    x.add_argument("--package", required=True)
    x.add_argument("--device", default="cuda")
    x.add_argument("--repeat", type=int, default=100)
    x.add_argument("--warmup", type=int, default=3)
    x.add_argument("--timeout", type=float, default=120)
    x.add_argument("--frames")
    x.add_argument("--work", required=True)
    x.add_argument("--json", required=True)
    x.set_defaults(func=cmd_capi_check)

    m = sub.add_parser("report", help="merge gpu-run JSONs (a rerun's steps replace the first run's)")
    m.add_argument("reports", nargs="+")
    m.add_argument("--json")
    m.add_argument("--markdown")
    m.set_defaults(func=cmd_report)
    return p


def _defaults(args) -> None:
    cuda = args.device.startswith("cuda")
    pick = lambda value, gpu, cpu: value if value is not None else (gpu if cuda else cpu)  # noqa: E731
    args.eager_backends = pick(args.eager_backends, "torch,torch-tf32,torch-fp16,torch-bf16,aoti-fp16",
                               "torch,torch-tf32,torch-bf16,aoti")
    args.compile_backends = pick(args.compile_backends, "torch-fp16-compile", "")
    args.parity_torch = pick(args.parity_torch, "torch-fp16,torch-bf16", "torch-bf16")
    args.train_precisions = pick(args.train_precisions, "fp32,bf16,fp16", "fp32,bf16")
    args.matmul_n = pick(args.matmul_n, 8192, 256)
    args.copy_mib = pick(args.copy_mib, 2048, 16)
    if args.frames and not (Path(args.frames) / "test").is_dir():
        print(f"gpu_run: warning: no frames at {args.frames}: parity is not run and the C example uses synthetic "
              "frames (copy ../shared/data/nyuv2-samples into .gpu-frames/ and carry it)", flush=True)


def cmd_run(args) -> int:
    _defaults(args)
    return Runner(args).run()


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
