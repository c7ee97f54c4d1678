"""The GPU run's measuring helpers, each run by ``gpu_run.py`` as a subprocess of one step.

- ``env``: the card, driver, library paths and the two ceilings METHOD.md asks for;
- ``make-checkpoint``: a trained-looking ACNet at the run's size (tests/support/trained.py);
- ``capi-check``: the C example against the Python runtime on the same package.

They import torch and acnet, so ``gpu_run.py`` imports this module only for them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from acnet._io import atomic_write_text

REPO = Path(__file__).resolve().parents[2]


def _write_json(path: str | os.PathLike, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def _median(values):
    return statistics.median(values) if values else None


# =========================================================================== env


def _time_ms(torch, device, fn, warmup: int, iters: int) -> list[float]:
    """Milliseconds of each of ``iters`` calls after ``warmup``: CUDA events on a GPU, the host clock on CPU."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
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
    matmul = {"n": matmul_n, "dtype": "bfloat16", "ms": ms, "median_ms": _median(ms),
              "tflops": 2 * matmul_n**3 / (_median(ms) / 1000) / 1e12, "relative_error_vs_float64": rel,
              "all_written": written, "passed": written and rel < 2e-2}

    count = copy_mib * 2**20 // 4
    src = torch.randn(count, device=device, generator=gen)
    dst = torch.full((count,), float("nan"), device=device)
    ms = _time_ms(torch, device, lambda: dst.copy_(src), warmup, iters)
    equal = bool(torch.equal(dst, src))
    nbytes = 2 * count * 4
    copy = {"mib": copy_mib, "bytes_moved": nbytes, "ms": ms, "median_ms": _median(ms),
            "gb_per_s": nbytes / (_median(ms) / 1000) / 1e9, "passed": equal}
    return {"device": str(device), "matmul_bf16": matmul, "copy": copy}


