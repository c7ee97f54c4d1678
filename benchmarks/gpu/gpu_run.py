#!/usr/bin/env python3
"""The GPU run: every CUDA path of acnet measured in one call (see README.md beside this file).

    python3 benchmarks/gpu/gpu_run.py call                 # here: check the tree, print the device calls
    benchmarks/gpu/run.sh [options]                        # on the GPU machine: install, then `run`
    python3 benchmarks/gpu/gpu_run.py run --device cpu ... # the dry run (tests/test_gpu_run.py)
    python3 benchmarks/gpu/gpu_run.py report A.json [B.json]   # -> benchmarks/results/gpu-<gpu>-run.{json,md}

This file is the command line. The steps and the runner are in gpu_steps.py,
the report in gpu_report.py, the measuring helpers in gpu_probes.py. Only the
standard library is imported at the top, so ``check-imports`` and ``call``
run before acnet is installed, or where torch is missing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for _path in (HERE, REPO):  # the sibling modules, and acnet from this checkout even before it is installed
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

#: Default folder of the real frames inside the checkout (ignored by git; carried to the device).
FRAMES_DIR = ".gpu-frames"
DEFAULT_FRAMES = REPO / FRAMES_DIR / "nyuv2-samples"
#: The device tool's limits (/work/.library/device/README.md): the tree that travels, one command's time.
TREE_LIMIT_BYTES = 64 * 2**20
CALL_LIMIT_S = 600
#: Seconds between the run's --budget and the call's timeout_s: the report, the kill and the transfers.
CALL_MARGIN_S = 60
#: The rerun, sent while the machine is still warm (about 4 minutes of device time are left then).
RERUN_BUDGET_S, RERUN_TIMEOUT_S = 150, 200

#: Python packages the run needs (import name, distribution) and what for.
REQUIRED = (
    ("numpy", "numpy"), ("PIL", "pillow"), ("click", "click"), ("tqdm", "tqdm"), ("yaml", "pyyaml"),
    ("torch", "torch"), ("torchvision", "torchvision"), ("onnx", "onnx"), ("pytest", "pytest"),
)
OPTIONAL = (
    ("matplotlib", "matplotlib", "bench.png"), ("pytest_timeout", "pytest-timeout", "a per-test time limit"),
    ("onnxruntime", "onnxruntime", "acnet's runtime import"), ("h5py", "h5py", "nyuv2-mat datasets"),
    ("setuptools", "setuptools", "the editable install (the run works from the checkout without it)"),
)
TOOLS = (("cmake", "acnet capi build"), ("c++", "AOTInductor and the C library"), ("nvidia-smi", "driver and clocks"))


# =========================================================================== before anything is installed


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

    ``install``: also what ``pip install --no-build-isolation -e .`` needs (optional: the run
    imports acnet from the checkout when the install fails).
    """
    required = [f"{dist} (import {mod})" for mod, dist in REQUIRED if importlib.util.find_spec(mod) is None]
    optional = [f"{dist} (import {mod}): {why}" for mod, dist, why in OPTIONAL if importlib.util.find_spec(mod) is None]
    if install and importlib.util.find_spec("wheel") is None and not _setuptools_builds_wheels():
        optional.append("wheel (import wheel): setuptools older than 70.1 needs it for the editable install")
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


# =========================================================================== the call, prepared here


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def uncommitted(repo: Path) -> list[str]:
    """``git status --porcelain`` lines: changes and untracked files that would travel but are in no commit."""
    return [line for line in _git(repo, "status", "--porcelain").splitlines() if line.strip()]


