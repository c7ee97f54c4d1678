"""The GPU run's script (benchmarks/gpu/) on this CPU: every step, so it cannot rot while no GPU is lent.

The dry run is the real script (run.sh, then gpu_run.py and every command it
starts) with ``--device cpu`` and a tiny model. It reuses this session's
checkpoint, AOTInductor package and C library build (tests/support/capi_artifacts.py)
instead of compiling again. torch.compile on a CPU takes minutes, so its two
steps run with a stand-in backend (torch-bf16: eager, so it runs at once; a
backend the CPU skips would leave the warm-up nothing to measure, which bench
refuses); the compiled backend itself is tested on CUDA (tests/test_cuda.py).
The dry run's pip fails on purpose (a stand-in python whose ``-m pip`` exits
1), as it may on the device: the run must go on from the checkout.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.capi_artifacts import HEIGHT, WIDTH, aoti_package, capi_build, checkpoint, folder_dataset

REPO = Path(__file__).resolve().parents[1]
SCRIPT_DIR = REPO / "benchmarks" / "gpu"
sys.path.insert(0, str(SCRIPT_DIR))

import gpu_report  # noqa: E402
import gpu_steps  # noqa: E402

COMMIT = "0123456789abcdef0123456789abcdef01234567"
#: The order the first call runs in: what it exists for first, train last, the CUDA tests only when asked.
RUN_ORDER = ["env", "checkpoint", "export", "capi-build", "compile-warm", "bench", "bench-compile", "capi", "parity", "train",
             "camera"]


def _python_whose_pip_fails(folder: Path) -> Path:
    """A stand-in interpreter: this python, except that ``-m pip`` fails as an install without an index can."""
    path = folder / "python-pip-fails"
    path.write_text(f'#!/bin/sh\nif [ "$1" = -m ] && [ "$2" = pip ]; then echo "ERROR: no index (stand-in)" >&2; exit 1; fi\n'
                    f'exec "{sys.executable}" "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory, tiny_config):
    """benchmarks/gpu/run.sh --device cpu on a tiny model: (process, out folder, work folder)."""
    ckpt = checkpoint(tmp_path_factory, tiny_config)
    package = aoti_package(tmp_path_factory, tiny_config)[0]
    build = capi_build(tmp_path_factory)[0]
    frames = folder_dataset(tmp_path_factory, tiny_config.num_classes, count=3)
    root = tmp_path_factory.mktemp("gpu-run")
    out, work = root / "out", root / "work"
    env = {**os.environ, "PYTHON": str(_python_whose_pip_fails(root)), "OUT": str(out)}
    env.pop("ACNET_GPU_RUN_INSTALL", None)  # the default: install, which fails here
    args = ["--device", "cpu", "--commit", COMMIT, "--work", str(work), "--frames", str(frames), "--checkpoint", str(ckpt),
            "--aoti-package", str(package), "--capi-build", str(build), "--backbone", "resnet18", "--width-mult", "0.25",
            "--height", str(HEIGHT), "--width", str(WIDTH), "--batches", "1,2", "--iters", "1", "--warmup", "1",
            "--eager-backends", "torch,torch-tf32,aoti", "--compile-backends", "torch-bf16", "--parity-torch", "",
            "--train-precisions", "fp32", "--train-batch", "2", "--train-warmup", "1", "--train-steps", "1",
            "--repeat", "2", "--budget", "600",
            "--camera-size", f"{HEIGHT}x{WIDTH}", "--camera-large", "", "--camera-frames", "6", "--camera-rounds", "1"]
    proc = subprocess.run([str(SCRIPT_DIR / "run.sh"), *args], capture_output=True, text=True, env=env, timeout=900)
    return proc, out, work


def _started(log: str) -> list[str]:
    """The steps in the order they were started, from gpu-run.log."""
    return re.findall(r"^\[\s*[\d.]+s\] ([\w-]+): .*\(budget \d+ s\)$", log, flags=re.M)


@pytest.mark.slow
def test_dry_run_runs_every_step_in_the_order_that_fits(dry_run):
    proc, out, _ = dry_run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    # The failed install is a warning, and the run goes on from the checkout.
    assert "run.sh: warning: pip could not install acnet" in proc.stderr and "going on" in proc.stderr
    report = json.loads((out / "gpu-run.json").read_text())
    steps = {s["name"]: s for s in report["steps"]}
    assert list(steps) == RUN_ORDER  # tests is opt-in: not in the first call
    bad = {n: (s["status"], s["reason"]) for n, s in steps.items() if s["status"] not in ("ok", "reused")}
    assert not bad, bad
    assert {n for n, s in steps.items() if s["status"] == "reused"} == {"checkpoint", "export", "capi-build"}
    # Started one after another in this order: the compiled bench right after the eager one, train last.
    started = _started((out / "gpu-run.log").read_text())
    assert started == ["env", "compile-warm", "bench", "bench-compile-b1", "capi", "parity", "train", "camera"], started
    assert report["git_commit"] == COMMIT and report["gpu"] is None and report["budget_s"] == 600

    env = steps["env"]["result"]
    assert env["ceilings"]["matmul_bf16"]["passed"] and env["ceilings"]["copy"]["passed"]
    assert env["environment"]["load_average"]["start"] is not None
    assert set(env["library_paths"]) >= {"LD_LIBRARY_PATH", "ldconfig_libcuda"}
    assert "LD_LIBRARY_PATH=" in steps["env"]["log_tail"] and "ldconfig -p | grep libcuda:" in steps["env"]["log_tail"]

    bench = steps["bench"]["result"]
    status = {(r["backend"], r["batch"]): r for r in bench["results"]}
    assert status[("torch", 1)]["status"] == status[("torch", 2)]["status"] == status[("aoti", 1)]["status"] == "ok"
    assert status[("aoti", 2)]["status"] == "skipped" and status[("torch-tf32", 1)]["status"] == "skipped"
    assert status[("aoti", 1)]["network_ms"]["median"] > 0  # the package is timed inside its end-to-end calls
    assert (out / "bench.png").stat().st_size > 1000

    # Every bench entry's speed-ups, at the top, with the run it came from.
    runs = steps["bench-compile"]["result"]["runs"]
    assert set(runs) == {"1"} and runs["1"]["status"] == "ok"  # batch 1 only in the first call
    expected = [{"run": "bench", **s} for s in bench["speedups"]] + \
               [{"run": "bench-compile b1", **s} for s in runs["1"]["report"]["speedups"]]
    assert report["speedups"] == expected
    assert {(s["run"], s["backend"], s["batch"]) for s in expected} == {("bench", "aoti", 1), ("bench-compile b1", "torch-bf16", 1)}
    assert all(set(s) == {"run", "backend", "batch", "baseline", "compute", "latency", "end_to_end"} and s["baseline"] == "torch"
               for s in report["speedups"])
    assert steps["compile-warm"]["result"]["status"] == {"torch-bf16 b1": "ok"}

    train = steps["train"]["result"]
    assert train["results"]["fp32"]["status"] == "ok" and train["results"]["fp32"]["images_per_s"]["median"] > 0

    capi = steps["capi"]["result"]
    assert capi["frames"] == "real" and len(capi["results"]) == 2
    assert capi["agreement_pct"] == 100.0 and all(r["c_runs"] == 2 for r in capi["results"])
    # The C example's time is set against the Python runtime's end-to-end, not the package's bare latency.
    for r in capi["results"]:
        assert r["python_end_to_end_ms"] > 0 and r["c_over_python_end_to_end"] == pytest.approx(
            r["c_median_ms"] / r["python_end_to_end_ms"] - 1)

    parity = steps["parity"]["result"]
    assert parity["passed"] and [r["label"] for r in parity["results"]] == ["aoti"] and parity["data"]["frames"] == 3

    camera = steps["camera"]["result"]  # the same measurement on a CPU: the float model's numpy work against none
    assert camera["device"] == "cpu" and set(camera["stream"][f"{HEIGHT}x{WIDTH}"]) == {"float", "camera"}
    assert camera["bytes_per_frame"][f"camera {HEIGHT}x{WIDTH}"]["total"] == 7 * HEIGHT * WIDTH

    targets = {t["target"]: t for t in report["targets"]}
    assert len(targets) == 8
    assert targets["C library's AOTI CUDA path agrees 100% with the Python runtime"]["met"] is True
    assert targets["C library end-to-end within 5% of the Python runtime's"]["measured"] is not None
    assert targets["best path >= 5x eager FP32 at batch 1 (compute)"]["measured"].startswith(("torch", "aoti"))
    assert targets["FP16 passes the FP16 parity gate on the real frames"]["met"] is None  # no FP16/BF16 on CPU
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
    assert "acnet GPU run on no GPU:" in tail and "x compute" in tail and "x latency" in tail and "met" in tail
    assert tail.rstrip().endswith("nothing to rerun: every step finished")
    md = (out / "gpu-run.md").read_text()
    for heading in ("## Steps", "## Targets", "## Inference (medians)", "## Ceilings", "## Training throughput",
                    "## C library (AOTInductor package)", "## acnet bench (full table)", "## acnet parity (full table)"):
        assert heading in md, heading
    assert f"commit: {COMMIT}" in md and "| speed-up compute | speed-up latency |" in md
    log = (out / "gpu-run.log").read_text()
    assert "===== bench:" in log and "===== parity:" in log


@pytest.mark.slow
def test_report_is_named_after_the_gpu_and_merges_a_rerun(dry_run, tmp_path):
    _, out, _ = dry_run
    first = json.loads((out / "gpu-run.json").read_text())
    def on(report: dict, gpu: str) -> dict:
        """The report as if its env step had seen ``gpu``."""
        copy = json.loads(json.dumps(report))
        next(s for s in copy["steps"] if s["name"] == "env")["result"]["gpu_properties"] = {"name": gpu}
        return copy

    h100 = on(first, "NVIDIA H100 80GB HBM3")
    rerun = dict(h100, steps=[dict(s, status="not-run", result=None) if s["name"] != "train" else s
                              for s in h100["steps"]], created="later")
    for name, data in (("first.json", h100), ("rerun.json", rerun), ("h200.json", dict(on(first, "NVIDIA H200"), created="later"))):
        (tmp_path / name).write_text(json.dumps(data))
    report = [sys.executable, str(SCRIPT_DIR / "gpu_run.py"), "report", "--results-dir", str(tmp_path / "results")]
    proc = subprocess.run([*report, str(tmp_path / "first.json"), str(tmp_path / "rerun.json")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["gpu-h100-run.json", "gpu-h100-run.md"]
    merged = json.loads((tmp_path / "results" / "gpu-h100-run.json").read_text())
    assert merged["merged_from"] == [first["created"], "later"] and merged["gpu"] == "NVIDIA H100 80GB HBM3"
    assert {s["name"]: s["status"] for s in merged["steps"]} == {s["name"]: s["status"] for s in first["steps"]}
    assert merged["speedups"] == first["speedups"] and merged["speedups"]
    assert "## Targets" in (tmp_path / "results" / "gpu-h100-run.md").read_text()
    # Figures from two cards never mix.
    mixed = subprocess.run([*report, str(tmp_path / "first.json"), str(tmp_path / "h200.json")], capture_output=True, text=True)
    assert mixed.returncode == 2 and "different GPUs (NVIDIA H100 80GB HBM3, NVIDIA H200)" in mixed.stderr


@pytest.mark.slow
def test_a_stopped_call_still_returns_what_finished_and_leaves_nothing_running(tmp_path):
    """The device tool stops a call at its limit: the report is already on disk, and no step outlives the call."""
    out, work = tmp_path / "out", tmp_path / "work"
    command = [sys.executable, str(SCRIPT_DIR / "gpu_run.py"), "run", "--device", "cpu", "--only", "train", "--out",
               str(out), "--work", str(work), "--frames", "", "--backbone", "resnet18", "--width-mult", "0.25",
               "--height", str(HEIGHT), "--width", str(WIDTH), "--train-precisions", "fp32", "--train-batch", "1",
               "--train-warmup", "1", "--train-steps", "100000", "--budget", "300"]
    env = {k: v for k, v in os.environ.items() if k != gpu_steps.STARTED_ENV}
    runner = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                              start_new_session=True)
    try:
        snapshot, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline and runner.poll() is None:
            try:
                snapshot = json.loads((out / "gpu-run.json").read_text())
            except (OSError, json.JSONDecodeError):
                snapshot = None
            if snapshot and {s["name"]: s["status"] for s in snapshot["steps"]}.get("train") == "running":
                break
            time.sleep(0.2)
        # Written when train started, before any of it finished: env's result is there already.
        steps = {s["name"]: s for s in snapshot["steps"]}
        assert list(steps) == ["env", "train"] and steps["train"]["status"] == "running", snapshot
        assert steps["env"]["status"] == "ok" and steps["env"]["result"]["ceilings"]["copy"]["passed"]
        train = _pids_with(str(work / "train.json"))
        assert train and all(_process_group(p) == runner.pid for p in train)  # a kill of the call's group reaches it
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
    steps = {s["name"]: s for s in json.loads((out / "gpu-run.json").read_text())["steps"]}
    assert steps["train"]["status"] == "timeout" and "SIGTERM" in steps["train"]["reason"]
    assert not _pids_with(str(work)), "a step outlived the call"


def _pids_with(text: str) -> list[int]:
    """Processes whose command line holds ``text`` (zombies have none)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if text in (Path("/proc", entry, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def _process_group(pid: int) -> int:
    data = Path(f"/proc/{pid}/stat").read_bytes()
    return int(data[data.rfind(b")") + 2 :].split()[2])


def test_steps_run_in_the_order_that_fits_and_tests_only_when_asked():
    select = gpu_steps.select
    assert gpu_steps.STEPS[: len(RUN_ORDER)] == tuple(RUN_ORDER) and gpu_steps.OPT_IN == ("tests",)
    assert select(None, None) == RUN_ORDER
    assert select("capi", None) == ["env", "checkpoint", "export", "capi-build", "capi"]
    assert select("bench-compile,train", None) == ["env", "checkpoint", "bench-compile", "train"]
    assert select("tests", None) == ["env", "tests"]
    assert select(None, "compile-warm,train") == [s for s in RUN_ORDER if s not in ("compile-warm", "train")]
    with pytest.raises(SystemExit, match="unknown step 'benhc'"):
        select("benhc", None)


def test_the_rerun_keeps_the_options_and_names_the_steps():
    argv = ["--commit", COMMIT, "--budget", "480", "--only=bench", "--frames", "/x y/f", "--skip", "tests"]
    assert gpu_steps.rerun_command(argv, ["bench-compile", "train"], 150) == (
        f"ACNET_GPU_RUN_INSTALL=0 benchmarks/gpu/run.sh --commit {COMMIT} --frames '/x y/f' --only bench-compile,train "
        "--budget 150")
    assert gpu_steps.rerun_command([], ["tests"], 150) == "benchmarks/gpu/run.sh --only tests --budget 150"  # installs


def test_a_cut_tests_step_is_read_from_its_verbose_log():
    log = """tests/test_cuda.py::test_a PASSED                                  [ 20%]
tests/test_cuda.py::test_b[torch-fp16] FAILED                      [ 40%]
tests/test_cuda.py::test_c SKIPPED (needs a CUDA GPU)              [ 60%]
tests/test_cuda.py::test_d ERROR                                   [ 80%]
collected 9 items"""
    r = gpu_steps.parse_pytest_verbose(log)
    assert (r["tests"], r["passed"], r["failed"], r["skipped"], r["errors"]) == (4, 1, 1, 1, 1) and r["partial"]
    assert [p["test"] for p in r["problems"]] == ["tests/test_cuda.py::test_b[torch-fp16]", "tests/test_cuda.py::test_d"]
    assert r["skip_reasons"] == {"needs a CUDA GPU": 1}


def test_results_files_are_named_after_the_gpu():
    slug = gpu_report.gpu_slug
    assert slug("NVIDIA H100 80GB HBM3") == "h100" and slug("NVIDIA H200") == "h200" and slug("NVIDIA H100 NVL") == "h100"
    assert slug("NVIDIA A100-SXM4-80GB") == "a100" and slug("NVIDIA L40S") == "l40s" and slug("Tesla V100-SXM2-16GB") == "v100"
    assert slug("NVIDIA GeForce RTX 4090") == "geforce-rtx-4090" and slug(None) == "cpu"
    report = {"steps": [{"name": "env", "result": {"gpu_properties": {"name": "NVIDIA H200"}}}]}
    assert gpu_report.results_stem(report) == "gpu-h200-run"


def test_the_env_step_says_whether_the_driver_is_found():
    """`grep libcuda` also lists libcudart: only libcuda.so itself says the driver is there."""
    def env(lines):
        item = {"value": "x"}
        environment = {"gpu": item, "cuda": item, "driver": item, "packages": {"torch": item}}
        ceilings = {"matmul_bf16": {"tflops": 800.0}, "copy": {"gb_per_s": 3000.0}}
        return {"name": "env", "result": {"ceilings": ceilings, "environment": environment,
                                          "library_paths": {"ldconfig_libcuda": lines}}}

    runtime_only = ["libcudart.so.13 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.13"]
    assert gpu_report.key_figure(env(runtime_only)).endswith("the driver's libcuda.so in ldconfig: NO")
    driver = runtime_only + ["libcuda.so.1 (libc6,x86-64) => /usr/local/nvidia/lib64/libcuda.so.1"]
    assert gpu_report.key_figure(env(driver)).endswith("the driver's libcuda.so in ldconfig: yes")


def test_the_call_is_checked_and_written_out_here(tmp_path):
    """`gpu_run.py call`: a clean tree under 64 MiB, the commit in both device calls, the rerun ready to send."""
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text((REPO / ".gitignore").read_text())
    (tmp_path / "a.py").write_text("print(1)\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    call = [sys.executable, str(SCRIPT_DIR / "gpu_run.py"), "call", "--repo", str(tmp_path), "--frames-from", str(tmp_path / "none")]

    ok = subprocess.run(call, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    first, rerun = (json.loads(line) for line in ok.stdout.splitlines() if line.startswith("{"))
    assert first == {"command": f"benchmarks/gpu/run.sh --commit {sha} --budget 480", "carry": [".gpu-frames"],
                     "timeout_s": 540}
    assert rerun["command"].startswith(f"ACNET_GPU_RUN_INSTALL=0 benchmarks/gpu/run.sh --commit {sha} --only ")
    assert rerun["timeout_s"] == 200 and rerun["carry"] == [".gpu-frames"]

    (tmp_path / "stray.py").write_text("")  # untracked: it would travel, in no commit
    dirty = subprocess.run(call, capture_output=True, text=True)
    assert dirty.returncode == 2 and "uncommitted change(s)" in dirty.stderr and "stray.py" in dirty.stderr
    (tmp_path / "stray.py").unlink()
    (tmp_path / ".gpu-frames").mkdir()
    with open(tmp_path / ".gpu-frames" / "big.bin", "wb") as f:  # ignored by git but carried: it counts
        f.truncate(65 * 2**20)
    big = subprocess.run(call, capture_output=True, text=True)
    assert big.returncode == 2 and "over the device tool's 64 MiB" in big.stderr and ".gpu-frames/big.bin (65.0 MiB)" in big.stderr
    late = subprocess.run([*call, "--budget", "560"], capture_output=True, text=True)
    assert late.returncode == 2 and "leaves less than 60 s" in late.stderr


def test_import_check_names_what_is_missing():
    proc = subprocess.run([sys.executable, "-I", "-S", str(SCRIPT_DIR / "gpu_run.py"), "check-imports"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    error = [line for line in proc.stderr.splitlines() if line.startswith("gpu_run: error:")]
    assert len(error) == 1 and "torch (import torch)" in error[0] and "numpy (import numpy)" in error[0]
    assert "carry these as wheels" in error[0]
    ok = subprocess.run([sys.executable, str(SCRIPT_DIR / "gpu_run.py"), "check-imports"], capture_output=True, text=True)
    assert ok.returncode == 0 and "has every package the run needs" in ok.stdout


def test_targets_are_judged_from_the_measurements():
    def result(backend, batch, compute, latency=None, e2e=None):
        stats = lambda v: {"median": v}  # noqa: E731
        return {"backend": backend, "batch": batch, "status": "ok", "details": {"precision": "x"}, "warmup_s": 1.0,
                "compute_ms": stats(compute), "latency_ms": stats(latency or compute + 1), "end_to_end_ms": stats(e2e or compute + 2),
                "throughput_ips": stats(1000 * batch / (e2e or compute + 2))}

    def parity(label, precision, agreement, passed):
        return {"label": label, "precision": precision, "agreement_pct": agreement, "delta_miou_points": 0.1,
                "passed": passed, "gate": {"min_agreement_pct": 99.5, "max_delta_miou_points": 0.2}}

    eager = {"results": [result("torch", 1, 12.0), result("torch-fp16", 1, 3.0), result("torch", 8, 80.0),
                         result("torch-fp16", 8, 7.5)],
             "speedups": [{"backend": "torch-fp16", "batch": 1, "compute": 4.0, "latency": 3.5},
                          {"backend": "torch-fp16", "batch": 8, "compute": 80 / 7.5, "latency": 9.0}]}
    compiled = {"results": [result("torch", 1, 12.5), result("torch-fp16-compile", 1, 2.0)],
                "speedups": [{"backend": "torch-fp16-compile", "batch": 1, "compute": 6.25, "latency": 5.0}]}
    steps = {"bench": {"result": eager}, "bench-compile": {"result": {"runs": {"1": {"report": compiled}}}},
             "train": {"result": {"results": {"fp32": {"status": "ok"}, "bf16": {"status": "ok", "speedup_vs_fp32": 1.8},
                                              "fp16": {"status": "ok", "speedup_vs_fp32": 2.2}}}},
             "parity": {"result": {"results": [parity("torch-fp16", "fp16", 99.8, True), parity("aoti", "fp16", 99.7, True),
                                               parity("torch-bf16", "bf16", 99.1, False)]}},
             "capi": {"result": {"agreement_pct": 99.99, "c_over_python_end_to_end": 0.03, "results": [{}, {}]}}}
    t = {x["target"]: x for x in gpu_report.targets(steps)}
    best = t["best path >= 5x eager FP32 at batch 1 (compute)"]
    assert best["met"] is True and best["measured"] == "torch-fp16-compile: 6.25x compute, 5.00x latency"
    assert t["<= 2.5 ms per 480x640 frame at batch 1 (compute)"]["met"] is True
    assert t[">= 1,000 images/s at batch 8 (compute)"]["met"] is True  # 8 / 7.5 ms = 1067 images/s
    assert t["AMP training >= 2x FP32 in images/s"]["met"] is True
    assert t["C library's AOTI CUDA path agrees 100% with the Python runtime"]["met"] is False
    assert t["C library end-to-end within 5% of the Python runtime's"]["met"] is True
    # FP16 and BF16 are judged apart; BF16's row says which gate judged it and why a FAIL is expected.
    fp16 = t["FP16 passes the FP16 parity gate on the real frames"]
    assert fp16["met"] is True and "torch-fp16 99.800%" in fp16["measured"] and "aoti 99.700%" in fp16["measured"]
    bf16 = t["BF16 against the FP16 parity gate (its gate: no bf16 gate of its own)"]
    assert bf16["met"] is False and "torch-bf16 99.100%" in bf16["measured"] and "FAIL" in bf16["measured"]
    assert "judged by the FP16 gate" in bf16["note"]
    rows = gpu_report.bench_rows(steps)
    assert [(r["run"], r["backend"], r["batch"]) for r in rows] == [
        ("bench", "torch", 1), ("bench", "torch-fp16", 1), ("bench", "torch", 8), ("bench", "torch-fp16", 8),
        ("bench-compile b1", "torch-fp16-compile", 1)]  # the compiled run's own baseline is not repeated
    assert [(s["run"], s["backend"], s["compute"]) for s in gpu_report.speedups(steps)] == [
        ("bench", "torch-fp16", 4.0), ("bench", "torch-fp16", 80 / 7.5), ("bench-compile b1", "torch-fp16-compile", 6.25)]


def test_real_frames_for_the_c_example_are_the_first_and_last(shared_data):
    import gpu_probes

    frames, kind = gpu_probes.c_frames(shared_data / "nyuv2-samples", 2, (480, 640))
    assert kind == "real" and [name for name, _, _ in frames] == ["0001", "0433"]
    (_, rgb, depth), (_, _, raw) = frames
    assert rgb.shape == (480, 640, 3) and depth.dtype.name == "uint16" and (raw == 0).mean() > 0.2
