"""The GPU run's script (benchmarks/gpu/) on this CPU: every step, so it cannot rot while no GPU is lent.

The dry run is the real script (run.sh, then gpu_run.py and every command it
starts) with ``--device cpu`` and a tiny model. It reuses this session's
checkpoint, AOTInductor package and C library build (tests/support/capi_artifacts.py)
instead of compiling again. torch.compile on a CPU takes minutes, so its two
steps run with a stand-in backend (torch-bf16: eager, so it runs at once; a
backend the CPU skips would leave the warm-up nothing to measure, which bench
refuses); the compiled backend itself is tested on CUDA (tests/test_cuda.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.capi_artifacts import HEIGHT, WIDTH, aoti_package, capi_build, checkpoint, folder_dataset

REPO = Path(__file__).resolve().parents[1]
SCRIPT_DIR = REPO / "benchmarks" / "gpu"


def _gpu_run():
    spec = importlib.util.spec_from_file_location("gpu_run", SCRIPT_DIR / "gpu_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpu_run():
    return _gpu_run()


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory, tiny_config):
    """benchmarks/gpu/run.sh --device cpu on a tiny model: (process, out folder, work folder)."""
    ckpt = checkpoint(tmp_path_factory, tiny_config)
    package = aoti_package(tmp_path_factory, tiny_config)[0]
    build = capi_build(tmp_path_factory)[0]
    frames = folder_dataset(tmp_path_factory, tiny_config.num_classes, count=3)
    root = tmp_path_factory.mktemp("gpu-run")
    out, work = root / "out", root / "work"
    env = {**os.environ, "PYTHON": sys.executable, "ACNET_GPU_RUN_INSTALL": "0", "OUT": str(out)}
    args = ["--device", "cpu", "--work", str(work), "--frames", str(frames), "--checkpoint", str(ckpt),
            "--aoti-package", str(package), "--capi-build", str(build), "--backbone", "resnet18", "--width-mult", "0.25",
            "--height", str(HEIGHT), "--width", str(WIDTH), "--batches", "1,2", "--iters", "1", "--warmup", "1",
            "--eager-backends", "torch,torch-tf32,aoti", "--compile-backends", "torch-bf16", "--parity-torch", "",
            "--train-precisions", "fp32", "--train-batch", "2", "--train-warmup", "1", "--train-steps", "1",
            "--repeat", "2", "--tests-args", "-m cuda tests/test_cuda.py", "--budget", "600"]
    proc = subprocess.run([str(SCRIPT_DIR / "run.sh"), *args], capture_output=True, text=True, env=env, timeout=900)
    return proc, out, work


@pytest.mark.slow
def test_dry_run_runs_every_step(dry_run, gpu_run):
    proc, out, _ = dry_run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    report = json.loads((out / "gpu-run.json").read_text())
    steps = {s["name"]: s for s in report["steps"]}
    assert list(steps) == list(gpu_run.STEPS)
    bad = {n: (s["status"], s["reason"]) for n, s in steps.items() if s["status"] not in ("ok", "reused")}
    assert not bad, bad
    assert {n for n, s in steps.items() if s["status"] == "reused"} == {"checkpoint", "export", "capi-build"}

    env = steps["env"]["result"]
    assert env["ceilings"]["matmul_bf16"]["passed"] and env["ceilings"]["copy"]["passed"]
    assert env["environment"]["load_average"]["start"] is not None

    tests = steps["tests"]["result"]
    assert tests["tests"] > 5 and tests["skipped"] == tests["tests"] and tests["failed"] == tests["errors"] == 0
    assert any("needs a CUDA GPU" in reason for reason in tests["skip_reasons"])

    bench = steps["bench"]["result"]
    status = {(r["backend"], r["batch"]): r["status"] for r in bench["results"]}
    assert status[("torch", 1)] == status[("torch", 2)] == status[("aoti", 1)] == "ok"
    assert status[("aoti", 2)] == "skipped" and status[("torch-tf32", 1)] == "skipped"  # batch-1 package; TF32 on CPU
    assert (out / "bench.png").stat().st_size > 1000

    train = steps["train"]["result"]["results"]["fp32"]
    assert train["status"] == "ok" and train["images_per_s"]["median"] > 0

    capi = steps["capi"]["result"]
    assert capi["frames"] == "real" and len(capi["results"]) == 2
    assert capi["agreement_pct"] == 100.0 and all(r["c_runs"] == 2 for r in capi["results"])
    assert all(r["package_latency_ms"] > 0 and r["c_median_ms"] > 0 for r in capi["results"])

    parity = steps["parity"]["result"]
    assert parity["passed"] and [r["label"] for r in parity["results"]] == ["aoti"] and parity["data"]["frames"] == 3

    runs = steps["bench-compile"]["result"]["runs"]
    assert set(runs) == {"1", "2"} and all(r["status"] == "ok" and r["report"] for r in runs.values())
    assert steps["compile-warm"]["result"]["status"] == {"torch-bf16 b1": "ok", "torch-bf16 b2": "ok"}

    targets = {t["target"]: t for t in report["targets"]}
    assert len(targets) == 7
    assert targets["C library's AOTI CUDA path agrees 100% with the Python runtime"]["met"] is True
    assert targets["best path >= 5x eager FP32 at batch 1 (compute)"]["measured"].startswith(("torch", "aoti"))
    assert targets["FP16 and BF16 pass the FP16 parity gate on the real frames"]["met"] is None  # no FP16/BF16 on CPU
    assert targets["AMP training >= 2x FP32 in images/s"]["met"] is None


@pytest.mark.slow
def test_dry_run_returns_what_the_device_machine_can_send_back(dry_run):
    proc, out, _ = dry_run
    files = sorted(p.name for p in out.iterdir())
    # The device machine returns at most 8 files, named in letters, digits, '.', '_' and '-'.
    assert files == sorted(["gpu-run.json", "gpu-run.md", "gpu-run.log", "bench.png"])
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", f) for f in files) and all((out / f).is_file() for f in files)
    assert sum((out / f).stat().st_size for f in files) < 16 * 2**20
    tail = proc.stdout[-12000:]  # what the device tool shows
    assert "acnet GPU run:" in tail and "target" in tail and "met" in tail and "bench-compile" in tail
    md = (out / "gpu-run.md").read_text()
    for heading in ("## Steps", "## Targets", "## Inference (medians)", "## Ceilings", "## Training throughput",
                    "## C library (AOTInductor package)", "## CUDA tests", "## acnet bench (full table)",
                    "## acnet parity (full table)"):
        assert heading in md, heading
    log = (out / "gpu-run.log").read_text()
    assert "===== bench:" in log and "===== parity:" in log


@pytest.mark.slow
def test_report_merges_a_rerun(dry_run, tmp_path):
    _, out, _ = dry_run
    first = json.loads((out / "gpu-run.json").read_text())
    rerun = dict(first, steps=[dict(s, status="not-run", result=None) if s["name"] != "train" else s
                               for s in first["steps"]], created="later")
    (tmp_path / "rerun.json").write_text(json.dumps(rerun))
    proc = subprocess.run([sys.executable, str(SCRIPT_DIR / "gpu_run.py"), "report", str(out / "gpu-run.json"),
                           str(tmp_path / "rerun.json"), "--json", str(tmp_path / "m.json"), "--markdown",
                           str(tmp_path / "m.md")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    merged = json.loads((tmp_path / "m.json").read_text())
    assert merged["merged_from"] == [first["created"], "later"]
    assert {s["name"]: s["status"] for s in merged["steps"]} == {s["name"]: s["status"] for s in first["steps"]}
    assert "## Targets" in (tmp_path / "m.md").read_text()


def test_step_selection_adds_prerequisites(gpu_run):
    select = gpu_run.Runner._select
    assert select("capi", None) == ["env", "checkpoint", "export", "capi-build", "capi"]
    assert select("bench-compile,train", None) == ["env", "checkpoint", "train", "bench-compile"]
    assert select(None, "tests,compile-warm") == [s for s in gpu_run.STEPS if s not in ("tests", "compile-warm")]
    with pytest.raises(SystemExit, match="unknown step 'benhc'"):
        select("benhc", None)


def test_import_check_names_what_is_missing():
    proc = subprocess.run([sys.executable, "-I", "-S", str(SCRIPT_DIR / "gpu_run.py"), "check-imports"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    error = [line for line in proc.stderr.splitlines() if line.startswith("gpu_run: error:")]
    assert len(error) == 1 and "torch (import torch)" in error[0] and "numpy (import numpy)" in error[0]
    assert "carry these as wheels" in error[0]
    ok = subprocess.run([sys.executable, str(SCRIPT_DIR / "gpu_run.py"), "check-imports"], capture_output=True, text=True)
    assert ok.returncode == 0 and "has every package the run needs" in ok.stdout


def test_targets_are_judged_from_the_measurements(gpu_run):
    def result(backend, batch, compute, latency=None, e2e=None):
        stats = lambda v: {"median": v}  # noqa: E731
        return {"backend": backend, "batch": batch, "status": "ok", "details": {"precision": "x"}, "warmup_s": 1.0,
                "compute_ms": stats(compute), "latency_ms": stats(latency or compute + 1), "end_to_end_ms": stats(e2e or compute + 2),
                "throughput_ips": stats(1000 * batch / (e2e or compute + 2))}

    eager = {"results": [result("torch", 1, 12.0), result("torch-fp16", 1, 3.0), result("torch", 8, 80.0),
                         result("torch-fp16", 8, 7.5)],
             "speedups": [{"backend": "torch-fp16", "batch": 1, "compute": 4.0, "latency": 3.5},
                          {"backend": "torch-fp16", "batch": 8, "compute": 80 / 7.5, "latency": 9.0}]}
    compiled = {"results": [result("torch", 1, 12.5), result("torch-fp16-compile", 1, 2.0)],
                "speedups": [{"backend": "torch-fp16-compile", "batch": 1, "compute": 6.25, "latency": 5.0}]}
    steps = {"bench": {"result": eager}, "bench-compile": {"result": {"runs": {"1": {"report": compiled}}}},
             "train": {"result": {"results": {"fp32": {"status": "ok"}, "bf16": {"status": "ok", "speedup_vs_fp32": 1.8},
                                              "fp16": {"status": "ok", "speedup_vs_fp32": 2.2}}}},
             "capi": {"result": {"agreement_pct": 99.99, "c_over_package_latency": 0.03, "results": [{}, {}]}}}
    t = {x["target"]: x for x in gpu_run.targets(steps)}
    best = t["best path >= 5x eager FP32 at batch 1 (compute)"]
    assert best["met"] is True and best["measured"].startswith("torch-fp16-compile: 6.25x")
    assert t["<= 2.5 ms per 480x640 frame at batch 1 (compute)"]["met"] is True
    assert t[">= 1,000 images/s at batch 8 (compute)"]["met"] is True  # 8 / 7.5 ms = 1067 images/s
    assert t["AMP training >= 2x FP32 in images/s"]["met"] is True
    assert t["C library's AOTI CUDA path agrees 100% with the Python runtime"]["met"] is False
    assert t["C library adds <= 5% to the package's own latency"]["met"] is True
    assert t["FP16 and BF16 pass the FP16 parity gate on the real frames"]["met"] is None
    rows = gpu_run.bench_rows(steps)
    assert [(r["run"], r["backend"], r["batch"]) for r in rows] == [
        ("bench", "torch", 1), ("bench", "torch-fp16", 1), ("bench", "torch", 8), ("bench", "torch-fp16", 8),
        ("bench-compile b1", "torch-fp16-compile", 1)]  # the compiled run's own baseline is not repeated


def test_real_frames_for_the_c_example_are_the_first_and_last(shared_data, gpu_run):
    frames, kind = gpu_run._c_frames(shared_data / "nyuv2-samples", 2, (480, 640))
    assert kind == "real" and [name for name, _, _ in frames] == ["0001", "0433"]
    (_, rgb, depth), (_, _, raw) = frames
    assert rgb.shape == (480, 640, 3) and depth.dtype.name == "uint16" and (raw == 0).mean() > 0.2