def travelling_files(repo: Path, carry: list[str]) -> list[tuple[int, str]]:
    """(bytes, path) of what the device tool sends: tracked and untracked-not-ignored files, shared/, ``carry``."""
    names = [n for n in _git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0") if n]
    out = {}
    for name in names:
        path = repo / name
        if path.is_file() and not path.is_symlink():
            out[name] = path.stat().st_size
    for extra in [*carry, "shared"]:
        root = repo / extra
        paths = [root] if root.is_file() else (p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        for path in paths if root.exists() else ():
            out[str(path.relative_to(repo))] = path.stat().st_size
    return sorted(((size, name) for name, size in out.items()), reverse=True)


def device_calls(commit: str, budget: float, steps_to_rerun: str = "STEPS") -> tuple[dict, dict]:
    """The device tool's ``run`` arguments: the first call, and the rerun of the steps its last line names."""
    carry = [FRAMES_DIR]
    first = {"command": f"benchmarks/gpu/run.sh --commit {commit} --budget {budget:g}", "carry": carry,
             "timeout_s": int(min(CALL_LIMIT_S, budget + CALL_MARGIN_S))}
    rerun = {"command": f"ACNET_GPU_RUN_INSTALL=0 benchmarks/gpu/run.sh --commit {commit} --only {steps_to_rerun} "
                        f"--budget {RERUN_BUDGET_S}", "carry": carry, "timeout_s": RERUN_TIMEOUT_S}
    return first, rerun


def cmd_call(args) -> int:
    """Check what would travel, put the frames in place and print the two device calls with the commit in them."""
    repo = Path(args.repo).resolve()
    if args.budget + CALL_MARGIN_S > CALL_LIMIT_S:
        print(f"gpu_run: error: --budget {args.budget:g} leaves less than {CALL_MARGIN_S} s before the device tool's "
              f"{CALL_LIMIT_S} s limit per command", file=sys.stderr)
        return 2
    frames = repo / FRAMES_DIR / "nyuv2-samples"
    source = Path(args.frames_from)
    if not frames.is_dir() and source.is_dir():
        shutil.copytree(source, frames)
        print(f"gpu_run: copied {source} to {frames}")
    elif not frames.is_dir():
        print(f"gpu_run: warning: no frames at {frames} and none at {source}: parity will not run and the C example "
              "will use synthetic frames", flush=True)
    try:
        dirty = uncommitted(repo)
        files = travelling_files(repo, [FRAMES_DIR])
        commit = _git(repo, "rev-parse", "HEAD").strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"gpu_run: error: {repo} is not a git checkout git can read ({exc})", file=sys.stderr)
        return 2
    if dirty:
        print(f"gpu_run: error: {len(dirty)} uncommitted change(s) would travel in a tree that commit {commit[:12]} "
              f"does not describe; commit or remove them first: {', '.join(line[3:] for line in dirty[:8])}",
              file=sys.stderr)
        return 2
    total = sum(size for size, _ in files)
    if total > TREE_LIMIT_BYTES:
        largest = ", ".join(f"{name} ({size / 2**20:.1f} MiB)" for size, name in files[:5])
        print(f"gpu_run: error: {total / 2**20:.1f} MiB would travel, over the device tool's "
              f"{TREE_LIMIT_BYTES // 2**20} MiB; the largest: {largest}", file=sys.stderr)
        return 2
    first, rerun = device_calls(commit, args.budget)
    print(f"tree: {total / 2**20:.1f} MiB in {len(files)} files travel (limit {TREE_LIMIT_BYTES // 2**20} MiB); "
          f"commit {commit}, clean")
    print("\nfirst call (the device tool's run):\n" + json.dumps(first))
    print("\nrerun, sent within the 30 s the machine stays warm, with the steps the first call's last line names:\n"
          + json.dumps(rerun))
    return 0


# =========================================================================== the rest


def cmd_run(args) -> int:
    import gpu_steps

    _defaults(args)
    return gpu_steps.Runner(args).run()


def cmd_report(args) -> int:
    """Merge gpu-run JSONs (a rerun's steps replace the first run's) and write them under the GPU's name."""
    import gpu_report

    reports = []
    for path in args.reports:
        try:
            reports.append(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            print(f"gpu_run: error: cannot read {path}: {exc}", file=sys.stderr)
            return 2
    if any(not isinstance(r, dict) or r.get("schema") != gpu_report.SCHEMA for r in reports):
        print("gpu_run: error: every input must be a gpu-run.json", file=sys.stderr)
        return 2
    try:
        merged = gpu_report.merge(reports)
    except ValueError as exc:
        print(f"gpu_run: error: {exc}", file=sys.stderr)
        return 2
    from acnet._io import atomic_write_text

    stem = Path(args.results_dir) / gpu_report.results_stem(merged)
    json_path = Path(args.json) if args.json else stem.with_suffix(".json")
    md_path = Path(args.markdown) if args.markdown else stem.with_suffix(".md")
    atomic_write_text(json_path, json.dumps(merged, indent=2, default=str) + "\n")
    atomic_write_text(md_path, gpu_report.markdown(merged))
    print(gpu_report.short_table(merged))
    print(f"\nwrote {json_path} and {md_path}")
    return 0


def cmd_probe(args) -> int:
    import gpu_probes

    return gpu_probes.COMMANDS[args.command](args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gpu_run.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check-imports", help="say which packages the run needs and this python lacks")
    c.add_argument("--install", action="store_true", help="also what the editable install needs")
    c.set_defaults(func=cmd_check_imports)

    k = sub.add_parser("call", help="here, before the call: check the tree, copy the frames, print the two device calls")
    k.add_argument("--repo", default=str(REPO))
    k.add_argument("--budget", type=float, default=480)
    k.add_argument("--frames-from", default=str(REPO.parent / "shared" / "data" / "nyuv2-samples"))
    k.set_defaults(func=cmd_call)

    r = sub.add_parser("run", help="every step (see README.md)", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.add_argument("--device", default="cuda", help="cuda (the GPU run) or cpu (the dry run)")
    r.add_argument("--commit", help="the commit of the tree (.git does not travel to the device machine)")
    r.add_argument("--out", default=os.environ.get("OUT") or "gpu-run-out", help="where the 4 result files go ($OUT there)")
    r.add_argument("--work", default="/tmp/acnet-gpu-run", help="checkpoint, package, build, caches (kept for a rerun)")
    r.add_argument("--frames", default=str(DEFAULT_FRAMES), help="prepared folder of real frames (ROOT/test/{rgb,depth,semantic_40})")
    r.add_argument("--budget", type=float, default=480,
                   help="seconds for the whole call from run.sh's start (the install included); steps get what is left")
    r.add_argument("--timed-reserve", type=float, default=250,
                   help="seconds the untimed steps (export, C build, compile warm-up) leave for the timed ones")
    r.add_argument("--only", help="comma-separated steps to run (their prerequisites are added or reused): env, checkpoint, "
                                  "export, capi-build, compile-warm, bench, bench-compile, capi, parity, train, tests")
    r.add_argument("--skip", help="comma-separated steps to leave out")
    r.add_argument("--backbone", default="resnet50")
    r.add_argument("--width-mult", type=float, default=1.0)
    r.add_argument("--height", type=int, default=480)
    r.add_argument("--width", type=int, default=640)
    r.add_argument("--seed", type=int, default=0, help="seed of the trained-looking checkpoint")
    r.add_argument("--batches", default="1,8", help="batches of the eager bench")
    r.add_argument("--compile-batches", default="1", help="batches of compile-warm and bench-compile")
    r.add_argument("--max-batch", type=int, default=16,
                   help="the exported package's largest batch (small: Inductor keeps 32-bit indexing)")
    r.add_argument("--warmup", type=int, default=3)
    r.add_argument("--iters", type=int, default=20)
    r.add_argument("--eager-backends", default=None, help="default cuda: torch,torch-tf32,torch-fp16,torch-bf16,aoti-fp16; "
                                                         "cpu: torch,torch-tf32,torch-bf16,aoti")
    r.add_argument("--compile-backends", default=None, help="default cuda: torch-fp16-compile; cpu: none "
                                                           "(Inductor's CPU compile takes minutes)")
    r.add_argument("--parity-torch", default=None, help="default cuda: torch-fp16,torch-bf16; cpu: torch-bf16")
    r.add_argument("--train-batch", type=int, default=4)
    r.add_argument("--train-precisions", default=None, help="default cuda: fp32,bf16,fp16; cpu: fp32,bf16")
    r.add_argument("--train-warmup", type=int, default=2)
    r.add_argument("--train-steps", type=int, default=5)
    r.add_argument("--repeat", type=int, default=100, help="--repeat of the C example per frame")
    r.add_argument("--matmul-n", type=int, default=None, help="ceiling matrix size (default cuda 8192, cpu 256)")
    r.add_argument("--copy-mib", type=int, default=None, help="ceiling copy size (default cuda 2048, cpu 16)")
    r.add_argument("--tests-args", default="-m 'cuda and not slow' -v tests", help="what pytest runs in the tests step")
    r.add_argument("--test-timeout", type=int, default=150, help="seconds per test (pytest-timeout)")
    r.add_argument("--camera-size", default="480x640", help="camera step: the network's and the first camera's size")
    r.add_argument("--camera-large", default="720x1280", help="camera step: the larger camera ('' leaves it out)")
    r.add_argument("--camera-frames", type=int, default=60, help="camera step: frames per pipeline run")
    r.add_argument("--camera-rounds", type=int, default=2, help="camera step: pipeline runs per model")
    r.add_argument("--camera-c", action="store_true", help="camera step: also the C example (compiles three packages)")
    r.add_argument("--checkpoint", help="use this checkpoint instead of making one (skips that step)")
    r.add_argument("--aoti-package", help="use this package instead of exporting one (skips that step)")
    r.add_argument("--capi-build", help="use this built C library folder instead of building one")
    r.set_defaults(func=cmd_run)

    e = sub.add_parser("env", help="(run's helper) environment, clocks, library paths and ceilings")
    e.add_argument("--device", default="cuda")
    e.add_argument("--matmul-n", type=int, default=8192)
    e.add_argument("--copy-mib", type=int, default=2048)
    e.add_argument("--json", required=True)
    e.set_defaults(func=cmd_probe)

    m = sub.add_parser("make-checkpoint", help="(run's helper) a trained-looking checkpoint")
    m.add_argument("--output", required=True)
    m.add_argument("--backbone", default="resnet50")
    m.add_argument("--width-mult", type=float, default=1.0)
    m.add_argument("--height", type=int, default=480)
    m.add_argument("--width", type=int, default=640)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--frames")
    m.set_defaults(func=cmd_probe)

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
    x.set_defaults(func=cmd_probe)

    g = sub.add_parser("report", help="merge gpu-run JSONs (a rerun's steps replace the first run's), named after the GPU")
    g.add_argument("reports", nargs="+")
    g.add_argument("--results-dir", default=str(REPO / "benchmarks" / "results"),
                   help="where gpu-<gpu>-run.json and .md go (gpu-h100-run, gpu-h200-run)")
    g.add_argument("--json", help="instead of RESULTS_DIR/gpu-<gpu>-run.json")
    g.add_argument("--markdown", help="instead of RESULTS_DIR/gpu-<gpu>-run.md")
    g.set_defaults(func=cmd_report)
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
    if not args.commit:
        print("gpu_run: warning: no --commit: the report names no commit where .git does not travel", flush=True)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