def gpu_clocks() -> dict:
    """The card's clocks, power and state as nvidia-smi reports them (read, never set)."""
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
        out["banner"] = subprocess.run([exe], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        out["error"] = str(exc)
    return out


def library_paths() -> dict:
    """Where the dynamic loader looks for the driver: ``LD_LIBRARY_PATH`` and ``ldconfig -p``'s libcuda lines.

    On the device machines the driver lives under the ``/usr/local/nvidia``
    mount; a program that sees no GPU most likely lost that folder.
    """
    exe = shutil.which("ldconfig") or next((p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.path.exists(p)), None)
    record = {"LD_LIBRARY_PATH": os.environ.get("LD_LIBRARY_PATH"), "ldconfig_libcuda": None}
    if exe is None:
        record["ldconfig_error"] = "ldconfig not found"
        return record
    try:
        listing = subprocess.run([exe, "-p"], capture_output=True, text=True, timeout=30).stdout
        record["ldconfig_libcuda"] = [line.strip() for line in listing.splitlines() if "libcuda" in line]
    except (OSError, subprocess.SubprocessError) as exc:
        record["ldconfig_error"] = str(exc)
    return record


def cmd_env(args) -> int:
    """Environment, clocks, library paths and the two ceilings, as JSON on stdout's last line and in --json."""
    import torch

    from acnet.benchmarks.environment import collect_environment, load_average

    load = load_average()
    cuda = args.device.startswith("cuda")
    paths = library_paths()
    print(f"LD_LIBRARY_PATH={paths['LD_LIBRARY_PATH'] or ''}")
    print("ldconfig -p | grep libcuda:" + "".join(f"\n    {line}" for line in paths["ldconfig_libcuda"] or [])
          + ("" if paths["ldconfig_libcuda"] else f" (nothing{'; ' + paths['ldconfig_error'] if 'ldconfig_error' in paths else ''})"))
    record = {"nvidia_smi_before": gpu_clocks(), "device": args.device, "library_paths": paths}
    if cuda and not torch.cuda.is_available():
        record["error"] = f"--device {args.device}: no CUDA GPU visible to torch {torch.__version__} (use --device cpu for a dry run)"
    else:
        record["ceilings"] = measure_ceilings(args.device, args.matmul_n, args.copy_mib)
        record["nvidia_smi_after"] = gpu_clocks() if cuda else None
        if cuda:
            p = torch.cuda.get_device_properties(torch.device(args.device))
            record["gpu_properties"] = {"name": p.name, "multiprocessors": p.multi_processor_count,
                                        "memory_gib": round(p.total_memory / 2**30, 1),
                                        "compute_capability": f"{p.major}.{p.minor}",
                                        "l2_mib": round(getattr(p, "L2_cache_size", 0) / 2**20, 1)}
    record["environment"] = collect_environment(load)
    record["cpu_count"] = os.cpu_count()
    _write_json(args.json, record)
    print(json.dumps({k: v for k, v in record.items() if k in ("ceilings", "gpu_properties", "error")}, default=str))
    return 2 if "error" in record else 0


# =========================================================================== checkpoint


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


# =========================================================================== the C example


def c_frames(frames: Path | None, count: int, size: tuple[int, int]):
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
    """The C example on frames with --repeat, its labels against the Python runtime's on the same package.

    Its time (uint8 frame in, labels out: preprocessing, the package, the
    logits copy and the argmax) is compared with the Python runtime's
    end-to-end time on the same frame and package, which does the same
    work, never with the package's bare latency.
    """
    sys.path.insert(0, str(REPO / "tests"))
    from support.capi_artifacts import read_pgm8, write_pgm16, write_ppm  # the netpbm files the C tests use

    from acnet.benchmarks.backends import AotiBackend, backend_for_precision, segmenter_around
    from acnet.benchmarks.timing import make_frames
    from acnet.benchmarks.torch_timer import TorchTimer
    from acnet.export.aoti import read_package_info
    from acnet.runtime.capi import rpath_environment

    info = read_package_info(args.package)
    frames, kind = c_frames(Path(args.frames) if args.frames else None, 2, (info.input_height, info.input_width))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    segment = Path(args.build) / "segment"
    env = rpath_environment(os.environ)  # libtorch through the library's rpath; the driver's folders stay

    timer = TorchTimer(AotiBackend(backend_for_precision(info.precision), args.package, args.device))
    seg = segmenter_around(timer.backend, 1)
    results = []
    for name, rgb, depth in frames:
        rgb_path, depth_path = write_ppm(work / f"{name}.ppm", rgb), write_pgm16(work / f"{name}.pgm", depth)
        labels_path = work / f"{name}_labels.pgm"
        labels_path.unlink(missing_ok=True)  # a failed run must not leave an earlier run's labels to compare
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

        # Right after the C runs: the Python runtime end-to-end on the same frame (the fair comparison),
        # and the package's own compute and latency at batch 1, for context.
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
        record.update(package_compute_ms=_median(compute), package_latency_ms=_median(latency),
                      python_end_to_end_ms=_median(e2e))
        record["c_over_python_end_to_end"] = record["c_median_ms"] / record["python_end_to_end_ms"] - 1.0
        record["status"] = "ok"
        results.append(record)
    timer.close()
    ok = [r for r in results if r["status"] == "ok"]
    summary = {
        "package": str(args.package), "precision": info.precision, "device": args.device, "frames": kind,
        "repeat": args.repeat, "results": results,
        "agreement_pct": min((r["agreement_pct"] for r in ok), default=None),
        "c_over_python_end_to_end": max((r["c_over_python_end_to_end"] for r in ok), default=None),
    }
    _write_json(args.json, summary)
    print(json.dumps({k: summary[k] for k in ("agreement_pct", "c_over_python_end_to_end", "frames")}))
    return 0 if ok and len(ok) == len(results) else 1


COMMANDS = {"env": cmd_env, "make-checkpoint": cmd_make_checkpoint, "capi-check": cmd_capi_check}
